package unpack

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestAddEntry(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf, time.Unix(1000, 0))
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.AddEntry("a.rpm", Entry{Path: "/usr/bin/tool", Type: tar.TypeReg, Mode: 0o755, Size: 2, Body: strings.NewReader("hi")}))
	must(w.AddEntry("a.rpm", Entry{Path: "/usr/bin/alias", Type: tar.TypeSymlink, Linkname: "tool"}))
	must(w.AddEntry("a.rpm", Entry{Path: "/usr/bin/hard", Type: tar.TypeLink, Linkname: "/usr/bin/tool"}))
	must(w.AddEntry("a.rpm", Entry{Path: "/var/empty", Type: tar.TypeDir, Mode: 0o711, ModTime: time.Unix(5000, 0)}))
	for _, bad := range []Entry{
		{Path: "/usr/bin/tool", Type: tar.TypeReg},                        // duplicate
		{Path: "/usr/../etc/passwd", Type: tar.TypeReg},                   // ..
		{Path: "/usr/bin/x", Type: tar.TypeLink, Linkname: "/etc/shadow"}, // hard link outside
		{Path: "/dev/null", Type: tar.TypeChar},                           // device
		{Path: "/usr/bin/tool/x", Type: tar.TypeReg},                      // below a file
	} {
		w2 := NewWriter(io.Discard, time.Time{})
		must(w2.AddEntry("a.rpm", Entry{Path: "/usr/bin/tool", Type: tar.TypeReg}))
		err := w2.AddEntry("a.rpm", bad)
		var ee *EntryError
		if !errors.As(err, &ee) || ee.Artifact != "a.rpm" {
			t.Errorf("AddEntry(%+v) = %v, want an EntryError naming a.rpm", bad, err)
		}
	}
	must(w.Close())
	tr := tar.NewReader(&buf)
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(err)
		got = append(got, h.Name+" "+string(h.Typeflag)+" "+h.Linkname)
		if h.Name == "var/empty/" && (h.Mode != 0o711 || h.ModTime.Unix() != 1000) {
			t.Errorf("dir mode/mtime = %o %d, want 711, clamped to 1000", h.Mode, h.ModTime.Unix())
		}
	}
	want := "usr/ 5 |usr/bin/ 5 |usr/bin/tool 0 |usr/bin/alias 2 tool|usr/bin/hard 1 usr/bin/tool|var/ 5 |var/empty/ 5 "
	if s := strings.Join(got, "|"); s != want {
		t.Errorf("entries:\n got %s\nwant %s", s, want)
	}
}

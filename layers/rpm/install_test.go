package rpm

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

func TestInstallModesLinks(t *testing.T) {
	dir := t.TempDir()
	var rpms []string
	for _, p := range []testPkg{foo, fooData, libfoo11, bash} {
		rpms = append(rpms, writeRPM(t, dir, p))
	}
	want := map[string]tarEntry{
		"usr/bin/foo":              {typ: tar.TypeLink, mode: 0o755, linkname: "usr/bin/foo2"},
		"usr/bin/foo2":             {typ: tar.TypeReg, mode: 0o755, body: "#!/bin/sh\necho foo\n"},
		"usr/bin/foo-suid":         {typ: tar.TypeReg, mode: 0o4755, body: "suid"},
		"usr/bin/foo-link":         {typ: tar.TypeSymlink, mode: 0o777, linkname: "foo"},
		"usr/libexec/foo/":         {typ: tar.TypeDir, mode: 0o750},
		"usr/libexec/foo/helper":   {typ: tar.TypeReg, mode: 0o700, body: "helper"},
		"usr/share/foo/":           {typ: tar.TypeDir, mode: 0o755},
		"usr/share/foo/conf":       {typ: tar.TypeReg, mode: 0o644, body: "conf\n"},
		"usr/lib64/libfoo.so.1":    {typ: tar.TypeSymlink, mode: 0o777, linkname: "libfoo.so.1.10"},
		"usr/lib64/libfoo.so.1.10": {typ: tar.TypeReg, mode: 0o755, body: "ELF libfoo"},
		"bin/sh":                   {typ: tar.TypeReg, mode: 0o755, body: "#!sh"},
		"usr/":                     {typ: tar.TypeDir, mode: 0o755},
	}
	for _, allow := range []bool{true, false} {
		files, order, err := install(t, InstallOptions{AllowSetuid: allow}, rpms...)
		if err != nil {
			t.Fatal(err)
		}
		for name, w := range want {
			if name == "usr/bin/foo-suid" && !allow {
				w.mode = 0o755 // setuid cleared
			}
			g, ok := files[name]
			if !ok {
				t.Errorf("%s missing (layer: %v)", name, order)
				continue
			}
			if g.typ != w.typ || g.mode != w.mode || g.linkname != w.linkname || g.body != w.body || g.uid != 0 || g.gid != 0 {
				t.Errorf("AllowSetuid=%v: %s = %+v, want %+v", allow, name, g, w)
			}
		}
		// The hard link comes after the file it links to.
		if pos(order, "usr/bin/foo") < pos(order, "usr/bin/foo2") {
			t.Errorf("hard link before its target: %v", order)
		}
	}
}

func pos(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestInstallPrefix(t *testing.T) {
	f := writeRPM(t, t.TempDir(), foo)
	files, _, err := install(t, InstallOptions{Prefix: "/opt/root"}, f)
	if err != nil {
		t.Fatal(err)
	}
	if g := files["opt/root/usr/bin/foo"]; g.typ != tar.TypeLink || g.linkname != "opt/root/usr/bin/foo2" {
		t.Errorf("relocated hard link: %+v", g)
	}
	if _, ok := files["usr/bin/foo2"]; ok {
		t.Error("file written outside the prefix")
	}
	if _, _, err := install(t, InstallOptions{Prefix: "/opt/../etc"}, f); err == nil {
		t.Error("prefix with .. accepted")
	}
}

func TestInstallEmptyHardLinks(t *testing.T) {
	p := testPkg{name: "e", arch: "noarch", ver: "1", rel: "1", files: []testFile{
		{path: "/a", mode: cpio.TypeReg | 0o644, ino: 3},
		{path: "/b", mode: cpio.TypeReg | 0o644, ino: 3},
	}}
	files, _, err := install(t, InstallOptions{}, writeRPM(t, t.TempDir(), p))
	if err != nil {
		t.Fatal(err)
	}
	if files["b"].typ != tar.TypeReg || files["a"].typ != tar.TypeLink || files["a"].linkname != "b" {
		t.Errorf("empty hard-link group: %+v", files)
	}
}

func TestInstallRefusesDevices(t *testing.T) {
	p := testPkg{name: "devs", arch: "x86_64", ver: "1", rel: "1", files: []testFile{
		{path: "/dev", mode: cpio.TypeDir | 0o755},
		{path: "/dev/null", mode: cpio.TypeChar | 0o666},
	}}
	f := writeRPM(t, t.TempDir(), p)
	_, _, err := install(t, InstallOptions{}, f)
	var ee *unpack.EntryError
	if !errors.As(err, &ee) || ee.Entry != "/dev/null" || !strings.Contains(ee.Artifact, p.fileName()) ||
		!strings.Contains(err.Error(), "device node") || !strings.Contains(err.Error(), "devs-1-1.x86_64") {
		t.Errorf("device node: %v", err)
	}
}

func TestInstallCorrupt(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile(writeRPM(t, dir, foo))
	if err != nil {
		t.Fatal(err)
	}
	noDigest := foo
	noDigest.noPayloadDigest, noDigest.compressor = true, "gzip"
	gz, err := os.ReadFile(writeRPM(t, dir, noDigest))
	if err != nil {
		t.Fatal(err)
	}
	old := foo
	old.noPayloadDigest, old.sha1Signature = true, true
	oldRPM, err := os.ReadFile(writeRPM(t, dir, old))
	if err != nil {
		t.Fatal(err)
	}
	flip := func(b []byte, i int) []byte {
		b = bytes.Clone(b)
		b[i] ^= 0xff
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "not an RPM"},
		{"not an rpm", []byte(strings.Repeat("x", 200)), "bad lead magic"},
		{"truncated header", good[:120], "reading the signature header"},
		{"truncated payload", good[:len(good)-10], "payload digest mismatch"},
		{"flipped payload byte", flip(good, len(good)-20), "payload digest mismatch"},
		{"flipped header byte", flip(good, len(good)-len(foo.payload(t))-3), "main header's sha256"},
		{"flipped header byte, sha1 signature", flip(oldRPM, len(oldRPM)-len(old.payload(t))-3), "main header's sha1"},
		// Without a payload digest the decompressor's own checks catch it.
		{"truncated gzip payload", gz[:len(gz)-10], "foo-1:2.0-1.x86_64"},
	}
	for _, c := range cases {
		f := filepath.Join(dir, "corrupt.rpm")
		if err := os.WriteFile(f, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _, err := install(t, InstallOptions{}, f)
		var ee *unpack.EntryError
		if !errors.As(err, &ee) || !strings.Contains(err.Error(), c.want) || !strings.Contains(ee.Artifact, "corrupt.rpm") {
			t.Errorf("%s: got %v, want an EntryError containing %q", c.name, err, c.want)
		}
	}
}

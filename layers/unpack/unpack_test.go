package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ulikunitz/xz"
)

var (
	epoch  = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	newer  = epoch.Add(48 * time.Hour)
	older  = time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	artURL = "https://example.com/dist/node-v1-linux-x64.tar.gz"
)

// ent is an archive member for the test archive builders.
type ent struct {
	name  string
	typ   byte // tar type; 0 = regular file
	mode  int64
	body  string
	link  string
	mtime time.Time
}

func dir(name string, mode int64) ent { return ent{name: name, typ: tar.TypeDir, mode: mode} }
func reg(name string, mode int64, body string) ent {
	return ent{name: name, typ: tar.TypeReg, mode: mode, body: body}
}
func symlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeSymlink, mode: 0o777, link: target}
}
func hardlink(name, target string) ent {
	return ent{name: name, typ: tar.TypeLink, mode: 0o644, link: target}
}

// makeTar builds a tar as an upstream tool would: owners, names, atimes
// and xattrs that must not reach the layer.
func makeTar(t *testing.T, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		mt := e.mtime
		if mt.IsZero() {
			mt = newer
		}
		hdr := &tar.Header{
			Typeflag: typ, Name: e.name, Linkname: e.link, Mode: e.mode, ModTime: mt,
			Uid: 1001, Gid: 1002, Uname: "builder", Gname: "staff",
			AccessTime: newer, ChangeTime: newer, Format: tar.FormatPAX,
			PAXRecords: map[string]string{"SCHILY.xattr.user.origin": "ci"},
		}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(e.body))
		}
		if typ == tar.TypeChar {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := stdgzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func xzBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	xw, err := xz.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	xw.Write(b)
	if err := xw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeZip(t *testing.T, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range ents {
		mt := e.mtime
		if mt.IsZero() {
			mt = newer
		}
		fh := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mt}
		body := e.body
		switch e.typ {
		case tar.TypeDir:
			fh.SetMode(fs.ModeDir | fs.FileMode(e.mode&0o777))
			fh.Method = zip.Store
		case tar.TypeSymlink:
			fh.SetMode(fs.ModeSymlink | 0o777)
			body = e.link
		case tar.TypeChar:
			fh.SetMode(fs.ModeDevice | fs.ModeCharDevice | 0o644)
		default:
			m := fs.FileMode(e.mode & 0o777)
			if e.mode&0o4000 != 0 {
				m |= fs.ModeSetuid
			}
			fh.SetMode(m)
		}
		w, err := zw.CreateHeader(fh)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// makeGem builds a RubyGems package: an outer tar holding metadata.gz,
// data.tar.gz (the files) and checksums.yaml.gz.
func makeGem(t *testing.T, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		body []byte
	}{
		{"metadata.gz", gzipBytes(t, []byte("--- !ruby/object:Gem::Specification\nname: x\n"))},
		{"data.tar.gz", gzipBytes(t, makeTar(t, ents))},
		{"checksums.yaml.gz", gzipBytes(t, []byte("---\n"))},
	} {
		tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o444, Size: int64(len(f.body)), ModTime: newer})
		tw.Write(f.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeFile(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// list reads a layer into one line per entry: "name type mode [-> link] [=body]".
// It also checks the normalisation every header must have.
func list(t *testing.T, layer []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" ||
			!hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() || len(hdr.Xattrs) != 0 || hdr.Devmajor != 0 {
			t.Errorf("%s: header not normalised: %+v", hdr.Name, hdr)
		}
		for k := range hdr.PAXRecords {
			if k != "path" && k != "linkpath" { // long or non-ASCII names need PAX
				t.Errorf("%s: PAX record %s kept", hdr.Name, k)
			}
		}
		if hdr.ModTime.After(epoch) {
			t.Errorf("%s: mtime %v after the epoch", hdr.Name, hdr.ModTime)
		}
		if strings.HasPrefix(hdr.Name, "/") || strings.HasPrefix(hdr.Name, "./") {
			t.Errorf("%s: not a relative layer path", hdr.Name)
		}
		line := fmt.Sprintf("%s %c %04o", hdr.Name, hdr.Typeflag, hdr.Mode)
		if hdr.Linkname != "" {
			line += " -> " + hdr.Linkname
		}
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			line += " =" + string(b)
		}
		out = append(out, line)
	}
}

// nodeTree is a typical upstream layout: everything below one top directory.
var nodeTree = []ent{
	dir("node-v1/", 0o755),
	dir("node-v1/bin/", 0o755),
	reg("node-v1/bin/node", 0o755, "ELF"),
	dir("node-v1/lib/", 0o755),
	{name: "node-v1/lib/npm.js", typ: tar.TypeReg, mode: 0o644, body: "js", mtime: older},
	symlink("node-v1/bin/npm", "../lib/npm.js"),
	reg("node-v1/bin/suid", 0o4755, "s"),
}

var nodeLayer = []string{
	"var/ 5 0755",
	"var/lang/ 5 0755",
	"var/lang/bin/ 5 0755",
	"var/lang/bin/node 0 0755 =ELF",
	"var/lang/lib/ 5 0755",
	"var/lang/lib/npm.js 0 0644 =js",
	"var/lang/bin/npm 2 0777 -> ../lib/npm.js",
	"var/lang/bin/suid 0 4755 =s",
}

func TestArchiveFormats(t *testing.T) {
	tarball := makeTar(t, nodeTree)
	tests := []struct {
		file, format string
		data         []byte
	}{
		{"node.tar", "", tarball},
		{"node.tar.gz", "", gzipBytes(t, tarball)},
		{"node.tgz", "tar.gz", gzipBytes(t, tarball)},
		{"node.tar.xz", "", xzBytes(t, tarball)},
		{"node.zip", "", makeZip(t, nodeTree)},
		{"node.gem", "", makeGem(t, nodeTree)},
		{"download", "tar.xz", xzBytes(t, tarball)},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := writeFile(t, tt.file, tt.data)
			var out bytes.Buffer
			err := Archive(p, &out, Options{Format: tt.format, Strip: 1, Dest: "/var/lang", Epoch: epoch, Name: "https://example.com/" + tt.file})
			if err != nil {
				t.Fatal(err)
			}
			if got := list(t, out.Bytes()); !reflect.DeepEqual(got, nodeLayer) {
				t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(nodeLayer, "\n"))
			}
		})
	}
}

func TestMtimesClampedAndFormat(t *testing.T) {
	ancient := time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC)
	p := writeFile(t, "a.tar", makeTar(t, []ent{
		{name: "new", typ: tar.TypeReg, mode: 0o644, mtime: newer.Add(123 * time.Millisecond)},
		{name: "old", typ: tar.TypeReg, mode: 0o644, mtime: older},
		{name: "ancient", typ: tar.TypeReg, mode: 0o644, mtime: ancient},
	}))
	var out bytes.Buffer
	if err := Archive(p, &out, Options{Dest: "/opt", Epoch: epoch.Add(999 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	want := map[string]time.Time{"opt/": epoch, "opt/new": epoch, "opt/old": older, "opt/ancient": time.Unix(0, 0)}
	tr := tar.NewReader(&out)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !hdr.ModTime.Equal(want[hdr.Name]) {
			t.Errorf("%s: mtime %v, want %v", hdr.Name, hdr.ModTime, want[hdr.Name])
		}
		if hdr.Format != tar.FormatUSTAR {
			t.Errorf("%s: format %v, want USTAR (nothing needs PAX)", hdr.Name, hdr.Format)
		}
	}
}

func TestDeterministic(t *testing.T) {
	long := strings.Repeat("very-long-directory-name/", 12) + "file.txt" // needs PAX
	ents := append(append([]ent{}, nodeTree...), reg("node-v1/"+long, 0o644, "x"), reg("node-v1/é ü", 0o600, "utf8"))
	tarball := makeTar(t, ents)
	build := func(tz string) []byte {
		t.Setenv("TZ", tz)
		old := time.Local
		time.Local, _ = time.LoadLocation(tz)
		defer func() { time.Local = old }()
		var out bytes.Buffer
		w := NewWriter(&out, epoch.In(time.Local))
		if err := w.AddArchive(writeFile(t, "a.tar.gz", gzipBytes(t, tarball)), Options{Strip: 1, Dest: "/var/lang"}); err != nil {
			t.Fatal(err)
		}
		if err := w.AddArchive(writeFile(t, "b.zip", makeZip(t, ents)), Options{Strip: 1, Dest: "/opt/zip"}); err != nil {
			t.Fatal(err)
		}
		if err := w.AddFile("/var/runtime/bootstrap", 0o755, strings.NewReader("#!/bin/sh\n"), 10); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	a, b := build("UTC"), build("Asia/Kolkata")
	if !bytes.Equal(a, b) {
		t.Fatal("identical inputs gave different layers")
	}
	if got := list(t, a); !strings.Contains(strings.Join(got, "\n"), "var/lang/"+long) {
		t.Fatalf("long name missing: %v", got)
	}
}

func TestStripSubdirDest(t *testing.T) {
	tree := []ent{
		dir("./", 0o755),
		dir("./pkg/", 0o755),
		dir("./pkg/bin/", 0o755),
		reg("./pkg/bin/tool", 0o755, "t"),
		dir("./pkg/share/", 0o700),
		reg("./pkg/share/doc.txt", 0o644, "d"),
		reg("./pkg/README", 0o644, "r"),
	}
	tests := []struct {
		name string
		o    Options
		want []string
	}{
		{"strip 0 at root", Options{}, []string{
			"pkg/ 5 0755", "pkg/bin/ 5 0755", "pkg/bin/tool 0 0755 =t", "pkg/share/ 5 0700", "pkg/share/doc.txt 0 0644 =d", "pkg/README 0 0644 =r"}},
		{"strip 1", Options{Strip: 1, Dest: "/opt/pkg"}, []string{
			"opt/ 5 0755", "opt/pkg/ 5 0755", "opt/pkg/bin/ 5 0755", "opt/pkg/bin/tool 0 0755 =t", "opt/pkg/share/ 5 0700", "opt/pkg/share/doc.txt 0 0644 =d", "opt/pkg/README 0 0644 =r"}},
		{"strip 2", Options{Strip: 2, Dest: "/usr/local/"}, []string{
			"usr/ 5 0755", "usr/local/ 5 0755", "usr/local/tool 0 0755 =t", "usr/local/doc.txt 0 0644 =d"}},
		{"strip everything", Options{Strip: 5, Dest: "/x"}, []string{"x/ 5 0755"}},
		{"subdir", Options{Strip: 1, Subdir: "bin", Dest: "/var/runtime"}, []string{
			"var/ 5 0755", "var/runtime/ 5 0755", "var/runtime/tool 0 0755 =t"}},
		{"subdir with ./ and slash", Options{Subdir: "./pkg/share/", Dest: "/doc"}, []string{"doc/ 5 0755", "doc/doc.txt 0 0644 =d"}},
		{"subdir missing", Options{Subdir: "nope", Dest: "/d"}, []string{"d/ 5 0755"}},
	}
	p := writeFile(t, "pkg.tar", makeTar(t, tree))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.o.Epoch = epoch
			if err := Archive(p, &out, tt.o); err != nil {
				t.Fatal(err)
			}
			if got := list(t, out.Bytes()); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestLinks(t *testing.T) {
	p := writeFile(t, "l.tar", makeTar(t, []ent{
		reg("pkg/lib/libx.so.1.2", 0o755, "so"),
		hardlink("pkg/lib/libx-copy.so", "pkg/lib/libx.so.1.2"),
		hardlink("pkg/lib/dot-form.so", "./pkg/lib/libx.so.1.2"),
		symlink("pkg/lib/libx.so", "libx.so.1.2"),
		symlink("pkg/lib/abs", "/usr/lib64/libc.so.6"),
		symlink("pkg/lib/up", "../../../etc"),
	}))
	var out bytes.Buffer
	if err := Archive(p, &out, Options{Strip: 1, Dest: "/opt", Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"opt/ 5 0755", "opt/lib/ 5 0755",
		"opt/lib/libx.so.1.2 0 0755 =so",
		"opt/lib/libx-copy.so 1 0644 -> opt/lib/libx.so.1.2",
		"opt/lib/dot-form.so 1 0644 -> opt/lib/libx.so.1.2",
		"opt/lib/libx.so 2 0777 -> libx.so.1.2",
		"opt/lib/abs 2 0777 -> /usr/lib64/libc.so.6",
		"opt/lib/up 2 0777 -> ../../../etc",
	}
	if got := list(t, out.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		name    string
		format  string
		ents    []ent
		o       Options
		entry   string // the entry the error must name
		wantErr string
	}{
		{name: "dot-dot", ents: []ent{reg("pkg/../../etc/passwd", 0o644, "x")}, entry: "pkg/../../etc/passwd", wantErr: `".."`},
		{name: "dot-dot inside", ents: []ent{reg("a/../b", 0o644, "x")}, entry: "a/../b", wantErr: `".."`},
		{name: "absolute", ents: []ent{reg("/etc/passwd", 0o644, "x")}, entry: "/etc/passwd", wantErr: "absolute path"},
		{name: "char device", ents: []ent{{name: "dev/null", typ: tar.TypeChar, mode: 0o666}}, entry: "dev/null", wantErr: "device node"},
		{name: "block device", ents: []ent{{name: "dev/sda", typ: tar.TypeBlock, mode: 0o660}}, entry: "dev/sda", wantErr: "device node"},
		{name: "fifo", ents: []ent{{name: "run/pipe", typ: tar.TypeFifo, mode: 0o644}}, entry: "run/pipe", wantErr: "FIFO"},
		{name: "zip device", format: "zip", ents: []ent{{name: "dev/null", typ: tar.TypeChar}}, entry: "dev/null", wantErr: "device node"},
		{name: "zip dot-dot", format: "zip", ents: []ent{reg("../evil", 0o644, "x")}, entry: "../evil", wantErr: `".."`},
		{name: "duplicate file", ents: []ent{reg("a/x", 0o644, "1"), reg("a/x", 0o644, "2")}, entry: "a/x", wantErr: `/opt/a/x is already in the layer, from ART (entry "a/x")`},
		{name: "duplicate via strip", o: Options{Strip: 1}, ents: []ent{reg("v1/x", 0o644, "1"), reg("v2/x", 0o644, "2")}, entry: "v2/x", wantErr: `/opt/x is already in the layer, from ART (entry "v1/x")`},
		{name: "file then dir", ents: []ent{reg("a", 0o644, "1"), dir("a/", 0o755)}, entry: "a/", wantErr: "already in the layer"},
		{name: "below a symlink", ents: []ent{symlink("lib", "lib64"), reg("lib/x.so", 0o644, "x")}, entry: "lib/x.so", wantErr: "/opt/lib is not a directory in the layer"},
		{name: "hard link outside", o: Options{Strip: 1}, ents: []ent{reg("top", 0o644, "x"), hardlink("d/link", "top")}, entry: "d/link", wantErr: "outside what is unpacked"},
		{name: "hard link outside subdir", o: Options{Subdir: "b"}, ents: []ent{reg("a/f", 0o644, "x"), hardlink("b/link", "a/f")}, entry: "b/link", wantErr: "outside what is unpacked"},
		{name: "hard link escaping", ents: []ent{hardlink("link", "../etc/shadow")}, entry: "link", wantErr: "outside what is unpacked"},
		{name: "hard link forward", ents: []ent{hardlink("link", "later"), reg("later", 0o644, "x")}, entry: "link", wantErr: "not a regular file unpacked before it"},
		{name: "bad dest", o: Options{Dest: "/var/../etc"}, ents: []ent{reg("x", 0o644, "x")}, wantErr: `dest: path "/var/../etc" contains ".."`},
		{name: "absolute subdir", o: Options{Subdir: "/bin"}, ents: []ent{reg("x", 0o644, "x")}, wantErr: "must be relative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var data []byte
			file := "a.tar"
			if tt.format == "zip" {
				data, file = makeZip(t, tt.ents), "a.zip"
			} else {
				data = makeTar(t, tt.ents)
			}
			art := "https://example.com/" + file
			o := tt.o
			o.Name, o.Epoch = art, epoch
			if o.Dest == "" {
				o.Dest = "/opt"
			}
			err := Archive(writeFile(t, file, data), io.Discard, o)
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v, want an *EntryError", err)
			}
			want := strings.ReplaceAll(tt.wantErr, "ART", art)
			if ee.Artifact != art || ee.Entry != tt.entry || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), art+": ") {
				t.Fatalf("error %q (entry %q), want one naming %s, entry %q and saying %q", err, ee.Entry, art, tt.entry, want)
			}
		})
	}
}

func TestSeveralArchivesInOneLayer(t *testing.T) {
	a := writeFile(t, "a.tar", makeTar(t, []ent{dir("x/", 0o755), dir("x/lib/", 0o755), reg("x/lib/a.py", 0o644, "a")}))
	b := writeFile(t, "b.tar", makeTar(t, []ent{dir("y/", 0o755), dir("y/lib/", 0o700), reg("y/lib/b.py", 0o644, "b")}))
	c := writeFile(t, "c.tar", makeTar(t, []ent{reg("z/lib/a.py", 0o644, "again")}))

	var out bytes.Buffer
	w := NewWriter(&out, epoch)
	if err := w.AddArchive(a, Options{Strip: 1, Dest: "/var/runtime", Name: "A", Format: "tar"}); err != nil {
		t.Fatal(err)
	}
	if err := w.AddArchive(b, Options{Strip: 1, Dest: "/var/runtime", Name: "B", Format: "tar"}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"var/ 5 0755", "var/runtime/ 5 0755", "var/runtime/lib/ 5 0755", "var/runtime/lib/a.py 0 0644 =a", "var/runtime/lib/b.py 0 0644 =b"}
	if got := list(t, out.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	w = NewWriter(io.Discard, epoch)
	if err := w.AddArchive(a, Options{Strip: 1, Dest: "/var/runtime", Name: "A", Format: "tar"}); err != nil {
		t.Fatal(err)
	}
	err := w.AddArchive(c, Options{Strip: 1, Dest: "/var/runtime", Name: "C", Format: "tar"})
	if err == nil || err.Error() != `C: entry "z/lib/a.py": /var/runtime/lib/a.py is already in the layer, from A (entry "x/lib/a.py")` {
		t.Fatalf("duplicate across archives: %v", err)
	}
	if err2 := w.Close(); err2 != err {
		t.Fatalf("Close after an error = %v, want the error", err2)
	}
}

func TestZipModes(t *testing.T) {
	// A zip made on Windows has no Unix modes: files get 0644, dirs 0755.
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	zw.CreateHeader(&zip.FileHeader{Name: "lib/", Modified: older})
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "lib/Amazon.Lambda.dll", Method: zip.Deflate, Modified: older})
	io.WriteString(w, "MZ")
	zw.Close()
	var out bytes.Buffer
	if err := Archive(writeFile(t, "x.nupkg", buf.Bytes()), &out, Options{Dest: "/var/runtime", Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	want := []string{"var/ 5 0755", "var/runtime/ 5 0755", "var/runtime/lib/ 5 0755", "var/runtime/lib/Amazon.Lambda.dll 0 0644 =MZ"}
	if got := list(t, out.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCorruptArchives(t *testing.T) {
	good := gzipBytes(t, makeTar(t, nodeTree))
	bad := append([]byte{}, good...)
	bad[len(bad)/2] ^= 0xff
	zipData := makeZip(t, []ent{reg("f", 0o644, strings.Repeat("zip body ", 100))})
	badZip := append([]byte{}, zipData...)
	// Flip a byte of the CRC the central directory records for the entry.
	if i := bytes.Index(badZip, []byte("PK\x01\x02")); i >= 0 {
		badZip[i+16] ^= 0xff
	}
	for _, tt := range []struct {
		file string
		data []byte
	}{
		{"bad.tar.gz", bad},
		{"short.tar.gz", good[:len(good)/2]},
		{"notgzip.tar.gz", []byte("hello")},
		{"notxz.tar.xz", []byte("hello")},
		{"notzip.zip", []byte("hello")},
		{"crc.zip", badZip},
		{"nodata.gem", makeTar(t, []ent{reg("metadata.gz", 0o644, "m")})},
	} {
		t.Run(tt.file, func(t *testing.T) {
			name := "https://example.com/" + tt.file
			err := Archive(writeFile(t, tt.file, tt.data), io.Discard, Options{Name: name, Epoch: epoch})
			if err == nil || !strings.HasPrefix(err.Error(), name+": ") {
				t.Fatalf("error %v, want one naming %s", err, name)
			}
			t.Log(err)
		})
	}
}

func TestRaw(t *testing.T) {
	p := writeFile(t, "blob", []byte("binary"))
	var out bytes.Buffer
	if err := Archive(p, &out, Options{Format: "raw", Dest: "/usr/local/bin", Epoch: epoch,
		Name: "https://github.com/aws/rie/releases/download/v1.10/aws-lambda-rie-x86_64?x=1"}); err != nil {
		t.Fatal(err)
	}
	want := []string{"usr/ 5 0755", "usr/local/ 5 0755", "usr/local/bin/ 5 0755", "usr/local/bin/aws-lambda-rie-x86_64 0 0644 =binary"}
	if got := list(t, out.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("layer:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := Archive(p, io.Discard, Options{Format: "raw", Name: "https://example.com/"}); err == nil {
		t.Fatal("raw artifact without a file name accepted")
	}
}

func TestFile(t *testing.T) {
	var out bytes.Buffer
	if err := File(&out, "/var/runtime/bootstrap", 0o755|fs.ModeSetgid, strings.NewReader("#!/bin/sh\n"), 10, epoch); err != nil {
		t.Fatal(err)
	}
	want := []string{"var/ 5 0755", "var/runtime/ 5 0755", "var/runtime/bootstrap 0 2755 =#!/bin/sh\n"}
	if got := list(t, out.Bytes()); !reflect.DeepEqual(got, want) {
		t.Fatalf("layer:\n%q\nwant:\n%q", got, want)
	}
	for _, tt := range []struct {
		path    string
		mode    fs.FileMode
		content string
		size    int64
		wantErr string
	}{
		{"/a", 0o644, "short", 10, "content ends after 5 of 10 bytes"},
		{"/a", 0o644, "longer", 2, "longer than its size"},
		{"/../etc/x", 0o644, "", 0, `".."`},
		{"/", 0o644, "", 0, "no file name"},
		{"/a", fs.ModeDir | 0o755, "", 0, "not a regular file"},
	} {
		err := File(io.Discard, tt.path, tt.mode, strings.NewReader(tt.content), tt.size, epoch)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.path) {
			t.Errorf("File(%q): %v, want an error naming it and saying %q", tt.path, err, tt.wantErr)
		}
	}

	// A file into a directory an archive wrote, and a duplicate of it.
	w := NewWriter(io.Discard, epoch)
	if err := w.AddArchive(writeFile(t, "a.tar", makeTar(t, []ent{reg("bootstrap", 0o755, "x")})), Options{Dest: "/var/runtime", Name: "A", Format: "tar"}); err != nil {
		t.Fatal(err)
	}
	err := w.AddFile("/var/runtime/bootstrap", 0o755, strings.NewReader("y"), 1)
	if err == nil || !strings.Contains(err.Error(), `/var/runtime/bootstrap is already in the layer, from A (entry "bootstrap")`) {
		t.Fatalf("duplicate file: %v", err)
	}
}

func TestDetectFormat(t *testing.T) {
	for name, want := range map[string]string{
		"https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz":    "tar.xz",
		"https://x/y/Python-3.9.tgz":                                         "tar.gz",
		"https://x/y/a.tar.gz?raw=true":                                      "tar.gz",
		"https://x/y/A.TAR.GZ":                                               "tar.gz",
		"https://x/y/a.txz":                                                  "tar.xz",
		"https://x/y/a.tar":                                                  "tar",
		"https://files.pythonhosted.org/p/awslambdaric-2.0-py3-none-any.whl": "zip",
		"https://x/dotnet.zip":                                               "zip",
		"https://x/amazon.lambda.runtimesupport.1.0.nupkg":                   "zip",
		"https://rubygems.org/downloads/aws_lambda_ric-2.0.0.gem":            "gem",
		"local/file.tar.gz":                                                  "tar.gz",
	} {
		got, err := DetectFormat(name)
		if err != nil || got != want {
			t.Errorf("DetectFormat(%q) = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"https://x/lib.jar", "https://x/rie", "https://x/a.gz"} {
		if got, err := DetectFormat(name); err == nil {
			t.Errorf("DetectFormat(%q) = %q, want an error", name, got)
		}
	}
}

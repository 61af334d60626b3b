package function

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/cache"
)

// tarEntry is one entry of a produced layer.
type tarEntry struct {
	typ  byte
	mode int64
	body string
	link string
}

func readTar(t *testing.T, b []byte) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out[strings.TrimSuffix(h.Name, "/")] = tarEntry{typ: h.Typeflag, mode: h.Mode, body: string(body), link: h.Linkname}
	}
}

func writeFile(t *testing.T, root, rel, body string, mode os.FileMode) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
}

func layerOf(t *testing.T, in Input) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	err := WriteLayer(&buf, in, time.Unix(0, 0))
	return buf.Bytes(), err
}

func TestSrcIgnoreAndModes(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src, "app.js", "js", 0o600)
	writeFile(t, src, "README.md", "doc", 0o644)
	writeFile(t, src, "docs/guide.md", "doc", 0o644)
	writeFile(t, src, "logs/a.log", "log", 0o644)
	writeFile(t, src, "lib/deep/b.log", "log", 0o644)
	writeFile(t, src, "node_modules/drop/x.js", "x", 0o644)
	writeFile(t, src, "node_modules/keep/y.js", "y", 0o644)
	writeFile(t, src, "bin/run", "#!/bin/sh", 0o700)
	writeFile(t, src, "private/secret.txt", "s", 0o600)
	writeFile(t, src, ".dockerignore", "# comment\n*.md\n**/*.log\nnode_modules\n!node_modules/keep\n", 0o644)
	if err := os.Chmod(filepath.Join(src, "private"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("app.js", filepath.Join(src, "link.js")); err != nil {
		t.Fatal(err)
	}
	b, err := layerOf(t, Input{Path: src, Dest: "/var/task", IgnoreFile: filepath.Join(src, ".dockerignore"), Confine: true})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, b)
	for _, gone := range []string{"var/task/README.md", "var/task/logs/a.log", "var/task/lib/deep/b.log",
		"var/task/node_modules/drop/x.js", "var/task/node_modules/drop", "var/task/.dockerignore"} {
		if _, ok := got[gone]; ok {
			t.Errorf("%s is in the layer, the ignore file excludes it", gone)
		}
	}
	want := map[string]int64{
		"var": 0o755, "var/task": 0o755,
		"var/task/app.js":                 0o604,
		"var/task/bin/run":                0o705,
		"var/task/private":                0o705,
		"var/task/private/secret.txt":     0o604,
		"var/task/node_modules/keep/y.js": 0o644,
		"var/task/docs/guide.md":          0o644, // "*.md" matches at the root only, as in Docker
	}
	for p, m := range want {
		e, ok := got[p]
		if !ok {
			t.Errorf("%s missing from the layer", p)
			continue
		}
		if e.mode != m {
			t.Errorf("%s mode %o, want %o", p, e.mode, m)
		}
	}
	if e := got["var/task/link.js"]; e.typ != tar.TypeSymlink || e.link != "app.js" {
		t.Errorf("link.js = %+v", e)
	}
	again, err := layerOf(t, Input{Path: src, Dest: "/var/task", IgnoreFile: filepath.Join(src, ".dockerignore"), Confine: true})
	if err != nil || !bytes.Equal(b, again) {
		t.Errorf("the same directory gave another layer (err %v)", err)
	}
}

// zipEntry is one entry of a test zip: a file with a mode, or a symlink.
type zipEntry struct {
	name string
	mode fs.FileMode
	body string
}

func makeZip(t *testing.T, entries ...zipEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fn.zip")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(e.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, e.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return p
}

func TestZipModesKept(t *testing.T) {
	z := makeZip(t,
		zipEntry{"app.py", 0o644, "py"},
		zipEntry{"bootstrap", 0o755, "#!/bin/sh"},
		zipEntry{"conf/settings.json", 0o640, "{}"},
		zipEntry{"lib/libx.so", fs.ModeSymlink | 0o777, "libx.so.1"},
		zipEntry{"lib/libx.so.1", 0o644, "elf"},
		zipEntry{"abs", fs.ModeSymlink | 0o777, "/var/task/app.py"},
	)
	b, err := layerOf(t, Input{Path: z, Dest: "/var/task", Confine: true})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, b)
	for p, m := range map[string]int64{"var/task/app.py": 0o644, "var/task/bootstrap": 0o755, "var/task/conf/settings.json": 0o644} {
		if got[p].mode != m {
			t.Errorf("%s mode %o, want %o", p, got[p].mode, m)
		}
	}
	if got["var/task/lib/libx.so"].link != "libx.so.1" || got["var/task/abs"].link != "/var/task/app.py" {
		t.Errorf("links not kept: %+v %+v", got["var/task/lib/libx.so"], got["var/task/abs"])
	}
}

func TestZipUnsafeEntriesRefused(t *testing.T) {
	cases := []struct {
		name  string
		entry zipEntry
	}{
		{"dotdot", zipEntry{"../x", 0o644, "x"}},
		{"absolute", zipEntry{"/abs", 0o644, "x"}},
		{"link-up", zipEntry{"evil", fs.ModeSymlink | 0o777, "../../etc/passwd"}},
		{"link-abs", zipEntry{"sub/evil", fs.ModeSymlink | 0o777, "/etc/passwd"}},
		{"link-sibling", zipEntry{"evil", fs.ModeSymlink | 0o777, "../taskother/x"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			z := makeZip(t, zipEntry{"ok.js", 0o644, "ok"}, c.entry)
			_, err := layerOf(t, Input{Path: z, Dest: "/var/task", Confine: true})
			if err == nil {
				t.Fatalf("%s was accepted", c.entry.name)
			}
			if !strings.Contains(err.Error(), `"`+strings.TrimPrefix(c.entry.name, "")+`"`) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error does not name %q on one line: %v", c.entry.name, err)
			}
		})
	}
}

func TestConfinedFollowsLinks(t *testing.T) {
	links := map[string]string{
		"var/task/self": ".",
		"var/task/up":   "self/../y", // resolves to /var/y through self
		"var/task/ok":   "self/a/../b",
		"var/task/loop": "loop",
		"var/task/abs":  "/var/task/x",
		"var/task/d/in": "../x",
	}
	for p, want := range map[string]bool{"var/task/self": true, "var/task/up": false, "var/task/ok": true, "var/task/loop": false, "var/task/abs": true, "var/task/d/in": true} {
		if got := confined(p, links, "var/task"); got != want {
			t.Errorf("confined(%s -> %s) = %v, want %v", p, links[p], got, want)
		}
	}
}

func TestBuildLayerCachedByContent(t *testing.T) {
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	src := t.TempDir()
	writeFile(t, src, "app.js", "v1", 0o644)
	in := Input{Path: src, Dest: "/var/task", Confine: true}
	e1, hit, err := BuildLayer(c, in, time.Unix(0, 0))
	if err != nil || hit {
		t.Fatalf("first build: hit=%v err=%v", hit, err)
	}
	e2, hit, err := BuildLayer(c, in, time.Unix(0, 0))
	if err != nil || !hit || e2.Digest != e1.Digest {
		t.Fatalf("second build: hit=%v err=%v digests %s %s", hit, err, e1.Digest, e2.Digest)
	}
	writeFile(t, src, "app.js", "v2", 0o644)
	e3, hit, err := BuildLayer(c, in, time.Unix(0, 0))
	if err != nil || hit || e3.Digest == e1.Digest {
		t.Fatalf("changed code: hit=%v err=%v", hit, err)
	}
}

func TestSrcExcludesOutputs(t *testing.T) {
	src := t.TempDir()
	writeFile(t, src, "app.js", "js", 0o644)
	writeFile(t, src, "rtbuild-out/function/index.json", "{}", 0o644)
	writeFile(t, src, "md.json", "{}", 0o644)
	b, err := layerOf(t, Input{Path: src, Dest: "/var/task", Exclude: []string{filepath.Join(src, "rtbuild-out/function"), filepath.Join(src, "md.json")}})
	if err != nil {
		t.Fatal(err)
	}
	got := readTar(t, b)
	if _, ok := got["var/task/app.js"]; !ok {
		t.Error("app.js missing")
	}
	for _, p := range []string{"var/task/rtbuild-out/function/index.json", "var/task/rtbuild-out/function", "var/task/md.json"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s is in the layer: it is an output of the build", p)
		}
	}
}

package cachemgmt

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// fillCache writes a download (with a URL record), a gzip and a zstd layer
// (with their keys), a base's metadata and a saved base layout into dir
// and returns the files written.
func fillCache(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	art, layer, manifest := []byte("artifact bytes"), []byte("layer blob"), []byte(`{"schemaVersion":2}`)
	zlayer, meta := []byte("zstd layer blob"), []byte(`{"schemaVersion":2,"config":{}}`)
	files := map[string][]byte{
		"layers/blobs/sha256/" + sha(zlayer):               zlayer,
		"layers/keys/" + sha([]byte("key")) + "+zstd.json": []byte(`{"digest":"sha256:` + sha(zlayer) + `","size":15}`),
		"metadata/sha256/" + sha(meta):                     meta,
		"downloads/sha256/" + sha(art):                     art,
		"downloads/urls/" + sha([]byte("https://x/a.tgz")): []byte(sha(art) + "\n"),
		"layers/blobs/sha256/" + sha(layer):                layer,
		"layers/keys/" + sha([]byte("key")) + ".json":      []byte(`{"digest":"sha256:` + sha(layer) + `","size":10}`),
		"bases/blobs/sha256/" + sha(manifest):              manifest,
		"bases/oci-layout":                                 []byte(`{"imageLayoutVersion":"1.0.0"}`),
		"bases/index.json":                                 []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:` + sha(manifest) + `","size":19,"annotations":{"org.opencontainers.image.ref.name":"example.com/base:2"}}]}`),
	}
	for n, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Writes in progress are not exported.
	os.MkdirAll(filepath.Join(dir, "layers", "tmp"), 0o755)
	os.WriteFile(filepath.Join(dir, "layers", "tmp", "blob-123"), []byte("partial"), 0o644)
	return files
}

func TestExportImportRoundTrip(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	files := fillCache(t, src)
	file := filepath.Join(t.TempDir(), "cache.tar")
	st, err := Export(src, file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Files != len(files) {
		t.Errorf("exported %d files, want %d", st.Files, len(files))
	}
	ist, err := Import(dst, file)
	if err != nil {
		t.Fatal(err)
	}
	if ist.Files != len(files) || ist.Skipped != 0 {
		t.Errorf("imported %+v, want %d files", ist, len(files))
	}
	for n, want := range files {
		got, err := os.ReadFile(filepath.Join(dst, filepath.FromSlash(n)))
		if err != nil || !bytes.Equal(got, want) && n != "bases/index.json" {
			t.Errorf("%s: %q, %v", n, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dst, "layers", "tmp", "blob-123")); err == nil {
		t.Error("a write in progress was exported")
	}
	if _, err := os.Stat(filepath.Join(dst, "import-tmp")); err == nil {
		t.Error("import left its temporary directory")
	}
	// Importing again skips blobs already present and keeps one index entry per name.
	ist, err = Import(dst, file)
	if err != nil {
		t.Fatal(err)
	}
	if ist.Skipped != 5 {
		t.Errorf("second import skipped %d blobs, want 5 (all of them)", ist.Skipped)
	}
	idx, _ := os.ReadFile(filepath.Join(dst, "bases", "index.json"))
	if n := strings.Count(string(idx), "example.com/base:2"); n != 1 {
		t.Errorf("bases index has %d entries for the base, want 1: %s", n, idx)
	}
}

// rewrite copies an export, changing members with edit (nil drops one).
func rewrite(t *testing.T, file string, edit func(name string, b []byte) []byte) string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := filepath.Join(t.TempDir(), "edited.tar")
	o, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close()
	tr, tw := tar.NewReader(f), tar.NewWriter(o)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		b = edit(h.Name, b)
		if b == nil {
			continue
		}
		h.Size = int64(len(b))
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	return out
}

func TestImportRefusesCorruptAndForeignMembers(t *testing.T) {
	src := t.TempDir()
	fillCache(t, src)
	file := filepath.Join(t.TempDir(), "cache.tar")
	if _, err := Export(src, file); err != nil {
		t.Fatal(err)
	}
	corrupt := rewrite(t, file, func(name string, b []byte) []byte {
		if strings.HasPrefix(name, "layers/blobs/") {
			return []byte("tampered")
		}
		return b
	})
	dst := t.TempDir()
	_, err := Import(dst, corrupt)
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "layers/blobs/sha256/") {
		t.Fatalf("importing a tampered blob: %v", err)
	}
	blobs, _ := os.ReadDir(filepath.Join(dst, "layers", "blobs", "sha256"))
	if len(blobs) != 0 {
		t.Errorf("a tampered blob entered the cache: %v", blobs)
	}
	// The key naming the missing blob is never written (the import stopped before it).
	keys, _ := os.ReadDir(filepath.Join(dst, "layers", "keys"))
	if len(keys) != 0 {
		t.Errorf("a key naming a missing blob was imported: %v", keys)
	}

	evil := filepath.Join(t.TempDir(), "evil.tar")
	o, _ := os.Create(evil)
	tw := tar.NewWriter(o)
	for _, m := range []struct{ name, body string }{{exportMarker, `{"format":1}`}, {"../../etc/cron.d/x", "boom"}} {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: m.name, Mode: 0o644, Size: int64(len(m.body))})
		tw.Write([]byte(m.body))
	}
	tw.Close()
	o.Close()
	if _, err := Import(t.TempDir(), evil); err == nil || !strings.Contains(err.Error(), "not a member") {
		t.Errorf("importing a path outside the cache: %v", err)
	}
	notExport := filepath.Join(t.TempDir(), "plain.tar")
	o, _ = os.Create(notExport)
	tw = tar.NewWriter(o)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "hello", Size: 1})
	tw.Write([]byte("x"))
	tw.Close()
	o.Close()
	if _, err := Import(t.TempDir(), notExport); err == nil || !strings.Contains(err.Error(), "not an rtbuild cache export") {
		t.Errorf("importing a foreign tar: %v", err)
	}
}

func TestListNamesZstdLayersByTheirKey(t *testing.T) {
	dir := t.TempDir()
	fillCache(t, dir)
	entries, err := List(dir)
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, e := range entries {
		if e.Kind == KindLayer {
			if len(e.Keys) != 1 || e.Keys[0] != sha([]byte("key")) {
				t.Errorf("layer %s has keys %v, want [%s]", e.Digest, e.Keys, sha([]byte("key")))
			}
			named++
		}
	}
	if named != 2 {
		t.Errorf("%d layers listed, want the gzip and the zstd one", named)
	}
}

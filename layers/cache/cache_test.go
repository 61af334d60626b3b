package cache

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

const key = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

// tarOf returns a small tar with the given files.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"a", "b", "c", "d"} {
		body, ok := files[name]
		if !ok {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: "var/" + name, Mode: 0o644, Size: int64(len(body))})
		io.WriteString(tw, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var layerTar []byte

func TestMain(m *testing.M) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	body := strings.Repeat("some layer content ", 5000)
	tw.WriteHeader(&tar.Header{Name: "var/lang/lib/x", Mode: 0o644, Size: int64(len(body))})
	io.WriteString(tw, body)
	tw.Close()
	layerTar = buf.Bytes()
	os.Exit(m.Run())
}

func writeBytes(b []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		// Several writes, as a tar writer does.
		for len(b) > 0 {
			n := min(len(b), 777)
			if _, err := w.Write(b[:n]); err != nil {
				return err
			}
			b = b[n:]
		}
		return nil
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func open(t *testing.T) *Cache {
	t.Helper()
	c, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// files lists the regular files below dir, relative.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return err
	})
	return out
}

// checkLayer runs go-containerregistry's validate.Layer and then checks
// the same by hand: the compressed bytes hash to Digest and have Size
// bytes, they gunzip (with a deterministic header) to bytes hashing to
// DiffID, Uncompressed agrees and is the tar that was put.
func checkLayer(t *testing.T, l v1.Layer, wantTar []byte) {
	t.Helper()
	if err := validate.Layer(l); err != nil {
		t.Fatalf("validate.Layer: %v", err)
	}
	digest, _ := l.Digest()
	diffID, _ := l.DiffID()
	size, _ := l.Size()
	mt, _ := l.MediaType()
	if mt != types.OCILayer {
		t.Errorf("media type %s", mt)
	}
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	comp, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if got := sha(comp); got != digest.Hex || int64(len(comp)) != size {
		t.Errorf("compressed: sha256:%s, %d bytes; layer says %s, %d bytes", got, len(comp), digest, size)
	}
	zr, err := gzip.NewReader(bytes.NewReader(comp))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("gzip header has name %q, mtime %v", zr.Name, zr.ModTime)
	}
	gunzipped, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if sha(gunzipped) != diffID.Hex {
		t.Errorf("gunzipped sha256:%s, DiffID %s", sha(gunzipped), diffID)
	}
	rc, err = l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	unc, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(unc, gunzipped) || (wantTar != nil && !bytes.Equal(unc, wantTar)) {
		t.Error("Uncompressed differs from the tar put")
	}
	tr := tar.NewReader(bytes.NewReader(unc))
	for {
		if _, err := tr.Next(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("layer tar: %v", err)
		}
	}
}

func TestPutGetLayer(t *testing.T) {
	c := open(t)
	if e, ok, err := c.Get(key); e != nil || ok || err != nil {
		t.Fatalf("Get on an empty cache: %v %v %v", e, ok, err)
	}
	e, err := c.Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	if e.Key != key || e.DiffID.String() != "sha256:"+sha(layerTar) || e.MediaType != types.OCILayer || e.Size <= 0 {
		t.Fatalf("entry %+v", e)
	}
	blob, err := os.ReadFile(c.BlobPath(e))
	if err != nil || sha(blob) != e.Digest.Hex || int64(len(blob)) != e.Size {
		t.Fatalf("blob: %v", err)
	}

	got, ok, err := c.Get(key)
	if err != nil || !ok || *got != *e {
		t.Fatalf("Get = %+v %v %v, want %+v", got, ok, err, e)
	}
	var onDisk map[string]any
	raw, _ := os.ReadFile(filepath.Join(c.Dir(), "keys", key+".json"))
	if err := json.Unmarshal(raw, &onDisk); err != nil {
		t.Fatal(err)
	}
	stampOnDisk := onDisk["stamp"]
	delete(onDisk, "stamp")
	if fmt.Sprint(onDisk) != fmt.Sprintf("map[diffID:%s digest:%s format:%s mediaType:%s size:%d]", e.DiffID, e.Digest, FormatGzip, e.MediaType, e.Size) {
		t.Fatalf("key file %s", raw)
	}
	if st, ok := stampOnDisk.(map[string]any); !ok || st["size"] != float64(e.Size) || st["mtime"] == float64(0) {
		t.Fatalf("key file without the blob's stamp: %s", raw)
	}
	if fs := files(t, c.Dir()); fmt.Sprint(fs) != fmt.Sprintf("[blobs/sha256/%s keys/%s.json]", e.Digest.Hex, key) {
		t.Fatalf("cache holds %v", fs)
	}

	l, err := c.Layer(got)
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, l, layerTar)
}

func TestDeterministicCompression(t *testing.T) {
	a, err := open(t).Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	b, err := open(t).Put("other-key", func(w io.Writer) error { _, err := w.Write(layerTar); return err })
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != b.Digest || a.Size != b.Size {
		t.Fatalf("same tar, different blobs: %v %v", a, b)
	}
}

func TestCorruptEntriesAreDiscarded(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, c *Cache, e *Entry)
	}{
		{"blob bit flip", func(t *testing.T, c *Cache, e *Entry) {
			b, _ := os.ReadFile(c.BlobPath(e))
			b[len(b)/2] ^= 1
			overwrite(t, c.BlobPath(e), b)
		}},
		{"blob truncated", func(t *testing.T, c *Cache, e *Entry) {
			b, _ := os.ReadFile(c.BlobPath(e))
			overwrite(t, c.BlobPath(e), b[:len(b)-1])
		}},
		{"blob missing", func(t *testing.T, c *Cache, e *Entry) {
			os.Remove(c.BlobPath(e))
		}},
		{"key not json", func(t *testing.T, c *Cache, e *Entry) {
			overwrite(t, filepath.Join(c.Dir(), "keys", key+".json"), []byte("{garbage"))
		}},
		{"key with a bad digest", func(t *testing.T, c *Cache, e *Entry) {
			overwrite(t, filepath.Join(c.Dir(), "keys", key+".json"), []byte(`{"digest":"sha256:abc","diffID":"sha256:abc","size":1,"mediaType":"x"}`))
		}},
		{"key size wrong", func(t *testing.T, c *Cache, e *Entry) {
			bad := record{Entry: *e, Format: FormatGzip}
			bad.Size++
			raw, _ := json.Marshal(bad)
			overwrite(t, filepath.Join(c.Dir(), "keys", key+".json"), raw)
		}},
		{"key of an older format", func(t *testing.T, c *Cache, e *Entry) {
			// What rtbuild wrote before the format was recorded: a valid
			// entry, but not of the bytes this encoder makes.
			raw, _ := json.Marshal(e)
			overwrite(t, filepath.Join(c.Dir(), "keys", key+".json"), raw)
		}},
		{"blob bit flip, size and mtime kept", func(t *testing.T, c *Cache, e *Entry) {
			flipKeepingTimes(t, c.BlobPath(e))
		}},
		{"blob replaced by another file of the same size and mtime", func(t *testing.T, c *Cache, e *Entry) {
			p := c.BlobPath(e)
			fi, _ := os.Stat(p)
			b, _ := os.ReadFile(p)
			b[len(b)/3] ^= 0x40
			os.Remove(p)
			overwrite(t, p, b)
			os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := open(t)
			e, err := c.Put(key, writeBytes(layerTar))
			if err != nil {
				t.Fatal(err)
			}
			tt.corrupt(t, c, e)
			got, ok, err := c.Get(key)
			if ok || got != nil || err != nil {
				t.Fatalf("Get of a corrupt entry = %+v %v %v, want a miss", got, ok, err)
			}
			// The key goes; so does the blob unless the key no longer names it.
			for _, f := range files(t, c.Dir()) {
				if !strings.HasPrefix(tt.name, "key ") || !strings.HasPrefix(f, "blobs/") {
					t.Fatalf("corrupt entry not removed: %s", f)
				}
			}
			// Rebuilt, it is served again.
			if _, err := c.Put(key, writeBytes(layerTar)); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := c.Get(key); !ok || err != nil {
				t.Fatalf("Get after rebuild: %v %v", ok, err)
			}
		})
	}
}

func overwrite(t *testing.T, p string, b []byte) {
	t.Helper()
	os.Chmod(p, 0o644)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLayerReadersVerify(t *testing.T) {
	c := open(t)
	e, err := c.Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	l, err := c.Layer(e)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(c.BlobPath(e))
	b[len(b)-20] ^= 1
	overwrite(t, c.BlobPath(e), b)
	rc, err := l.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || !strings.Contains(err.Error(), e.Digest.String()) {
		t.Fatalf("reading a corrupted blob: %v", err)
	}

	os.Remove(c.BlobPath(e))
	if _, err := c.Layer(e); err == nil {
		t.Fatal("Layer of a missing blob succeeded")
	}
}

func TestFailingWriteLeavesNothing(t *testing.T) {
	c := open(t)
	boom := errors.New("boom")
	e, err := c.Put(key, func(w io.Writer) error {
		w.Write(layerTar[:len(layerTar)/2])
		return boom
	})
	if !errors.Is(err, boom) || e != nil {
		t.Fatalf("Put = %v, %v; want the write's error", e, err)
	}
	func() {
		defer func() { recover() }()
		c.Put(key, func(w io.Writer) error { w.Write(layerTar); panic("crash") })
	}()
	if fs := files(t, c.Dir()); len(fs) != 0 {
		t.Fatalf("files left: %v", fs)
	}
	if _, ok, _ := c.Get(key); ok {
		t.Fatal("failed Put is a hit")
	}
}

func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	var wg sync.WaitGroup
	entries := make([]*Entry, 16)
	errs := make([]error, 16)
	for i := range entries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := Open(dir) // a Cache per goroutine, as separate processes would have
			if err != nil {
				errs[i] = err
				return
			}
			if entries[i], errs[i] = c.Put(key, writeBytes(layerTar)); errs[i] != nil {
				return
			}
			_, ok, err := c.Get(key)
			if !ok || err != nil {
				errs[i] = fmt.Errorf("Get after Put: %v %v", ok, err)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
		if *entries[i] != *entries[0] {
			t.Fatalf("entries differ: %+v %+v", entries[i], entries[0])
		}
	}
	c, _ := Open(dir)
	if fs := files(t, dir); len(fs) != 2 {
		t.Fatalf("cache holds %v, want one blob and one key", fs)
	}
	l, err := c.Layer(entries[0])
	if err != nil {
		t.Fatal(err)
	}
	checkLayer(t, l, layerTar)
}

func TestInvalidKeys(t *testing.T) {
	c := open(t)
	for _, k := range []string{"", "../x", "a/b", ".hidden", strings.Repeat("a", 201)} {
		if _, _, err := c.Get(k); err == nil {
			t.Errorf("Get(%q) accepted", k)
		}
		if _, err := c.Put(k, writeBytes(nil)); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
	}
	// An empty layer is fine.
	e, err := c.Put("empty", writeBytes(tarOf(t, nil)))
	if err != nil {
		t.Fatal(err)
	}
	l, _ := c.Layer(e)
	checkLayer(t, l, tarOf(t, nil))
}

// Package cache is the layer cache: compressed layer blobs stored under the
// sha256 of their recipe (the cache key). Writes go to a temporary file,
// are fsynced and renamed, so concurrent rtbuild processes and crashes never
// leave a corrupt entry; every read verifies the blob's size and digest, and
// a corrupt entry is discarded (reported as a miss), never served.
//
// Layout:
//
//	<dir>/blobs/sha256/<hex>  gzip-compressed layer tars, read-only, named by their digest
//	<dir>/keys/<key>.json     {"digest", "diffID", "size", "mediaType"} of the key's layer
//	<dir>/tmp/                writes in progress
//
// A blob is committed before the key that names it, so a key never points
// at a missing blob except after outside interference, which Get detects.
package cache

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CompressionLevel is the gzip level of every layer. It is part of the layer
// bytes: changing it (or the gzip implementation's output) requires bumping
// layers.FormatVersion.
const CompressionLevel = gzip.DefaultCompression

// Cache is a layer cache directory. It is safe for concurrent use, also by
// several processes sharing the directory.
type Cache struct {
	dir string
}

// Entry describes a cached layer.
type Entry struct {
	Key       string          `json:"-"`
	Digest    v1.Hash         `json:"digest"`    // of the compressed blob
	DiffID    v1.Hash         `json:"diffID"`    // of the uncompressed tar
	Size      int64           `json:"size"`      // compressed size
	MediaType types.MediaType `json:"mediaType"` // types.OCILayer (gzip)
}

// Open opens (creating it if needed) the cache in dir. Temporary files older
// than a day, left by crashed processes, are removed.
func Open(dir string) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("layer cache: no directory given")
	}
	c := &Cache{dir: dir}
	for _, d := range []string{filepath.Join("blobs", "sha256"), "keys", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("layer cache: %w", err)
		}
	}
	if entries, err := os.ReadDir(c.tmpDir()); err == nil {
		for _, e := range entries {
			if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > 24*time.Hour {
				_ = os.Remove(filepath.Join(c.tmpDir(), e.Name()))
			}
		}
	}
	return c, nil
}

// Dir returns the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// BlobPath returns the file holding e's compressed layer.
func (c *Cache) BlobPath(e *Entry) string { return c.blobPath(e.Digest.Hex) }

func (c *Cache) blobPath(hex string) string { return filepath.Join(c.dir, "blobs", "sha256", hex) }
func (c *Cache) keyPath(key string) string  { return filepath.Join(c.dir, "keys", key+".json") }
func (c *Cache) tmpDir() string             { return filepath.Join(c.dir, "tmp") }

// checkKey accepts the keys layers.Recipe.Key makes (hex) and other plain
// file-name-safe names.
func checkKey(key string) error {
	if key == "" || len(key) > 200 || key[0] == '.' {
		return fmt.Errorf("layer cache: invalid key %q", key)
	}
	for _, r := range key {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("layer cache: invalid key %q", key)
		}
	}
	return nil
}

// Get returns the verified entry for key, or ok=false (also when it was
// corrupt: then the key and its blob are removed). The blob is re-hashed on
// every call.
func (c *Cache) Get(key string) (e *Entry, ok bool, err error) {
	if err := checkKey(key); err != nil {
		return nil, false, err
	}
	raw, err := os.ReadFile(c.keyPath(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("layer cache: %w", err)
	}
	e = &Entry{}
	if err := json.Unmarshal(raw, e); err != nil || e.Digest.Algorithm != "sha256" || e.DiffID.Algorithm != "sha256" ||
		!isHex64(e.Digest.Hex) || !isHex64(e.DiffID.Hex) || e.Size < 0 || e.MediaType == "" {
		c.discardKey(key, raw)
		return nil, false, nil
	}
	e.Key = key

	f, err := os.Open(c.blobPath(e.Digest.Hex))
	if errors.Is(err, fs.ErrNotExist) {
		c.discardKey(key, raw)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("layer cache: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("layer cache: %w", err)
	}
	if fi.Size() == e.Size {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return nil, false, fmt.Errorf("layer cache: reading %s: %w", f.Name(), err)
		}
		if hex.EncodeToString(h.Sum(nil)) == e.Digest.Hex {
			return e, true, nil
		}
	}
	// Corrupt: discard the blob (unless someone already replaced it) and the key.
	if pi, err := os.Stat(f.Name()); err == nil && os.SameFile(fi, pi) {
		_ = os.Remove(f.Name())
	}
	c.discardKey(key, raw)
	return nil, false, nil
}

// discardKey removes key's file if it still holds raw (a concurrent Put may
// have replaced it with a good entry).
func (c *Cache) discardKey(key string, raw []byte) {
	if now, err := os.ReadFile(c.keyPath(key)); err == nil && bytes.Equal(now, raw) {
		_ = os.Remove(c.keyPath(key))
	}
}

// Put runs write with a writer that takes the uncompressed tar stream; the
// cache compresses it (gzip at CompressionLevel, no name or mtime in the
// header, so deterministic), hashes both forms in the same pass and commits
// the blob and then the key atomically. If write returns an error (it is
// returned as is) or panics, nothing is left behind. An existing entry for
// key is replaced.
func (c *Cache) Put(key string, write func(tarStream io.Writer) error) (*Entry, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(c.tmpDir(), "blob-*")
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	digest, diffID := sha256.New(), sha256.New()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	compressed := &countingWriter{w: io.MultiWriter(bw, digest)}
	zw, err := gzip.NewWriterLevel(compressed, CompressionLevel)
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	if err := write(io.MultiWriter(diffID, zw)); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("layer cache: compressing: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	e := &Entry{
		Key:       key,
		Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(digest.Sum(nil))},
		DiffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffID.Sum(nil))},
		Size:      compressed.n,
		MediaType: types.OCILayer,
	}
	if err := commit(tmp, c.blobPath(e.Digest.Hex), 0o444); err != nil {
		return nil, err
	}
	committed = true

	raw, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	kt, err := os.CreateTemp(c.tmpDir(), "key-*")
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	if _, err := kt.Write(append(raw, '\n')); err != nil {
		kt.Close()
		os.Remove(kt.Name())
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	if err := commit(kt, c.keyPath(key), 0o644); err != nil {
		return nil, err
	}
	return e, nil
}

// commit makes f durable and renames it to dst; on failure f is removed.
func commit(f *os.File, dst string, mode os.FileMode) error {
	err := f.Chmod(mode)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), dst)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("layer cache: %w", err)
	}
	if d, err := os.Open(filepath.Dir(dst)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Layer returns a v1.Layer backed by the entry's blob (no recompression).
// Its readers verify what they read: a reader that reaches the end of a
// blob that no longer matches e returns an error instead of io.EOF.
func (c *Cache) Layer(e *Entry) (v1.Layer, error) {
	if e == nil {
		return nil, errors.New("layer cache: nil entry")
	}
	p := c.BlobPath(e)
	if _, err := os.Stat(p); err != nil {
		return nil, fmt.Errorf("layer cache: layer %s: %w", e.Digest, err)
	}
	return &layer{path: p, e: *e}, nil
}

// layer is a cached blob as a v1.Layer.
type layer struct {
	path string
	e    Entry
}

var _ v1.Layer = (*layer)(nil)

func (l *layer) Digest() (v1.Hash, error)            { return l.e.Digest, nil }
func (l *layer) DiffID() (v1.Hash, error)            { return l.e.DiffID, nil }
func (l *layer) Size() (int64, error)                { return l.e.Size, nil }
func (l *layer) MediaType() (types.MediaType, error) { return l.e.MediaType, nil }

func (l *layer) Compressed() (io.ReadCloser, error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("layer cache: layer %s: %w", l.e.Digest, err)
	}
	return &verifier{r: f, c: f, h: sha256.New(), want: l.e.Digest, size: l.e.Size, what: "compressed layer"}, nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(rc)
	if err != nil {
		rc.Close()
		return nil, fmt.Errorf("layer cache: layer %s: %w", l.e.Digest, err)
	}
	return &verifier{r: zr, c: multiCloser{zr, rc}, h: sha256.New(), want: l.e.DiffID, size: -1, what: "uncompressed layer"}, nil
}

// verifier hashes what it reads and, at the end, checks the digest (and
// the size when known).
type verifier struct {
	r    io.Reader
	c    io.Closer
	h    hash.Hash
	n    int64
	want v1.Hash
	size int64
	what string
}

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			return n, fmt.Errorf("layer cache: %s %s: %d bytes, want %d", v.what, v.want, v.n, v.size)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, fmt.Errorf("layer cache: %s %s: content has sha256:%s", v.what, v.want, got)
		}
	}
	return n, err
}

func (v *verifier) Close() error { return v.c.Close() }

type multiCloser []io.Closer

func (m multiCloser) Close() error {
	var errs []error
	for _, c := range m {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

// Package cache is the layer cache: compressed layer blobs stored under the
// sha256 of their recipe (the cache key). Writes go to a temporary file,
// are fsynced and renamed, so concurrent rtbuild processes and crashes never
// leave a corrupt entry, and a corrupt entry is discarded (reported as a
// miss), never served.
//
// Layout:
//
//	<dir>/blobs/sha256/<hex>     compressed layer tars, read-only, named by their digest
//	<dir>/keys/<key>.json        the gzip layer of key: {"digest", "diffID", "size",
//	                             "mediaType", "format", "stamp"}
//	<dir>/keys/<key>+zstd.json   the zstd layer of key (see Compression)
//	<dir>/tmp/                   writes in progress
//
// A blob is committed before the key that names it, so a key never points
// at a missing blob except after outside interference, which Get detects.
//
// # Compression and reproducibility
//
// Layer bytes must be the same on every machine, whatever its core count.
// Gzip layers larger than 1 MiB are compressed in parallel
// (github.com/klauspost/pgzip): the input is cut into fixed 1 MiB blocks,
// each deflated with the previous block's last 32 KiB as dictionary and
// ended by a sync flush; the output depends on the block size and level,
// never on how many blocks are compressed at once. Smaller layers are one
// serial gzip stream (github.com/klauspost/compress/gzip), cheaper for
// them; which of the two is decided by the size alone. Zstd layers use github.com/klauspost/compress/zstd,
// serially (one core of zstd is several times faster than gzip).
// Each key file records the exact format (FormatGzip, FormatZstd) that wrote
// its blob; an entry of another format (an older rtbuild) is a miss and is
// rebuilt, so a key always yields the bytes this rtbuild produces.
// Changing an encoder or its settings requires a new format string.
//
// # Verification policy (what a hit costs)
//
// A hit touches only metadata: Get reads the key file and stats the blob.
// The blob is re-hashed only when its size or its file stamp (device,
// inode, size, mtime and ctime, recorded whenever the cache last hashed the
// blob: at Put or at a full verification) differs from the key's record.
// Any write to the blob through the file system changes its ctime, which
// user space cannot set back, so a blob edited in place, replaced, or
// copied to another machine (a restored CI cache) is hashed again and, if
// wrong, discarded and rebuilt. What the stamp cannot see (corruption below
// the file system, or a write in the same clock tick as the stamp was
// taken) is caught when the blob is used: every reader of Layer
// (OCI layout and docker-archive writes, registry uploads) hashes what it
// reads and fails at the end instead of returning io.EOF, and then removes
// the blob, so the output is not committed and the next build rebuilds the
// layer. A registry also checks the digest of an upload itself. Verify
// re-hashes an entry unconditionally.
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
	"runtime"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/klauspost/pgzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CompressionLevel is the gzip level of every gzip layer. It is part of the
// layer bytes: changing it (or the gzip implementation's output) requires a
// new FormatGzip.
const CompressionLevel = gzip.DefaultCompression

// Compression is the compression of the layers a Cache writes and serves.
type Compression string

const (
	// Gzip layers (types.OCILayer) are what every registry and runtime
	// accepts, Lambda included. The default.
	Gzip Compression = "gzip"
	// Zstd layers (types.OCILayerZStd) are smaller and faster to
	// decompress; not every runtime accepts them.
	Zstd Compression = "zstd"
)

// ParseCompression accepts "gzip" (also "") and "zstd".
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", Gzip:
		return Gzip, nil
	case Zstd:
		return Zstd, nil
	}
	return "", fmt.Errorf("unknown layer compression %q: use gzip or zstd", s)
}

// The formats recorded in key files: the encoder and every setting that
// shapes its output.
const (
	FormatGzip = "pgzip/1MiB/default-level+gzip-below-1MiB" // see gzipWriter
	FormatZstd = "zstd/serial/default"
)

// gzipBlockSize is pgzip's block size: part of FormatGzip.
const gzipBlockSize = 1 << 20

// maxBlocks bounds the blocks (and goroutines) one layer compresses at
// once, so memory stays bounded (each block in flight holds its input and
// output buffers and a deflate state: a few MiB) when several layers are
// built concurrently on a many-core machine. It does not change the output.
const maxBlocks = 8

func (z Compression) format() string {
	if z == Zstd {
		return FormatZstd
	}
	return FormatGzip
}

func (z Compression) mediaType() types.MediaType {
	if z == Zstd {
		return types.OCILayerZStd
	}
	return types.OCILayer
}

// Cache is a layer cache directory. It is safe for concurrent use, also by
// several processes sharing the directory.
type Cache struct {
	dir         string
	compression Compression
	// hashed counts full re-hashes of blobs by Get and Verify (for tests).
	hashed *atomic.Int64
	// puts counts the Puts in progress (shared by WithCompression views):
	// the CPUs are shared among their compressors.
	puts *atomic.Int64
}

// Entry describes a cached layer.
type Entry struct {
	Key       string          `json:"-"`
	Digest    v1.Hash         `json:"digest"`    // of the compressed blob
	DiffID    v1.Hash         `json:"diffID"`    // of the uncompressed tar
	Size      int64           `json:"size"`      // compressed size
	MediaType types.MediaType `json:"mediaType"` // types.OCILayer (gzip) or types.OCILayerZStd
}

// record is a key file.
type record struct {
	Entry
	// Format is the encoder that wrote the blob (FormatGzip, FormatZstd).
	Format string `json:"format"`
	// Stamp is the blob file's stamp when the cache last hashed it.
	Stamp *stamp `json:"stamp,omitempty"`
}

// stamp identifies a file's state without reading it.
type stamp struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Size  int64  `json:"size"`
	Mtime int64  `json:"mtime"` // ns
	Ctime int64  `json:"ctime"` // ns; 0 where the platform has none
}

func stampOf(fi fs.FileInfo) *stamp {
	s := &stamp{Size: fi.Size(), Mtime: fi.ModTime().UnixNano()}
	sysStamp(fi, s)
	return s
}

// Open opens (creating it if needed) the cache in dir, writing and serving
// gzip layers. Temporary files older than a day, left by crashed
// processes, are removed.
func Open(dir string) (*Cache, error) {
	if dir == "" {
		return nil, errors.New("layer cache: no directory given")
	}
	c := &Cache{dir: dir, compression: Gzip, hashed: new(atomic.Int64), puts: new(atomic.Int64)}
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

// WithCompression returns the same cache directory writing and serving
// layers compressed with z. The compression is part of the key: a gzip
// and a zstd layer of the same key are two entries.
func (c *Cache) WithCompression(z Compression) *Cache {
	if z == "" {
		z = Gzip
	}
	return &Cache{dir: c.dir, compression: z, hashed: c.hashed, puts: c.puts}
}

// Compression is the compression of the layers c writes and serves.
func (c *Cache) Compression() Compression { return c.compression }

// Dir returns the cache's directory.
func (c *Cache) Dir() string { return c.dir }

// BlobPath returns the file holding e's compressed layer.
func (c *Cache) BlobPath(e *Entry) string { return c.blobPath(e.Digest.Hex) }

func (c *Cache) blobPath(hex string) string { return filepath.Join(c.dir, "blobs", "sha256", hex) }
func (c *Cache) keyPath(key string) string {
	if c.compression == Zstd {
		// '+' is not allowed in keys: no gzip key can name this file.
		return filepath.Join(c.dir, "keys", key+"+zstd.json")
	}
	return filepath.Join(c.dir, "keys", key+".json")
}
func (c *Cache) tmpDir() string { return filepath.Join(c.dir, "tmp") }

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

// Get returns the entry for key, or ok=false (also when it was corrupt:
// then the key and its blob are removed, and when it was written in
// another format: then the key is removed). A hit reads only the key file
// and the blob's metadata; the blob is re-hashed when its stamp changed
// (see the package doc).
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
	rec := &record{}
	if err := json.Unmarshal(raw, rec); err != nil || rec.Digest.Algorithm != "sha256" || rec.DiffID.Algorithm != "sha256" ||
		!isHex64(rec.Digest.Hex) || !isHex64(rec.DiffID.Hex) || rec.Size < 0 || rec.MediaType == "" {
		c.discardKey(key, raw)
		return nil, false, nil
	}
	if rec.Format != c.compression.format() || rec.MediaType != c.compression.mediaType() {
		// Made by another encoder (an older rtbuild): never served, the
		// layer is rebuilt. Its blob may serve other keys of that format.
		c.discardKey(key, raw)
		return nil, false, nil
	}
	e = &rec.Entry
	e.Key = key

	p := c.blobPath(e.Digest.Hex)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		c.discardKey(key, raw)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("layer cache: %w", err)
	}
	if fi.Size() == e.Size && rec.Stamp != nil && *rec.Stamp == *stampOf(fi) {
		return e, true, nil
	}
	good, fi, err := c.verifyBlob(p, e)
	if err != nil {
		return nil, false, err
	}
	if !good {
		c.discardKey(key, raw)
		return nil, false, nil
	}
	// Record the new stamp, so the next Get is a stat again. Best effort:
	// a read-only cache re-hashes on every hit.
	rec.Stamp = stampOf(fi)
	if b, err := json.Marshal(rec); err == nil {
		_ = c.replaceKey(key, raw, append(b, '\n'))
	}
	return e, true, nil
}

// Verify re-hashes e's blob whatever its stamp; a blob that does not match
// e is removed (its keys then miss) and an error is returned.
func (c *Cache) Verify(e *Entry) error {
	good, _, err := c.verifyBlob(c.BlobPath(e), e)
	if err != nil {
		return err
	}
	if !good {
		return fmt.Errorf("layer cache: blob %s is corrupt and was removed: run the build again to rebuild it", e.Digest)
	}
	return nil
}

// verifyBlob hashes the blob at p; when it does not match e (size or
// digest) it is removed, unless someone already replaced it. fi is the
// blob's FileInfo as read.
func (c *Cache) verifyBlob(p string, e *Entry) (good bool, fi fs.FileInfo, err error) {
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("layer cache: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return false, nil, fmt.Errorf("layer cache: %w", err)
	}
	if fi.Size() == e.Size {
		c.hashed.Add(1)
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return false, nil, fmt.Errorf("layer cache: reading %s: %w", p, err)
		}
		if hex.EncodeToString(h.Sum(nil)) == e.Digest.Hex {
			return true, fi, nil
		}
	}
	removeIfSame(p, fi)
	return false, fi, nil
}

// removeIfSame removes p if it is still the file fi describes.
func removeIfSame(p string, fi fs.FileInfo) {
	if pi, err := os.Stat(p); err == nil && os.SameFile(fi, pi) {
		_ = os.Remove(p)
	}
}

// replaceKey atomically replaces key's file with b if it still holds old.
func (c *Cache) replaceKey(key string, old, b []byte) error {
	kt, err := os.CreateTemp(c.tmpDir(), "key-*")
	if err != nil {
		return err
	}
	_, err = kt.Write(b)
	if cerr := kt.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(kt.Name(), 0o644)
	}
	if now, rerr := os.ReadFile(c.keyPath(key)); err == nil && (rerr != nil || !bytes.Equal(now, old)) {
		err = errors.New("key changed")
	}
	if err == nil {
		err = os.Rename(kt.Name(), c.keyPath(key))
	}
	if err != nil {
		os.Remove(kt.Name())
	}
	return err
}

// discardKey removes key's file if it still holds raw (a concurrent Put may
// have replaced it with a good entry).
func (c *Cache) discardKey(key string, raw []byte) {
	if now, err := os.ReadFile(c.keyPath(key)); err == nil && bytes.Equal(now, raw) {
		_ = os.Remove(c.keyPath(key))
	}
}

// Put runs write with a writer that takes the uncompressed tar stream; the
// cache compresses it (c's Compression, deterministically: see the package
// doc), hashes both forms in the same pass and commits the blob and then
// the key atomically. If write returns an error (it is returned as is) or
// panics, nothing is left behind. An existing entry for key is replaced.
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
	active := c.puts.Add(1)
	defer c.puts.Add(-1)
	zw, err := newCompressor(compressed, c.compression, blocksFor(active))
	if err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	// A failed or panicking write leaves the compressor's goroutines to
	// finish: close it (its error is not the one to report).
	closed := false
	defer func() {
		if !closed {
			_ = zw.Close()
		}
	}()
	if err := write(io.MultiWriter(diffID, zw)); err != nil {
		return nil, err
	}
	closed = true
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("layer cache: compressing: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return nil, fmt.Errorf("layer cache: %w", err)
	}
	rec := &record{
		Entry: Entry{
			Key:       key,
			Digest:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(digest.Sum(nil))},
			DiffID:    v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diffID.Sum(nil))},
			Size:      compressed.n,
			MediaType: c.compression.mediaType(),
		},
		Format: c.compression.format(),
	}
	e := rec.Entry
	if err := commit(tmp, c.blobPath(e.Digest.Hex), 0o444); err != nil {
		return nil, err
	}
	committed = true
	// The bytes were hashed as they were written: stamp the blob now.
	// Another Put of the same digest may have replaced it meanwhile; its
	// content is the same (or its Get re-hashes it when the stamp differs).
	if fi, err := os.Stat(c.blobPath(e.Digest.Hex)); err == nil && fi.Size() == e.Size {
		rec.Stamp = stampOf(fi)
	}

	raw, err := json.Marshal(rec)
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
	return &e, nil
}

// gzipWriter compresses a layer smaller than one block serially (one
// gzip stream, as klauspost/compress/gzip writes it) and a larger one in
// parallel blocks (pgzip). Which one is a function of the layer's size, so
// the bytes still depend on the input alone. Small layers are the common
// case (bootstraps, config files, small packages) and pgzip's start-up
// (goroutines, 1 MiB buffers) costs more than their compression.
type gzipWriter struct {
	w      io.Writer
	blocks int
	buf    []byte        // the first bytes, up to gzipBlockSize
	pz     *pgzip.Writer // once more than a block was written
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if g.pz != nil {
		return g.pz.Write(p)
	}
	if len(g.buf)+len(p) <= gzipBlockSize {
		g.buf = append(g.buf, p...)
		return len(p), nil
	}
	pz, err := pgzip.NewWriterLevel(g.w, CompressionLevel)
	if err != nil {
		return 0, err
	}
	// No name, no mtime, OS 255 ("unknown") in the header: deterministic.
	pz.Header.OS = 255
	pz.Header.ModTime = time.Unix(0, 0)
	if err := pz.SetConcurrency(gzipBlockSize, g.blocks); err != nil {
		return 0, err
	}
	g.pz = pz
	if _, err := pz.Write(g.buf); err != nil {
		return 0, err
	}
	g.buf = nil
	return pz.Write(p)
}

func (g *gzipWriter) Close() error {
	if g.pz != nil {
		return g.pz.Close()
	}
	zw, err := gzip.NewWriterLevel(g.w, CompressionLevel)
	if err != nil {
		return err
	}
	if _, err := zw.Write(g.buf); err != nil {
		return err
	}
	g.buf = nil
	return zw.Close()
}

// defaultBlocks is how many blocks a layer compresses at once: the CPUs
// this process may use, at most maxBlocks. It never changes the bytes.
func defaultBlocks() int { return min(max(runtime.GOMAXPROCS(0), 1), maxBlocks) }

// blocksFor is the blocks a layer compresses at once when active layers
// (itself included) are being put: defaultBlocks() shared among them, at
// least 1. So about defaultBlocks() (at most maxBlocks) blocks are in
// flight in a process however many layers are built at once, and so is
// their memory. It never changes the bytes.
func blocksFor(active int64) int {
	return int(max(int64(defaultBlocks())/max(active, 1), 1))
}

// newCompressor returns the writer of z's format compressing into w with
// up to blocks blocks in flight. The output depends only on z.
func newCompressor(w io.Writer, z Compression, blocks int) (io.WriteCloser, error) {
	switch z {
	case Gzip:
		return &gzipWriter{w: w, blocks: blocks}, nil
	case Zstd:
		// Serial: zstd's own concurrency modes cut the stream by sizes
		// that are not all documented as independent of the goroutine
		// count, and one core of zstd outruns gzip on all of them.
		return zstd.NewWriter(w,
			zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithEncoderConcurrency(1),
			zstd.WithEncoderCRC(true),
			zstd.WithZeroFrames(true),
		)
	}
	return nil, fmt.Errorf("unknown layer compression %q", z)
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
	return &verifier{r: f, c: f, h: sha256.New(), want: l.e.Digest, size: l.e.Size, what: "compressed layer", discard: l.path}, nil
}

func (l *layer) Uncompressed() (io.ReadCloser, error) {
	rc, err := l.Compressed()
	if err != nil {
		return nil, err
	}
	var zr io.Reader
	var zc io.Closer
	switch l.e.MediaType {
	case types.OCILayerZStd:
		d, err := zstd.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer cache: layer %s: %w", l.e.Digest, err)
		}
		zr, zc = d, closerFunc(func() error { d.Close(); return nil })
	default:
		g, err := gzip.NewReader(rc)
		if err != nil {
			rc.Close()
			return nil, fmt.Errorf("layer cache: layer %s: %w", l.e.Digest, err)
		}
		zr, zc = g, g
	}
	return &verifier{r: zr, c: multiCloser{zc, rc}, h: sha256.New(), want: l.e.DiffID, size: -1, what: "uncompressed layer"}, nil
}

// verifier hashes what it reads and, at the end, checks the digest (and
// the size when known). When discard is set and the check fails, that file
// (the blob) is removed, so the next build rebuilds it.
type verifier struct {
	r       io.Reader
	c       io.Closer
	h       hash.Hash
	n       int64
	want    v1.Hash
	size    int64
	what    string
	discard string
}

func (v *verifier) fail(err error) error {
	if v.discard != "" {
		if f, ok := v.c.(*os.File); ok {
			if fi, serr := f.Stat(); serr == nil {
				removeIfSame(v.discard, fi)
				return fmt.Errorf("%w (the cached blob was removed: run the build again to rebuild it)", err)
			}
		}
	}
	return err
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

func (v *verifier) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if err == io.EOF {
		if v.size >= 0 && v.n != v.size {
			return n, v.fail(fmt.Errorf("layer cache: %s %s: %d bytes, want %d", v.what, v.want, v.n, v.size))
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
			return n, v.fail(fmt.Errorf("layer cache: %s %s: content has sha256:%s", v.what, v.want, got))
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

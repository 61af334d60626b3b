package cache

import (
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

// flipKeepingTimes flips a byte of the file at p in place and sets its
// mtime back: same size, same mtime, other content.
func flipKeepingTimes(t *testing.T, p string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o644)
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	off := fi.Size() / 2
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	os.Chmod(p, 0o444)
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if now, _ := os.Stat(p); now.Size() != fi.Size() || !now.ModTime().Equal(fi.ModTime()) {
		t.Fatalf("size or mtime changed: %v %v", now.Size(), now.ModTime())
	}
}

// A hit reads metadata only; the blob is hashed again only when its stamp
// changed, and then the new stamp is recorded.
func TestHitTouchesOnlyMetadata(t *testing.T) {
	c := open(t)
	e, err := c.Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, ok, err := c.Get(key); !ok || err != nil {
			t.Fatalf("Get: %v %v", ok, err)
		}
	}
	if n := c.hashed.Load(); n != 0 {
		t.Fatalf("%d blob hashes for hits of an untouched blob, want 0", n)
	}

	// Touched (same content): hashed once, accepted, stamped again.
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(c.BlobPath(e), later, later); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if got, ok, err := c.Get(key); !ok || err != nil || *got != *e {
			t.Fatalf("Get of a touched blob: %+v %v %v", got, ok, err)
		}
	}
	if n := c.hashed.Load(); n != 1 {
		t.Fatalf("%d blob hashes after a touch, want 1", n)
	}

	// Another process (another Cache on the same directory) trusts the stamp too.
	c2, err := Open(c.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c2.Get(key); !ok || err != nil || c2.hashed.Load() != 0 {
		t.Fatalf("Get from a second Cache: %v %v, %d hashes", ok, err, c2.hashed.Load())
	}
}

// Corruption the stamp cannot see (below the file system) is caught by the
// readers of the layer: the read fails, the blob is removed, the next Get
// misses and the layer is rebuilt. Verify catches it too.
func TestCorruptionBehindAMatchingStamp(t *testing.T) {
	for _, via := range []string{"read", "verify"} {
		t.Run(via, func(t *testing.T) {
			c := open(t)
			e, err := c.Put(key, writeBytes(layerTar))
			if err != nil {
				t.Fatal(err)
			}
			flipKeepingTimes(t, c.BlobPath(e))
			// Bit rot: make the recorded stamp match the corrupted file.
			kp := filepath.Join(c.Dir(), "keys", key+".json")
			var rec record
			raw, _ := os.ReadFile(kp)
			if err := json.Unmarshal(raw, &rec); err != nil {
				t.Fatal(err)
			}
			fi, _ := os.Stat(c.BlobPath(e))
			rec.Stamp = stampOf(fi)
			raw, _ = json.Marshal(rec)
			overwrite(t, kp, raw)

			got, ok, err := c.Get(key)
			if !ok || err != nil {
				t.Fatalf("Get: %v %v (the stamp matches: a hit by policy)", ok, err)
			}
			switch via {
			case "read":
				l, err := c.Layer(got)
				if err != nil {
					t.Fatal(err)
				}
				rc, err := l.Compressed()
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(rc)
				rc.Close()
				if err == nil || !strings.Contains(err.Error(), "removed") {
					t.Fatalf("reading the corrupt blob: %v", err)
				}
			case "verify":
				if err := c.Verify(got); err == nil {
					t.Fatal("Verify of a corrupt blob succeeded")
				}
			}
			if _, err := os.Stat(c.BlobPath(e)); !os.IsNotExist(err) {
				t.Fatalf("corrupt blob kept: %v", err)
			}
			if _, ok, _ := c.Get(key); ok {
				t.Fatal("Get after the blob was found corrupt is a hit")
			}
			if e2, err := c.Put(key, writeBytes(layerTar)); err != nil || *e2 != *e {
				t.Fatalf("rebuild: %+v %v", e2, err)
			}
			if err := c.Verify(e); err != nil {
				t.Fatal(err)
			}
		})
	}
}

const pinnedSmallGzip = "69fa9aa1ad65d7df8a0bd3caf3407af6882a0f18b67c92571bce235afa5a80ce"

// compressibleBytes is n bytes of text-like data from a fixed seed.
func compressibleBytes(n int) []byte {
	rng := rand.New(rand.NewSource(7))
	words := strings.Fields("var lang lib node_modules index js package json require module exports function return const")
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[rng.Intn(len(words))])
		if rng.Intn(9) == 0 {
			b.WriteByte(byte(rng.Intn(256)))
		}
		b.WriteByte(' ')
	}
	return b.Bytes()[:n]
}

func compress(t *testing.T, z Compression, blocks int, data []byte, chunk int) []byte {
	t.Helper()
	var out bytes.Buffer
	w, err := newCompressor(&out, z, blocks)
	if err != nil {
		t.Fatal(err)
	}
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// Layer bytes are a contract: the same on every machine whatever its core
// count (blocks in flight) and however the tar writer chunks its writes.
// The pinned digests catch an encoder whose output changed (a library
// upgrade): then its Format string must change too.
func TestCompressionIndependentOfConcurrency(t *testing.T) {
	data := compressibleBytes(5<<20 + 12345) // several 1 MiB blocks and a partial one
	small := data[:gzipBlockSize]            // the largest layer compressed serially
	for _, z := range []Compression{Gzip, Zstd} {
		ref := compress(t, z, 1, small, 1000)
		if got := compress(t, z, 4, small, 1<<20); !bytes.Equal(got, ref) {
			t.Fatalf("%s: a 1 MiB layer compressed differently with 4 blocks", z)
		}
		if z == Gzip {
			sum := sha256.Sum256(ref)
			if got := hex.EncodeToString(sum[:]); got != pinnedSmallGzip {
				t.Errorf("gzip output of a small layer changed: sha256 %s, pinned %s (a new encoder: change FormatGzip)", got, pinnedSmallGzip)
			}
		}
	}
	pinned := map[Compression]string{
		Gzip: "d6776eed049e9814b29783e84a08c68c49283dcfa53b82dd0ef48ac5331792a7",
		Zstd: "672c64c38a2c90912769f167b5fb5192297d42a07a2ac115f944ff9e7cfdb299",
	}
	for _, z := range []Compression{Gzip, Zstd} {
		t.Run(string(z), func(t *testing.T) {
			ref := compress(t, z, 1, data, 1<<20)
			for _, tc := range []struct{ blocks, chunk int }{{4, 1 << 20}, {4, 777}, {8, 64 << 10}, {2, 3 << 20}} {
				if got := compress(t, z, tc.blocks, data, tc.chunk); !bytes.Equal(got, ref) {
					t.Fatalf("%d blocks, %d-byte writes: %d bytes differing from 1 block's %d", tc.blocks, tc.chunk, len(got), len(ref))
				}
			}
			sum := sha256.Sum256(ref)
			if got := hex.EncodeToString(sum[:]); got != pinned[z] {
				t.Errorf("%s output changed: sha256 %s, pinned %s (a new encoder: change Format%s)", z, got, pinned[z], strings.ToUpper(string(z[:1]))+string(z[1:]))
			}
			if plain, err := decompress(z, ref); err != nil || !bytes.Equal(plain, data) {
				t.Fatalf("%s output does not decompress to the input: %v", z, err)
			}
			if len(ref) >= len(data)/2 {
				t.Errorf("%s: %d bytes from %d: not compressed", z, len(ref), len(data))
			}
		})
	}
}

// decompress reads b with the standard library's gzip or with zstd.
func decompress(z Compression, b []byte) ([]byte, error) {
	if z == Zstd {
		d, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		defer d.Close()
		return io.ReadAll(d)
	}
	zr, err := stdgzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.OS != 255 {
		return nil, fmt.Errorf("gzip header: name %q mtime %v os %d", zr.Name, zr.ModTime, zr.OS)
	}
	return io.ReadAll(zr)
}

// A zstd layer is another entry of the same key, with its own media type,
// and reads back (compressed and uncompressed) verified.
func TestZstdEntries(t *testing.T) {
	gz := open(t)
	zs := gz.WithCompression(Zstd)
	eg, err := gz.Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := zs.Get(key); ok {
		t.Fatal("a gzip entry served as zstd")
	}
	ez, err := zs.Put(key, writeBytes(layerTar))
	if err != nil {
		t.Fatal(err)
	}
	if ez.MediaType != types.OCILayerZStd || ez.DiffID != eg.DiffID || ez.Digest == eg.Digest {
		t.Fatalf("zstd entry %+v, gzip %+v", ez, eg)
	}
	for _, c := range []*Cache{gz, zs} {
		if got, ok, err := c.Get(key); !ok || err != nil || got.MediaType != c.Compression().mediaType() {
			t.Fatalf("%s Get: %+v %v %v", c.Compression(), got, ok, err)
		}
	}
	l, err := zs.Layer(ez)
	if err != nil {
		t.Fatal(err)
	}
	// (validate.Layer assumes gzip.)
	if d, _ := l.Digest(); d != ez.Digest {
		t.Fatal(d)
	}
	urc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	if u, err := io.ReadAll(urc); err != nil || !bytes.Equal(u, layerTar) {
		t.Fatalf("Uncompressed: %v", err)
	}
	urc.Close()
	rc, _ := l.Compressed()
	comp, _ := io.ReadAll(rc)
	rc.Close()
	d, err := zstd.NewReader(bytes.NewReader(comp))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	plain, err := io.ReadAll(d)
	if err != nil || !bytes.Equal(plain, layerTar) {
		t.Fatalf("zstd blob does not decompress to the tar: %v", err)
	}
	if _, err := os.Stat(filepath.Join(gz.Dir(), "keys", key+"+zstd.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseCompression("lz4"); err == nil {
		t.Fatal("ParseCompression accepted lz4")
	}
}

// The CPUs are shared among the layers put at once: one layer gets them
// all (at most maxBlocks), many get one block each.
func TestBlocksFor(t *testing.T) {
	if got := blocksFor(1); got != defaultBlocks() || got > maxBlocks {
		t.Errorf("blocksFor(1) = %d, want %d", got, defaultBlocks())
	}
	if got := blocksFor(1000); got != 1 {
		t.Errorf("blocksFor(1000) = %d, want 1", got)
	}
	if got := blocksFor(0); got != defaultBlocks() {
		t.Errorf("blocksFor(0) = %d", got)
	}
}

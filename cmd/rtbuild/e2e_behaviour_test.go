package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// cliIn runs rtbuild through /bin/sh so the test can set its umask.
func cliIn(t *testing.T, dir, umask string, env []string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `umask ` + umask + ` && exec "$0" "$@"`, rtbuildBin}, args...)...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("rtbuild %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return cliResult{stdout: stdout.String(), stderr: stderr.String()}
}

// TestReproducible builds the same runtimes twice with different cache
// directories, umask, TZ and working directory: index and manifest digests
// must be identical.
func TestReproducible(t *testing.T) {
	w := testworld.Start(t)
	runtimes := []string{"nodejs14.x", "provided.al2", "python3.9", "ruby2.7", "java8"}
	build := func(umask, tz string) *metadataDigests {
		dir := t.TempDir()
		md := filepath.Join(dir, "md.json")
		args := append(append([]string{"image"}, runtimes...), append([]string{
			"--cache-dir", filepath.Join(t.TempDir(), "cache"), "--output", "oci:out/{runtime}", "--metadata-file", md}, w.Args()...)...)
		cliIn(t, dir, umask, []string{"TZ=" + tz}, args...)
		return digestsOf(readMetadata(t, md))
	}
	a := build("022", "UTC")
	b := build("077", "Asia/Kolkata")
	if a.String() != b.String() {
		t.Fatalf("builds differ:\n%s\n---\n%s", a, b)
	}
	if len(a.lines) != 5+9 {
		t.Fatalf("expected 5 indexes and 9 manifests, got:\n%s", a)
	}
}

type metadataDigests struct{ lines []string }

func (m *metadataDigests) String() string { return strings.Join(m.lines, "\n") }

func digestsOf(m *metadataT) *metadataDigests {
	out := &metadataDigests{}
	for _, im := range m.Images {
		out.lines = append(out.lines, im.Runtime+" "+im.Digest)
		for _, p := range im.Platforms {
			out.lines = append(out.lines, "  "+p.Arch+" "+p.Digest)
		}
	}
	return out
}

// TestCacheHitsAndOneComponentChange: an identical second build rebuilds no
// layer and downloads nothing; changing one component's version rebuilds
// that component's layer only.
func TestCacheHitsAndOneComponentChange(t *testing.T) {
	// The registry is reached through a (fault-free) proxy that counts.
	fw := startFaultWorld(t)
	w := fw.World
	cacheDir := t.TempDir()
	rt := "nodejs14.x"
	build := func(extra ...string) *metadataT {
		dir := t.TempDir()
		md := filepath.Join(dir, "md.json")
		args := append([]string{"image", rt, "--cache-dir", cacheDir, "--metadata-file", md}, fw.Args()...)
		mustCLI(t, dir, nil, append(args, extra...)...)
		return readMetadata(t, md)
	}
	first := build()
	if first.Cache.LayersBuilt == 0 || first.Cache.BytesDownloaded == 0 {
		t.Fatalf("first build should build and download: %+v", first.Cache)
	}
	before, beforeReg := w.Artifacts.Requests(), fw.Reg.Requests()
	second := build()
	if second.Cache.LayersBuilt != 0 || second.Cache.BytesDownloaded != 0 {
		t.Fatalf("identical rebuild: %+v, want 0 built and 0 bytes downloaded", second.Cache)
	}
	if n := w.Artifacts.Requests() - before; n != 0 {
		t.Fatalf("identical rebuild made %d artifact requests", n)
	}
	// The world pins its bases by digest: their manifests and configs are
	// in the cache's metadata store, so the rebuild asks the registry nothing.
	if n := fw.Reg.Requests() - beforeReg; n != 0 {
		t.Errorf("identical rebuild made %d registry requests for its pinned base", n)
	}
	if beforeReg == 0 {
		t.Error("the first build did not reach the registry through the proxy")
	}
	if second.Cache.LayersCached != first.Cache.LayersBuilt+first.Cache.LayersCached {
		t.Errorf("second build cached %d layers, first had %d", second.Cache.LayersCached, first.Cache.LayersBuilt+first.Cache.LayersCached)
	}
	for _, p := range second.Images[0].Platforms {
		for _, l := range p.Layers {
			if l.Cache == "miss" {
				t.Errorf("second build rebuilt %s", l.Component)
			}
		}
	}
	if digestsOf(first).String() != digestsOf(second).String() {
		t.Errorf("digests changed on an identical rebuild")
	}

	// Change one component's version through an overlay.
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	r, err := cat.Runtime(rt)
	if err != nil {
		t.Fatal(err)
	}
	changed := r.Components[1]
	overlay := filepath.Join(t.TempDir(), "bump.yaml")
	b, _ := yaml.Marshal(map[string]any{"components": map[string]any{changed: map[string]any{"version": cat.Components[changed].Version + "-bumped"}}})
	if err := os.WriteFile(overlay, b, 0o644); err != nil {
		t.Fatal(err)
	}
	third := build("--catalog", overlay)
	misses := map[string]bool{}
	for _, p := range third.Images[0].Platforms {
		n := 0
		for _, l := range p.Layers {
			if l.Cache == "miss" {
				n++
				misses[l.Digest.String()] = true
				if l.Component != changed {
					t.Errorf("%s: layer of %s rebuilt, only %s changed", p.Arch, l.Component, changed)
				}
			}
		}
		if n != 1 {
			t.Errorf("%s: %d layers rebuilt, want 1 (%s)", p.Arch, n, changed)
		}
	}
	if int(third.Cache.LayersBuilt) != len(misses) {
		t.Errorf("metadata says %d built, layers show %d distinct rebuilt", third.Cache.LayersBuilt, len(misses))
	}
}

// TestBaseLayersMountedFromTheBaseRepository: pushed to the registry that
// holds its base (a team's mirror of the Amazon Linux images, say), a
// runtime image's base layers are mounted from the base's repository, not
// uploaded again — on a cold build and on one whose base metadata comes
// from the cache's metadata store.
func TestBaseLayersMountedFromTheBaseRepository(t *testing.T) {
	w := testworld.Start(t)
	cacheDir := t.TempDir()
	for i, repo := range []string{"mount/first", "mount/second"} {
		dir := t.TempDir()
		md := filepath.Join(dir, "md.json")
		ref := w.Registry.Host + "/" + repo + ":1"
		mustCLI(t, dir, nil, append([]string{"image", "nodejs14.x", "--arch", "arm64", "--cache-dir", cacheDir,
			"--metadata-file", md, "--push", ref}, w.Args()...)...)
		m := readMetadata(t, md)
		base := map[string]bool{}
		for _, l := range m.Images[0].Platforms[0].Layers {
			if l.Cache == "base" {
				base[l.Digest.Hex] = true
			}
		}
		if len(base) == 0 {
			t.Fatal("no base layers in the metadata")
		}
		mounted, uploaded := 0, 0
		for _, line := range strings.Split(w.Registry.Log(), "\n") {
			if !strings.Contains(line, "/v2/"+repo+"/blobs/uploads/") {
				continue
			}
			for hex := range base {
				switch {
				case strings.Contains(line, `"POST `) && strings.Contains(line, "mount=sha256%3A"+hex) && strings.Contains(line, `" 201 `):
					mounted++
				case strings.Contains(line, `"PUT `) && strings.Contains(line, "digest=sha256%3A"+hex):
					uploaded++
				}
			}
		}
		if mounted != len(base) || uploaded != 0 {
			t.Errorf("build %d: %d of %d base layers mounted, %d uploaded; want all mounted, none uploaded", i+1, mounted, len(base), uploaded)
		}
	}
}

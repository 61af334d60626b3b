package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder/inspect"
	"github.com/rtbuild/rtbuild/builder/testworld"
)

// TestInspectAndCacheOfARealBuild builds a runtime image, then checks that
// inspect names the same components and versions per layer as the build's
// metadata, and that cache ls sees the build's entries and prune spares
// them while they are fresh.
func TestInspectAndCacheOfARealBuild(t *testing.T) {
	w := testworld.Start(t)
	cacheDir, dir := t.TempDir(), t.TempDir()
	rt := "nodejs14.x"
	md := filepath.Join(dir, "md.json")
	mustCLI(t, dir, nil, append([]string{"image", rt, "--cache-dir", cacheDir, "--metadata-file", md}, w.Args()...)...)
	meta := readMetadata(t, md)

	res := mustCLI(t, dir, nil, append([]string{"inspect", "oci:" + filepath.Join(dir, "rtbuild-out", rt), "--format", "json"}, w.Args()...)...)
	var rep inspect.Report
	if err := json.Unmarshal([]byte(res.stdout), &rep); err != nil {
		t.Fatalf("%v\n%s", err, res.stdout)
	}
	if rep.Digest != meta.Images[0].Digest || len(rep.Platforms) != len(meta.Images[0].Platforms) {
		t.Fatalf("inspect: digest %s, %d platforms; the build made %s with %d", rep.Digest, len(rep.Platforms), meta.Images[0].Digest, len(meta.Images[0].Platforms))
	}
	for i, p := range meta.Images[0].Platforms {
		got := rep.Platforms[i]
		if got.Digest != p.Digest || len(got.Layers) != len(p.Layers) {
			t.Fatalf("%s: inspect %s with %d layers, build %s with %d", p.Arch, got.Digest, len(got.Layers), p.Digest, len(p.Layers))
		}
		for j, l := range p.Layers {
			gl := got.Layers[j]
			wantVersion := l.Version
			if l.Cache == "base" {
				wantVersion = ""
			}
			if gl.Digest != l.Digest.String() || gl.Size != l.Size || gl.Component != l.Component || gl.Version != wantVersion {
				t.Errorf("%s layer %d: inspect %s %s %s %d, build %s %s %s %d", p.Arch, j, gl.Component, gl.Version, gl.Digest, gl.Size, l.Component, l.Version, l.Digest, l.Size)
			}
		}
		if got.Runtime == nil || got.Runtime.Identifier != rt || !got.Runtime.InCatalog || got.Config.Labels["rtbuild.runtime"] != rt {
			t.Errorf("%s: runtime %+v, labels %v", p.Arch, got.Runtime, got.Config.Labels)
		}
	}

	ls := mustCLI(t, dir, nil, "cache", "ls", "--cache-dir", cacheDir)
	if !strings.Contains(ls.stdout, "download  ") || !strings.Contains(ls.stdout, "layer  ") {
		t.Errorf("cache ls after a build:\n%s", ls.stdout)
	}
	before := ls.stdout
	prune := mustCLI(t, dir, nil, "cache", "prune", "--cache-dir", cacheDir, "--keep-storage", "0")
	if !strings.Contains(prune.stderr, "removed 0 entries") {
		t.Errorf("prune right after a build removed entries: %s", prune.stderr)
	}
	if after := mustCLI(t, dir, nil, "cache", "ls", "--cache-dir", cacheDir).stdout; after != before {
		t.Errorf("cache changed:\n%s\nthen:\n%s", before, after)
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

// TestBaseFromLayoutAndTarball uses an image rtbuild wrote (OCI layout, then
// docker-archive tar) as the base of another runtime, through a catalog
// overlay, as a user with an air-gapped base would.
func TestBaseFromLayoutAndTarball(t *testing.T) {
	w := testworld.Start(t)
	work := t.TempDir()
	cache := filepath.Join(work, "cache")
	layout := filepath.Join(work, "provided")
	tarball := filepath.Join(work, "provided.tar")
	mustCLI(t, work, nil, append([]string{"image", "provided.al2", "--arch", "x86_64", "--cache-dir", cache,
		"--output", "oci:" + layout, "--output", "docker:" + tarball}, w.Args()...)...)

	for _, base := range []string{"oci:" + layout + ":provided.al2", "docker:" + tarball + ":rtbuild/provided.al2:x86_64"} {
		overlay := filepath.Join(t.TempDir(), "base.yaml")
		if err := os.WriteFile(overlay, []byte("bases:\n  local:\n    name: Local stand-in\n    os: Amazon Linux 2\n    image: \""+base+"\"\n    architectures: [x86_64]\n"+
			"runtimes:\n  - identifier: nodejs14.x\n    base: local\n    architectures: [x86_64]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		md := filepath.Join(t.TempDir(), "md.json")
		out := filepath.Join(t.TempDir(), "out")
		r := cli(t, work, nil, append(append([]string{"image", "nodejs14.x", "--arch", "x86_64", "--cache-dir", cache,
			"--output", "oci:" + out, "--metadata-file", md}, w.Args()...), "--catalog", overlay)...)
		if r.code != 0 {
			t.Fatalf("base %s: exit %d\n%s", base, r.code, r.stderr)
		}
		m := readMetadata(t, md)
		p := m.Images[0].Platforms[0]
		if p.BaseRef != base {
			t.Errorf("baseRef %q, want %q", p.BaseRef, base)
		}
		// The base's layers (from provided.al2) come first, then nodejs14.x's own.
		nBase := 0
		for _, l := range p.Layers {
			if l.Cache == "base" {
				nBase++
			}
		}
		if nBase < 2 {
			t.Errorf("base %s: %d base layers, want the stand-in's plus provided.al2's", base, nBase)
		}
	}
}

// TestUnreachableRegistry: a base registry that cannot be reached gives exit 4
// and one line naming the reference and --mirror.
func TestUnreachableRegistry(t *testing.T) {
	w := testworld.Start(t)
	work := t.TempDir()
	port := testworld.FreePort(t)
	args := []string{"image", "provided.al2", "--cache-dir", filepath.Join(work, "cache"), "--catalog", w.CatalogFile}
	for _, m := range w.Mirrors {
		from, to, _ := strings.Cut(m, "=")
		if !strings.HasPrefix(to, "http") {
			to = "127.0.0.1:" + itoa(port) + "/"
		}
		args = append(args, "--mirror", from+"="+to)
	}
	r := cli(t, work, nil, args...)
	if r.code != 4 {
		t.Fatalf("exit %d, want 4:\n%s", r.code, r.stderr)
	}
	line := oneLineError(t, r)
	for _, want := range []string{"amazonlinux", "127.0.0.1:" + itoa(port), "--mirror"} {
		if !strings.Contains(line, want) {
			t.Errorf("error %q does not mention %q", line, want)
		}
	}
	if _, err := os.Stat(filepath.Join(work, "rtbuild-out")); err == nil {
		t.Errorf("a failed build wrote its output")
	}
}

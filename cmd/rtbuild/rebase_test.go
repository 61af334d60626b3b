package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

// TestRebaseEndToEnd builds provided.al2 into the world's real registry,
// makes a function image on it, builds a runtime with one component bumped
// and rebases the function onto it: the function layer is the same blob
// (never uploaded again), the runtime layers are the new runtime's, CMD and
// env survive, and the result is a single manifest. Unrelated runtimes and
// a wrong --old are refused with one line.
func TestRebaseEndToEnd(t *testing.T) {
	w := testworld.Start(t)
	reg := w.Registry.Host
	cacheDir := t.TempDir()
	build := func(push string, extra ...string) {
		args := append([]string{"image", "provided.al2", "--arch", "x86_64", "--cache-dir", cacheDir, "--push", push}, w.Args()...)
		r := mustCLI(t, "", nil, append(args, extra...)...)
		t.Logf("%s%s", r.stdout, r.stderr)
	}
	build(reg + "/rt:old")

	// The function image: the old runtime plus a code layer, CMD and an env
	// var, with the base annotations rtbuild's NewImage sets.
	oldRef := rebaseRef(t, reg+"/rt:old")
	oldDesc, err := remote.Get(oldRef)
	if err != nil {
		t.Fatal(err)
	}
	oldIdx, err := oldDesc.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	oim, _ := oldIdx.IndexManifest()
	oldImg, err := oldIdx.Image(oim.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	code, err := random.Layer(64<<10, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := mutate.Append(oldImg, mutate.Addendum{Layer: code, History: v1.History{CreatedBy: "COPY app /var/task"}})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := fn.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Cmd = []string{"app.handler"}
	cf.Config.Env = append(cf.Config.Env, "TABLE=orders")
	if fn, err = mutate.ConfigFile(fn, cf); err != nil {
		t.Fatal(err)
	}
	fn = mutate.Annotations(fn, map[string]string{
		ocispec.AnnotationBaseImageName:   reg + "/rt:old",
		ocispec.AnnotationBaseImageDigest: oldDesc.Digest.String(),
	}).(v1.Image)
	for _, tag := range []string{"fn:1", "fn:2"} {
		if err := remote.Write(rebaseRef(t, reg+"/"+tag), fn); err != nil {
			t.Fatal(err)
		}
	}
	fnDigest, _ := fn.Digest()
	codeDigest, _ := code.Digest()

	// The new runtime: a patched Amazon Linux 2 base (one more layer on
	// amd64), as a CVE fix in the base would be. (Bumping a component's
	// version in the world changes the config only: the fixture artifacts
	// are the same bytes, so the layers would not change.)
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := testworld.BaseImage("Amazon Linux 2", "2", arch)
		if err != nil {
			t.Fatal(err)
		}
		p := &v1.Platform{OS: "linux", Architecture: arch}
		if arch == "amd64" {
			patch, _ := random.Layer(4<<10, types.DockerLayer)
			if img, err = mutate.AppendLayers(img, patch); err != nil {
				t.Fatal(err)
			}
		} else {
			p.Variant = "v8"
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	patched := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.DockerManifestList)
	if err := remote.WriteIndex(rebaseRef(t, reg+"/amazonlinux/amazonlinux:2-patched"), patched); err != nil {
		t.Fatal(err)
	}
	pd, _ := patched.Digest()
	overlay := filepath.Join(t.TempDir(), "patched.yaml")
	b, _ := yaml.Marshal(map[string]any{"bases": map[string]any{"al2": map[string]any{"image": "public.ecr.aws/amazonlinux/amazonlinux:2-patched@" + pd.String()}}})
	if err := os.WriteFile(overlay, b, 0o644); err != nil {
		t.Fatal(err)
	}
	build(reg+"/rt:new", "--catalog", overlay)
	newImg := rebaseImageAt(t, reg+"/rt:new-x86_64")
	nm, _ := newImg.Manifest()
	om, _ := oldImg.Manifest()
	if slices.EqualFunc(nm.Layers, om.Layers, func(a, b v1.Descriptor) bool { return a.Digest == b.Digest }) {
		t.Fatalf("the patched base did not change the runtime's layers: %v", nm.Layers)
	}

	putsBefore := w.Registry.CountRequests("PUT", "/blobs/uploads/")
	mountsBefore := w.Registry.CountRequests("POST", "mount=")
	res := mustCLI(t, "", nil, append([]string{"rebase", reg + "/fn:1", "--onto", reg + "/rt:new"}, w.Args()...)...)
	t.Logf("stdout: %s\nstderr: %s", res.stdout, res.stderr)
	if !strings.Contains(res.stdout, fnDigest.String()+" -> ") {
		t.Errorf("output does not show the old digest -> the new one: %q", res.stdout)
	}
	if n := w.Registry.CountRequests("PUT", "/blobs/uploads/") - putsBefore; n != 1 {
		t.Errorf("%d blob uploads, want 1 (the config): every layer was in the registry\n%s", n, w.Registry.Log())
	}
	if n := w.Registry.CountRequests("POST", "mount=") - mountsBefore; n == 0 {
		t.Errorf("no cross-repository mount: the new runtime's layers (in rt) should be mounted into fn")
	}
	if n := w.Registry.CountRequests("PUT", codeDigest.Hex); n != 1 { // the first push only
		t.Errorf("the function layer was uploaded %d times, want once (its first push)", n)
	}

	desc, err := remote.Get(rebaseRef(t, reg+"/fn:1"))
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Fatalf("fn:1 is a %s, want a single OCI manifest", desc.MediaType)
	}
	if !strings.Contains(res.stdout, desc.Digest.String()) {
		t.Errorf("output does not name the new digest %s", desc.Digest)
	}
	got, _ := desc.Image()
	m, _ := got.Manifest()
	if len(m.Layers) != len(nm.Layers)+1 {
		t.Fatalf("%d layers, want %d", len(m.Layers), len(nm.Layers)+1)
	}
	for i, d := range nm.Layers {
		if m.Layers[i].Digest != d.Digest {
			t.Errorf("layer %d is %s, the new runtime's is %s", i+1, m.Layers[i].Digest, d.Digest)
		}
	}
	if m.Layers[len(m.Layers)-1].Digest != codeDigest {
		t.Errorf("function layer is %s, was %s", m.Layers[len(m.Layers)-1].Digest, codeDigest)
	}
	gcf, _ := got.ConfigFile()
	if !slices.Equal(gcf.Config.Cmd, []string{"app.handler"}) || !slices.Contains(gcf.Config.Env, "TABLE=orders") {
		t.Errorf("config lost the function's CMD or env: Cmd %q Env %q", gcf.Config.Cmd, gcf.Config.Env)
	}
	if !slices.Equal(gcf.Config.Entrypoint, []string{"/lambda-entrypoint.sh"}) {
		t.Errorf("Entrypoint %q", gcf.Config.Entrypoint)
	}
	if m.Annotations[ocispec.AnnotationBaseImageName] != reg+"/rt:new" {
		t.Errorf("annotations %v", m.Annotations)
	}

	// Refusals: onto an unrelated image, from a wrong --old.
	unrelated, _ := random.Image(1024, 2)
	ucf, _ := unrelated.ConfigFile()
	ucf = ucf.DeepCopy()
	ucf.OS, ucf.Architecture = "linux", "amd64"
	unrelated, _ = mutate.ConfigFile(unrelated, ucf)
	if err := remote.Write(rebaseRef(t, reg+"/unrelated:1"), unrelated); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--onto", reg + "/unrelated:1"}, "not a replacement for"},
		{[]string{"--onto", reg + "/rt:new", "--old", reg + "/unrelated:1"}, reg + "/fn:2: layer 1 is sha256:"},
	} {
		res := cli(t, "", nil, append(append([]string{"rebase", reg + "/fn:2"}, tc.args...), w.Args()...)...)
		if res.code != exitUsage {
			t.Fatalf("rebase %v: exit %d, want %d (refused)\n%s", tc.args, res.code, exitUsage, res.stderr)
		}
		line := oneLineError(t, res)
		if !strings.Contains(line, tc.want) || !strings.Contains(line, "refusing to rebase") {
			t.Errorf("rebase %v: %q does not say %q", tc.args, line, tc.want)
		}
	}
	if d := rebaseDigest(t, reg+"/fn:2"); d != fnDigest {
		t.Errorf("a refused rebase changed fn:2 to %s", d)
	}

	// A fleet with one bad reference: the good one is rebased, the bad one
	// gets one line, the exit status is non-zero.
	start := time.Now()
	res = cli(t, "", nil, append([]string{"rebase", reg + "/fn:2", reg + "/missing:1", "--onto", reg + "/rt:new"}, w.Args()...)...)
	t.Logf("fleet of 2 in %s: stdout %q stderr %q", time.Since(start), res.stdout, res.stderr)
	if res.code == 0 || !strings.Contains(res.stdout, reg+"/fn:2") || !strings.Contains(res.stderr, "rtbuild: rebase "+reg+"/missing:1: ") {
		t.Errorf("fleet: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	if d := rebaseDigest(t, reg+"/fn:2"); d != desc.Digest {
		t.Errorf("fn:2 is %s, want the same rebased image as fn:1 (%s)", d, desc.Digest)
	}
}

func rebaseRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func rebaseImageAt(t *testing.T, ref string) v1.Image {
	t.Helper()
	img, err := remote.Image(rebaseRef(t, ref))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func rebaseDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	d, err := rebaseImageAt(t, ref).Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

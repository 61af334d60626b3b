package manifests

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

func remoteDigest(t *testing.T, ref string) v1.Hash {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

func TestPush(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()

	// Bases come from the same registry, as with a local mirror.
	baseIdx, _ := dockerIndex(t, amd64, arm64)
	writeIndex(t, reg.host+"/amazonlinux:2", baseIdx)
	var imgs []v1.Image
	for _, p := range []v1.Platform{amd64, arm64} {
		b, err := PullBase(ctx, reg.host+"/amazonlinux:2", p, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		img, err := NewImage(runtimeSpec(t, b, p))
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, img)
	}
	idx, err := NewIndex(imgs, nil)
	if err != nil {
		t.Fatal(err)
	}

	ref := reg.host + "/lambda/python:3.9"
	perArch := map[string]v1.Image{"x86_64": imgs[0], "arm64": imgs[1]}
	res, err := Push(ctx, ref, idx, perArch, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	for tag, want := range map[string]v1.Hash{
		ref:             digest(t, idx),
		ref + "-x86_64": digest(t, imgs[0]),
		ref + "-arm64":  digest(t, imgs[1]),
	} {
		if got := remoteDigest(t, tag); got != want {
			t.Errorf("%s is %s, want %s", tag, got, want)
		}
	}
	if want := ref + "@" + digest(t, idx).String(); res.Index != want {
		t.Errorf("Index = %q, want %q", res.Index, want)
	}
	for k, want := range map[string]string{
		"x86_64": ref + "-x86_64@" + digest(t, imgs[0]).String(),
		"arm64":  ref + "-arm64@" + digest(t, imgs[1]).String(),
	} {
		if res.Arch[k] != want {
			t.Errorf("Arch[%s] = %q, want %q", k, res.Arch[k], want)
		}
	}
	r, _ := name.ParseReference(ref)
	pulled, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(pulled); err != nil {
		t.Fatal(err)
	}

	// Pushing the same index again uploads no blob.
	reg.reset()
	if _, err := Push(ctx, ref, idx, perArch, testOptions()); err != nil {
		t.Fatal(err)
	}
	if n, up := reg.counts(); up != 0 || n == 0 {
		t.Errorf("second push: %d requests, %d blob uploads; want 0 uploads (%q)", n, up, reg.paths)
	}

	// OCI arch names become Lambda's in tags; no tag means latest.
	res, err = Push(ctx, reg.host+"/lambda/other", idx, map[string]v1.Image{"amd64": imgs[0]}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got := remoteDigest(t, reg.host+"/lambda/other:latest-x86_64"); got != digest(t, imgs[0]) {
		t.Errorf("latest-x86_64 is %s", got)
	}
	if want := reg.host + "/lambda/other:latest-x86_64@" + digest(t, imgs[0]).String(); res.Arch["amd64"] != want {
		t.Errorf("Arch[amd64] = %q, want %q", res.Arch["amd64"], want)
	}
}

func TestPushMirrorAndErrors(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	idx, imgs := testIndex(t)

	o := testOptions()
	o.Mirrors = mirror.Rules{{From: "ghcr.io/acme", To: reg.host + "/acme"}}
	res, err := Push(ctx, "ghcr.io/acme/python:3.9", idx, map[string]v1.Image{"arm64": imgs[1]}, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.host + "/acme/python:3.9@" + digest(t, idx).String(); res.Index != want {
		t.Errorf("Index = %q, want %q", res.Index, want)
	}
	if got := remoteDigest(t, reg.host+"/acme/python:3.9-arm64"); got != digest(t, imgs[1]) {
		t.Errorf("arm64 tag is %s", got)
	}

	_, err = Push(ctx, reg.host+"/x@"+digest(t, idx).String(), idx, nil, testOptions())
	assertOneLine(t, err, "push "+reg.host+"/x@", "cannot name a digest")

	other := platformImage(t, amd64, 1)
	_, err = Push(ctx, reg.host+"/x:1", idx, map[string]v1.Image{"x86_64": other}, testOptions())
	assertOneLine(t, err, "push "+reg.host+"/x:1", "x86_64 image", "not in the index")

	_, err = Push(ctx, "registry.example:5000/x:1", idx, nil, RegistryOptions{Keychain: o.Keychain, Transport: redirectTransport(reg.host)})
	assertOneLine(t, err, "push registry.example:5000/x:1", "--insecure-registry")
}

// TestPushSessionIndexMovesLast: the per-arch images and the referrers
// (SBOMs) are pushed concurrently, and the index's tag is written only
// after every one of them, so a reader of REF never finds an index whose
// parts or SBOMs are missing.
func TestPushSessionIndexMovesLast(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	var sboms []v1.Image
	for _, img := range imgs {
		sub, err := SubjectDescriptor(img)
		if err != nil {
			t.Fatal(err)
		}
		a, err := NewArtifact(sub, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
		if err != nil {
			t.Fatal(err)
		}
		sboms = append(sboms, a)
	}
	res, err := NewPushSession(testOptions()).Push(context.Background(), reg.host+"/lambda/node:14", idx,
		map[string]v1.Image{"amd64": imgs[0], "arm64": imgs[1]}, sboms...)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Referrers) != 2 || !strings.Contains(res.Referrers[0], "@sha256:") || res.Referrers[0] == res.Referrers[1] {
		t.Errorf("referrers %v", res.Referrers)
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	var puts []string
	for _, p := range reg.paths {
		if strings.HasPrefix(p, "PUT ") && strings.Contains(p, "/manifests/") {
			puts = append(puts, strings.TrimPrefix(p, "PUT /v2/lambda/node/manifests/"))
		}
	}
	// Two arch tags, two SBOMs by digest, possibly the referrers fallback
	// tags, then the index: last.
	if len(puts) < 5 || puts[len(puts)-1] != "14" {
		t.Fatalf("manifest PUTs %v: want the index (14) last", puts)
	}
	for _, want := range []string{"14-x86_64", "14-arm64"} {
		if !slices.Contains(puts[:len(puts)-1], want) {
			t.Errorf("manifest PUTs %v: %s missing before the index", puts, want)
		}
	}
	for _, r := range res.Referrers {
		d := r[strings.Index(r, "@")+1:]
		if !slices.Contains(puts[:len(puts)-1], d) {
			t.Errorf("manifest PUTs %v: the SBOM %s missing before the index", puts, d)
		}
	}
}

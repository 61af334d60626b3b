package manifests

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

func TestPullBaseSelectsPlatformFromIndex(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	ref := reg.host + "/amazonlinux:2"
	writeIndex(t, ref, idx)

	for i, p := range []v1.Platform{
		{Architecture: "x86_64"}, // Lambda's name, OS defaults to linux
		{OS: "linux", Architecture: "arm64"},
	} {
		b, err := PullBase(context.Background(), ref, p, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if b.Digest != digest(t, idx) {
			t.Errorf("%v: Base.Digest = %s, want the index's %s", p, b.Digest, digest(t, idx))
		}
		if got, want := digest(t, b.Image), digest(t, imgs[i]); got != want {
			t.Errorf("%v: selected %s, want %s", p, got, want)
		}
		if b.Ref != ref || b.Resolved != ref {
			t.Errorf("Ref, Resolved = %q, %q", b.Ref, b.Resolved)
		}
		if err := validate.Image(b.Image); err != nil {
			t.Error(err)
		}
	}
}

func TestPullBaseMissingPlatformListsAvailable(t *testing.T) {
	reg := newTestRegistry(t)
	idx, _ := dockerIndex(t, amd64, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"})
	ref := reg.host + "/amazonlinux:2018.03"
	writeIndex(t, ref, idx)

	_, err := PullBase(context.Background(), ref, v1.Platform{Architecture: "arm64"}, testOptions())
	assertOneLine(t, err, ref, "no linux/arm64 image", "linux/amd64, linux/arm/v7")
}

func TestPullBaseSingleManifestChecksPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	img := platformImage(t, amd64, 1)
	ref := reg.host + "/single:1"
	writeImage(t, ref, img)

	b, err := PullBase(context.Background(), ref, amd64, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest != digest(t, img) {
		t.Errorf("Base.Digest = %s, want %s", b.Digest, digest(t, img))
	}
	_, err = PullBase(context.Background(), ref, arm64, testOptions())
	assertOneLine(t, err, ref, "is linux/amd64, not linux/arm64")
}

func TestPullBaseUsesMirror(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64)
	writeIndex(t, reg.host+"/amazonlinux/amazonlinux:2", idx)
	reg.reset()

	o := testOptions()
	rules, err := mirror.Parse("public.ecr.aws.invalid=" + reg.host)
	if err != nil {
		t.Fatal(err)
	}
	o.Mirrors = rules
	ref := "public.ecr.aws.invalid/amazonlinux/amazonlinux:2"
	b, err := PullBase(context.Background(), ref, amd64, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.host + "/amazonlinux/amazonlinux:2"; b.Resolved != want || b.Ref != ref {
		t.Errorf("Ref, Resolved = %q, %q; want %q, %q", b.Ref, b.Resolved, ref, want)
	}
	if digest(t, b.Image) != digest(t, imgs[0]) {
		t.Error("wrong image")
	}
	if n, _ := reg.counts(); n == 0 {
		t.Error("no request reached the mirror")
	}
}

func TestPullBaseDockerHubShortNameMirror(t *testing.T) {
	reg := newTestRegistry(t)
	idx, _ := dockerIndex(t, amd64)
	writeIndex(t, reg.host+"/library/amazonlinux:2", idx)

	o := testOptions()
	o.Mirrors = mirror.Rules{{From: "docker.io", To: reg.host}}
	b, err := PullBase(context.Background(), "amazonlinux:2", amd64, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := reg.host + "/library/amazonlinux:2"; b.Resolved != want {
		t.Errorf("Resolved = %q, want %q", b.Resolved, want)
	}
}

func TestPullBaseUnreachableSuggestsMirror(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	o := testOptions()
	o.Mirrors = mirror.Rules{{From: "registry.invalid", To: addr}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ref := "registry.invalid/lambda/base:1"
	_, err = PullBase(ctx, ref, amd64, o)
	assertOneLine(t, err, "pull "+ref, "mirrored to "+addr+"/lambda/base:1", "mirror is unreachable")

	// Without a mirror, the message suggests one.
	_, err = PullBase(ctx, addr+"/lambda/base:1", amd64, testOptions())
	assertOneLine(t, err, "pull "+addr+"/lambda/base:1", "unreachable", "--mirror FROM=TO")
}

func TestPullBasePlainHTTPOnlyLoopbackOrInsecure(t *testing.T) {
	reg := newTestRegistry(t)
	idx, _ := dockerIndex(t, amd64)
	writeIndex(t, reg.host+"/base:1", idx)

	// The registry poses as hosts that are not loopback.
	for _, tc := range []struct {
		ref      string
		insecure []string
		wantErr  string
	}{
		{"registry.example:5000/base:1", nil, "--insecure-registry"},
		{"10.0.0.1:5000/base:1", nil, "plain HTTP to 10.0.0.1:5000 refused"},
		{"registry.example:5000/base:1", []string{"registry.example:5000"}, ""},
		{"registry.example:5000/base:1", []string{"registry.example"}, ""},
		{"registry.example:5000/base:1", []string{"registry.example:5001"}, "--insecure-registry"},
		{"10.0.0.1:5000/base:1", []string{"10.0.0.1"}, ""},
	} {
		o := testOptions()
		o.Transport = redirectTransport(reg.host)
		o.Insecure = tc.insecure
		_, err := PullBase(context.Background(), tc.ref, amd64, o)
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("%s with insecure %v: %v", tc.ref, tc.insecure, err)
			}
			continue
		}
		assertOneLine(t, err, tc.ref, tc.wantErr)
	}
}

func TestPlainHTTPAllowed(t *testing.T) {
	o := RegistryOptions{Insecure: []string{"reg.corp", "other.corp:8080"}}
	for host, want := range map[string]bool{
		"127.0.0.1:5000":  true,
		"127.1.2.3":       true,
		"[::1]:5000":      true,
		"localhost":       true,
		"localhost:5000":  true,
		"reg.corp:1234":   true,
		"reg.corp":        true,
		"other.corp:8080": true,
		"other.corp:8081": false,
		"other.corp":      false,
		"10.0.0.1:5000":   false,
		"192.168.1.1":     false,
		"ghcr.io":         false,
	} {
		if got := o.plainHTTPAllowed(host); got != want {
			t.Errorf("plainHTTPAllowed(%q) = %v, want %v", host, got, want)
		}
	}
}

func TestPullBaseFromLayoutAndArchive(t *testing.T) {
	idx, imgs := dockerIndex(t, amd64, arm64)
	ociIdx, err := NewIndex(buildImages(t, imgs), nil)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out:with-colon")
	if err := WriteOCILayout(dir, ociIdx, "python3.9"); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	b, err := PullBase(ctx, "oci:"+dir+":python3.9", arm64, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest != digest(t, ociIdx) {
		t.Errorf("Digest = %s, want the index's", b.Digest)
	}
	b, err = PullBase(ctx, "oci:"+dir+":python3.9-x86_64", amd64, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if b.Digest != digest(t, b.Image) {
		t.Errorf("Digest = %s, want the image's %s", b.Digest, digest(t, b.Image))
	}
	_, err = PullBase(ctx, "oci:"+dir, amd64, testOptions())
	assertOneLine(t, err, "holds 3 entries", "python3.9-arm64")
	_, err = PullBase(ctx, "oci:"+dir+":nope", amd64, testOptions())
	assertOneLine(t, err, `no entry named "nope"`)

	// A layout with a single entry needs no REF.
	one := filepath.Join(t.TempDir(), "one")
	p, err := layout.Write(one, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx); err != nil {
		t.Fatal(err)
	}
	b, err = PullBase(ctx, "oci:"+one, arm64, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, b.Image) != digest(t, imgs[1]) || b.Digest != digest(t, idx) {
		t.Error("oci:DIR with one entry: wrong image or digest")
	}

	file := filepath.Join(t.TempDir(), "base.tar")
	if err := WriteDockerArchive(file, []TaggedImage{{Tag: "base:amd64", Image: imgs[0]}}); err != nil {
		t.Fatal(err)
	}
	b, err = PullBase(ctx, "docker:"+file, amd64, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Image.ConfigName(); got != mustConfigName(t, imgs[0]) {
		t.Error("docker archive: wrong image")
	}
	if _, err := PullBase(ctx, "docker:"+file+":base:amd64", amd64, testOptions()); err != nil {
		t.Errorf("docker:FILE:TAG: %v", err)
	}
	_, err = PullBase(ctx, "docker:"+file, arm64, testOptions())
	assertOneLine(t, err, "not linux/arm64")
}

func mustConfigName(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

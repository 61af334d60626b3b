package manifests

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

func TestResolveRegistry(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	writeIndex(t, reg.host+"/lambda/node:idx", idx)
	writeImage(t, reg.host+"/lambda/node:one", imgs[1])
	ctx := context.Background()

	r, err := Resolve(ctx, reg.host+"/lambda/node:idx", testOptions())
	if err != nil || r.Index == nil || r.Image != nil || r.Digest != digest(t, idx) {
		t.Fatalf("index: %+v, %v", r, err)
	}
	r, err = Resolve(ctx, reg.host+"/lambda/node:one", testOptions())
	if err != nil || r.Image == nil || r.Index != nil || r.Digest != digest(t, imgs[1]) {
		t.Fatalf("image: %+v, %v", r, err)
	}
	if _, err := Resolve(ctx, reg.host+"/lambda/node:missing", testOptions()); err == nil {
		t.Fatal("a missing tag resolved")
	}
}

func TestResolveLayout(t *testing.T) {
	idx, imgs := dockerIndex(t, amd64, arm64)
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	name := func(n string) layout.Option {
		return layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": n})
	}
	if err := p.AppendIndex(idx, name("rt")); err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(imgs[0], name("rt-x86_64")); err != nil {
		t.Fatal(err)
	}
	// Several entries, one index: the index.
	r, err := Resolve(context.Background(), "oci:"+dir, RegistryOptions{})
	if err != nil || r.Index == nil || r.Digest != digest(t, idx) {
		t.Fatalf("oci:DIR: %+v, %v", r, err)
	}
	r, err = Resolve(context.Background(), "oci:"+dir+":rt-x86_64", RegistryOptions{})
	if err != nil || r.Image == nil || r.Digest != digest(t, imgs[0]) {
		t.Fatalf("oci:DIR:REF: %+v, %v", r, err)
	}
	// Two indexes: ambiguous.
	if err := p.AppendIndex(idx, name("other")); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve(context.Background(), "oci:"+dir, RegistryOptions{}); err == nil || !strings.Contains(err.Error(), "name one as") {
		t.Fatalf("ambiguous layout: %v", err)
	}
}

package manifests

import (
	"context"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushImageWritesNoIndex(t *testing.T) {
	reg := newTestRegistry(t)
	img := platformImage(t, amd64, 2)
	ref := reg.host + "/fn/hello:1"
	got, err := PushImage(context.Background(), ref, img, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if want := ref + "@" + digest(t, img).String(); got != want {
		t.Errorf("PushImage = %s, want %s", got, want)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	if !d.MediaType.IsImage() || d.Digest != digest(t, img) {
		t.Errorf("%s is a %s %s, want the image manifest", ref, d.MediaType, d.Digest)
	}
	if _, err := PushImage(context.Background(), ref+"@"+digest(t, img).String(), img, testOptions()); err == nil {
		t.Error("a digest reference was accepted")
	}
	for arch, want := range map[string]string{"amd64": ref + "-x86_64", "arm64": ref + "-arm64"} {
		if got := ArchRef(ref, arch); got != want {
			t.Errorf("ArchRef(%s) = %s, want %s", arch, got, want)
		}
	}
}

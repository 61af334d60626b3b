package testworld

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/rtbuild/rtbuild/builder/sbom"
	"github.com/rtbuild/rtbuild/images"
)

// LayoutImages returns the single-arch images of an OCI layout rtbuild
// wrote, by architecture (indexes and SBOM artifacts are skipped).
func LayoutImages(t testing.TB, dir string) map[images.Arch]v1.Image {
	t.Helper()
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading %s: %v", dir, err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	out := map[images.Arch]v1.Image{}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() || d.ArtifactType == sbom.MediaType {
			continue
		}
		img, err := top.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		arch, err := images.ParseArch(cf.Architecture)
		if err != nil {
			t.Fatal(err)
		}
		out[arch] = img
	}
	return out
}

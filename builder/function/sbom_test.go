package function

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// A function on --base: the base image, then the code and layers by the
// sha256 of their tars; the base's own layers are not components.
func TestSBOMImageOnBase(t *testing.T) {
	h := func(c string) v1.Hash {
		d, _ := v1.NewHash("sha256:" + strings.Repeat(c, 64))
		return d
	}
	res := &Result{Name: "ghcr.io/acme/base:1", Catalog: "c1", Epoch: time.Unix(7, 0)}
	pr := &builder.PlatformResult{
		Arch: images.X86_64, Digest: h("a"),
		Base: &manifests.Base{Ref: "ghcr.io/acme/base:1", Digest: h("b")},
		Layers: []builder.LayerResult{
			{Component: "base", DiffID: h("c"), Cache: "base"},
			{Component: "function-code", DiffID: h("d")},
			{Component: "function-layer-1", DiffID: h("e")},
		},
	}
	img, err := res.SBOMImage(pr, "rtbuild-test")
	if err != nil {
		t.Fatal(err)
	}
	if img.Name != LayoutName || img.Digest != h("a") || img.Arch != "amd64" || img.Base == nil || img.Base.Ref != "ghcr.io/acme/base:1" || img.Base.Digest != h("b") {
		t.Errorf("image %+v", img)
	}
	if len(img.Components) != 2 || img.Components[0].Name != "function-code" || img.Components[0].SHA256 != h("d").Hex ||
		img.Components[1].Name != "function-layer-1" || img.Components[1].SHA256 != h("e").Hex {
		t.Errorf("components %+v", img.Components)
	}
}

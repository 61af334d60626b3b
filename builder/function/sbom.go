package function

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/sbom"
)

// SBOMImage describes the function image pr for its SBOM: with --runtime,
// the runtime's base and components as `rtbuild image` records them; with
// --base, that image as the base; then the code and each Lambda layer, by
// the sha256 of the tar rtbuild made of them.
func (res *Result) SBOMImage(pr *builder.PlatformResult, tool string) (sbom.Image, error) {
	img := sbom.Image{Name: LayoutName, Version: res.Catalog, Digest: pr.Digest, Arch: pr.Arch.OCI(), Created: res.Epoch, Tool: tool}
	if res.Plan != nil && res.Runtime != nil && len(res.Plan.Runtimes) == 1 {
		rp := res.Plan.Runtimes[0]
		var pp *builder.PlatformPlan
		for _, p := range rp.Platforms {
			if p.Arch == pr.Arch {
				pp = p
			}
		}
		var rpr *builder.PlatformResult
		for _, p := range res.Runtime.Platforms {
			if p.Arch == pr.Arch {
				rpr = p
			}
		}
		if pp == nil || rpr == nil {
			return img, fmt.Errorf("function (%s): no runtime image for this architecture", pr.Arch)
		}
		rt := builder.SBOMImage(res.Plan, rp, pp, rpr, tool)
		img.Base, img.Components = rt.Base, rt.Components
	} else if pr.Base != nil {
		img.Base = &sbom.Base{Ref: pr.Base.Ref, Digest: pr.Base.Digest}
	}
	for _, l := range pr.Layers {
		if !strings.HasPrefix(l.Component, "function-") {
			continue
		}
		img.Components = append(img.Components, sbom.Component{
			Name: l.Component, SHA256: l.DiffID.Hex,
			Comment: "the function's own files; the checksum is the sha256 of the layer's tar",
		})
	}
	return img, nil
}

// sboms returns the SBOM artifact of each platform image, in order, and
// records each one's digest in the metadata im.
func (res *Result) sboms(tool string, im *builder.ImageMetadata) ([]v1.Image, error) {
	var out []v1.Image
	for i, pr := range res.Platforms {
		si, err := res.SBOMImage(pr, tool)
		if err != nil {
			return nil, err
		}
		a, err := builder.SBOMArtifact(si, pr.Image)
		if err != nil {
			return nil, err
		}
		d, err := a.Digest()
		if err != nil {
			return nil, err
		}
		im.Platforms[i].SBOM = d.String()
		out = append(out, a)
	}
	return out, nil
}

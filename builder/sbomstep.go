package builder

import (
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/builder/sbom"
	"github.com/rtbuild/rtbuild/manifests"
)

// SBOMImage describes the platform image pr of runtime rp, built from pp,
// for its SBOM: the base as resolved and each step's component with the
// artifacts it was made of (with the digests they were fetched with).
func SBOMImage(plan *Plan, rp *RuntimePlan, pp *PlatformPlan, pr *PlatformResult, tool string) sbom.Image {
	img := sbom.Image{
		Name: rp.Runtime.Identifier, Version: plan.Catalog.Version, Digest: pr.Digest,
		Arch: pp.Arch.OCI(), Created: plan.Epoch, Tool: tool,
	}
	if pr.Base != nil {
		img.Base = &sbom.Base{Name: rp.Base.Name, Ref: pp.BaseRef, Digest: pr.Base.Digest}
	}
	for _, st := range pp.Steps {
		c := sbom.Component{
			Name: st.ComponentKey, Version: st.Component.Version,
			Description: st.Component.Description, License: st.Component.License,
		}
		for _, s := range st.Sources {
			c.Artifacts = append(c.Artifacts, sbom.Artifact{URL: s.URL, SHA256: plan.ArtifactSHA256(s)})
		}
		if len(st.Sources) == 0 {
			c.Content = st.Content
			if c.Content == nil {
				c.Content = []byte{}
			}
			c.Comment = "written by rtbuild"
			if b := st.Component.Builtin; b != "" {
				c.Comment = "written by rtbuild (builtin " + b + ")"
			}
		}
		img.Components = append(img.Components, c)
	}
	return img
}

// SBOMArtifact returns the OCI artifact carrying img's SPDX document, with
// subject as its subject (the platform image the document describes).
func SBOMArtifact(img sbom.Image, subject v1.Image) (v1.Image, error) {
	doc, err := sbom.Marshal(img)
	if err != nil {
		return nil, err
	}
	sub, err := manifests.SubjectDescriptor(subject)
	if err != nil {
		return nil, fmt.Errorf("sbom of %s: %w", img.Name, err)
	}
	return manifests.NewArtifact(sub, sbom.MediaType, doc)
}

// ImageSBOMs returns the SBOM artifact of each platform of ir, in order,
// and records each one's digest in the metadata im (when not nil).
func ImageSBOMs(plan *Plan, ir *ImageResult, tool string, im *ImageMetadata) ([]v1.Image, error) {
	var rp *RuntimePlan
	for _, r := range plan.Runtimes {
		if r.Runtime.Identifier == ir.Runtime.Identifier {
			rp = r
		}
	}
	if rp == nil {
		return nil, fmt.Errorf("%s: not in the plan", ir.Runtime.Identifier)
	}
	var out []v1.Image
	for i, pr := range ir.Platforms {
		var pp *PlatformPlan
		for _, p := range rp.Platforms {
			if p.Arch == pr.Arch {
				pp = p
			}
		}
		if pp == nil {
			return nil, fmt.Errorf("%s (%s): not in the plan", ir.Runtime.Identifier, pr.Arch)
		}
		a, err := SBOMArtifact(SBOMImage(plan, rp, pp, pr, tool), pr.Image)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", ir.Runtime.Identifier, pr.Arch, err)
		}
		d, err := a.Digest()
		if err != nil {
			return nil, err
		}
		if im != nil && i < len(im.Platforms) {
			im.Platforms[i].SBOM = d.String()
		}
		out = append(out, a)
	}
	return out, nil
}

// HasOCI reports whether outs include an OCI layout, where SBOMs are stored.
func HasOCI(outs []Output) bool {
	for _, o := range outs {
		if o.Kind == "oci" {
			return true
		}
	}
	return false
}

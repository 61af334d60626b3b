package function

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/manifests"
)

// Publish says where a function image goes.
type Publish struct {
	Outputs []builder.Output
	// Push is a registry reference (REGISTRY/REPO[:TAG]). With one
	// architecture the image's manifest is written at Push itself; with
	// several, each at Push-<arch>.
	Push string
	// Index also writes an image index at Push (each architecture then at
	// Push-<arch>, even when there is one). Lambda rejects an index.
	Index        bool
	MetadataFile string
	// SBOM and Tool: as builder.Publish's.
	SBOM bool
	Tool string
}

// LayoutName is the org.opencontainers.image.ref.name of the index in an
// OCI layout output (each architecture is function-<arch>).
const LayoutName = "function"

// Warnings returns what the user should know about p for res before it is
// published.
func (p Publish) Warnings(res *Result) []string {
	if p.Push == "" || len(res.Platforms) < 2 && !p.Index {
		return nil
	}
	if p.Index {
		return []string{fmt.Sprintf("--index: an image index is written at %s, but Lambda rejects an image index for a function: deploy the per-architecture tags (%s)", p.Push, manifests.ArchRef(p.Push, string(res.Platforms[0].Arch)))}
	}
	return []string{fmt.Sprintf("%d architectures: each is pushed to %s (and the like) and no index is written at %s, because Lambda rejects an image index for a function; pass --index to add one for other consumers", len(res.Platforms), manifests.ArchRef(p.Push, string(res.Platforms[0].Arch)), p.Push)}
}

// Write publishes res to every output and the registry, then writes the
// metadata file (the same document as `rtbuild image`'s, with one image).
// OCI layouts and docker archives are written as for runtime images: the
// layout holds the index as "function" and each architecture as
// "function-<arch>"; the archive tags rtbuild/function:<arch> (and :latest
// with one architecture).
func Write(ctx context.Context, res *Result, p Publish, reg manifests.RegistryOptions, rep builder.Reporter) (*builder.Metadata, error) {
	if rep == nil {
		rep = builder.NopReporter{}
	}
	for _, w := range p.Warnings(res) {
		rep.Report(builder.Event{Time: time.Now(), Status: "warning", Message: w})
	}
	idxDigest, err := res.Index.Digest()
	if err != nil {
		return nil, err
	}
	md := &builder.Metadata{Backend: "native", Catalog: res.Catalog, Created: res.Epoch.UTC().Format(time.RFC3339), Cache: res.Stats}
	im := &builder.ImageMetadata{Runtime: res.Name, Digest: idxDigest.String()}
	if len(res.Platforms) == 1 {
		im.Digest = res.Platforms[0].Digest.String()
	}
	md.Images = append(md.Images, im)
	perArch := map[string]v1.Image{}
	for _, pr := range res.Platforms {
		perArch[string(pr.Arch)] = pr.Image
		pm := &builder.PlatformMetadata{
			Arch: string(pr.Arch), Platform: "linux/" + pr.Arch.OCI(), Digest: pr.Digest.String(),
			BaseRef: pr.Base.Ref, Layers: pr.Layers,
		}
		if pr.Base.Digest.Hex != "" {
			pm.BaseDigest = pr.Base.Digest.String()
		}
		im.Platforms = append(im.Platforms, pm)
	}
	var sboms []v1.Image
	if p.SBOM && (p.Push != "" || builder.HasOCI(p.Outputs)) {
		if sboms, err = res.sboms(p.Tool, im); err != nil {
			return nil, err
		}
	}
	for _, o := range p.Outputs {
		rep.Report(builder.Event{Time: time.Now(), Status: "writing", Message: o.Kind + ":" + o.Path})
		switch o.Kind {
		case "oci":
			if err := manifests.WriteOCILayout(o.Path, res.Index, LayoutName, sboms...); err != nil {
				return nil, err
			}
		case "docker":
			var tagged []manifests.TaggedImage
			for _, pr := range res.Platforms {
				tagged = append(tagged, manifests.TaggedImage{Tag: "rtbuild/function:" + string(pr.Arch), Image: pr.Image})
			}
			if len(res.Platforms) == 1 {
				tagged = append(tagged, manifests.TaggedImage{Tag: "rtbuild/function:latest", Image: res.Platforms[0].Image})
			}
			if err := manifests.WriteDockerArchive(o.Path, tagged); err != nil {
				return nil, err
			}
		}
		im.Outputs = append(im.Outputs, o.Kind+":"+o.Path)
	}
	if p.Push != "" {
		rep.Report(builder.Event{Time: time.Now(), Status: "pushing", Message: p.Push})
		// The SBOMs go first, so that the tags move last.
		if _, err := manifests.PushReferrers(ctx, p.Push, sboms, reg); err != nil {
			return nil, fmt.Errorf("pushing the SBOMs to %s: %w", p.Push, err)
		}
		switch {
		case p.Index:
			pushed, err := manifests.Push(ctx, p.Push, res.Index, perArch, reg)
			if err != nil {
				return nil, err
			}
			im.Pushed = pushed.Index
			for _, pm := range im.Platforms {
				pm.Pushed = pushed.Arch[pm.Arch]
			}
		case len(res.Platforms) == 1:
			pushed, err := manifests.PushImage(ctx, p.Push, res.Platforms[0].Image, reg)
			if err != nil {
				return nil, err
			}
			im.Pushed, im.Platforms[0].Pushed = pushed, pushed
		default:
			for i, pr := range res.Platforms {
				pushed, err := manifests.PushImage(ctx, manifests.ArchRef(p.Push, string(pr.Arch)), pr.Image, reg)
				if err != nil {
					return nil, err
				}
				im.Platforms[i].Pushed = pushed
			}
		}
		rep.Report(builder.Event{Time: time.Now(), Status: "pushed", Message: p.Push})
	}
	if p.MetadataFile != "" {
		if err := builder.WriteMetadataFile(p.MetadataFile, md); err != nil {
			return nil, fmt.Errorf("writing metadata file: %w", err)
		}
	}
	return md, nil
}

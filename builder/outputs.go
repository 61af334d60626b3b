package builder

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/manifests"
)

// Output is one place results are written: an OCI layout or a docker-archive tar.
type Output struct {
	Kind string // "oci" or "docker"
	Path string // may contain {runtime}
}

// ParseOutput parses --output oci:DIR or docker:FILE.
func ParseOutput(s string) (Output, error) {
	kind, path, ok := strings.Cut(s, ":")
	if !ok || path == "" || (kind != "oci" && kind != "docker") {
		return Output{}, &UsageError{fmt.Sprintf("invalid --output %q: use oci:DIR (an OCI image layout) or docker:FILE (a docker-archive tar)", s)}
	}
	return Output{Kind: kind, Path: path}, nil
}

// Publish says where a build's images go.
type Publish struct {
	Outputs []Output
	// Push is a registry reference; it may contain {runtime}, and must when
	// several runtimes are built.
	Push string
	// MetadataFile, when set, receives the JSON metadata of the build.
	MetadataFile string
	// SBOM attaches an SPDX document to each platform image, as an OCI
	// referrer, in OCI layouts and pushes (a docker archive has no place
	// for it). Tool names its creator ("rtbuild-VERSION").
	SBOM bool
	Tool string
}

// DefaultOutputs is what `rtbuild image` writes when neither --output nor
// --push is given: an OCI layout per runtime under ./rtbuild-out.
func DefaultOutputs() []Output {
	return []Output{{Kind: "oci", Path: filepath.Join("rtbuild-out", "{runtime}")}}
}

// CheckPublish validates the publish request against the plan before any work.
func CheckPublish(p Publish, plan *Plan) error {
	multi := len(plan.Runtimes) > 1
	if p.Push != "" && multi && !strings.Contains(p.Push, "{runtime}") {
		return &UsageError{fmt.Sprintf("--push %s names one image but %d runtimes are built: put {runtime} in the reference, e.g. %s:{runtime}", p.Push, len(plan.Runtimes), strings.SplitN(p.Push, ":", 2)[0])}
	}
	return nil
}

func expand(path, runtime string, multi bool, kind string) string {
	if strings.Contains(path, "{runtime}") {
		return strings.ReplaceAll(path, "{runtime}", runtime)
	}
	if multi && kind == "oci" {
		return filepath.Join(path, runtime)
	}
	return path
}

// Metadata is the --metadata-file document.
type Metadata struct {
	// Backend is the executor that built the images: native or buildkit.
	Backend string           `json:"backend,omitempty"`
	Catalog string           `json:"catalog"`
	Created string           `json:"created"`
	Images  []*ImageMetadata `json:"images"`
	// Cache counts the layers built and found cached. For a BuildKit
	// build they are its component vertices, as its status stream said.
	Cache Stats `json:"cache"`
	// BuildKit describes a build by the BuildKit executor.
	BuildKit *BuildKitMetadata `json:"buildkit,omitempty"`
}

// BuildKitMetadata is what a BuildKit build reported.
type BuildKitMetadata struct {
	// Addr is the buildkitd address used.
	Addr string `json:"addr"`
	// Vertices and VerticesCached count every vertex of the solves.
	Vertices       int `json:"vertices"`
	VerticesCached int `json:"verticesCached"`
	// ComponentVertices counts the vertices of components (one per
	// component and platform); ComponentVerticesCached those BuildKit
	// answered from its cache, its own or one imported with --cache-from.
	ComponentVertices       int `json:"componentVertices"`
	ComponentVerticesCached int `json:"componentVerticesCached"`
	// Prepared counts the layers rtbuild prepared itself (archives) in its
	// layer cache before sending them, and the bytes it downloaded.
	Prepared Stats `json:"prepared"`
}

// ImageMetadata describes one runtime image.
type ImageMetadata struct {
	Runtime   string              `json:"runtime"`
	Digest    string              `json:"digest"`
	Outputs   []string            `json:"outputs,omitempty"`
	Pushed    string              `json:"pushed,omitempty"`
	Platforms []*PlatformMetadata `json:"platforms"`
}

// PlatformMetadata describes one single-arch image of a runtime.
type PlatformMetadata struct {
	Arch       string        `json:"arch"`
	Platform   string        `json:"platform"`
	Digest     string        `json:"digest"`
	Pushed     string        `json:"pushed,omitempty"`
	BaseRef    string        `json:"baseRef"`
	BaseDigest string        `json:"baseDigest,omitempty"`
	Layers     []LayerResult `json:"layers"`
	// SBOM is the digest of the SPDX document's artifact manifest, a
	// referrer of this image (see Publish.SBOM).
	SBOM string `json:"sbom,omitempty"`
}

// Write publishes the build's images to every output and the registry, then
// writes the metadata file. Outputs are written atomically by manifests.
func Write(ctx context.Context, res *Result, plan *Plan, p Publish, reg manifests.RegistryOptions, rep Reporter) (*Metadata, error) {
	if rep == nil {
		rep = NopReporter{}
	}
	md := &Metadata{Backend: res.Backend, Catalog: plan.Catalog.Version, Created: plan.Epoch.UTC().Format(time.RFC3339), Cache: res.Stats}
	multi := len(res.Images) > 1
	// One push session: blobs shared by runtimes are checked once per
	// repository and mounted across repositories of a registry.
	pushes := manifests.NewPushSession(reg)
	var pushJobs []func(context.Context) error
	var dockerImages = map[string][]manifests.TaggedImage{}
	for _, ir := range res.Images {
		id := ir.Runtime.Identifier
		im := &ImageMetadata{Runtime: id, Digest: ir.Digest.String()}
		md.Images = append(md.Images, im)
		perArch := map[string]v1.Image{}
		for _, pr := range ir.Platforms {
			perArch[string(pr.Arch)] = pr.Image
			pm := &PlatformMetadata{
				Arch: string(pr.Arch), Platform: "linux/" + pr.Arch.OCI(), Digest: pr.Digest.String(),
				BaseRef: pr.Base.Ref, Layers: pr.Layers,
			}
			if pr.Base.Digest.Hex != "" {
				pm.BaseDigest = pr.Base.Digest.String()
			}
			im.Platforms = append(im.Platforms, pm)
		}
		var sboms []v1.Image
		if p.SBOM && (p.Push != "" || HasOCI(p.Outputs)) {
			var err error
			if sboms, err = ImageSBOMs(plan, ir, p.Tool, im); err != nil {
				return nil, err
			}
		}
		for _, o := range p.Outputs {
			path := expand(o.Path, id, multi, o.Kind)
			switch o.Kind {
			case "oci":
				rep.Report(Event{Time: time.Now(), Runtime: id, Status: "writing", Message: "oci:" + path})
				if err := manifests.WriteOCILayout(path, ir.Index, id, sboms...); err != nil {
					return nil, fmt.Errorf("%s: writing OCI layout %s: %w", id, path, err)
				}
				im.Outputs = append(im.Outputs, "oci:"+path)
			case "docker":
				dockerImages[path] = append(dockerImages[path], dockerTags(id, ir)...)
				im.Outputs = append(im.Outputs, "docker:"+path)
			}
		}
		if p.Push != "" {
			ref := strings.ReplaceAll(p.Push, "{runtime}", id)
			pushJobs = append(pushJobs, func(ctx context.Context) error {
				rep.Report(Event{Time: time.Now(), Runtime: id, Status: "pushing", Message: ref})
				// The SBOMs go with the per-arch images (a referrer may
				// precede its subject), so that the tag moves last, onto an
				// image complete with them.
				pushed, err := pushes.Push(ctx, ref, ir.Index, perArch, sboms...)
				if err != nil {
					return fmt.Errorf("%s: pushing %s: %w", id, ref, err)
				}
				im.Pushed = pushed.Index
				for _, pm := range im.Platforms {
					pm.Pushed = pushed.Arch[pm.Arch]
				}
				rep.Report(Event{Time: time.Now(), Runtime: id, Status: "pushed", Message: pushed.Index})
				return nil
			})
		}
	}
	if err := runPushes(ctx, pushJobs); err != nil {
		return nil, err
	}
	paths := make([]string, 0, len(dockerImages))
	for path := range dockerImages {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		rep.Report(Event{Time: time.Now(), Status: "writing", Message: "docker:" + path})
		if err := manifests.WriteDockerArchive(path, dockerImages[path]); err != nil {
			return nil, fmt.Errorf("writing docker archive %s: %w", path, err)
		}
	}
	if res.stats != nil {
		res.Stats = res.stats()
		md.Cache = res.Stats
	}
	if p.MetadataFile != "" {
		if err := writeJSONAtomic(p.MetadataFile, md); err != nil {
			return nil, fmt.Errorf("writing metadata file: %w", err)
		}
	}
	return md, nil
}

// dockerTags names each platform image rtbuild/<runtime>:<arch>, and the
// single image also rtbuild/<runtime>:latest when only one arch is built.
func dockerTags(id string, ir *ImageResult) []manifests.TaggedImage {
	var out []manifests.TaggedImage
	for _, pr := range ir.Platforms {
		out = append(out, manifests.TaggedImage{Tag: "rtbuild/" + id + ":" + string(pr.Arch), Image: pr.Image})
	}
	if len(ir.Platforms) == 1 {
		out = append(out, manifests.TaggedImage{Tag: "rtbuild/" + id + ":latest", Image: ir.Platforms[0].Image})
	}
	return out
}

// WriteMetadataFile writes md to path as indented JSON, atomically (the
// file is replaced only once the new content is on disk).
func WriteMetadataFile(path string, md *Metadata) error { return writeJSONAtomic(path, md) }

// writeJSONAtomic writes v as indented JSON through a temporary file and a rename.
func writeJSONAtomic(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".rtbuild-metadata-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(append(b, '\n')); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

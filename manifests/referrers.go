package manifests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Referrers: documents about an image (an SBOM) are stored next to it as OCI
// 1.1 artifacts that name it as their subject. An artifact is an image
// manifest whose artifactType says what it carries, whose config is the
// empty descriptor and whose one layer is the document.
//
//   - In an OCI layout the artifact's manifest and blobs are in blobs/ and
//     its descriptor (with artifactType, without a ref name) in index.json:
//     tools find it by its subject.
//   - In a registry it is pushed by digest. A registry with the referrers
//     API (GET /v2/NAME/referrers/DIGEST) lists it by itself; for one
//     without (Distribution 2.8, Debian's docker-registry), the index of
//     referrers at the fallback tag sha256-<hex of the subject digest> is
//     read, merged with the new descriptor and written back.
//     go-containerregistry's remote.Write does both; listing
//     (remote.Referrers) reads the API first, then the fallback tag.

// EmptyMediaType is the media type of the OCI empty descriptor ("{}"),
// the config of an artifact manifest.
const EmptyMediaType types.MediaType = "application/vnd.oci.empty.v1+json"

// emptyJSON is the content of the empty descriptor.
var emptyJSON = []byte("{}")

// NewArtifact returns the OCI artifact manifest (an image manifest with
// artifactType, the empty config and blob as its one layer of media type
// artifactType) whose subject is the manifest subject describes.
func NewArtifact(subject v1.Descriptor, artifactType string, blob []byte) (v1.Image, error) {
	if subject.Digest.Hex == "" || subject.MediaType == "" || subject.Size == 0 {
		return nil, errors.New("artifact: the subject descriptor needs a media type, a digest and a size")
	}
	cfgDigest, cfgSize, err := v1.SHA256(bytes.NewReader(emptyJSON))
	if err != nil {
		return nil, err
	}
	layer := static.NewLayer(blob, types.MediaType(artifactType))
	ld, err := layer.Digest()
	if err != nil {
		return nil, err
	}
	sub := v1.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  artifactType,
		Config:        v1.Descriptor{MediaType: EmptyMediaType, Digest: cfgDigest, Size: cfgSize, Data: emptyJSON},
		Layers:        []v1.Descriptor{{MediaType: types.MediaType(artifactType), Digest: ld, Size: int64(len(blob))}},
		Subject:       &sub,
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToImage(&artifact{manifest: raw, layer: layer, layerDigest: ld, cfgDigest: cfgDigest})
}

// artifact is a partial.CompressedImageCore of an artifact manifest.
type artifact struct {
	manifest    []byte
	layer       v1.Layer
	layerDigest v1.Hash
	cfgDigest   v1.Hash
}

func (a *artifact) RawConfigFile() ([]byte, error)      { return emptyJSON, nil }
func (a *artifact) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifact) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifact) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	switch h {
	case a.layerDigest:
		return a.layer, nil
	case a.cfgDigest:
		return static.NewLayer(emptyJSON, EmptyMediaType), nil
	}
	return nil, fmt.Errorf("artifact: no blob %s", h)
}

// ArtifactDescriptor is img's descriptor as listed among referrers: its
// media type, digest and size, and its artifactType.
func ArtifactDescriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := partial.Descriptor(img)
	if err != nil {
		return v1.Descriptor{}, err
	}
	m, err := img.Manifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	out := v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size, ArtifactType: m.ArtifactType}
	if out.ArtifactType == "" {
		out.ArtifactType = string(m.Config.MediaType)
	}
	return out, nil
}

// SubjectDescriptor is the descriptor by which an artifact names img as its
// subject.
func SubjectDescriptor(img v1.Image) (v1.Descriptor, error) {
	d, err := partial.Descriptor(img)
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}, nil
}

// appendReferrers writes each artifact's blobs and manifest into the layout
// p and lists it in index.json with its artifactType (and no ref name).
func appendReferrers(p layout.Path, artifacts []v1.Image) error {
	for _, a := range artifacts {
		if err := p.WriteImage(a); err != nil {
			return fmt.Errorf("writing referrer: %w", err)
		}
		d, err := ArtifactDescriptor(a)
		if err != nil {
			return err
		}
		if err := p.AppendDescriptor(d); err != nil {
			return fmt.Errorf("listing referrer %s: %w", d.Digest, err)
		}
	}
	return nil
}

// PushReferrers pushes each artifact by digest to the repository of ref
// (REGISTRY/REPO[:TAG], mirror-rewritten like Push), where its subject
// must be. The registry's referrers API lists it, or, where the registry
// has none, the fallback tag sha256-<subject hex> is updated (its index is
// read, the artifact added, and written back). It returns
// REPO@sha256:... of each artifact, in order.
func PushReferrers(ctx context.Context, ref string, artifacts []v1.Image, o RegistryOptions) ([]string, error) {
	return NewPushSession(o).PushReferrers(ctx, ref, artifacts)
}

// Referrers lists the artifacts of type artifactType (all when empty) whose
// subject is the manifest subject in the repository of ref: through the
// referrers API where the registry has it, else through the fallback tag.
// Each candidate's own manifest is read to check its artifactType and
// subject, since some registries report the config's media type as the
// artifactType.
func Referrers(ctx context.Context, ref string, subject v1.Hash, artifactType string, o RegistryOptions) ([]v1.Descriptor, error) {
	used := o.rewrite(ref)
	fail := func(err error) ([]v1.Descriptor, error) { return nil, newRefError("list referrers of", ref, used, err) }
	r, err := o.parseReference(stripDigest(used))
	if err != nil {
		return fail(err)
	}
	repo := r.Context()
	opts := o.remoteOptions(ctx)
	idx, err := remote.Referrers(repo.Digest(subject.String()), opts...)
	if err != nil {
		return fail(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fail(err)
	}
	var out []v1.Descriptor
	for _, d := range im.Manifests {
		desc, err := remote.Get(repo.Digest(d.Digest.String()), opts...)
		if err != nil {
			return fail(fmt.Errorf("referrer %s: %w", d.Digest, err))
		}
		if ok, at := isReferrer(desc.Manifest, subject, artifactType); ok {
			d.ArtifactType = at
			out = append(out, d)
		}
	}
	return out, nil
}

// FetchReferrerBlob returns the content of the first layer of the artifact
// manifest dgst in the repository of ref (an SBOM document).
func FetchReferrerBlob(ctx context.Context, ref string, dgst v1.Hash, o RegistryOptions) ([]byte, error) {
	used := o.rewrite(ref)
	fail := func(err error) ([]byte, error) { return nil, newRefError("pull", ref, used, err) }
	r, err := o.parseReference(stripDigest(used))
	if err != nil {
		return fail(err)
	}
	img, err := remote.Image(r.Context().Digest(dgst.String()), o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	b, err := firstLayer(img)
	if err != nil {
		return fail(err)
	}
	return b, nil
}

// LayoutReferrers lists the artifacts of type artifactType (all when empty)
// in the OCI layout dir whose subject is the manifest subject, and returns
// each with its first layer's content.
func LayoutReferrers(dir string, subject v1.Hash, artifactType string) ([]v1.Descriptor, [][]byte, error) {
	fail := func(err error) ([]v1.Descriptor, [][]byte, error) {
		return nil, nil, fmt.Errorf("referrers in OCI layout %s: %w", dir, err)
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return fail(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fail(err)
	}
	var descs []v1.Descriptor
	var blobs [][]byte
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return fail(err)
		}
		raw, err := img.RawManifest()
		if err != nil {
			return fail(err)
		}
		ok, _ := isReferrer(raw, subject, artifactType)
		if !ok {
			continue
		}
		b, err := firstLayer(img)
		if err != nil {
			return fail(err)
		}
		descs, blobs = append(descs, d), append(blobs, b)
	}
	return descs, blobs, nil
}

// isReferrer reports whether raw, a manifest, names subject and is of
// artifactType (any when empty), and returns its artifactType.
func isReferrer(raw []byte, subject v1.Hash, artifactType string) (bool, string) {
	var m v1.Manifest
	if err := json.Unmarshal(raw, &m); err != nil || m.Subject == nil || m.Subject.Digest != subject {
		return false, ""
	}
	at := m.ArtifactType
	if at == "" {
		at = string(m.Config.MediaType)
	}
	return artifactType == "" || at == artifactType, at
}

func firstLayer(img v1.Image) ([]byte, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	if len(ls) == 0 {
		return nil, errors.New("the artifact has no layer")
	}
	rc, err := ls[0].Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// stripDigest drops an @DIGEST from a reference: referrers live in the
// repository.
func stripDigest(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		return ref[:i]
	}
	return ref
}

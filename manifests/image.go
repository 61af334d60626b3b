package manifests

import (
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// LayerSpec is one layer to append, with its history entry.
type LayerSpec struct {
	Layer     v1.Layer
	CreatedBy string // history created_by, e.g. "rtbuild: python 3.9.18"
	Comment   string // history comment
}

// ImageSpec describes a single-platform image: a base, layers on top of it
// and the config to set.
type ImageSpec struct {
	Base   *Base
	Layers []LayerSpec

	// Env entries (KEY=VALUE) replace the base's value of KEY in place;
	// new keys are appended in the order given.
	Env []string
	// EnvFirst puts Env first, in its order, followed by the base's entries
	// for other keys: a runtime image's environment then reads in the image
	// contract's order whatever the base set (the official images' bases set
	// nothing). Function images leave it false (Docker's ENV semantics).
	EnvFirst bool
	// WorkingDir replaces the base's unless empty.
	WorkingDir string
	// Entrypoint replaces the base's unless nil (an empty, non-nil slice
	// clears it).
	Entrypoint []string
	// Cmd always replaces the base's: nil leaves the image without a Cmd
	// (a Lambda base image has none; a function image sets its handler).
	Cmd []string
	// Labels are merged over the base's.
	Labels map[string]string
	// Annotations are the manifest annotations. For a registry base,
	// org.opencontainers.image.base.name and .base.digest default to the
	// base's reference as given and its resolved digest.
	Annotations map[string]string
	// Created is the config's and the new history entries' creation time
	// (SOURCE_DATE_EPOCH); it is written in UTC.
	Created time.Time
	// Platform is the image's platform (OCI names; Lambda's x86_64 is
	// accepted); arm64 gets variant v8. Empty: the base's.
	Platform v1.Platform
}

// NewImage appends s.Layers to the base and sets the config: Env merged
// key by key, WorkingDir, Entrypoint, Cmd, no User, labels merged, created
// time, OS/architecture/variant, and one history entry per new layer. The
// result is an OCI image (types.OCIManifestSchema1 manifest,
// types.OCIConfigJSON config); Docker layer media types, of base layers and
// given ones, become their OCI equivalents (same blobs, same digests). The
// same inputs give the same digest.
func NewImage(s ImageSpec) (v1.Image, error) {
	if s.Base == nil || s.Base.Image == nil {
		return nil, errors.New("new image: no base image")
	}
	fail := func(err error) (v1.Image, error) {
		return nil, fmt.Errorf("new image on %s: %w", s.Base.Ref, err)
	}
	base := s.Base.Image
	bm, err := base.Manifest()
	if err != nil {
		return fail(err)
	}
	bcf, err := base.ConfigFile()
	if err != nil {
		return fail(err)
	}
	blayers, err := base.Layers()
	if err != nil {
		return fail(err)
	}
	if len(blayers) != len(bm.Layers) {
		return fail(fmt.Errorf("base has %d layers but %d manifest entries", len(blayers), len(bm.Layers)))
	}

	// Rebuild the base's layers onto an empty OCI image so that every
	// layer descriptor gets an OCI media type; the blobs stay the same.
	adds := make([]mutate.Addendum, 0, len(blayers)+len(s.Layers))
	for i, l := range blayers {
		d := bm.Layers[i]
		adds = append(adds, mutate.Addendum{
			Layer:       withMediaType(l, ociLayerType(d.MediaType)),
			MediaType:   ociLayerType(d.MediaType),
			Annotations: d.Annotations,
			URLs:        d.URLs,
		})
	}
	created := v1.Time{Time: s.Created.UTC()}
	for i, ls := range s.Layers {
		if ls.Layer == nil {
			return fail(fmt.Errorf("layer %d (%s) is nil", i, ls.CreatedBy))
		}
		mt, err := ls.Layer.MediaType()
		if err != nil {
			return fail(fmt.Errorf("layer %d (%s): %w", i, ls.CreatedBy, err))
		}
		h := v1.History{Created: created, CreatedBy: ls.CreatedBy, Comment: ls.Comment}
		adds = append(adds, mutate.Addendum{Layer: withMediaType(ls.Layer, ociLayerType(mt)), MediaType: ociLayerType(mt), History: h})
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.Append(img, adds...); err != nil {
		return fail(err)
	}
	acf, err := img.ConfigFile()
	if err != nil {
		return fail(err)
	}

	cf := Config(bcf, len(blayers), s)
	cf.RootFS = acf.RootFS
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fail(err)
	}

	ann := map[string]string{}
	if s.Base.IsRegistry() && s.Base.Digest.Hex != "" {
		ann[ocispec.AnnotationBaseImageName] = s.Base.Ref
		ann[ocispec.AnnotationBaseImageDigest] = s.Base.Digest.String()
	}
	for k, v := range s.Annotations {
		ann[k] = v
	}
	if len(ann) > 0 {
		img = mutate.Annotations(img, ann).(v1.Image)
	}
	return img, nil
}

// Config returns the config NewImage gives the image of s on a base whose
// config is base and which has baseLayers layers: the base's config with
// s's Env, WorkingDir, Entrypoint, Cmd, labels, platform and created time
// applied, no User, and the base's history followed by one entry per layer
// of s (only CreatedBy and Comment of s.Layers are read; Layer may be nil).
// RootFS is the base's: the caller sets it from the layers it really has.
// Other executors (BuildKit) use it to give their images the same config.
func Config(base *v1.ConfigFile, baseLayers int, s ImageSpec) *v1.ConfigFile {
	created := v1.Time{Time: s.Created.UTC()}
	history := baseHistory(base, baseLayers)
	for _, ls := range s.Layers {
		history = append(history, v1.History{Created: created, CreatedBy: ls.CreatedBy, Comment: ls.Comment})
	}
	cf := base.DeepCopy()
	cf.History = history
	cf.Created = created
	// Who built the base, and how, says nothing about this image.
	cf.Container, cf.DockerVersion = "", ""
	c := &cf.Config
	if s.EnvFirst {
		c.Env = mergeEnv(s.Env, withoutKeys(c.Env, s.Env))
	} else {
		c.Env = mergeEnv(c.Env, s.Env)
	}
	if s.WorkingDir != "" {
		c.WorkingDir = s.WorkingDir
	}
	if s.Entrypoint != nil {
		c.Entrypoint = clone(s.Entrypoint)
	}
	c.Cmd = clone(s.Cmd)
	c.User = ""
	c.ArgsEscaped = false
	if len(s.Labels) > 0 {
		labels := make(map[string]string, len(c.Labels)+len(s.Labels))
		for k, v := range c.Labels {
			labels[k] = v
		}
		for k, v := range s.Labels {
			labels[k] = v
		}
		c.Labels = labels
	}
	if s.Platform.Architecture != "" {
		p := normalizePlatform(s.Platform)
		cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, defaultVariant(p)
		if p.OSVersion != "" {
			cf.OSVersion = p.OSVersion
		}
		if len(p.OSFeatures) > 0 {
			cf.OSFeatures = clone(p.OSFeatures)
		}
	}
	return cf
}

// baseHistory returns the base's history when it accounts for each of its
// n layers, else one entry per layer (history is informational, but tools
// expect one non-empty entry per layer).
func baseHistory(cf *v1.ConfigFile, n int) []v1.History {
	nonEmpty := 0
	for _, h := range cf.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == n {
		return append([]v1.History(nil), cf.History...)
	}
	h := make([]v1.History, n)
	for i := range h {
		h[i] = v1.History{Created: cf.Created, Comment: "base layer"}
	}
	return h
}

// ociLayerType maps Docker layer media types to their OCI equivalents.
func ociLayerType(mt types.MediaType) types.MediaType {
	switch mt {
	case types.DockerLayer:
		return types.OCILayer
	case types.DockerUncompressedLayer:
		return types.OCIUncompressedLayer
	case types.DockerForeignLayer:
		return types.OCIRestrictedLayer
	}
	return mt
}

// withMediaType returns l reporting media type mt; the blob is unchanged,
// and so are its digests. A layer that can be mounted from its source
// repository (remote.MountableLayer) stays mountable.
func withMediaType(l v1.Layer, mt types.MediaType) v1.Layer {
	if have, err := l.MediaType(); err == nil && have == mt {
		return l
	}
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: withMediaType(ml.Layer, mt), Reference: ml.Reference}
	}
	return &typedLayer{Layer: l, mediaType: mt}
}

// typedLayer is a layer with another media type.
type typedLayer struct {
	v1.Layer
	mediaType types.MediaType
}

func (l *typedLayer) MediaType() (types.MediaType, error) { return l.mediaType, nil }

// mergeEnv returns base with each KEY=VALUE of set replacing the entry for
// KEY in place, or appended when base has no KEY.
func mergeEnv(base, set []string) []string {
	out := clone(base)
	index := make(map[string]int, len(out))
	for i, e := range out {
		k, _, _ := strings.Cut(e, "=")
		if _, ok := index[k]; !ok {
			index[k] = i
		}
	}
	for _, e := range set {
		k, _, _ := strings.Cut(e, "=")
		if i, ok := index[k]; ok {
			out[i] = e
			continue
		}
		index[k] = len(out)
		out = append(out, e)
	}
	return out
}

// withoutKeys returns the entries of env whose keys are not set in set.
func withoutKeys(env, set []string) []string {
	keys := make(map[string]bool, len(set))
	for _, e := range set {
		k, _, _ := strings.Cut(e, "=")
		keys[k] = true
	}
	var out []string
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if !keys[k] {
			out = append(out, e)
		}
	}
	return out
}

func clone[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

// NewIndex joins single-platform images into an OCI image index, in the
// order given; each descriptor carries the platform of its image's config.
// annotations become the index's annotations.
func NewIndex(images []v1.Image, annotations map[string]string) (v1.ImageIndex, error) {
	if len(images) == 0 {
		return nil, errors.New("new index: no images")
	}
	adds := make([]mutate.IndexAddendum, 0, len(images))
	seen := map[string]bool{}
	for i, img := range images {
		cf, err := img.ConfigFile()
		if err != nil {
			return nil, fmt.Errorf("new index: image %d: %w", i, err)
		}
		p := cf.Platform()
		if p == nil || p.Architecture == "" {
			return nil, fmt.Errorf("new index: image %d has no platform in its config", i)
		}
		ps := platformString(*p)
		if seen[ps] {
			return nil, fmt.Errorf("new index: two images for %s", ps)
		}
		seen[ps] = true
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	if len(annotations) > 0 {
		idx = mutate.Annotations(idx, annotations).(v1.ImageIndex)
	}
	return idx, nil
}

package manifests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
)

// metadataCache keeps the immutable metadata of registry pulls —
// manifests, indexes and config blobs, each named by its sha256 — in a
// directory (RegistryOptions.MetadataDir), so that a build from a base
// pinned by digest reads the registry only the first time (a rebuild makes
// no request for its base at all), and one from a tag only resolves it. Layers are not kept here
// (the download store holds them); they are fetched lazily when a build
// needs their bytes. Every read is verified against the name; an entry
// that does not match is removed and read from the registry again.
type metadataCache struct{ dir string }

func (c metadataCache) path(d v1.Hash) string {
	return filepath.Join(c.dir, d.Algorithm, d.Hex)
}

// get returns the verified bytes named d, or false.
func (c metadataCache) get(d v1.Hash) ([]byte, bool) {
	if c.dir == "" || d.Algorithm != "sha256" {
		return nil, false
	}
	b, err := os.ReadFile(c.path(d))
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != d.Hex {
		os.Remove(c.path(d))
		return nil, false
	}
	return b, true
}

// put stores b under d after checking that d is its digest. Failures
// are ignored: the cache only saves requests.
func (c metadataCache) put(d v1.Hash, b []byte) {
	if c.dir == "" || d.Algorithm != "sha256" {
		return
	}
	sum := sha256.Sum256(b)
	if hex.EncodeToString(sum[:]) != d.Hex {
		return
	}
	if _, ok := c.get(d); ok {
		return // there and good (a bad entry was removed by get)
	}
	_ = atomicfile.Write(c.path(d), b, 0o644)
}

// pullCachedBase is pullRegistry from the metadata cache for the manifest
// root in repo (ref pinned it, or its tag resolved to it): nil when
// anything it needs is not cached (or the index lists a platform only its
// config names).
func pullCachedBase(ctx context.Context, ref, used string, repo name.Repository, root v1.Hash, want v1.Platform, o RegistryOptions) *Base {
	c := metadataCache{dir: o.MetadataDir}
	raw, ok := c.get(root)
	if !ok {
		return nil
	}
	mt, err := manifestKind(raw)
	if err != nil {
		return nil
	}
	imageRaw := raw
	if mt.IsIndex() {
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil
		}
		var found *v1.Descriptor
		for i, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			if d.Platform == nil {
				return nil // selection needs each image's config: take the network path
			}
			if platformMatches(*d.Platform, want) {
				found = &im.Manifests[i]
				break
			}
		}
		if found == nil {
			return nil // the network path reports which platforms there are
		}
		if imageRaw, ok = c.get(found.Digest); !ok {
			return nil
		}
	}
	img, err := newCachedImage(ctx, repo, imageRaw, c, o)
	if err != nil {
		return nil
	}
	if !mt.IsIndex() {
		if err := checkPlatform(img, want); err != nil {
			return nil
		}
	}
	return &Base{Ref: ref, Resolved: used, Digest: root, Image: img}
}

// saveBaseMetadata stores what a pull read: the root manifest, the
// selected image's manifest and its config.
func saveBaseMetadata(o RegistryOptions, desc *remote.Descriptor, img v1.Image) {
	c := metadataCache{dir: o.MetadataDir}
	if c.dir == "" {
		return
	}
	m, err := img.RawManifest()
	if err != nil {
		return
	}
	d, err := img.Digest()
	if err != nil {
		return
	}
	cfg, err := img.RawConfigFile()
	if err != nil {
		return
	}
	cd, err := img.ConfigName()
	if err != nil {
		return
	}
	// Children first: a cached root then always finds them.
	c.put(cd, cfg)
	c.put(d, m)
	c.put(desc.Digest, desc.Manifest)
}

// manifestKind returns the media type of a manifest or index: its
// mediaType field, else what its shape says (OCI allows leaving it out).
func manifestKind(raw []byte) (types.MediaType, error) {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return "", err
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType, nil
	case probe.Manifests != nil:
		return types.OCIImageIndex, nil
	case probe.Config != nil:
		return types.OCIManifestSchema1, nil
	}
	return "", errors.New("neither a manifest nor an index")
}

// cachedImage is an image whose manifest and config come from the
// metadata cache and whose layers are read from repo when first opened.
type cachedImage struct {
	ctx      context.Context
	repo     name.Repository
	raw      []byte
	manifest *v1.Manifest
	config   []byte
	o        RegistryOptions
}

func newCachedImage(ctx context.Context, repo name.Repository, raw []byte, c metadataCache, o RegistryOptions) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	cfg, ok := c.get(m.Config.Digest)
	if !ok {
		return nil, fmt.Errorf("config %s not cached", m.Config.Digest)
	}
	img, err := partial.CompressedToImage(&cachedImage{ctx: ctx, repo: repo, raw: raw, manifest: m, config: cfg, o: o})
	if err != nil {
		return nil, err
	}
	return &mountableImage{Image: img, repo: repo}, nil
}

// mountableImage hands out its layers as remote.MountableLayer, as an image
// read from the registry does: pushed to another repository of the same
// registry, a layer is mounted from repo instead of uploaded.
type mountableImage struct {
	v1.Image
	repo name.Repository
}

func (m *mountableImage) mountable(l v1.Layer) (v1.Layer, error) {
	d, err := l.Digest()
	if err != nil {
		return nil, err
	}
	return &remote.MountableLayer{Layer: l, Reference: m.repo.Digest(d.String())}, nil
}

// Layers implements v1.Image.
func (m *mountableImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		if out[i], err = m.mountable(l); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// LayerByDigest implements v1.Image.
func (m *mountableImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return m.mountable(l)
}

// LayerByDiffID implements v1.Image.
func (m *mountableImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return m.mountable(l)
}

func (c *cachedImage) RawManifest() ([]byte, error)   { return c.raw, nil }
func (c *cachedImage) RawConfigFile() ([]byte, error) { return c.config, nil }

func (c *cachedImage) MediaType() (types.MediaType, error) {
	if c.manifest.MediaType != "" {
		return c.manifest.MediaType, nil
	}
	return types.OCIManifestSchema1, nil
}

func (c *cachedImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	cf, err := v1.ParseConfigFile(bytes.NewReader(c.config))
	if err != nil {
		return nil, err
	}
	if len(cf.RootFS.DiffIDs) != len(c.manifest.Layers) {
		return nil, fmt.Errorf("the config lists %d layers, the manifest %d", len(cf.RootFS.DiffIDs), len(c.manifest.Layers))
	}
	for i, l := range c.manifest.Layers {
		if l.Digest == h {
			return &lazyRemoteLayer{img: c, desc: l, diffID: cf.RootFS.DiffIDs[i]}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in the image", h)
}

// lazyRemoteLayer is a layer of a cachedImage: its descriptor and diff ID
// are known, its bytes are read from the registry only when asked for.
type lazyRemoteLayer struct {
	img    *cachedImage
	desc   v1.Descriptor
	diffID v1.Hash
}

// DiffID implements partial.WithDiffID (without it go-containerregistry
// would read the whole layer to compute it).
func (l *lazyRemoteLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

func (l *lazyRemoteLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *lazyRemoteLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *lazyRemoteLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *lazyRemoteLayer) Compressed() (io.ReadCloser, error) {
	rl, err := remote.Layer(l.img.repo.Digest(l.desc.Digest.String()), l.img.o.remoteOptions(l.img.ctx)...)
	if err != nil {
		return nil, err
	}
	return rl.Compressed()
}

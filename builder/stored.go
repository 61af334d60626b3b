package builder

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rtbuild/rtbuild/layers/fetch"
)

// storedImage serves a base image's layer blobs from the download store,
// fetching each from the registry at most once (verified by digest), so a
// rebuild neither downloads the base again nor depends on the registry for
// blobs it already has.
type storedImage struct {
	v1.Image
	store      *fetch.Store
	downloaded *atomic.Int64
	// verified holds the hex digests of blobs this build has already
	// verified (or stored): later reads, one per output, open them directly
	// instead of hashing them again.
	verified sync.Map
}

func newStoredImage(img v1.Image, store *fetch.Store, downloaded *atomic.Int64) v1.Image {
	return &storedImage{Image: img, store: store, downloaded: downloaded}
}

// wrap serves l's bytes from the store. A layer the registry image said
// may be mounted (remote.MountableLayer) stays mountable: pushed to
// another repository of the base's registry it is mounted from the base's
// repository, not uploaded.
func (s *storedImage) wrap(l v1.Layer) v1.Layer {
	if ml, ok := l.(*remote.MountableLayer); ok {
		return &remote.MountableLayer{Layer: &storedLayer{Layer: ml.Layer, img: s}, Reference: ml.Reference}
	}
	return &storedLayer{Layer: l, img: s}
}

// Layers implements v1.Image.
func (s *storedImage) Layers() ([]v1.Layer, error) {
	ls, err := s.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = s.wrap(l)
	}
	return out, nil
}

// LayerByDigest implements v1.Image.
func (s *storedImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := s.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return s.wrap(l), nil
}

// LayerByDiffID implements v1.Image.
func (s *storedImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	l, err := s.Image.LayerByDiffID(h)
	if err != nil {
		return nil, err
	}
	return s.wrap(l), nil
}

type storedLayer struct {
	v1.Layer
	img *storedImage
}

// Compressed implements v1.Layer: from the store, filling it first if needed.
func (l *storedLayer) Compressed() (io.ReadCloser, error) {
	d, err := l.Layer.Digest()
	if err != nil {
		return nil, err
	}
	if d.Algorithm != "sha256" {
		return l.Layer.Compressed()
	}
	if _, ok := l.img.verified.Load(d.Hex); ok {
		if f, err := os.Open(l.img.store.BlobPath(d.Hex)); err == nil {
			return f, nil
		}
	}
	if rc, ok := l.img.store.OpenBlob(d.Hex); ok {
		l.img.verified.Store(d.Hex, true)
		return rc, nil
	}
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, fmt.Errorf("fetching base layer %s: %w", d, err)
	}
	n, err := l.img.store.PutBlob(d.Hex, rc)
	rc.Close()
	if err != nil {
		return nil, fmt.Errorf("storing base layer %s: %w", d, err)
	}
	l.img.downloaded.Add(n)
	l.img.verified.Store(d.Hex, true)
	f, err := os.Open(l.img.store.BlobPath(d.Hex))
	if err != nil {
		return nil, fmt.Errorf("base layer %s vanished from the download store: %w", d, err)
	}
	return f, nil
}

package manifests

import (
	"context"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Resolved is what an image reference names, for every platform: an image
// index (Index set) or a single image (Image set).
type Resolved struct {
	Ref    string  // as given
	Digest v1.Hash // of the index or the image manifest
	Index  v1.ImageIndex
	Image  v1.Image
}

// Resolve reads what ref names without selecting a platform. ref takes the
// forms PullBase accepts (REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:REF],
// docker:FILE[:TAG]), except that oci:DIR without REF also accepts a layout
// with several entries of which exactly one is an index (as rtbuild writes:
// the index and its per-arch images) and names that index. Only manifests
// and configs are read when they are used, layers never.
func Resolve(ctx context.Context, ref string, o RegistryOptions) (*Resolved, error) {
	switch {
	case strings.HasPrefix(ref, "oci:"):
		return resolveLayout(ref)
	case strings.HasPrefix(ref, "docker:"):
		return resolveArchive(ref)
	}
	used := o.rewrite(ref)
	fail := func(err error) (*Resolved, error) { return nil, newRefError("pull", ref, used, err) }
	r, err := o.parseReference(used)
	if err != nil {
		return fail(err)
	}
	desc, err := remote.Get(r, o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	res := &Resolved{Ref: ref, Digest: desc.Digest}
	switch {
	case desc.MediaType.IsIndex():
		res.Index, err = desc.ImageIndex()
	case desc.MediaType.IsImage():
		res.Image, err = desc.Image()
	default:
		err = fmt.Errorf("unsupported manifest media type %s", desc.MediaType)
	}
	if err != nil {
		return fail(err)
	}
	return res, nil
}

func resolveLayout(ref string) (*Resolved, error) {
	fail := func(err error) (*Resolved, error) { return nil, newRefError("read", ref, "", err) }
	idx, found, err := layoutEntry(ref, true)
	if err != nil {
		return fail(err)
	}
	res := &Resolved{Ref: ref, Digest: found.Digest}
	switch {
	case found.MediaType.IsIndex():
		res.Index, err = idx.ImageIndex(found.Digest)
	case found.MediaType.IsImage():
		res.Image, err = idx.Image(found.Digest)
	default:
		err = fmt.Errorf("unsupported manifest media type %s", found.MediaType)
	}
	if err != nil {
		return fail(err)
	}
	return res, nil
}

// onlyIndex returns the position of the only index among ds, or -1: a
// layout rtbuild wrote holds a runtime's index and its per-arch images.
func onlyIndex(ds []v1.Descriptor) int {
	at := -1
	for i, d := range ds {
		if d.MediaType.IsIndex() {
			if at >= 0 {
				return -1
			}
			at = i
		}
	}
	return at
}

func resolveArchive(ref string) (*Resolved, error) {
	fail := func(err error) (*Resolved, error) { return nil, newRefError("read", ref, "", err) }
	file, tag, err := splitArchiveRef(ref)
	if err != nil {
		return fail(err)
	}
	img, err := tarball.ImageFromPath(file, tag)
	if err != nil {
		return fail(err)
	}
	d, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	return &Resolved{Ref: ref, Digest: d, Image: img}, nil
}

package manifests

import (
	"context"
	"fmt"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PullIndex reads the image index at ref (REGISTRY/REPO[:TAG][@DIGEST],
// mirror-rewritten, plain HTTP only where allowed, as PullBase). Only the
// index is fetched here; its manifests and blobs are read lazily. An
// executor that pushed an index by other means (BuildKit) uses it to write
// the per-arch tags with Push, which then uploads no blob: they are all in
// the repository already.
func PullIndex(ctx context.Context, ref string, o RegistryOptions) (v1.ImageIndex, error) {
	used := o.rewrite(ref)
	fail := func(err error) (v1.ImageIndex, error) { return nil, newRefError("pull", ref, used, err) }
	r, err := o.parseReference(used)
	if err != nil {
		return fail(err)
	}
	desc, err := remote.Get(r, o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	if !desc.MediaType.IsIndex() {
		return fail(fmt.Errorf("%s is a %s, not an image index", used, desc.MediaType))
	}
	return desc.ImageIndex()
}

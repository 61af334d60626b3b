package manifests

import (
	"context"
	"errors"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushImage uploads img, a single-platform image, to ref as a plain image
// manifest: no index is written (Lambda rejects an index for a function).
// Only blobs the registry lacks are uploaded. ref is REGISTRY/REPO[:TAG],
// mirror-rewritten like Push; the result is REF@sha256:... as used.
func PushImage(ctx context.Context, ref string, img v1.Image, o RegistryOptions) (string, error) {
	used := o.rewrite(ref)
	fail := func(err error) (string, error) { return "", newRefError("push", ref, used, err) }
	if img == nil {
		return fail(errors.New("no image"))
	}
	tag, err := o.pushTag(used)
	if err != nil {
		return fail(err)
	}
	d, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	pusher, err := remote.NewPusher(o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	if err := pusher.Push(ctx, tag, img); err != nil {
		return fail(err)
	}
	return tag.Name() + "@" + d.String(), nil
}

// ArchRef returns REF-<arch>, the tag Push gives each architecture's image
// (arch in Lambda's or OCI's name; amd64 becomes x86_64).
func ArchRef(ref, arch string) string { return tagFor(ref, lambdaArch(arch)) }

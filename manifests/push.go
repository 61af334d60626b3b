package manifests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// PushResult says what a push wrote, as references after mirror rewriting.
type PushResult struct {
	// Index is REF@sha256:... of the index.
	Index string
	// Arch maps each key of the perArch argument to REF-<arch>@sha256:...
	// of that single-platform image.
	Arch map[string]string
}

// Push uploads each perArch image to REF-<arch> (in sorted key order), then
// idx to REF. Only blobs the registry lacks are uploaded (each is checked
// with a HEAD request first). ref is REGISTRY/REPO[:TAG] (the tag defaults
// to latest; a digest is an error) and is mirror-rewritten like a pull;
// <arch> is the key's Lambda name (amd64 becomes x86_64), so an index
// pushed to repo:3.9 has its images at repo:3.9-x86_64 and repo:3.9-arm64.
// Each perArch image must be one of idx's manifests: REF-<arch> is then
// exactly what the index lists (Lambda rejects an index for a function).
func Push(ctx context.Context, ref string, idx v1.ImageIndex, perArch map[string]v1.Image, o RegistryOptions) (*PushResult, error) {
	used := o.rewrite(ref)
	fail := func(err error) (*PushResult, error) { return nil, newRefError("push", ref, used, err) }
	if idx == nil {
		return fail(errors.New("no index"))
	}
	tag, err := o.pushTag(used)
	if err != nil {
		return fail(err)
	}
	idxDigest, err := idx.Digest()
	if err != nil {
		return fail(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return fail(err)
	}
	inIndex := map[v1.Hash]bool{}
	for _, d := range im.Manifests {
		inIndex[d.Digest] = true
	}

	opts := o.remoteOptions(ctx)
	pusher, err := remote.NewPusher(opts...)
	if err != nil {
		return fail(err)
	}
	keys := make([]string, 0, len(perArch))
	for k := range perArch {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	res := &PushResult{Arch: make(map[string]string, len(keys))}
	archTags := map[string]string{}
	for _, k := range keys {
		img := perArch[k]
		if img == nil {
			return fail(fmt.Errorf("no image for %s", k))
		}
		d, err := img.Digest()
		if err != nil {
			return fail(fmt.Errorf("%s image: %w", k, err))
		}
		if !inIndex[d] {
			return fail(fmt.Errorf("the %s image %s is not in the index", k, d))
		}
		arch := lambdaArch(k)
		if prev, dup := archTags[arch]; dup {
			return fail(fmt.Errorf("images %s and %s both go to the -%s tag", prev, k, arch))
		}
		archTags[arch] = k
		at, err := o.archTag(tag, arch)
		if err != nil {
			return fail(err)
		}
		if err := pusher.Push(ctx, at, img); err != nil {
			return nil, newRefError("push", tagFor(ref, arch), at.Name(), err)
		}
		res.Arch[k] = at.Name() + "@" + d.String()
	}
	if err := pusher.Push(ctx, tag, idx); err != nil {
		return fail(err)
	}
	res.Index = tag.Name() + "@" + idxDigest.String()
	return res, nil
}

// archTag returns REPO:TAG-arch for tag REPO:TAG.
func (o RegistryOptions) archTag(tag name.Tag, arch string) (name.Tag, error) {
	s := tag.Context().Name() + ":" + tag.TagStr() + "-" + arch
	var opts []name.Option
	if o.plainHTTPAllowed(tag.RegistryStr()) {
		opts = append(opts, name.Insecure)
	}
	return name.NewTag(s, opts...)
}

// tagFor names REF-arch for messages, as the user wrote REF.
func tagFor(ref, arch string) string {
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		return ref + "-" + arch
	}
	return ref + ":latest-" + arch
}

// pushTag parses used, a mirror-rewritten push reference, as the tag to
// write: REGISTRY/REPO[:TAG] (latest by default); a digest is refused.
func (o RegistryOptions) pushTag(used string) (name.Tag, error) {
	if strings.Contains(used, "@") {
		return name.Tag{}, errors.New("a push reference cannot name a digest: give REGISTRY/REPO[:TAG]")
	}
	r, err := o.parseReference(used)
	if err != nil {
		return name.Tag{}, err
	}
	tag, ok := r.(name.Tag)
	if !ok {
		return name.Tag{}, errors.New("not a tag reference")
	}
	return tag, nil
}

package manifests

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// PushResult says what a push wrote, as references after mirror rewriting.
type PushResult struct {
	// Index is REF@sha256:... of the index.
	Index string
	// Arch maps each key of the perArch argument to REF-<arch>@sha256:...
	// of that single-platform image.
	Arch map[string]string
	// Referrers are REPO@sha256:... of the referrers pushed with it, in order.
	Referrers []string
}

// Push uploads each perArch image to REF-<arch> (in sorted key order), then
// idx to REF. Only blobs the registry lacks are uploaded (each is checked
// with a HEAD request first). ref is REGISTRY/REPO[:TAG] (the tag defaults
// to latest; a digest is an error) and is mirror-rewritten like a pull;
// <arch> is the key's Lambda name (amd64 becomes x86_64), so an index
// pushed to repo:3.9 has its images at repo:3.9-x86_64 and repo:3.9-arm64.
// Each perArch image must be one of idx's manifests: REF-<arch> is then
// exactly what the index lists (Lambda rejects an index for a function).
// Push is NewPushSession(o).Push: use one session for several pushes.
func Push(ctx context.Context, ref string, idx v1.ImageIndex, perArch map[string]v1.Image, o RegistryOptions) (*PushResult, error) {
	return NewPushSession(o).Push(ctx, ref, idx, perArch)
}

// PushSession pushes several images (one build's runtimes) with one
// go-containerregistry Pusher, so that
//   - each blob's existence is checked at most once per repository (and a
//     blob found or written there is not checked again), and
//   - a blob already pushed to (or found in) another repository of the
//     same registry during the session is mounted from it (a cross-
//     repository blob mount, POST ...?mount=DIGEST&from=REPO) instead of
//     uploaded again. A registry that refuses the mount gets the upload.
//
// It is safe for concurrent use.
type PushSession struct {
	o RegistryOptions

	mu     sync.Mutex
	pusher *remote.Pusher
	// known maps a registry host to the blobs known to be in each of its
	// repositories: digest -> a repository holding it.
	known map[string]map[v1.Hash]name.Repository
}

// NewPushSession starts a session pushing with o.
func NewPushSession(o RegistryOptions) *PushSession {
	return &PushSession{o: o, known: map[string]map[v1.Hash]name.Repository{}}
}

// getPusher makes the session's Pusher on first use (with the first
// push's context: go-containerregistry keeps it for the Pusher's requests
// made without one).
func (s *PushSession) getPusher(ctx context.Context) (*remote.Pusher, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pusher == nil {
		p, err := remote.NewPusher(s.o.remoteOptions(ctx)...)
		if err != nil {
			return nil, err
		}
		s.pusher = p
	}
	return s.pusher, nil
}

// Push is the package's Push within the session. referrers (SBOMs) are
// pushed by digest to the same repository, as PushReferrers does. The
// per-arch images and the referrers are pushed concurrently (each a HEAD
// when the registry holds it already), then the index: the tag REF moves
// last, onto an image whose parts are all there.
func (s *PushSession) Push(ctx context.Context, ref string, idx v1.ImageIndex, perArch map[string]v1.Image, referrers ...v1.Image) (*PushResult, error) {
	o := s.o
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

	pusher, err := s.getPusher(ctx)
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
	type archPush struct {
		key string
		tag name.Tag
		img v1.Image
		dig v1.Hash
	}
	var pushes []archPush
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
		pushes = append(pushes, archPush{key: k, tag: at, img: img, dig: d})
	}

	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	for _, p := range pushes {
		g.Go(func() error {
			if err := pusher.Push(gctx, p.tag, s.mountable(p.tag.Context(), p.img)); err != nil {
				return newRefError("push", tagFor(ref, lambdaArch(p.key)), p.tag.Name(), err)
			}
			s.learn(p.tag.Context(), p.img)
			mu.Lock()
			res.Arch[p.key] = p.tag.Name() + "@" + p.dig.String()
			mu.Unlock()
			return nil
		})
	}
	res.Referrers = make([]string, len(referrers))
	for i, a := range referrers {
		g.Go(func() error {
			dref, err := s.pushByDigest(gctx, pusher, tag.Context(), a)
			if err != nil {
				return newRefError("push referrers to", ref, used, err)
			}
			res.Referrers[i] = dref
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err // each names its reference
	}
	if err := pusher.Push(ctx, tag, idx); err != nil {
		return fail(err)
	}
	res.Index = tag.Name() + "@" + idxDigest.String()
	return res, nil
}

// PushReferrers is the package's PushReferrers within the session: the
// artifacts are pushed concurrently with the session's pusher.
func (s *PushSession) PushReferrers(ctx context.Context, ref string, artifacts []v1.Image) ([]string, error) {
	used := s.o.rewrite(ref)
	fail := func(err error) ([]string, error) { return nil, newRefError("push referrers to", ref, used, err) }
	r, err := s.o.parseReference(stripDigest(used))
	if err != nil {
		return fail(err)
	}
	pusher, err := s.getPusher(ctx)
	if err != nil {
		return fail(err)
	}
	out := make([]string, len(artifacts))
	g, gctx := errgroup.WithContext(ctx)
	for i, a := range artifacts {
		g.Go(func() error {
			dref, err := s.pushByDigest(gctx, pusher, r.Context(), a)
			out[i] = dref
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return fail(err)
	}
	return out, nil
}

// pushByDigest pushes artifact a to repo by its digest (go-containerregistry
// updates the referrers fallback tag of its subject where the registry has
// no referrers API) and returns REPO@sha256:....
func (s *PushSession) pushByDigest(ctx context.Context, pusher *remote.Pusher, repo name.Repository, a v1.Image) (string, error) {
	d, err := a.Digest()
	if err != nil {
		return repo.Name(), err
	}
	dref := repo.Digest(d.String())
	if err := pusher.Push(ctx, dref, a); err != nil {
		return dref.Name(), fmt.Errorf("artifact %s: %w", d, err)
	}
	return dref.Name(), nil
}

// blobs returns the digests of img's layers and config.
func blobs(img v1.Image) ([]v1.Hash, error) {
	ls, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Hash, 0, len(ls)+1)
	for _, l := range ls {
		d, err := l.Digest()
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	cd, err := img.ConfigName()
	if err != nil {
		return nil, err
	}
	return append(out, cd), nil
}

// learn records that repo now holds every blob of img (it was just pushed).
func (s *PushSession) learn(repo name.Repository, img v1.Image) {
	ds, err := blobs(img)
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.known[repo.RegistryStr()]
	if m == nil {
		m = map[v1.Hash]name.Repository{}
		s.known[repo.RegistryStr()] = m
	}
	for _, d := range ds {
		if _, ok := m[d]; !ok {
			m[d] = repo
		}
	}
}

// mountable returns img with the layers that another repository of repo's
// registry holds wrapped as remote.MountableLayer, so go-containerregistry
// mounts them from there when repo lacks them.
func (s *PushSession) mountable(repo name.Repository, img v1.Image) v1.Image {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.known[repo.RegistryStr()]
	if len(m) == 0 {
		return img
	}
	from := map[v1.Hash]name.Repository{}
	for d, r := range m {
		if r.RepositoryStr() != repo.RepositoryStr() {
			from[d] = r
		}
	}
	if len(from) == 0 {
		return img
	}
	return &mountImage{Image: img, from: from}
}

// mountImage is an image whose layers (and config) may be mounted from
// other repositories of the registry it is pushed to.
type mountImage struct {
	v1.Image
	from map[v1.Hash]name.Repository
}

func (m *mountImage) wrap(l v1.Layer) v1.Layer {
	d, err := l.Digest()
	if err != nil {
		return l
	}
	if r, ok := m.from[d]; ok {
		return &remote.MountableLayer{Layer: l, Reference: r.Digest(d.String())}
	}
	return l
}

// Layers implements v1.Image.
func (m *mountImage) Layers() ([]v1.Layer, error) {
	ls, err := m.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = m.wrap(l)
	}
	return out, nil
}

// LayerByDigest implements v1.Image.
func (m *mountImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := m.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return m.wrap(l), nil
}

// ConfigLayer implements partial.WithConfigLayer: the config blob is
// mounted like a layer.
func (m *mountImage) ConfigLayer() (v1.Layer, error) {
	l, err := partial.ConfigLayer(m.Image)
	if err != nil {
		return nil, err
	}
	return m.wrap(l), nil
}

// Descriptor keeps the wrapped image's descriptor (annotations, platform).
func (m *mountImage) Descriptor() (*v1.Descriptor, error) {
	return partial.Descriptor(m.Image)
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

package manifests

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// runtimeLabel is the label rtbuild's runtime images carry (images.LabelRuntime):
// when the old runtime has it, the new one must carry the same value.
const runtimeLabel = "rtbuild.runtime"

// RefusalError is a rebase refused because the function image is not built
// on the old runtime, or the new runtime is not a replacement for it: the
// request cannot be done as asked (the CLI's usage exit code).
type RefusalError struct{ Msg string }

func (e *RefusalError) Error() string { return e.Msg }

func refuse(format string, args ...any) error {
	return &RefusalError{Msg: fmt.Sprintf(format, args...)}
}

// RebaseOptions say what to rebase a function image onto.
type RebaseOptions struct {
	// Onto is the new runtime image (REGISTRY/REPO[:TAG][@DIGEST], oci:,
	// docker:); an index is resolved to the function's platform.
	Onto string
	// Old is the runtime the function was built on. Empty: the one the
	// function's org.opencontainers.image.base.name / .base.digest
	// annotations name (by digest when there is one, as the tag may since
	// have moved to the new runtime).
	Old string
	// Push is where the rebased image goes (REGISTRY/REPO[:TAG]). Empty:
	// the function reference's own tag, replaced in place.
	Push string
	// Arch restricts an index to that architecture (x86_64, arm64, ...).
	Arch string
}

// RebasedImage is one rebased platform image.
type RebasedImage struct {
	Platform string  // linux/amd64, ...
	Old      v1.Hash // the function image's manifest digest
	New      v1.Hash // the rebased image's manifest digest
	OldBase  string  // the old runtime, as pulled
	Pushed   string  // REF@sha256:... (after mirror rewriting)
	// Unchanged is set when the function already was on the new runtime
	// (nothing pushed).
	Unchanged bool
}

// RebaseResult says what Rebase did for one function reference.
type RebaseResult struct {
	Ref    string // the function reference as given
	Images []RebasedImage
	// BlobsUploaded and BytesUploaded count the blob bodies sent to the
	// registry (mounts and blobs the registry had are not counted).
	BlobsUploaded int
	BytesUploaded int64
}

// Rebase replaces the runtime layers under the function image at fnRef with
// those of opts.Onto and pushes the result (see RebaseImage). A function
// index has each platform rebased; each is pushed as a single-arch manifest
// (Lambda rejects an index): at the push reference when there is one
// platform (or opts.Arch picks one), else at REF-<arch> (x86_64, arm64),
// without an index. Only blobs the registry lacks are uploaded; blobs in
// another repository of the same registry are mounted.
func Rebase(ctx context.Context, fnRef string, opts RebaseOptions, o RegistryOptions) (*RebaseResult, error) {
	if opts.Onto == "" {
		return nil, errors.New("rebase: no new runtime given (--onto)")
	}
	used := o.rewrite(fnRef)
	fail := func(err error) (*RebaseResult, error) {
		var inner *refError
		if errors.As(err, &inner) {
			// Already names its reference and says what to do: one hint, not two.
			return nil, fmt.Errorf("rebase %s: %w", fnRef, err)
		}
		return nil, newRefError("rebase", fnRef, used, err)
	}

	pushRef := opts.Push
	if pushRef == "" {
		if strings.Contains(fnRef, "@") {
			return fail(errors.New("the function is named by digest: give --push REGISTRY/REPO[:TAG]"))
		}
		pushRef = fnRef
	}
	pushUsed := o.rewrite(pushRef)
	tag, err := o.pushTag(pushUsed)
	if err != nil {
		return nil, newRefError("push", pushRef, pushUsed, err)
	}

	r, err := o.parseReference(used)
	if err != nil {
		return fail(err)
	}
	o, counter := CountUploads(o)
	ropts := o.remoteOptions(ctx)
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return fail(err)
	}
	type fnImage struct {
		platform v1.Platform
		img      v1.Image
	}
	var fns []fnImage
	var want *v1.Platform
	if opts.Arch != "" {
		p := normalizePlatform(v1.Platform{Architecture: opts.Arch})
		want = &p
	}
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return fail(err)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			return fail(err)
		}
		var avail []string
		for _, d := range im.Manifests {
			if !d.MediaType.IsImage() {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return fail(err)
			}
			p, err := imagePlatform(img, d.Platform)
			if err != nil {
				return fail(err)
			}
			if p.OS == "unknown" || p.Architecture == "unknown" {
				continue // attestations
			}
			avail = append(avail, platformString(p))
			if want != nil && !platformMatches(p, *want) {
				continue
			}
			fns = append(fns, fnImage{p, img})
		}
		if len(fns) == 0 {
			if want != nil {
				return fail(fmt.Errorf("no %s image in the index (available: %s)", platformString(*want), listOrNone(avail)))
			}
			return fail(errors.New("the index holds no image"))
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return fail(err)
		}
		p, err := imagePlatform(img, nil)
		if err != nil {
			return fail(err)
		}
		if want != nil && !platformMatches(p, *want) {
			return fail(fmt.Errorf("the image is %s, not %s", platformString(p), platformString(*want)))
		}
		fns = append(fns, fnImage{p, img})
	default:
		return fail(fmt.Errorf("unsupported manifest media type %s", desc.MediaType))
	}

	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return fail(err)
	}
	res := &RebaseResult{Ref: fnRef}
	for _, fn := range fns {
		oldRef := opts.Old
		if oldRef == "" {
			if oldRef, err = annotatedBase(fn.img); err != nil {
				return fail(err)
			}
		}
		oldBase, err := PullBase(ctx, oldRef, fn.platform, o)
		if err != nil {
			return fail(err)
		}
		newBase, err := PullBase(ctx, opts.Onto, fn.platform, o)
		if err != nil {
			return fail(err)
		}
		oldDigest, err := fn.img.Digest()
		if err != nil {
			return fail(err)
		}
		img, err := RebaseImage(fn.img, oldBase, newBase)
		if err != nil {
			return nil, prefixError(fnRef, err)
		}
		newDigest, err := img.Digest()
		if err != nil {
			return fail(err)
		}
		dest := tag
		if len(fns) > 1 {
			if dest, err = o.archTag(tag, lambdaArch(fn.platform.Architecture)); err != nil {
				return fail(err)
			}
		}
		ri := RebasedImage{
			Platform: platformString(fn.platform), Old: oldDigest, New: newDigest,
			OldBase: oldBase.Ref, Pushed: dest.Name() + "@" + newDigest.String(),
		}
		if newDigest == oldDigest && dest.String() == r.String() {
			ri.Unchanged = true
		} else if err := pusher.Push(ctx, dest, img); err != nil {
			return nil, newRefError("push", pushRef, dest.Name(), err)
		}
		res.Images = append(res.Images, ri)
	}
	res.BlobsUploaded, res.BytesUploaded = int(counter.Blobs()), counter.Bytes()
	return res, nil
}

// prefixError names the function reference in a refusal (keeping its
// type) or wraps another error.
func prefixError(ref string, err error) error {
	var rf *RefusalError
	if errors.As(err, &rf) {
		return &RefusalError{Msg: ref + ": " + rf.Msg}
	}
	return fmt.Errorf("rebase %s: %w", ref, err)
}

// imagePlatform is the platform of img's config, or d when the config
// names none.
func imagePlatform(img v1.Image, d *v1.Platform) (v1.Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return v1.Platform{}, err
	}
	if p := cf.Platform(); p != nil && p.Architecture != "" {
		return normalizePlatform(*p), nil
	}
	if d != nil {
		return normalizePlatform(*d), nil
	}
	return v1.Platform{}, errors.New("the image config names no platform")
}

// annotatedBase returns the reference of the base the function image's
// manifest annotations name: REPO@DIGEST when it has both the name and the
// digest, else the name.
func annotatedBase(img v1.Image) (string, error) {
	m, err := img.Manifest()
	if err != nil {
		return "", err
	}
	n, d := m.Annotations[ocispec.AnnotationBaseImageName], m.Annotations[ocispec.AnnotationBaseImageDigest]
	if n == "" {
		return "", refuse("the image names no base (no %s annotation): give the old runtime with --old", ocispec.AnnotationBaseImageName)
	}
	if strings.HasPrefix(n, "rtbuild:") {
		// Built by `rtbuild function --runtime`: the runtime image came from
		// rtbuild's own pipeline, not from a registry reference.
		return "", refuse("the image was built on rtbuild's %s image, which has no registry reference: give the runtime image it was built on (e.g. the one you pushed) with --old", strings.TrimPrefix(n, "rtbuild:"))
	}
	if d == "" || strings.HasPrefix(n, "oci:") || strings.HasPrefix(n, "docker:") {
		return n, nil
	}
	if i := strings.Index(n, "@"); i >= 0 {
		n = n[:i]
	}
	// Strip a tag (a colon after the last slash), keeping a registry port.
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		n = n[:i]
	}
	return n + "@" + d, nil
}

// RebaseImage returns fn with the layers of oldBase (which must be exactly
// its first layers, digests and diffIDs) replaced by newBase's. The
// function's own layers are the same v1.Layer values (same blobs, nothing
// recompressed). The config is newBase's with the function's Cmd, the
// Entrypoint, WorkingDir and User it set (where they differ from
// oldBase's), its env changes (keys whose values differ from oldBase's, or
// that oldBase lacks) applied over newBase's env, its labels likewise,
// its created time and platform; history is newBase's followed by the
// function's own entries. The manifest is OCI, with the function's
// annotations and the base annotations naming newBase.
//
// The new base must be a replacement of the old: the same ENTRYPOINT, and
// the same rtbuild.runtime label when the old one carries it.
func RebaseImage(fn v1.Image, oldBase, newBase *Base) (v1.Image, error) {
	if oldBase == nil || oldBase.Image == nil || newBase == nil || newBase.Image == nil {
		return nil, errors.New("rebase: no old or new base")
	}
	fm, err := fn.Manifest()
	if err != nil {
		return nil, err
	}
	fcf, err := fn.ConfigFile()
	if err != nil {
		return nil, err
	}
	fLayers, err := fn.Layers()
	if err != nil {
		return nil, err
	}
	om, err := oldBase.Image.Manifest()
	if err != nil {
		return nil, fmt.Errorf("old runtime %s: %w", oldBase.Ref, err)
	}
	ocf, err := oldBase.Image.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("old runtime %s: %w", oldBase.Ref, err)
	}
	nm, err := newBase.Image.Manifest()
	if err != nil {
		return nil, fmt.Errorf("new runtime %s: %w", newBase.Ref, err)
	}
	ncf, err := newBase.Image.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("new runtime %s: %w", newBase.Ref, err)
	}
	nLayers, err := newBase.Image.Layers()
	if err != nil {
		return nil, fmt.Errorf("new runtime %s: %w", newBase.Ref, err)
	}

	// The function's first N layers must be exactly the old runtime's.
	n := len(om.Layers)
	if len(fm.Layers) != len(fcf.RootFS.DiffIDs) || len(fm.Layers) != len(fLayers) {
		return nil, fmt.Errorf("the image has %d layers but %d diffIDs", len(fm.Layers), len(fcf.RootFS.DiffIDs))
	}
	if len(ocf.RootFS.DiffIDs) != n {
		return nil, fmt.Errorf("old runtime %s has %d layers but %d diffIDs", oldBase.Ref, n, len(ocf.RootFS.DiffIDs))
	}
	if len(fm.Layers) < n {
		return nil, refuse("the image has %d layers, fewer than the old runtime's %d: not built on %s, refusing to rebase", len(fm.Layers), n, oldBase.Ref)
	}
	for i := 0; i < n; i++ {
		if fm.Layers[i].Digest != om.Layers[i].Digest {
			return nil, refuse("layer %d is %s but the old runtime's is %s: not built on %s, refusing to rebase", i+1, fm.Layers[i].Digest, om.Layers[i].Digest, oldBase.Ref)
		}
		if fcf.RootFS.DiffIDs[i] != ocf.RootFS.DiffIDs[i] {
			return nil, refuse("layer %d has diffID %s but the old runtime's has %s: not built on %s, refusing to rebase", i+1, fcf.RootFS.DiffIDs[i], ocf.RootFS.DiffIDs[i], oldBase.Ref)
		}
	}
	// The new runtime must stand in for the old one.
	if !slices.Equal(ocf.Config.Entrypoint, ncf.Config.Entrypoint) {
		return nil, refuse("the new runtime %s has ENTRYPOINT %q, the old runtime's is %q: not a replacement for %s, refusing to rebase", newBase.Ref, ncf.Config.Entrypoint, ocf.Config.Entrypoint, oldBase.Ref)
	}
	if id, ok := ocf.Config.Labels[runtimeLabel]; ok && ncf.Config.Labels[runtimeLabel] != id {
		return nil, refuse("the new runtime %s is %s=%q, the old runtime is %q: not a replacement for %s, refusing to rebase", newBase.Ref, runtimeLabel, ncf.Config.Labels[runtimeLabel], id, oldBase.Ref)
	}
	if len(nm.Layers) != len(nLayers) || len(ncf.RootFS.DiffIDs) != len(nLayers) {
		return nil, fmt.Errorf("new runtime %s has %d layers, %d manifest entries and %d diffIDs", newBase.Ref, len(nLayers), len(nm.Layers), len(ncf.RootFS.DiffIDs))
	}

	adds := make([]mutate.Addendum, 0, len(nLayers)+len(fLayers)-n)
	for i, l := range nLayers {
		d := nm.Layers[i]
		mt := ociLayerType(d.MediaType)
		adds = append(adds, mutate.Addendum{Layer: withMediaType(l, mt), MediaType: mt, Annotations: d.Annotations, URLs: d.URLs})
	}
	for i := n; i < len(fLayers); i++ {
		d := fm.Layers[i]
		mt := ociLayerType(d.MediaType)
		adds = append(adds, mutate.Addendum{Layer: withMediaType(fLayers[i], mt), MediaType: mt, Annotations: d.Annotations, URLs: d.URLs})
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if img, err = mutate.Append(img, adds...); err != nil {
		return nil, err
	}
	acf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf := rebasedConfig(fcf, ocf, ncf, n, len(nLayers))
	cf.RootFS = acf.RootFS
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, err
	}

	ann := map[string]string{}
	for k, v := range fm.Annotations {
		ann[k] = v
	}
	delete(ann, ocispec.AnnotationBaseImageName)
	delete(ann, ocispec.AnnotationBaseImageDigest)
	if newBase.IsRegistry() && newBase.Digest.Hex != "" {
		ann[ocispec.AnnotationBaseImageName] = newBase.Ref
		ann[ocispec.AnnotationBaseImageDigest] = newBase.Digest.String()
	}
	if len(ann) > 0 {
		img = mutate.Annotations(img, ann).(v1.Image)
	}
	return img, nil
}

// rebasedConfig is the config of function config fcf (on old runtime
// config ocf, whose n layers are its first) moved onto new runtime config
// ncf with newLayers layers. RootFS is left for the caller.
func rebasedConfig(fcf, ocf, ncf *v1.ConfigFile, n, newLayers int) *v1.ConfigFile {
	cf := ncf.DeepCopy()
	cf.Created = fcf.Created
	cf.Author = fcf.Author
	cf.Container, cf.DockerVersion = "", ""
	cf.OS, cf.Architecture, cf.Variant, cf.OSVersion = fcf.OS, fcf.Architecture, fcf.Variant, fcf.OSVersion
	if len(fcf.OSFeatures) > 0 {
		cf.OSFeatures = clone(fcf.OSFeatures)
	}

	c, fc, oc := &cf.Config, &fcf.Config, &ocf.Config
	c.Cmd = clone(fc.Cmd)
	c.ArgsEscaped = fc.ArgsEscaped
	if !slices.Equal(fc.Entrypoint, oc.Entrypoint) {
		c.Entrypoint = clone(fc.Entrypoint)
	}
	if fc.WorkingDir != oc.WorkingDir {
		c.WorkingDir = fc.WorkingDir
	}
	if fc.User != oc.User {
		c.User = fc.User
	}
	if fc.StopSignal != oc.StopSignal {
		c.StopSignal = fc.StopSignal
	}
	if fc.Healthcheck != nil {
		c.Healthcheck = fc.Healthcheck
	}
	c.Env = mergeEnv(c.Env, envChanges(oc.Env, fc.Env))
	if labels := mapChanges(oc.Labels, fc.Labels); len(labels) > 0 {
		merged := make(map[string]string, len(c.Labels)+len(labels))
		for k, v := range c.Labels {
			merged[k] = v
		}
		for k, v := range labels {
			merged[k] = v
		}
		c.Labels = merged
	}
	for p := range mapChanges(keys(oc.ExposedPorts), keys(fc.ExposedPorts)) {
		if c.ExposedPorts == nil {
			c.ExposedPorts = map[string]struct{}{}
		}
		c.ExposedPorts[p] = struct{}{}
	}
	for v := range mapChanges(keys(oc.Volumes), keys(fc.Volumes)) {
		if c.Volumes == nil {
			c.Volumes = map[string]struct{}{}
		}
		c.Volumes[v] = struct{}{}
	}

	cf.History = append(baseHistory(ncf, newLayers), ownHistory(fcf, n)...)
	return cf
}

// envChanges returns the entries of env whose key old lacks or has with
// another value, in env's order.
func envChanges(old, env []string) []string {
	have := make(map[string]string, len(old))
	for _, e := range old {
		k, v, _ := strings.Cut(e, "=")
		if _, ok := have[k]; !ok {
			have[k] = v
		}
	}
	var out []string
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if ov, ok := have[k]; !ok || ov != v {
			out = append(out, e)
		}
	}
	return out
}

// mapChanges returns the entries of m that old lacks or has with another value.
func mapChanges(old, m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if ov, ok := old[k]; !ok || ov != v {
			out[k] = v
		}
	}
	return out
}

func keys(m map[string]struct{}) map[string]string {
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = ""
	}
	return out
}

// ownHistory returns the function's history entries after those of its
// first n (base) layers: everything after the n-th non-empty entry. When
// the history does not account for every layer, one entry per own layer.
func ownHistory(fcf *v1.ConfigFile, n int) []v1.History {
	layers := len(fcf.RootFS.DiffIDs)
	nonEmpty := 0
	for _, h := range fcf.History {
		if !h.EmptyLayer {
			nonEmpty++
		}
	}
	if nonEmpty == layers {
		seen := 0
		for i, h := range fcf.History {
			if seen == n {
				return append([]v1.History(nil), fcf.History[i:]...)
			}
			if !h.EmptyLayer {
				seen++
			}
		}
		return nil
	}
	h := make([]v1.History, layers-n)
	for i := range h {
		h[i] = v1.History{Created: fcf.Created, Comment: "function layer"}
	}
	return h
}

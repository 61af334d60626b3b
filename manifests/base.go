package manifests

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Base is a pulled base image for one platform.
type Base struct {
	// Ref is the reference as given (before mirror rewriting).
	Ref string
	// Resolved is what was actually read: the registry reference after
	// mirror rewriting, or Ref for oci: and docker: references.
	Resolved string
	// Digest is the digest Ref resolved to: the index's when Ref names an
	// index (the platform's image is then selected from it), else the
	// image manifest's.
	Digest v1.Hash
	// Image is the selected single-platform image.
	Image v1.Image
}

// IsRegistry reports whether the base came from a registry (not from an
// oci: layout or a docker: archive).
func (b *Base) IsRegistry() bool {
	return b != nil && !strings.HasPrefix(b.Ref, "oci:") && !strings.HasPrefix(b.Ref, "docker:")
}

// PullBase resolves ref to the image for platform. ref is one of
//
//   - REGISTRY/REPO[:TAG][@DIGEST]: mirrors (o.Mirrors) are applied to the
//     string before it is parsed; plain HTTP is used only for loopback
//     registries and those in o.Insecure;
//   - oci:DIR[:REF]: an OCI image layout; REF matches the
//     org.opencontainers.image.ref.name annotation of an index.json entry,
//     and without REF the layout must hold exactly one entry;
//   - docker:FILE[:TAG]: a docker-archive tar (docker save); without TAG it
//     must hold exactly one image.
//
// When the reference names an index, the image for platform (OS linux unless
// given, architecture, and the variant when both sides give one) is selected;
// when it names a single image, its config must be for platform. Only
// metadata is read here: layers are fetched lazily when they are used.
func PullBase(ctx context.Context, ref string, platform v1.Platform, o RegistryOptions) (*Base, error) {
	want := normalizePlatform(platform)
	if want.Architecture == "" {
		return nil, fmt.Errorf("pull %s: no architecture given", ref)
	}
	switch {
	case strings.HasPrefix(ref, "oci:"):
		return pullLayout(ref, want)
	case strings.HasPrefix(ref, "docker:"):
		return pullArchive(ref, want)
	default:
		return pullRegistry(ctx, ref, want, o)
	}
}

func pullRegistry(ctx context.Context, ref string, want v1.Platform, o RegistryOptions) (*Base, error) {
	used := o.rewrite(ref)
	fail := func(err error) (*Base, error) { return nil, newRefError("pull", ref, used, err) }
	r, err := o.parseReference(used)
	if err != nil {
		return fail(err)
	}
	// With a metadata cache, a reference pinned by digest is read from it
	// without a request; a tag costs one request (it may have moved), and
	// what it names then comes from the cache.
	if pinned, ok := r.(name.Digest); ok && o.MetadataDir != "" {
		if root, err := v1.NewHash(pinned.DigestStr()); err == nil {
			if b := pullCachedBase(ctx, ref, used, r.Context(), root, want, o); b != nil {
				return b, nil
			}
		}
	}
	desc, err := remote.Get(r, o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	if o.MetadataDir != "" {
		metadataCache{dir: o.MetadataDir}.put(desc.Digest, desc.Manifest)
		if b := pullCachedBase(ctx, ref, used, r.Context(), desc.Digest, want, o); b != nil {
			return b, nil
		}
	}
	var img v1.Image
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return fail(err)
		}
		if img, err = selectPlatform(idx, want); err != nil {
			return fail(err)
		}
	case desc.MediaType.IsImage():
		if img, err = desc.Image(); err != nil {
			return fail(err)
		}
		if err := checkPlatform(img, want); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("unsupported manifest media type %s", desc.MediaType))
	}
	if o.MetadataDir != "" {
		saveBaseMetadata(o, desc, img)
	}
	return &Base{Ref: ref, Resolved: used, Digest: desc.Digest, Image: img}, nil
}

func pullLayout(ref string, want v1.Platform) (*Base, error) {
	fail := func(err error) (*Base, error) { return nil, newRefError("read", ref, "", err) }
	idx, found, err := layoutEntry(ref, false)
	if err != nil {
		return fail(err)
	}
	var img v1.Image
	switch {
	case found.MediaType.IsIndex():
		child, err := idx.ImageIndex(found.Digest)
		if err != nil {
			return fail(err)
		}
		if img, err = selectPlatform(child, want); err != nil {
			return fail(err)
		}
	case found.MediaType.IsImage():
		if img, err = idx.Image(found.Digest); err != nil {
			return fail(err)
		}
		if err := checkPlatform(img, want); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("unsupported manifest media type %s", found.MediaType))
	}
	return &Base{Ref: ref, Resolved: ref, Digest: found.Digest, Image: img}, nil
}

// splitLayoutRef splits DIR[:REF]. DIR may itself contain colons: the
// longest prefix that is an OCI layout wins; ref names may contain colons
// and slashes ("example.com/app:1").
func splitLayoutRef(spec string) (dir, ref string, err error) {
	if spec == "" {
		return "", "", errors.New("no directory given: want oci:DIR[:REF]")
	}
	if isLayoutDir(spec) {
		return spec, "", nil
	}
	for i := len(spec) - 1; i > 0; i-- {
		if spec[i] == ':' && isLayoutDir(spec[:i]) {
			return spec[:i], spec[i+1:], nil
		}
	}
	// Report the directory the user most likely meant.
	dir = spec
	if i := strings.Index(spec, ":"); i > 0 {
		dir = spec[:i]
	}
	return "", "", fmt.Errorf("%s is not an OCI image layout (no oci-layout file)", dir)
}

// isLayoutDir reports whether dir holds an oci-layout file.
func isLayoutDir(dir string) bool {
	fi, err := os.Stat(filepath.Join(dir, "oci-layout"))
	return err == nil && fi.Mode().IsRegular()
}

func pullArchive(ref string, want v1.Platform) (*Base, error) {
	fail := func(err error) (*Base, error) { return nil, newRefError("read", ref, "", err) }
	file, tag, err := splitArchiveRef(ref)
	if err != nil {
		return fail(err)
	}
	img, err := tarball.ImageFromPath(file, tag)
	if err != nil {
		return fail(err)
	}
	if err := checkPlatform(img, want); err != nil {
		return fail(err)
	}
	d, err := img.Digest()
	if err != nil {
		return fail(err)
	}
	return &Base{Ref: ref, Resolved: ref, Digest: d, Image: img}, nil
}

// selectPlatform picks want's image from idx, or fails listing the
// platforms idx holds.
func selectPlatform(idx v1.ImageIndex, want v1.Platform) (v1.Image, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var avail []string
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue
		}
		var p v1.Platform
		if d.Platform != nil {
			p = *d.Platform
		} else {
			// No platform in the index: ask the image's config.
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			cf, err := img.ConfigFile()
			if err != nil {
				return nil, err
			}
			if cp := cf.Platform(); cp != nil {
				p = *cp
			}
		}
		if p.OS == "unknown" || p.Architecture == "unknown" {
			continue // attestation manifests
		}
		if platformMatches(p, want) {
			return idx.Image(d.Digest)
		}
		avail = append(avail, platformString(p))
	}
	return nil, fmt.Errorf("no %s image in the index (available: %s)", platformString(want), listOrNone(avail))
}

// checkPlatform fails unless img's config is for want.
func checkPlatform(img v1.Image, want v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	have := cf.Platform()
	if have == nil {
		return fmt.Errorf("the image config names no platform, want %s", platformString(want))
	}
	if !platformMatches(*have, want) {
		return fmt.Errorf("the image is %s, not %s", platformString(*have), platformString(want))
	}
	return nil
}

// normalizePlatform fills in OS linux and maps Lambda/uname architecture
// names to OCI ones (x86_64 -> amd64, aarch64 -> arm64).
func normalizePlatform(p v1.Platform) v1.Platform {
	if p.OS == "" {
		p.OS = "linux"
	}
	switch p.Architecture {
	case "x86_64", "x86-64":
		p.Architecture = "amd64"
	case "aarch64":
		p.Architecture = "arm64"
	}
	return p
}

// platformMatches compares OS and architecture, and the variant when both
// give one (arm64 without a variant is arm64/v8).
func platformMatches(have, want v1.Platform) bool {
	have, want = normalizePlatform(have), normalizePlatform(want)
	if have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv, wv := defaultVariant(have), defaultVariant(want)
	return hv == "" || wv == "" || hv == wv
}

// defaultVariant returns p's variant, "v8" for arm64 without one.
func defaultVariant(p v1.Platform) string {
	if p.Variant == "" && p.Architecture == "arm64" {
		return "v8"
	}
	return p.Variant
}

// platformString is OS/ARCH[/VARIANT].
func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}

// layoutEntry opens the OCI layout named by ref ("oci:DIR[:REF]") and finds
// the entry REF names, or the only entry when REF is empty; with
// preferIndex, an unnamed ref may also pick the layout's only index among
// several entries (rtbuild's layouts list the index and each platform).
func layoutEntry(ref string, preferIndex bool) (v1.ImageIndex, *v1.Descriptor, error) {
	dir, refName, err := splitLayoutRef(strings.TrimPrefix(ref, "oci:"))
	if err != nil {
		return nil, nil, err
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, nil, err
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, err
	}
	var names []string
	var found *v1.Descriptor
	for i, d := range im.Manifests {
		n := d.Annotations[ocispec.AnnotationRefName]
		if n != "" {
			names = append(names, n)
		}
		if refName != "" && n == refName && found == nil {
			found = &im.Manifests[i]
		}
	}
	switch {
	case refName != "" && found == nil:
		return nil, nil, fmt.Errorf("no entry named %q in the layout (names: %s)", refName, listOrNone(names))
	case refName == "" && len(im.Manifests) != 1:
		if i := onlyIndex(im.Manifests); preferIndex && i >= 0 {
			return idx, &im.Manifests[i], nil
		}
		return nil, nil, fmt.Errorf("the layout holds %d entries; name one as oci:%s:REF (names: %s)", len(im.Manifests), dir, listOrNone(names))
	case refName == "":
		found = &im.Manifests[0]
	}
	return idx, found, nil
}

// splitArchiveRef splits "docker:FILE[:TAG]" into the tar's path and the
// tag to pick (nil: the archive's only image); a FILE that exists as given
// has no TAG, so paths with colons work.
func splitArchiveRef(ref string) (string, *name.Tag, error) {
	file := strings.TrimPrefix(ref, "docker:")
	if _, err := os.Stat(file); err == nil {
		return file, nil, nil
	}
	for i := len(file) - 1; i > 0; i-- {
		if file[i] != ':' {
			continue
		}
		if fi, err := os.Stat(file[:i]); err == nil && fi.Mode().IsRegular() {
			t, err := name.NewTag(file[i+1:])
			if err != nil {
				return "", nil, err
			}
			return file[:i], &t, nil
		}
	}
	return file, nil, nil
}

package manifests

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// SaveBase stores the manifest a registry reference names (an index with
// every platform image it lists, or a single image), with all its blobs, in
// the OCI layout dir under the ref name ref as given (before mirror
// rewriting), replacing an older entry of that name. `rtbuild fetch` uses it
// so that an --offline build finds its bases (PullSavedBase) with the same
// digests. Several processes may save into one dir: writes are serialised
// by a lock file, and blobs are written to temporary files and renamed.
func SaveBase(ctx context.Context, dir, ref string, o RegistryOptions) (v1.Hash, error) {
	used := o.rewrite(ref)
	fail := func(err error) (v1.Hash, error) { return v1.Hash{}, newRefError("save", ref, used, err) }
	r, err := o.parseReference(used)
	if err != nil {
		return fail(err)
	}
	desc, err := remote.Get(r, o.remoteOptions(ctx)...)
	if err != nil {
		return fail(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	p, err := layout.FromPath(dir)
	if err != nil {
		if p, err = layout.Write(dir, empty.Index); err != nil {
			return fail(err)
		}
	}
	named := match.Annotation(ocispec.AnnotationRefName, ref)
	annotations := layout.WithAnnotations(map[string]string{ocispec.AnnotationRefName: ref})
	switch {
	case desc.MediaType.IsIndex():
		idx, err := desc.ImageIndex()
		if err != nil {
			return fail(err)
		}
		err = p.ReplaceIndex(idx, named, annotations)
		if err != nil {
			return fail(err)
		}
	case desc.MediaType.IsImage():
		img, err := desc.Image()
		if err != nil {
			return fail(err)
		}
		if err := p.ReplaceImage(img, named, annotations); err != nil {
			return fail(err)
		}
	default:
		return fail(fmt.Errorf("unsupported manifest media type %s", desc.MediaType))
	}
	return desc.Digest, nil
}

// PullSavedBase is PullBase for a registry reference saved by SaveBase in
// the layout dir: the same Ref and Digest, read without a network.
func PullSavedBase(dir, ref string, platform v1.Platform) (*Base, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err != nil {
		return nil, fmt.Errorf("offline: base %s is not in the cache (run `rtbuild fetch` for the runtime on a machine with network, then `rtbuild cache export`/`import`)", ref)
	}
	want := normalizePlatform(platform)
	b, err := pullLayout("oci:"+dir+":"+ref, want)
	if err != nil {
		if strings.Contains(err.Error(), "no entry named") {
			return nil, fmt.Errorf("offline: base %s is not in the cache (run `rtbuild fetch` for the runtime on a machine with network, then `rtbuild cache export`/`import`)", ref)
		}
		return nil, err
	}
	b.Ref = ref
	return b, nil
}

// lockDir takes an exclusive lock on dir/.lock until the returned function is called.
func lockDir(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

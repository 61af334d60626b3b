package manifests

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TaggedImage is an image and the tag it gets in a docker archive.
type TaggedImage struct {
	Tag   string // REPO[:TAG], e.g. "rtbuild/python:3.9-arm64"
	Image v1.Image
}

// WriteDockerArchive writes a tar that `docker load` accepts, holding each
// image under its tag, atomically: it is written to a temporary file next
// to file, synced, then renamed over file.
func WriteDockerArchive(file string, images []TaggedImage) (err error) {
	fail := func(err error) error { return fmt.Errorf("write docker archive %s: %w", file, err) }
	if len(images) == 0 {
		return fail(errors.New("no images"))
	}
	refs := make(map[name.Reference]v1.Image, len(images))
	seen := map[string]bool{}
	for _, ti := range images {
		t, err := name.NewTag(ti.Tag)
		if err != nil {
			return fail(err)
		}
		if seen[t.Name()] {
			return fail(fmt.Errorf("tag %s given twice", ti.Tag))
		}
		seen[t.Name()] = true
		if ti.Image == nil {
			return fail(fmt.Errorf("no image for %s", ti.Tag))
		}
		refs[t] = ti.Image
	}
	if fi, err := os.Stat(file); err == nil && fi.IsDir() {
		return fail(errors.New("is a directory"))
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fail(err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(f.Name(), file); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		return fail(err)
	}
	return nil
}

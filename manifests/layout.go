package manifests

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// WriteOCILayout writes idx as the OCI image layout dir, atomically: the
// layout is built in a fresh directory next to dir, synced to disk, then
// swapped in; on any error the new directory is removed and a previous dir
// is left as it was. index.json lists the index with
// org.opencontainers.image.ref.name=refName and each platform manifest with
// refName-<Lambda arch> (refName-x86_64, refName-arm64), so that tools such
// as umoci and skopeo can address each one.
//
// An existing dir is replaced only when it is an OCI layout (holds an
// oci-layout file) or is empty; anything else is refused, never deleted.
//
// referrers are OCI artifacts about the images (SBOMs, see NewArtifact):
// they are written in the same layout, listed in index.json by their
// descriptor with its artifactType and no ref name.
func WriteOCILayout(dir string, idx v1.ImageIndex, refName string, referrers ...v1.Image) (err error) {
	fail := func(err error) error { return fmt.Errorf("write OCI layout %s: %w", dir, err) }
	if refName == "" {
		return fail(errors.New("no ref name"))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return fail(err)
	}
	mode := fs.FileMode(0o755)
	exists := false
	switch fi, err := os.Lstat(abs); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fail(err)
	case !fi.IsDir():
		return fail(errors.New("exists and is not a directory; refusing to replace it (choose another --output)"))
	default:
		if !isLayoutDir(abs) {
			empty, err := isEmptyDir(abs)
			if err != nil {
				return fail(err)
			}
			if !empty {
				return fail(errors.New("exists and is not an OCI image layout (no oci-layout file); refusing to replace it (choose another --output, or empty it)"))
			}
		}
		exists, mode = true, fi.Mode().Perm()
	}

	// Describe the children first: nothing is written if that fails.
	im, err := idx.IndexManifest()
	if err != nil {
		return fail(err)
	}
	children := make([]v1.Descriptor, 0, len(im.Manifests))
	names := map[string]bool{refName: true}
	for _, d := range im.Manifests {
		arch, err := childArch(idx, d)
		if err != nil {
			return fail(err)
		}
		n := refName + "-" + arch
		if names[n] {
			return fail(fmt.Errorf("two manifests for %s", n))
		}
		names[n] = true
		c := d
		c.Annotations = map[string]string{}
		for k, v := range d.Annotations {
			c.Annotations[k] = v
		}
		c.Annotations[ocispec.AnnotationRefName] = n
		children = append(children, c)
	}

	parent := filepath.Dir(abs)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fail(err)
	}
	removeStaleWrites(parent, "."+filepath.Base(abs)+".new-")
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(abs)+".new-*")
	if err != nil {
		return fail(err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	p, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fail(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{ocispec.AnnotationRefName: refName})); err != nil {
		return fail(err)
	}
	for _, c := range children {
		if err := p.AppendDescriptor(c); err != nil {
			return fail(err)
		}
	}
	if err := appendReferrers(p, referrers); err != nil {
		return fail(err)
	}
	if err := syncTree(tmp); err != nil {
		return fail(err)
	}

	// Swap: move the old layout aside, move the new one in, drop the old.
	if !exists {
		if err := os.Rename(tmp, abs); err != nil {
			return fail(err)
		}
		return syncDir(parent)
	}
	old := tmp + ".old"
	if err := os.Rename(abs, old); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, abs); err != nil {
		if rerr := os.Rename(old, abs); rerr != nil {
			return fail(fmt.Errorf("%w (and restoring the previous layout failed: %v; it is at %s)", err, rerr, old))
		}
		return fail(err)
	}
	if err := syncDir(parent); err != nil {
		return fail(err)
	}
	if err := os.RemoveAll(old); err != nil {
		return fail(fmt.Errorf("written, but removing the previous layout failed: %w", err))
	}
	return nil
}

// childArch returns the Lambda architecture name of an index child, from
// its descriptor's platform or else its config.
func childArch(idx v1.ImageIndex, d v1.Descriptor) (string, error) {
	p := d.Platform
	if p == nil {
		if !d.MediaType.IsImage() {
			return "", fmt.Errorf("index entry %s has no platform", d.Digest)
		}
		img, err := idx.Image(d.Digest)
		if err != nil {
			return "", err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return "", err
		}
		if p = cf.Platform(); p == nil {
			return "", fmt.Errorf("index entry %s has no platform", d.Digest)
		}
	}
	return lambdaArch(p.Architecture), nil
}

// lambdaArch maps an OCI architecture to Lambda's name (amd64 -> x86_64);
// other names are returned as they are.
func lambdaArch(arch string) string {
	switch arch {
	case "amd64", "x86_64", "x86-64":
		return "x86_64"
	case "arm64", "aarch64":
		return "arm64"
	}
	return arch
}

func isEmptyDir(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// syncTree fsyncs every file and directory under root.
func syncTree(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return syncDir(path)
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return f.Sync()
	})
}

// syncDir fsyncs a directory, making renames in it durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// staleWriteAge is how old an unfinished layout write must be before a later
// write removes it: older than any write in progress could be.
const staleWriteAge = 6 * time.Hour

// removeStaleWrites removes the temporary directories (prefix*) that writes
// killed before their rename left next to an output, once they are older
// than staleWriteAge (a write in progress is recent, and is left alone).
func removeStaleWrites(parent, prefix string) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > staleWriteAge {
			_ = os.RemoveAll(filepath.Join(parent, e.Name()))
		}
	}
}

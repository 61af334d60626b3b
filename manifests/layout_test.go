package manifests

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// testIndex is an OCI index of runtime images for amd64 and arm64.
func testIndex(t *testing.T) (v1.ImageIndex, []v1.Image) {
	t.Helper()
	imgs := buildImages(t, []v1.Image{platformImage(t, amd64, 1), platformImage(t, arm64, 1)})
	idx, err := NewIndex(imgs, map[string]string{ocispec.AnnotationTitle: "python3.9"})
	if err != nil {
		t.Fatal(err)
	}
	return idx, imgs
}

// brokenLayer is a layer whose blob cannot be read.
type brokenLayer struct{ v1.Layer }

func (brokenLayer) Compressed() (io.ReadCloser, error) {
	return nil, errors.New("broken layer")
}

// assertNoLeftovers fails if dir holds anything but the names given.
func assertNoLeftovers(t *testing.T, dir string, names ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Errorf("%s holds %q, want %q", dir, got, names)
	}
}

func TestWriteOCILayout(t *testing.T) {
	idx, imgs := testIndex(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "python3.9")
	if err := WriteOCILayout(dir, idx, "python3.9"); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, parent, "python3.9")

	lidx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(lidx); err != nil {
		t.Fatal(err)
	}
	im, err := lidx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name   string
		digest v1.Hash
		mt     types.MediaType
	}{
		{"python3.9", digest(t, idx), types.OCIImageIndex},
		{"python3.9-x86_64", digest(t, imgs[0]), types.OCIManifestSchema1},
		{"python3.9-arm64", digest(t, imgs[1]), types.OCIManifestSchema1},
	}
	if len(im.Manifests) != len(want) {
		t.Fatalf("index.json lists %d entries, want %d", len(im.Manifests), len(want))
	}
	for i, w := range want {
		d := im.Manifests[i]
		if d.Annotations[ocispec.AnnotationRefName] != w.name || d.Digest != w.digest || d.MediaType != w.mt {
			t.Errorf("entry %d: %s %s %s, want %s %s %s", i, d.Annotations[ocispec.AnnotationRefName], d.Digest, d.MediaType, w.name, w.digest, w.mt)
		}
		if i > 0 && (d.Platform == nil || d.Platform.Architecture == "") {
			t.Errorf("entry %d has no platform", i)
		}
	}
	inner, err := lidx.ImageIndex(digest(t, idx))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(inner); err != nil {
		t.Fatal(err)
	}
	img, err := lidx.Image(digest(t, imgs[1]))
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}

	// Replacing a layout works and leaves nothing behind.
	idx2, _ := testIndex(t)
	if err := WriteOCILayout(dir, idx2, "python3.9"); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, parent, "python3.9")
	lidx, err = layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	if im, _ := lidx.IndexManifest(); im.Manifests[0].Digest != digest(t, idx2) {
		t.Error("layout not replaced")
	}
}

func TestWriteOCILayoutKeepsOldOnFailure(t *testing.T) {
	idx, _ := testIndex(t)
	parent := t.TempDir()
	dir := filepath.Join(parent, "out")
	if err := WriteOCILayout(dir, idx, "python3.9"); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}

	base := platformImage(t, amd64, 1)
	bad, err := NewImage(ImageSpec{
		Base:     &Base{Ref: "oci:x", Image: base},
		Layers:   []LayerSpec{{Layer: brokenLayer{staticLayer(t, 9, types.OCILayer)}, CreatedBy: "broken"}},
		Created:  epoch,
		Platform: amd64,
	})
	if err != nil {
		t.Fatal(err)
	}
	badIdx, err := NewIndex([]v1.Image{bad}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = WriteOCILayout(dir, badIdx, "python3.9")
	assertOneLine(t, err, dir, "broken layer")

	after, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("the previous layout changed")
	}
	if _, err := layout.ImageIndexFromPath(dir); err != nil {
		t.Error(err)
	}
	assertNoLeftovers(t, parent, "out")
}

func TestWriteOCILayoutRefusesOtherDirs(t *testing.T) {
	idx, _ := testIndex(t)
	parent := t.TempDir()

	user := filepath.Join(parent, "src")
	if err := os.MkdirAll(user, 0o755); err != nil {
		t.Fatal(err)
	}
	keep := filepath.Join(user, "main.go")
	if err := os.WriteFile(keep, []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := WriteOCILayout(user, idx, "python3.9")
	assertOneLine(t, err, user, "not an OCI image layout", "refusing")
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("user data touched: %v", err)
	}

	file := filepath.Join(parent, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	assertOneLine(t, WriteOCILayout(file, idx, "python3.9"), "not a directory")

	// An empty directory is fine.
	emptyDir := filepath.Join(parent, "empty")
	if err := os.Mkdir(emptyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteOCILayout(emptyDir, idx, "python3.9"); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, parent, "empty", "file", "src")
}

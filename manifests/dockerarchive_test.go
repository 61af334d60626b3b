package manifests

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestWriteDockerArchive(t *testing.T) {
	_, imgs := testIndex(t)
	parent := t.TempDir()
	file := filepath.Join(parent, "python.tar")
	tags := []string{"rtbuild/python:3.9-x86_64", "rtbuild/python:3.9-arm64"}
	if err := WriteDockerArchive(file, []TaggedImage{{Tag: tags[0], Image: imgs[0]}, {Tag: tags[1], Image: imgs[1]}}); err != nil {
		t.Fatal(err)
	}
	assertNoLeftovers(t, parent, "python.tar")
	for i, s := range tags {
		tag, err := name.NewTag(s)
		if err != nil {
			t.Fatal(err)
		}
		img, err := tarball.ImageFromPath(file, &tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(img); err != nil {
			t.Fatal(err)
		}
		if mustConfigName(t, img) != mustConfigName(t, imgs[i]) {
			t.Errorf("%s: wrong config", s)
		}
		ls, _ := img.Layers()
		want, _ := imgs[i].Layers()
		if len(ls) != len(want) {
			t.Fatalf("%s: %d layers, want %d", s, len(ls), len(want))
		}
		for j := range ls {
			if digest(t, ls[j]) != digest(t, want[j]) {
				t.Errorf("%s: layer %d differs", s, j)
			}
		}
	}

	// A failed write leaves the previous file.
	err := WriteDockerArchive(file, []TaggedImage{{Tag: "bad tag!", Image: imgs[0]}})
	assertOneLine(t, err, file)
	tag, _ := name.NewTag(tags[0])
	if _, err := tarball.ImageFromPath(file, &tag); err != nil {
		t.Errorf("previous archive damaged: %v", err)
	}
	assertNoLeftovers(t, parent, "python.tar")
}

package testworld

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BaseImage builds a small stand-in for an Amazon Linux base image for one
// architecture: one layer with /etc/os-release and /etc/system-release, a
// Docker v2 schema 2 manifest (as the upstream images have), a CMD that the
// runtime image must clear.
func BaseImage(osName, version, arch string) (v1.Image, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name, body string
	}{
		{"etc/os-release", fmt.Sprintf("NAME=%q\nVERSION=%q\nID=\"amzn\"\nPRETTY_NAME=\"%s (rtbuild fixture, %s)\"\n", osName, version, osName, arch)},
		{"etc/system-release", osName + " release " + version + " (rtbuild fixture)\n"},
	}
	for _, d := range []string{"etc/", "tmp/", "var/"} {
		mode := int64(0o755)
		if d == "tmp/" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: mode}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			return nil, err
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (ioReadCloser, error) { return nopCloser(raw), nil }, tarball.WithMediaType(types.DockerLayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.DockerManifestSchema2)
	img = mutate.ConfigMediaType(img, types.DockerConfigJSON)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	if arch == "arm64" {
		cf.Variant = "v8"
	}
	cf.Config.Cmd = []string{"/bin/bash"}
	cf.Config.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	return mutate.ConfigFile(img, cf)
}

// PushBase pushes a multi-arch stand-in base (Docker manifest list) for the
// given architectures to ref and returns its digest.
func PushBase(t testing.TB, ref, osName, version string, archs ...string) v1.Hash {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range archs {
		img, err := BaseImage(osName, version, arch)
		if err != nil {
			t.Fatalf("building base %s: %v", arch, err)
		}
		p := &v1.Platform{OS: "linux", Architecture: arch}
		if arch == "arm64" {
			p.Variant = "v8"
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: p}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.DockerManifestList)
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, remote.WithContext(context.Background())); err != nil {
		t.Fatalf("pushing base %s: %v", ref, err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

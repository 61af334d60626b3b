package main

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// TestCompressionZstd: --compression zstd gives zstd layers for rtbuild's
// components (the base keeps its own), verified when read back; the
// compression is part of the cache key (a gzip build of the same runtime
// builds its layers, a second zstd build hits every layer).
func TestCompressionZstd(t *testing.T) {
	w := testworld.Start(t)
	cacheDir := t.TempDir()
	build := func(comp string) (*metadataT, string) {
		dir := t.TempDir()
		md := filepath.Join(dir, "md.json")
		out := filepath.Join(dir, "out")
		args := append([]string{"image", "nodejs14.x", "--arch", "x86_64", "--compression", comp, "--cache-dir", cacheDir,
			"--output", "oci:" + out, "--metadata-file", md, "--sbom=false"}, w.Args()...)
		mustCLI(t, dir, nil, args...)
		return readMetadata(t, md), out
	}
	zs, out := build("zstd")
	if zs.Cache.LayersBuilt == 0 {
		t.Fatalf("first build built nothing: %+v", zs.Cache)
	}
	img := testworld.LayoutImages(t, out)[images.X86_64]
	if img == nil {
		t.Fatalf("no x86_64 image in the layout %s", out)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	layers := zs.Images[0].Platforms[0].Layers
	if len(layers) != len(m.Layers) {
		t.Fatalf("%d layers in metadata, %d in the manifest", len(layers), len(m.Layers))
	}
	ls, _ := img.Layers()
	for i, l := range m.Layers {
		want := types.OCILayerZStd
		if layers[i].Cache == "base" {
			want = l.MediaType // the base's own
			if want == types.OCILayerZStd {
				t.Errorf("base layer %d is zstd", i)
			}
		}
		if l.MediaType != want {
			t.Errorf("layer %d (%s): media type %s, want %s", i, layers[i].Component, l.MediaType, want)
		}
		// The layout's blob reads back as the tar its diffID names.
		if layers[i].Cache != "base" {
			rc, err := ls[i].Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			rc.Close()
		}
	}

	again, _ := build("zstd")
	if again.Cache.LayersBuilt != 0 || again.Images[0].Digest != zs.Images[0].Digest {
		t.Fatalf("identical zstd rebuild: %+v, %s vs %s", again.Cache, again.Images[0].Digest, zs.Images[0].Digest)
	}
	gz, _ := build("gzip")
	if gz.Cache.LayersBuilt != zs.Cache.LayersBuilt || gz.Images[0].Digest == zs.Images[0].Digest {
		t.Fatalf("gzip build after zstd: %+v (zstd built %d), digest %s", gz.Cache, zs.Cache.LayersBuilt, gz.Images[0].Digest)
	}
}

package main

import (
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// testRuntimeImage is a small image in rtbuild's shape: one base layer
// (history not written by rtbuild), then one layer per component with
// rtbuild's history entries, config and annotations. Layers are static
// bytes, so its digests never change.
func testRuntimeImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	created := v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	layer := func(s string) v1.Layer { return static.NewLayer([]byte(arch+": "+s), types.OCILayer) }
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := []mutate.Addendum{
		{Layer: layer("base filesystem"), History: v1.History{Created: created, CreatedBy: "/bin/sh -c #(nop) ADD file:al2 in /"}},
		{Layer: layer("node binary"), History: v1.History{Created: created, CreatedBy: "rtbuild: nodejs12 12.22.12 (archive)", Comment: "Node.js"}},
		{Layer: layer("runtime interface client"), History: v1.History{Created: created, CreatedBy: "rtbuild: ric-nodejs 2.1.0 (npm)"}},
		{Layer: layer("entrypoint script"), History: v1.History{Created: created, CreatedBy: "rtbuild: entrypoint 1 (file)"}},
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Created = "linux", arch, created
	cf.Config.Env = []string{"LANG=en_US.UTF-8", "TZ=:/etc/localtime", "LAMBDA_TASK_ROOT=/var/task"}
	cf.Config.Entrypoint = []string{"/lambda-entrypoint.sh"}
	cf.Config.WorkingDir = "/var/task"
	cf.Config.Labels = map[string]string{"rtbuild.runtime": "nodejs12.x"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.title":   "Lambda Node.js 12 (nodejs12.x)",
		"org.opencontainers.image.version": "test",
		"rtbuild.runtime":                  "nodejs12.x",
	}).(v1.Image)
}

// writeTestLayout writes an OCI layout holding an index of the test image
// for amd64 and arm64, named "nodejs12.x", and returns its directory.
func writeTestLayout(t *testing.T) string {
	t.Helper()
	return writeIndexLayout(t, "nodejs12.x", func(arch string) v1.Image { return testRuntimeImage(t, arch) }, "amd64", "arm64")
}

// writeIndexLayout writes an OCI layout holding one OCI index, named ref,
// of image(arch) for each of archs, and returns its directory.
func writeIndexLayout(t *testing.T, ref string, image func(arch string) v1.Image, archs ...string) string {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range archs {
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{
			Add:        image(arch),
			Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}},
		})
	}
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestInspectGolden(t *testing.T) {
	dir := writeTestLayout(t)
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runInProcess(t, "inspect", "oci:"+dir+":nodejs12.x", "--date", "2024-01-01", "--format", format)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			checkGolden(t, "inspect_"+format, []byte(strings.ReplaceAll(out, dir, "$DIR")))
		})
	}
}

func TestInspectDockerArchive(t *testing.T) {
	file := t.TempDir() + "/img.tar"
	if err := tarball.WriteToFile(file, nil, testRuntimeImage(t, "arm64")); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runInProcess(t, "inspect", "docker:"+file, "--date", "2024-01-01")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	flat := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"Platforms: linux/arm64", "base - -", "nodejs12 12.22.12 archive", "entrypoint 1 file", "Status: deprecated phase 1 (since 2023-03-31)"} {
		if !strings.Contains(flat, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestInspectErrors(t *testing.T) {
	dir := writeTestLayout(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"inspect", "oci:" + dir + ":nope"}, 2, `no entry named "nope"`},
		{[]string{"inspect", "oci:" + dir + "/missing"}, 2, dir + "/missing is not an OCI image layout (no oci-layout file) (check IMAGE: oci:DIR[:REF] or docker:FILE[:TAG])"},
		{[]string{"inspect", "docker:" + dir + "/missing.tar"}, 2, "no such file or directory"},
		{[]string{"inspect", "oci:" + dir, "--format", "yaml"}, 2, `invalid --format "yaml"`},
		{[]string{"inspect"}, 2, "accepts 1 arg"},
	} {
		code, _, errOut := runInProcess(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

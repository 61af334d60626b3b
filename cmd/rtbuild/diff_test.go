package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// diffImage is a small image in rtbuild's shape, like testRuntimeImage,
// with what a diff looks at made to vary: the components (history
// entries and layer content), the environment and the base annotations.
type diffVariant struct {
	node, ric, ricContent string
	rie                   bool
	lang                  string
	baseDigest            string
}

func diffImage(t *testing.T, arch string, v diffVariant) v1.Image {
	t.Helper()
	created := v1.Time{Time: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
	layer := func(s string) v1.Layer { return static.NewLayer([]byte(arch+": "+s), types.OCILayer) }
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	adds := []mutate.Addendum{
		{Layer: layer("base filesystem"), History: v1.History{Created: created, CreatedBy: "/bin/sh -c #(nop) ADD file:al2 in /"}},
		{Layer: layer("node " + v.node), History: v1.History{Created: created, CreatedBy: "rtbuild: nodejs12 " + v.node + " (archive)"}},
		{Layer: layer(v.ricContent), History: v1.History{Created: created, CreatedBy: "rtbuild: ric-nodejs " + v.ric + " (archive)"}},
	}
	if v.rie {
		adds = append(adds, mutate.Addendum{Layer: layer("rie"), History: v1.History{Created: created, CreatedBy: "rtbuild: rie 1.22 (file)"}})
	}
	adds = append(adds, mutate.Addendum{Layer: layer("entrypoint"), History: v1.History{Created: created, CreatedBy: "rtbuild: entrypoint 1 (file)"}})
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
	cf.Config.Env = []string{"LANG=" + v.lang, "TZ=:/etc/localtime", "LAMBDA_TASK_ROOT=/var/task"}
	cf.Config.Entrypoint = []string{"/lambda-entrypoint.sh"}
	cf.Config.WorkingDir = "/var/task"
	cf.Config.Labels = map[string]string{"rtbuild.runtime": "nodejs12.x"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return mutate.Annotations(img, map[string]string{
		"org.opencontainers.image.version":     "test",
		"org.opencontainers.image.base.name":   "public.ecr.aws/amazonlinux/amazonlinux:2",
		"org.opencontainers.image.base.digest": v.baseDigest,
		"rtbuild.runtime":                      "nodejs12.x",
	}).(v1.Image)
}

// writeDiffLayout writes an OCI layout of an index of the variant for archs.
func writeDiffLayout(t *testing.T, v diffVariant, archs ...string) string {
	t.Helper()
	return writeIndexLayout(t, "nodejs12.x", func(arch string) v1.Image { return diffImage(t, arch, v) }, archs...)
}

var diffOld = diffVariant{node: "12.22.11", ric: "2.1.0", ricContent: "ric v1", lang: "en_US.UTF-8",
	baseDigest: "sha256:1111111111111111111111111111111111111111111111111111111111111111"}

func TestDiffImagesGolden(t *testing.T) {
	newer := diffOld
	newer.node, newer.ricContent, newer.rie, newer.lang = "12.22.12", "ric v1, rebuilt", true, "C.UTF-8"
	newer.baseDigest = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	a := writeDiffLayout(t, diffOld, "amd64", "arm64")
	b := writeDiffLayout(t, newer, "amd64")
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runInProcess(t, "diff", "oci:"+a, "oci:"+b, "--format", format)
			if code != 1 || errOut != "" {
				t.Fatalf("exit %d (want 1: they differ), stderr %q", code, errOut)
			}
			out = strings.ReplaceAll(strings.ReplaceAll(out, a, "$A"), b, "$B")
			checkGolden(t, "diff_images_"+format, []byte(out))
		})
	}
}

func TestDiffCatalogsGolden(t *testing.T) {
	a, b := filepath.Join("testdata", "diff", "catalog-a.yaml"), filepath.Join("testdata", "diff", "catalog-b.yaml")
	for _, format := range []string{"table", "json"} {
		t.Run(format, func(t *testing.T) {
			code, out, errOut := runInProcess(t, "diff", "catalog:"+a, "catalog:"+b, "--runtime", "nodejs12.x", "--format", format)
			if code != 1 || errOut != "" {
				t.Fatalf("exit %d (want 1: they differ), stderr %q", code, errOut)
			}
			checkGolden(t, "diff_catalogs_"+format, []byte(out))
		})
	}
}

func TestDiffEqualExitsZero(t *testing.T) {
	a := writeDiffLayout(t, diffOld, "amd64", "arm64")
	b := writeDiffLayout(t, diffOld, "amd64", "arm64")
	code, out, errOut := runInProcess(t, "diff", "oci:"+a, "oci:"+b)
	if code != 0 || errOut != "" || !strings.Contains(out, "No differences (2 platform(s) compared).") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	code, out, _ = runInProcess(t, "diff", "catalog:", "catalog:", "--runtime", "python3.9", "--format", "json")
	if code != 0 || !strings.Contains(out, `"equal": true`) {
		t.Fatalf("catalog against itself: exit %d\n%s", code, out)
	}
}

func TestDiffErrors(t *testing.T) {
	a := writeDiffLayout(t, diffOld, "amd64")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"diff", "oci:" + a}, 2, "accepts 2 arg"},
		{[]string{"diff", "oci:" + a, "catalog:"}, 2, "give two images or two catalogs"},
		{[]string{"diff", "oci:" + a, "oci:" + a, "--runtime", "python3.9"}, 2, "--runtime applies to two catalogs"},
		{[]string{"diff", "oci:" + a, "oci:" + a, "--format", "yaml"}, 2, `invalid --format "yaml"`},
		{[]string{"diff", "oci:" + a, "oci:" + t.TempDir()}, 2, "not an OCI image layout"},
		{[]string{"diff", "catalog:", "catalog:", "--runtime", "python9"}, 2, `python9`},
	} {
		code, _, errOut := runInProcess(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and one line with %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}

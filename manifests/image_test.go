package manifests

import (
	"math/rand"
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var epoch = time.Date(2021, 10, 7, 0, 0, 0, 0, time.UTC)

// staticLayer is a deterministic small layer.
func staticLayer(t *testing.T, seed int64, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := random.Layer(256, mt, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// runtimeSpec is a Lambda-like runtime image spec on base.
func runtimeSpec(t *testing.T, base *Base, p v1.Platform) ImageSpec {
	return ImageSpec{
		Base: base,
		Layers: []LayerSpec{
			{Layer: staticLayer(t, 1, types.OCILayer), CreatedBy: "rtbuild: python 3.9.18", Comment: "python"},
			{Layer: staticLayer(t, 2, types.DockerLayer), CreatedBy: "rtbuild: awslambdaric 2.0.0"},
		},
		Env: []string{
			"LANG=en_US.UTF-8",
			"TZ=:/etc/localtime",
			"PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
			"LAMBDA_TASK_ROOT=/var/task",
		},
		WorkingDir:  "/var/task",
		Entrypoint:  []string{"/lambda-entrypoint.sh"},
		Labels:      map[string]string{"shared": "spec", "runtime": "python3.9"},
		Annotations: map[string]string{ocispec.AnnotationVersion: "3.9"},
		Created:     epoch,
		Platform:    p,
	}
}

// buildImages builds one runtime image on each base image.
func buildImages(t *testing.T, bases []v1.Image) []v1.Image {
	t.Helper()
	var out []v1.Image
	for _, b := range bases {
		cf, err := b.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		img, err := NewImage(runtimeSpec(t, &Base{Ref: "public.ecr.aws/amazonlinux/amazonlinux:2", Digest: digest(t, b), Image: b}, *cf.Platform()))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, img)
	}
	return out
}

func TestNewImage(t *testing.T) {
	baseImg := platformImage(t, v1.Platform{OS: "linux", Architecture: "arm64"}, 2)
	base := &Base{Ref: "public.ecr.aws/amazonlinux/amazonlinux:2", Digest: digest(t, baseImg), Image: baseImg}
	spec := runtimeSpec(t, base, v1.Platform{Architecture: "arm64"})
	img, err := NewImage(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}

	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("media types %s, %s; want OCI", m.MediaType, m.Config.MediaType)
	}
	bm, _ := baseImg.Manifest()
	if len(m.Layers) != len(bm.Layers)+2 {
		t.Fatalf("%d layers, want %d", len(m.Layers), len(bm.Layers)+2)
	}
	for i, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer %d: media type %s, want %s", i, l.MediaType, types.OCILayer)
		}
		if i < len(bm.Layers) && l.Digest != bm.Layers[i].Digest {
			t.Errorf("base layer %d: digest changed", i)
		}
	}
	wantAnn := map[string]string{
		ocispec.AnnotationVersion:         "3.9",
		ocispec.AnnotationBaseImageName:   "public.ecr.aws/amazonlinux/amazonlinux:2",
		ocispec.AnnotationBaseImageDigest: base.Digest.String(),
	}
	if !reflect.DeepEqual(m.Annotations, wantAnn) {
		t.Errorf("annotations %v, want %v", m.Annotations, wantAnn)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	bcf, _ := baseImg.ConfigFile()
	c := cf.Config
	wantEnv := []string{
		"PATH=/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin", // replaced in place
		"LANG=en_US.UTF-8", // replaced in place
		"TZ=:/etc/localtime",
		"LAMBDA_TASK_ROOT=/var/task",
	}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", c.Env, wantEnv)
	}
	if c.Cmd != nil || c.User != "" {
		t.Errorf("Cmd = %q, User = %q; want neither", c.Cmd, c.User)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/lambda-entrypoint.sh"}) || c.WorkingDir != "/var/task" {
		t.Errorf("Entrypoint %q, WorkingDir %q", c.Entrypoint, c.WorkingDir)
	}
	if want := map[string]string{"base": "yes", "shared": "spec", "runtime": "python3.9"}; !reflect.DeepEqual(c.Labels, want) {
		t.Errorf("Labels = %v, want %v", c.Labels, want)
	}
	if !cf.Created.Equal(epoch) {
		t.Errorf("created %v, want %v", cf.Created, epoch)
	}
	if cf.OS != "linux" || cf.Architecture != "arm64" || cf.Variant != "v8" {
		t.Errorf("platform %s/%s/%s, want linux/arm64/v8", cf.OS, cf.Architecture, cf.Variant)
	}
	if len(cf.History) != len(bcf.History)+2 {
		t.Fatalf("%d history entries, want %d", len(cf.History), len(bcf.History)+2)
	}
	for i, h := range cf.History[len(bcf.History):] {
		if !h.Created.Equal(epoch) || h.CreatedBy != spec.Layers[i].CreatedBy || h.Comment != spec.Layers[i].Comment {
			t.Errorf("history %d = %+v", i, h)
		}
	}
	if !reflect.DeepEqual(cf.History[:len(bcf.History)], bcf.History) {
		t.Error("base history changed")
	}
	if len(cf.RootFS.DiffIDs) != len(m.Layers) {
		t.Errorf("%d diff IDs for %d layers", len(cf.RootFS.DiffIDs), len(m.Layers))
	}

	// The base is not changed.
	if bcf2, _ := baseImg.ConfigFile(); !reflect.DeepEqual(bcf2.Config.Cmd, []string{"/bin/bash"}) {
		t.Error("base config changed")
	}
}

func TestNewImageDeterministic(t *testing.T) {
	baseImg := platformImage(t, amd64, 2)
	build := func(created time.Time) v1.Hash {
		spec := runtimeSpec(t, &Base{Ref: "public.ecr.aws/amazonlinux/amazonlinux:2", Digest: digest(t, baseImg), Image: baseImg}, v1.Platform{Architecture: "x86_64"})
		spec.Created = created
		img, err := NewImage(spec)
		if err != nil {
			t.Fatal(err)
		}
		return digest(t, img)
	}
	a, b := build(epoch), build(epoch)
	if a != b {
		t.Errorf("two builds: %s and %s", a, b)
	}
	// The same instant in another time zone gives the same image.
	if c := build(epoch.In(time.FixedZone("X", 5*3600))); c != a {
		t.Errorf("time zone changed the digest: %s and %s", a, c)
	}
	if c := build(epoch.Add(time.Second)); c == a {
		t.Error("created did not change the digest")
	}
}

func TestNewImageFunctionSetsCmd(t *testing.T) {
	baseImg := platformImage(t, amd64, 1)
	rt, err := NewImage(runtimeSpec(t, &Base{Ref: "oci:/x", Image: baseImg}, amd64))
	if err != nil {
		t.Fatal(err)
	}
	fn, err := NewImage(ImageSpec{
		Base:    &Base{Ref: "oci:/rt", Image: rt},
		Layers:  []LayerSpec{{Layer: staticLayer(t, 3, types.OCILayer), CreatedBy: "rtbuild: function code"}},
		Cmd:     []string{"app.handler"},
		Created: epoch,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(fn); err != nil {
		t.Fatal(err)
	}
	cf, _ := fn.ConfigFile()
	if !reflect.DeepEqual(cf.Config.Cmd, []string{"app.handler"}) || !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/lambda-entrypoint.sh"}) {
		t.Errorf("Cmd %q Entrypoint %q", cf.Config.Cmd, cf.Config.Entrypoint)
	}
	if cf.Architecture != "amd64" {
		t.Errorf("arch %q, want the base's", cf.Architecture)
	}
	m, _ := fn.Manifest()
	if _, ok := m.Annotations[ocispec.AnnotationBaseImageName]; ok {
		t.Error("a local base must not be recorded as base.name (not reproducible across machines)")
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"A=1", "B=2", "C=3"}, []string{"B=x", "D=4", "A=y", "D=5"})
	want := []string{"A=y", "B=x", "C=3", "D=5"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("mergeEnv = %q, want %q", got, want)
	}
}

func TestNewIndex(t *testing.T) {
	imgs := buildImages(t, []v1.Image{platformImage(t, amd64, 1), platformImage(t, arm64, 1)})
	ann := map[string]string{ocispec.AnnotationTitle: "python3.9"}
	idx, err := NewIndex(imgs, ann)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(idx); err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.MediaType != types.OCIImageIndex {
		t.Errorf("media type %s", im.MediaType)
	}
	if !reflect.DeepEqual(im.Annotations, ann) {
		t.Errorf("annotations %v", im.Annotations)
	}
	want := []string{"linux/amd64", "linux/arm64/v8"}
	if len(im.Manifests) != 2 {
		t.Fatalf("%d manifests", len(im.Manifests))
	}
	for i, d := range im.Manifests {
		if d.Platform == nil || platformString(*d.Platform) != want[i] {
			t.Errorf("manifest %d: platform %v, want %s", i, d.Platform, want[i])
		}
		if d.Digest != digest(t, imgs[i]) || d.MediaType != types.OCIManifestSchema1 {
			t.Errorf("manifest %d: %s %s", i, d.Digest, d.MediaType)
		}
	}
	if _, err := NewIndex([]v1.Image{imgs[0], imgs[0]}, nil); err == nil {
		t.Error("two images for one platform: no error")
	}
}

func TestEnvFirst(t *testing.T) {
	base := []string{"PATH=/usr/bin", "HOME=/root"}
	got := mergeEnv([]string{"LANG=C", "PATH=/var/lang/bin"}, withoutKeys(base, []string{"LANG=C", "PATH=/var/lang/bin"}))
	want := []string{"LANG=C", "PATH=/var/lang/bin", "HOME=/root"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("env = %q, want %q", got, want)
	}
}

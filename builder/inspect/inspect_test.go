package inspect

import (
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

func TestInspectImage(t *testing.T) {
	l := func(s string) v1.Layer { return static.NewLayer([]byte(s), types.OCILayer) }
	// Two base layers without history (a squashed base), then rtbuild's.
	img, err := mutate.AppendLayers(empty.Image, l("base 1"), l("base 2"))
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.Append(img,
		mutate.Addendum{Layer: l("py"), History: v1.History{CreatedBy: "rtbuild: python39 3.9.18 (rpm)"}},
		mutate.Addendum{Layer: l("x"), History: v1.History{CreatedBy: "echo not rtbuild"}},
	)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "arm64"
	cf.Config.Labels = map[string]string{images.LabelRuntime: "no-such-runtime"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Inspect(&manifests.Resolved{Ref: "x", Image: img}, cat, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p := rep.Platforms[0]
	var got []string
	for _, ly := range p.Layers {
		got = append(got, ly.Component+"@"+ly.Version)
	}
	want := []string{"base@", "base@", "python39@3.9.18", "base@"}
	if len(got) != len(want) {
		t.Fatalf("layers %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layers %v, want %v", got, want)
		}
	}
	if p.Platform != "linux/arm64" || p.Runtime == nil || p.Runtime.InCatalog || p.Runtime.StatusText() != "not in the catalog" {
		t.Errorf("platform %q, runtime %+v", p.Platform, p.Runtime)
	}
}

package builder

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// TestSBOMImageFromPlan checks what the SBOM is made of: each step's
// component in layer order with its artifacts, the digest an unpinned
// artifact was fetched with, rtbuild's own content, and the base.
func TestSBOMImageFromPlan(t *testing.T) {
	overlay := filepath.Join(t.TempDir(), "overlay.yaml")
	if err := os.WriteFile(overlay, []byte(`
components:
  sbom-test:
    kind: file
    version: "9.9"
    description: an unpinned fixture artifact.
    license: MIT
    path: /opt/sbom-test
    sources:
      any:
        - url: https://example.test/sbom-test-9.9
runtimes:
  - identifier: provided.al2
    components: [sbom-test, entrypoint]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := images.Load(overlay)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := MakePlan(cat, Request{Runtimes: []string{"provided.al2"}, Archs: []images.Arch{images.Arm64}}, time.Unix(42, 0))
	if err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("5", 64)
	plan.recordArtifact("https://example.test/sbom-test-9.9", sum) // as the LayerBuilder does on fetch
	rp, pp := plan.Runtimes[0], plan.Runtimes[0].Platforms[0]
	d, _ := v1.NewHash("sha256:" + strings.Repeat("a", 64))
	bd, _ := v1.NewHash("sha256:" + strings.Repeat("b", 64))
	pr := &PlatformResult{Arch: images.Arm64, Digest: d, Base: &manifests.Base{Ref: pp.BaseRef, Digest: bd}}
	img := SBOMImage(plan, rp, pp, pr, "rtbuild-test")
	if img.Name != "provided.al2" || img.Arch != "arm64" || !img.Created.Equal(time.Unix(42, 0)) || img.Base.Digest != bd || img.Base.Name != rp.Base.Name {
		t.Errorf("image %+v", img)
	}
	if len(img.Components) != 2 {
		t.Fatalf("components %+v", img.Components)
	}
	c := img.Components[0]
	if c.Name != "sbom-test" || c.Version != "9.9" || c.License != "MIT" || len(c.Artifacts) != 1 || c.Artifacts[0].SHA256 != sum {
		t.Errorf("unpinned component %+v", c)
	}
	if e := img.Components[1]; e.Name != "entrypoint" || len(e.Artifacts) != 0 || len(e.Content) == 0 {
		t.Errorf("entrypoint %+v", e)
	}
}

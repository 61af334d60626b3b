package manifests

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// sbomFor makes an artifact of a small document about img.
func sbomFor(t *testing.T, img v1.Image, doc string) v1.Image {
	t.Helper()
	sub, err := SubjectDescriptor(img)
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewArtifact(sub, "application/spdx+json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestArtifactManifestShape(t *testing.T) {
	img := platformImage(t, amd64, 1)
	a := sbomFor(t, img, `{"spdxVersion":"SPDX-2.3"}`)
	if err := validate.Image(a); err != nil {
		t.Fatalf("artifact does not validate as an image: %v", err)
	}
	m, err := a.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != "application/spdx+json" || m.Config.MediaType != EmptyMediaType || m.Config.Size != 2 ||
		m.Config.Digest.Hex != "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" ||
		len(m.Layers) != 1 || m.Layers[0].MediaType != "application/spdx+json" {
		t.Errorf("manifest: %+v", m)
	}
	if m.Subject == nil || m.Subject.Digest != digest(t, img) {
		t.Errorf("subject %+v, want %s", m.Subject, digest(t, img))
	}
}

// referrersRegistry is an in-memory registry with or without the
// referrers API; it records the manifests PUT.
type referrersRegistry struct {
	host string
	puts []string
}

func newReferrersRegistry(t *testing.T, api bool) *referrersRegistry {
	t.Helper()
	r := &referrersRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)), registry.WithReferrersSupport(api))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/manifests/") {
			r.puts = append(r.puts, req.URL.Path[strings.LastIndex(req.URL.Path, "/")+1:])
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	r.host = u.Host
	return r
}

func TestPushReferrers(t *testing.T) {
	for _, tc := range []struct {
		name string
		api  bool
	}{{"referrers API", true}, {"fallback tag", false}} {
		t.Run(tc.name, func(t *testing.T) {
			reg := newReferrersRegistry(t, tc.api)
			ctx := context.Background()
			img := platformImage(t, amd64, 1)
			ref := reg.host + "/lambda/python:3.9"
			if _, err := PushImage(ctx, ref, img, testOptions()); err != nil {
				t.Fatal(err)
			}
			subject := digest(t, img)
			first := sbomFor(t, img, `{"n":1}`)
			second := sbomFor(t, img, `{"n":2}`)
			got, err := PushReferrers(ctx, ref, []v1.Image{first}, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			if want := reg.host + "/lambda/python@" + digest(t, first).String(); len(got) != 1 || got[0] != want {
				t.Errorf("pushed %v, want %s", got, want)
			}
			// A second referrer is merged with the first, not put over it.
			if _, err := PushReferrers(ctx, ref, []v1.Image{second}, testOptions()); err != nil {
				t.Fatal(err)
			}
			fallback := "sha256-" + subject.Hex
			wroteFallback := false
			for _, p := range reg.puts {
				wroteFallback = wroteFallback || p == fallback
			}
			if wroteFallback == tc.api {
				t.Errorf("fallback tag written: %v, with the referrers API: %v (PUTs %v)", wroteFallback, tc.api, reg.puts)
			}
			descs, err := Referrers(ctx, ref, subject, "application/spdx+json", testOptions())
			if err != nil {
				t.Fatal(err)
			}
			found := map[v1.Hash]bool{}
			for _, d := range descs {
				found[d.Digest] = d.ArtifactType == "application/spdx+json"
			}
			if len(descs) != 2 || !found[digest(t, first)] || !found[digest(t, second)] {
				t.Fatalf("referrers %+v, want %s and %s", descs, digest(t, first), digest(t, second))
			}
			b, err := FetchReferrerBlob(ctx, ref, digest(t, second), testOptions())
			if err != nil || string(b) != `{"n":2}` {
				t.Errorf("document %q, %v", b, err)
			}
			if !tc.api {
				// The fallback index is what a tool without rtbuild reads.
				d, err := remote.Index(mustRef(t, reg.host+"/lambda/python:"+fallback))
				if err != nil {
					t.Fatal(err)
				}
				im, _ := d.IndexManifest()
				if len(im.Manifests) != 2 || im.Manifests[0].ArtifactType != "application/spdx+json" {
					t.Errorf("fallback index %+v", im)
				}
			}
			// Other artifact types are not listed.
			if descs, err := Referrers(ctx, ref, subject, "application/vnd.example", testOptions()); err != nil || len(descs) != 0 {
				t.Errorf("referrers of another type: %v, %v", descs, err)
			}
		})
	}
}

func mustRef(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestWriteOCILayoutWithReferrers(t *testing.T) {
	imgs := []v1.Image{platformImage(t, amd64, 1), platformImage(t, arm64, 1)}
	idx, err := NewIndex(imgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	arts := []v1.Image{sbomFor(t, imgs[0], `{"a":"amd64"}`), sbomFor(t, imgs[1], `{"a":"arm64"}`)}
	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteOCILayout(dir, idx, "python3.9", arts...); err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		descs, blobs, err := LayoutReferrers(dir, digest(t, img), "application/spdx+json")
		if err != nil {
			t.Fatal(err)
		}
		if len(descs) != 1 || descs[0].Digest != digest(t, arts[i]) || descs[0].ArtifactType != "application/spdx+json" ||
			descs[0].Annotations["org.opencontainers.image.ref.name"] != "" {
			t.Fatalf("%d: referrers %+v", i, descs)
		}
		if want := []string{`{"a":"amd64"}`, `{"a":"arm64"}`}[i]; string(blobs[0]) != want {
			t.Errorf("%d: document %s, want %s", i, blobs[0], want)
		}
	}
	// The layout still resolves to its index and per-arch images by name.
	if _, err := Resolve(context.Background(), "oci:"+dir, testOptions()); err != nil {
		t.Fatalf("resolving the layout with referrers: %v", err)
	}
	if _, err := PullBase(context.Background(), "oci:"+dir+":python3.9-arm64", arm64, testOptions()); err != nil {
		t.Fatalf("pulling an arch from the layout with referrers: %v", err)
	}
}

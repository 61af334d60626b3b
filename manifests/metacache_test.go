package manifests

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

// pinnedBase writes a two-platform index to reg and returns its
// digest-pinned reference, the index and its images.
func pinnedBase(t *testing.T, reg *testRegistry) (string, v1.ImageIndex, []v1.Image) {
	t.Helper()
	idx, imgs := dockerIndex(t, amd64, arm64)
	writeIndex(t, reg.host+"/amazonlinux:2", idx)
	return reg.host + "/amazonlinux:2@" + digest(t, idx).String(), idx, imgs
}

func TestPullBasePinnedReadsTheRegistryOnce(t *testing.T) {
	reg := newTestRegistry(t)
	ref, idx, imgs := pinnedBase(t, reg)
	o := testOptions()
	o.MetadataDir = t.TempDir()

	reg.reset()
	first, err := PullBase(context.Background(), ref, arm64, o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Image.ConfigFile(); err != nil {
		t.Fatal(err)
	}
	if n, _ := reg.counts(); n == 0 {
		t.Fatal("the first pull made no request")
	}

	reg.reset()
	again, err := PullBase(context.Background(), ref, v1.Platform{Architecture: "aarch64"}, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != digest(t, idx) || digest(t, again.Image) != digest(t, imgs[1]) || again.Ref != ref || again.Resolved != ref {
		t.Errorf("cached pull: digest %s image %s ref %q resolved %q", again.Digest, digest(t, again.Image), again.Ref, again.Resolved)
	}
	ls, err := again.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if _, err := l.DiffID(); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := reg.counts(); n != 0 {
		t.Errorf("the cached pull and its metadata (digests, diff IDs, config) made %d requests, want 0: %v", n, reg.paths)
	}
	// Layer bytes are read from the registry when asked for, verified.
	if err := validate.Image(again.Image); err != nil {
		t.Errorf("the cached image does not validate: %v", err)
	}
	if n, _ := reg.counts(); n == 0 {
		t.Error("reading layers made no request")
	}
}

func TestPullBaseMetadataCacheCorruptEntryIsRefetched(t *testing.T) {
	reg := newTestRegistry(t)
	ref, idx, imgs := pinnedBase(t, reg)
	o := testOptions()
	o.MetadataDir = t.TempDir()
	if _, err := PullBase(context.Background(), ref, amd64, o); err != nil {
		t.Fatal(err)
	}
	// Corrupt the cached index and the image's config.
	cfg := mustConfigName(t, imgs[0])
	for _, d := range []v1.Hash{digest(t, idx), cfg} {
		p := filepath.Join(o.MetadataDir, "sha256", d.Hex)
		if err := os.WriteFile(p, []byte(`{"mediaType":"forged"}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg.reset()
	b, err := PullBase(context.Background(), ref, amd64, o)
	if err != nil {
		t.Fatal(err)
	}
	if digest(t, b.Image) != digest(t, imgs[0]) {
		t.Errorf("selected %s, want %s", digest(t, b.Image), digest(t, imgs[0]))
	}
	if n, _ := reg.counts(); n == 0 {
		t.Error("a corrupt cache entry was used without going to the registry")
	}
	// The entries are good again.
	for _, d := range []v1.Hash{digest(t, idx), cfg} {
		if _, ok := (metadataCache{dir: o.MetadataDir}).get(d); !ok {
			t.Errorf("%s was not stored again", d)
		}
	}
}

func TestPullBaseByTagResolvesTheTagEveryTime(t *testing.T) {
	reg := newTestRegistry(t)
	_, _, imgs := pinnedBase(t, reg)
	o := testOptions()
	o.MetadataDir = t.TempDir()
	for i := 0; i < 2; i++ {
		reg.reset()
		b, err := PullBase(context.Background(), reg.host+"/amazonlinux:2", amd64, o)
		if err != nil {
			t.Fatal(err)
		}
		if digest(t, b.Image) != digest(t, imgs[0]) {
			t.Fatal("wrong image")
		}
		if _, err := b.Image.ConfigFile(); err != nil {
			t.Fatal(err)
		}
		tagReads := 0
		for _, p := range reg.paths {
			if p == "GET /v2/amazonlinux/manifests/2" {
				tagReads++
			} else if i > 0 && p != "GET /v2/" {
				t.Errorf("pull %d read %s: what the tag names is cached", i+1, p)
			}
		}
		if tagReads != 1 {
			t.Errorf("pull %d read the tag %d times, want 1 (a tag can move): %v", i+1, tagReads, reg.paths)
		}
	}
	// The tag moves: the next pull follows it.
	moved := platformImage(t, amd64, 1)
	writeImage(t, reg.host+"/amazonlinux:2", moved)
	b, err := PullBase(context.Background(), reg.host+"/amazonlinux:2", amd64, o)
	if err != nil || digest(t, b.Image) != digest(t, moved) {
		t.Fatalf("after the tag moved: %v", err)
	}
}

func TestPullBaseMetadataCacheSingleImageChecksPlatform(t *testing.T) {
	reg := newTestRegistry(t)
	img := platformImage(t, amd64, 1)
	writeImage(t, reg.host+"/single:1", img)
	ref := reg.host + "/single:1@" + digest(t, img).String()
	o := testOptions()
	o.MetadataDir = t.TempDir()
	if _, err := PullBase(context.Background(), ref, amd64, o); err != nil {
		t.Fatal(err)
	}
	reg.reset()
	if b, err := PullBase(context.Background(), ref, amd64, o); err != nil || digest(t, b.Image) != digest(t, img) {
		t.Fatalf("cached single image: %v", err)
	}
	if n, _ := reg.counts(); n != 0 {
		t.Errorf("cached single-image pull made %d requests", n)
	}
	// The cached image is amd64: asking for arm64 still fails as before.
	if _, err := PullBase(context.Background(), ref, arm64, o); err == nil {
		t.Error("an amd64 image was accepted as arm64 from the cache")
	}
}

// A cached base's layers are mountable from the base's repository, as a
// registry image's are: pushed to another repository of the same registry
// (Debian's docker-registry, which keeps blobs per repository), they are
// mounted, not uploaded.
func TestCachedBaseLayersAreMountable(t *testing.T) {
	reg := testtools.StartRegistry(t)
	idx, _ := dockerIndex(t, amd64, arm64)
	writeIndex(t, reg.Host+"/amazonlinux:2", idx)
	ref := reg.Host + "/amazonlinux:2@" + digest(t, idx).String()
	o := testOptions()
	o.MetadataDir = t.TempDir()
	if _, err := PullBase(context.Background(), ref, amd64, o); err != nil {
		t.Fatal(err)
	}
	b, err := PullBase(context.Background(), ref, amd64, o)
	if err != nil {
		t.Fatal(err)
	}
	ls, err := b.Image.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		ml, ok := l.(*remote.MountableLayer)
		if !ok {
			t.Fatalf("layer is a %T, not a remote.MountableLayer", l)
		}
		if got, want := ml.Reference.Context().RepositoryStr(), "amazonlinux"; got != want {
			t.Errorf("mount from %q, want %q", got, want)
		}
	}
	upBefore, mountBefore := blobTraffic(reg)
	dst, _ := name.ParseReference(reg.Host + "/function:1")
	if err := remote.Write(dst, b.Image); err != nil {
		t.Fatal(err)
	}
	up, mounts := blobTraffic(reg)
	if up-upBefore != 1 || mounts-mountBefore != len(ls) {
		t.Errorf("push to another repository: %d uploads (want 1: the config), %d mounts (want %d: every layer)", up-upBefore, mounts-mountBefore, len(ls))
	}
}

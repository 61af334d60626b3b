package manifests

import (
	"context"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

// blobTraffic counts, from a real registry's access log, the blob uploads
// it committed (PUT .../blobs/uploads/...) and the cross-repository mounts
// it answered (POST .../blobs/uploads/?...mount=...).
func blobTraffic(r *testtools.Registry) (uploads, mounts int) {
	for _, line := range strings.Split(r.Log(), "\n") {
		switch {
		case strings.Contains(line, `"PUT /v2/`) && strings.Contains(line, "/blobs/uploads/"):
			uploads++
		case strings.Contains(line, `"POST /v2/`) && strings.Contains(line, "/blobs/uploads/") && strings.Contains(line, "mount=") && strings.Contains(line, `" 201 `):
			mounts++
		}
	}
	return uploads, mounts
}

// Against Debian's docker-registry: an unchanged image uploads nothing;
// the same image pushed to a second repository of the registry in the
// same session is mounted, not uploaded.
func TestPushSessionUploadsAndMounts(t *testing.T) {
	reg := testtools.StartRegistry(t)
	ctx := context.Background()
	idx, imgs := dockerIndex(t, amd64, arm64)
	perArch := map[string]v1.Image{"x86_64": imgs[0], "arm64": imgs[1]}
	nblobs := 0
	for _, img := range imgs {
		ds, err := blobs(img)
		if err != nil {
			t.Fatal(err)
		}
		nblobs += len(ds)
	}

	s := NewPushSession(testOptions())
	if _, err := s.Push(ctx, reg.Host+"/lambda/a:1", idx, perArch); err != nil {
		t.Fatal(err)
	}
	up, mo := blobTraffic(reg)
	if up != nblobs || mo != 0 {
		t.Fatalf("first push: %d uploads, %d mounts; want %d uploads (every blob once), 0 mounts", up, mo, nblobs)
	}

	// A second repository in the same session: every blob is mounted.
	res, err := s.Push(ctx, reg.Host+"/lambda/b:1", idx, perArch)
	if err != nil {
		t.Fatal(err)
	}
	up2, mo2 := blobTraffic(reg)
	if up2 != up || mo2 != nblobs {
		t.Fatalf("push to a second repository: %d uploads, %d mounts; want 0 uploads, %d mounts", up2-up, mo2, nblobs)
	}
	if got := remoteDigest(t, reg.Host+"/lambda/b:1-arm64"); res.Arch["arm64"] != reg.Host+"/lambda/b:1-arm64@"+got.String() {
		t.Fatalf("pushed %v, registry has %s", res.Arch, got)
	}

	// The unchanged image again, from a new session (another rtbuild run):
	// existence checks only, zero blob uploads or mounts.
	if _, err := Push(ctx, reg.Host+"/lambda/a:1", idx, perArch, testOptions()); err != nil {
		t.Fatal(err)
	}
	up3, mo3 := blobTraffic(reg)
	if up3 != up2 || mo3 != mo2 {
		t.Fatalf("unchanged push: %d uploads, %d mounts; want none", up3-up2, mo3-mo2)
	}
	// The HEAD of each blob was made once per repository in the session.
	heads := reg.CountRequests("HEAD", "/lambda/a/blobs/")
	if heads > 2*nblobs {
		t.Fatalf("%d blob HEADs to lambda/a over two sessions; want at most one per blob per session (%d)", heads, 2*nblobs)
	}
}

package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// rebaseRegistry is an in-memory registry recording the blob digests
// pushed to it (PUT .../blobs/uploads/...?digest=).
type rebaseRegistry struct {
	host    string
	mu      sync.Mutex
	pushed  []string // digests of completed blob uploads
	uploads atomic.Int64
}

func newRebaseRegistry(t testing.TB) *rebaseRegistry {
	t.Helper()
	r := &rebaseRegistry{}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPut && strings.Contains(req.URL.Path, "/blobs/uploads/") {
			r.mu.Lock()
			r.pushed = append(r.pushed, req.URL.Query().Get("digest"))
			r.mu.Unlock()
			r.uploads.Add(1)
		}
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	r.host = u.Host
	return r
}

func (r *rebaseRegistry) pushedBlobs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.pushed...)
}

func (r *rebaseRegistry) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pushed = nil
}

// runtimeImage is a fake Lambda runtime image: random layers with the
// image contract's config.
func runtimeImage(t testing.TB, p v1.Platform, id string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(mutate.MediaType(emptyOCI(), types.OCIManifestSchema1), layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Config.Env = []string{"LANG=en_US.UTF-8", "PATH=/var/lang/bin:/usr/bin", "SDK_VERSION=" + id}
	cf.Config.Entrypoint = []string{"/lambda-entrypoint.sh"}
	cf.Config.WorkingDir = "/var/task"
	cf.Config.Labels = map[string]string{runtimeLabel: "provided.al2", "sdk": id}
	cf.History = nil
	for range layers {
		cf.History = append(cf.History, v1.History{CreatedBy: "runtime " + id})
	}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func emptyOCI() v1.Image {
	return mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
}

func randomLayer(t testing.TB, size int64) v1.Layer {
	t.Helper()
	l, err := random.Layer(size, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustPull(t testing.TB, ref string, p v1.Platform) *Base {
	t.Helper()
	b, err := PullBase(context.Background(), ref, p, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pushImage(t testing.TB, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// functionOn builds a function image on base (by NewImage: base annotations
// set) with one code layer, CMD and an env var, and pushes it to ref.
func functionOn(t testing.TB, base *Base, ref string, code v1.Layer) v1.Image {
	t.Helper()
	img, err := NewImage(ImageSpec{
		Base:    base,
		Layers:  []LayerSpec{{Layer: code, CreatedBy: "function code"}},
		Env:     []string{"TABLE=orders", "PATH=/var/task/bin:/var/lang/bin:/usr/bin"},
		Cmd:     []string{"app.handler"},
		Labels:  map[string]string{"team": "payments"},
		Created: time.Unix(1700000000, 0),
	})
	if err != nil {
		t.Fatal(err)
	}
	pushImage(t, ref, img)
	return img
}

type rebaseFixture struct {
	reg                  *rebaseRegistry
	oldRT, newRT, fn     v1.Image
	code                 v1.Layer
	oldRef, newRef, fRef string
}

func newRebaseFixture(t testing.TB) *rebaseFixture {
	t.Helper()
	f := &rebaseFixture{reg: newRebaseRegistry(t)}
	shared := randomLayer(t, 2048)
	f.oldRT = runtimeImage(t, amd64, "1", shared, randomLayer(t, 1024))
	f.newRT = runtimeImage(t, amd64, "2", shared, randomLayer(t, 1024), randomLayer(t, 512))
	f.oldRef, f.newRef, f.fRef = f.reg.host+"/rt:old", f.reg.host+"/rt:new", f.reg.host+"/fn:1"
	pushImage(t, f.oldRef, f.oldRT)
	pushImage(t, f.newRef, f.newRT)
	f.code = randomLayer(t, 4096)
	f.fn = functionOn(t, mustPull(t, f.oldRef, amd64), f.fRef, f.code)
	f.reg.reset()
	return f
}

func TestRebaseMovesFunctionOntoNewRuntime(t *testing.T) {
	f := newRebaseFixture(t)
	ctx := context.Background()
	res, err := Rebase(ctx, f.fRef, RebaseOptions{Onto: f.newRef}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 1 || res.Images[0].Old != digest(t, f.fn) || res.Images[0].Unchanged {
		t.Fatalf("result: %+v", res)
	}
	r, _ := name.ParseReference(f.fRef)
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.OCIManifestSchema1 {
		t.Fatalf("pushed a %s, want a single OCI manifest", desc.MediaType)
	}
	if desc.Digest != res.Images[0].New {
		t.Fatalf("tag is %s, result says %s", desc.Digest, res.Images[0].New)
	}
	img, _ := desc.Image()

	// Layers: the new runtime's, then the function's own, same blobs.
	m, _ := img.Manifest()
	nm, _ := f.newRT.Manifest()
	if len(m.Layers) != len(nm.Layers)+1 {
		t.Fatalf("%d layers, want %d", len(m.Layers), len(nm.Layers)+1)
	}
	for i, d := range nm.Layers {
		if m.Layers[i].Digest != d.Digest {
			t.Errorf("layer %d is %s, the new runtime's is %s", i, m.Layers[i].Digest, d.Digest)
		}
	}
	if got, want := m.Layers[len(m.Layers)-1].Digest, digest(t, f.code); got != want {
		t.Errorf("function layer is %s, was %s", got, want)
	}
	cf, _ := img.ConfigFile()
	ncf, _ := f.newRT.ConfigFile()
	codeDiff, _ := f.code.DiffID()
	if want := append(slices.Clone(ncf.RootFS.DiffIDs), codeDiff); !slices.Equal(cf.RootFS.DiffIDs, want) {
		t.Errorf("diffIDs %v, want %v", cf.RootFS.DiffIDs, want)
	}

	// Config: the new runtime's, with the function's CMD, env changes, labels.
	if !slices.Equal(cf.Config.Cmd, []string{"app.handler"}) {
		t.Errorf("Cmd %q", cf.Config.Cmd)
	}
	wantEnv := []string{"LANG=en_US.UTF-8", "PATH=/var/task/bin:/var/lang/bin:/usr/bin", "SDK_VERSION=2", "TABLE=orders"}
	if !slices.Equal(cf.Config.Env, wantEnv) {
		t.Errorf("Env %q, want %q", cf.Config.Env, wantEnv)
	}
	if cf.Config.Labels["team"] != "payments" || cf.Config.Labels["sdk"] != "2" || cf.Config.Labels[runtimeLabel] != "provided.al2" {
		t.Errorf("Labels %v", cf.Config.Labels)
	}
	if !slices.Equal(cf.Config.Entrypoint, []string{"/lambda-entrypoint.sh"}) || cf.Config.WorkingDir != "/var/task" {
		t.Errorf("Entrypoint %q WorkingDir %q", cf.Config.Entrypoint, cf.Config.WorkingDir)
	}
	if len(cf.History) != len(m.Layers) || cf.History[len(cf.History)-1].CreatedBy != "function code" || cf.History[0].CreatedBy != "runtime 2" {
		t.Errorf("History %+v", cf.History)
	}
	if cf.Architecture != "amd64" || cf.OS != "linux" {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	newDigest := digest(t, f.newRT)
	if m.Annotations[ocispec.AnnotationBaseImageName] != f.newRef || m.Annotations[ocispec.AnnotationBaseImageDigest] != newDigest.String() {
		t.Errorf("annotations %v", m.Annotations)
	}

	// Only the config blob was uploaded: every layer was in the registry.
	cd, _ := img.ConfigName()
	if got := f.reg.pushedBlobs(); !slices.Equal(got, []string{cd.String()}) {
		t.Errorf("uploaded blobs %v, want only the config %s", got, cd)
	}
	if res.BlobsUploaded != 1 || res.BytesUploaded == 0 {
		t.Errorf("result counts %d blobs, %d bytes; want 1 blob (the config)", res.BlobsUploaded, res.BytesUploaded)
	}

	// Rebasing again onto the same runtime (the annotations now name it)
	// changes nothing.
	again, err := Rebase(ctx, f.fRef, RebaseOptions{Onto: f.newRef}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if !again.Images[0].Unchanged || again.Images[0].New != desc.Digest {
		t.Errorf("second rebase: %+v", again.Images[0])
	}
}

func TestRebaseOldByTagThatMoved(t *testing.T) {
	// The annotations name rt:old by digest too: moving the tag to the new
	// runtime (the usual case) does not lose the old base.
	f := newRebaseFixture(t)
	pushImage(t, f.oldRef, f.newRT)
	if _, err := Rebase(context.Background(), f.fRef, RebaseOptions{Onto: f.oldRef, Push: f.reg.host + "/fn:2"}, testOptions()); err != nil {
		t.Fatal(err)
	}
}

func TestRebaseRefusals(t *testing.T) {
	f := newRebaseFixture(t)
	ctx := context.Background()
	wrong := runtimeImage(t, amd64, "9", randomLayer(t, 100), randomLayer(t, 100))
	pushImage(t, f.reg.host+"/other:1", wrong)
	unrelated := platformImage(t, amd64, 2) // no Lambda entrypoint
	pushImage(t, f.reg.host+"/unrelated:1", unrelated)
	otherRuntime := runtimeImage(t, amd64, "2", randomLayer(t, 100))
	cf, _ := otherRuntime.ConfigFile()
	cf.Config.Labels[runtimeLabel] = "python3.9"
	otherRuntime, _ = mutate.ConfigFile(otherRuntime, cf)
	pushImage(t, f.reg.host+"/python:3.9", otherRuntime)
	m, _ := f.fn.Manifest()
	wm, _ := wrong.Manifest()

	for _, tc := range []struct {
		name string
		opts RebaseOptions
		want []string
	}{
		{"wrong old", RebaseOptions{Onto: f.newRef, Old: f.reg.host + "/other:1"},
			[]string{f.fRef + ": layer 1 is " + m.Layers[0].Digest.String() + " but the old runtime's is " + wm.Layers[0].Digest.String(), "not built on " + f.reg.host + "/other:1, refusing to rebase"}},
		{"unrelated onto", RebaseOptions{Onto: f.reg.host + "/unrelated:1"}, []string{"ENTRYPOINT", "not a replacement", "refusing to rebase"}},
		{"other runtime onto", RebaseOptions{Onto: f.reg.host + "/python:3.9"}, []string{`rtbuild.runtime="python3.9"`, "refusing to rebase"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.reg.reset()
			_, err := Rebase(ctx, f.fRef, tc.opts, testOptions())
			assertOneLine(t, err, tc.want...)
			var rf *RefusalError
			if !errors.As(err, &rf) {
				t.Errorf("%T is not a RefusalError", err)
			}
			if got := f.reg.pushedBlobs(); len(got) != 0 {
				t.Errorf("a refused rebase uploaded %v", got)
			}
		})
	}

	// No base annotation and no --old.
	plain, _ := mutate.AppendLayers(f.oldRT, randomLayer(t, 10))
	pushImage(t, f.reg.host+"/plain:1", plain)
	_, err := Rebase(ctx, f.reg.host+"/plain:1", RebaseOptions{Onto: f.newRef}, testOptions())
	assertOneLine(t, err, "names no base", "--old")
	// With --old it works, and the result names its base.
	if _, err := Rebase(ctx, f.reg.host+"/plain:1", RebaseOptions{Onto: f.newRef, Old: f.oldRef}, testOptions()); err != nil {
		t.Fatal(err)
	}
	// A digest reference needs --push.
	_, err = Rebase(ctx, f.reg.host+"/fn@"+digest(t, f.fn).String(), RebaseOptions{Onto: f.newRef}, testOptions())
	assertOneLine(t, err, "--push")
}

func TestRebaseIndexPerPlatform(t *testing.T) {
	reg := newRebaseRegistry(t)
	ctx := context.Background()
	var oldImgs, newImgs, fns []v1.Image
	for _, p := range []v1.Platform{amd64, arm64} {
		oldImgs = append(oldImgs, runtimeImage(t, p, "1", randomLayer(t, 256)))
		newImgs = append(newImgs, runtimeImage(t, p, "2", randomLayer(t, 256)))
	}
	oldIdx, err := NewIndex(oldImgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	newIdx, err := NewIndex(newImgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeIndexTB(t, reg.host+"/rt:old", oldIdx)
	writeIndexTB(t, reg.host+"/rt:new", newIdx)
	for i, p := range []v1.Platform{amd64, arm64} {
		fns = append(fns, functionOn(t, mustPull(t, reg.host+"/rt:old", p), fmt.Sprintf("%s/fn:tmp%d", reg.host, i), randomLayer(t, 300)))
	}
	fnIdx, err := NewIndex(fns, nil)
	if err != nil {
		t.Fatal(err)
	}
	writeIndexTB(t, reg.host+"/fn:1", fnIdx)

	res, err := Rebase(ctx, reg.host+"/fn:1", RebaseOptions{Onto: reg.host + "/rt:new"}, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 2 {
		t.Fatalf("%+v", res)
	}
	for i, arch := range []string{"x86_64", "arm64"} {
		r, _ := name.ParseReference(reg.host + "/fn:1-" + arch)
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatal(err)
		}
		if !desc.MediaType.IsImage() || desc.Digest != res.Images[i].New {
			t.Errorf("%s: %s %s, result %+v", arch, desc.MediaType, desc.Digest, res.Images[i])
		}
		img, _ := desc.Image()
		m, _ := img.Manifest()
		nm, _ := newImgs[i].Manifest()
		fm, _ := fns[i].Manifest()
		if m.Layers[0].Digest != nm.Layers[0].Digest || m.Layers[1].Digest != fm.Layers[1].Digest {
			t.Errorf("%s: layers %v", arch, m.Layers)
		}
	}
	// The index at fn:1 is left alone: no index is written.
	r, _ := name.ParseReference(reg.host + "/fn:1")
	if desc, _ := remote.Get(r); desc.Digest != digest(t, fnIdx) {
		t.Errorf("fn:1 changed to %s", desc.Digest)
	}

	// --arch picks one platform, pushed at the reference itself.
	if _, err := Rebase(ctx, reg.host+"/fn:1", RebaseOptions{Onto: reg.host + "/rt:new", Arch: "arm64", Push: reg.host + "/fn:arm"}, testOptions()); err != nil {
		t.Fatal(err)
	}
	r, _ = name.ParseReference(reg.host + "/fn:arm")
	if desc, err := remote.Get(r); err != nil || !desc.MediaType.IsImage() {
		t.Errorf("fn:arm: %v %v", desc, err)
	}
}

func writeIndexTB(t testing.TB, ref string, idx v1.ImageIndex) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkRebase100 rebases a fleet of 100 function images (each with a
// 1 MiB code layer on a 3-layer, 2.25 MiB runtime) onto a new runtime, 8 at
// a time, against an in-memory registry, and reports the time per image and
// the blobs and bytes uploaded per fleet. Each round pushes a new runtime
// (a new 256 KiB top layer, untimed) and rebases the fleet onto it from the
// previous one, as a CVE roll-out does.
func BenchmarkRebase100(b *testing.B) {
	const fleet, jobs = 100, 8
	reg := newRebaseRegistry(b)
	shared, middle := randomLayer(b, 1<<20), randomLayer(b, 1<<20)
	oldRT := runtimeImage(b, amd64, "0", shared, middle, randomLayer(b, 1<<18))
	pushImage(b, reg.host+"/rt:0", oldRT)
	base := mustPull(b, reg.host+"/rt:0", amd64)
	refs := make([]string, fleet)
	for i := range refs {
		refs[i] = fmt.Sprintf("%s/fn%d:1", reg.host, i)
		functionOn(b, base, refs[i], randomLayer(b, 1<<20))
	}
	ctx := context.Background()
	var bytes, blobs int64
	b.ResetTimer()
	for n := 0; n < b.N; n++ {
		b.StopTimer()
		onto := fmt.Sprintf("%s/rt:%d", reg.host, n+1)
		pushImage(b, onto, runtimeImage(b, amd64, fmt.Sprint(n+1), shared, middle, randomLayer(b, 1<<18)))
		b.StartTimer()
		var wg sync.WaitGroup
		sem := make(chan struct{}, jobs)
		var failed atomic.Value
		for _, ref := range refs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				res, err := Rebase(ctx, ref, RebaseOptions{Onto: onto}, testOptions())
				if err != nil {
					failed.Store(err)
					return
				}
				atomic.AddInt64(&bytes, res.BytesUploaded)
				atomic.AddInt64(&blobs, int64(res.BlobsUploaded))
			}()
		}
		wg.Wait()
		if err, ok := failed.Load().(error); ok {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes-uploaded/fleet")
	b.ReportMetric(float64(blobs)/float64(b.N), "blobs-uploaded/fleet")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N)/fleet*1000, "ms/image")
}

func TestAnnotatedBaseBuiltByRtbuild(t *testing.T) {
	img := mutate.Annotations(empty.Image, map[string]string{
		"org.opencontainers.image.base.name":   "rtbuild:nodejs14.x",
		"org.opencontainers.image.base.digest": "sha256:" + strings.Repeat("a", 64),
	}).(v1.Image)
	_, err := annotatedBase(img)
	var r *RefusalError
	if !errors.As(err, &r) || !strings.Contains(err.Error(), "--old") || !strings.Contains(err.Error(), "nodejs14.x") {
		t.Fatalf("annotatedBase = %v, want a refusal asking for --old", err)
	}
}

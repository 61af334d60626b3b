package manifests

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rtbuild/rtbuild/layers/faultproxy"
	"github.com/rtbuild/rtbuild/layers/mirror"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

var (
	blobGET     = regexp.MustCompile(`/blobs/sha256:`)
	manifestAny = regexp.MustCompile(`/manifests/`)
	uploads     = regexp.MustCompile(`/blobs/uploads/`)
)

// faultOptions send registry FROM to the proxy, with a short stall timeout.
func faultOptions(t *testing.T, p *faultproxy.Proxy) RegistryOptions {
	t.Helper()
	rules, err := mirror.Parse("registry.example/=" + p.Host + "/")
	if err != nil {
		t.Fatal(err)
	}
	o := testOptions()
	o.Mirrors = rules
	o.StallTimeout = 300 * time.Millisecond
	return o
}

// readAll reads every layer of img in full (verifying their digests, as
// go-containerregistry's remote layers do).
func readAllLayers(t *testing.T, img v1.Image) error {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// TestFaultPullRetriesAndResumes pulls a base through every kind of
// registry fault: 503 with Retry-After, 429, a reset connection, stalls
// before the headers and within the body, truncated blob and manifest
// bodies. The pull completes and every layer verifies.
func TestFaultPullRetriesAndResumes(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	writeIndex(t, reg.host+"/amazonlinux:2", idx)
	p := faultproxy.Start(t, "http://"+reg.host, faultproxy.Options{Rules: []faultproxy.Rule{
		// The tag's manifest: three failed attempts, then a truncated body (resumed).
		{Path: manifestAny, Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503, RetryAfter: time.Second}},
		{Path: manifestAny, Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 429}},
		{Path: manifestAny, Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Path: manifestAny, Nth: []int{4}, Fault: faultproxy.Fault{Kind: faultproxy.Truncate}},
		// arm64's layer 1: truncated (resumed); its layer 2: stalled before
		// the headers (retried); amd64's layer 1: stalled within the body
		// (resumed), the resume answered 500 (resumed again).
		{Method: http.MethodGet, Path: blobGET, Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Truncate}},
		{Method: http.MethodGet, Path: blobGET, Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Stall}},
		{Method: http.MethodGet, Path: blobGET, Nth: []int{5}, Fault: faultproxy.Fault{Kind: faultproxy.StallBody}},
		{Method: http.MethodGet, Path: blobGET, Nth: []int{6}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}},
	}})
	o := faultOptions(t, p)
	for i, platform := range []v1.Platform{arm64, amd64} {
		b, err := PullBase(context.Background(), "registry.example/amazonlinux:2", platform, o)
		if err != nil {
			t.Fatalf("pull through faults: %v", err)
		}
		if got, want := digest(t, b.Image), digest(t, imgs[1-i]); got != want {
			t.Fatalf("pulled %s, want %s", got, want)
		}
		if err := readAllLayers(t, b.Image); err != nil {
			t.Fatalf("reading layers through faults: %v", err)
		}
	}
	f := p.Faults()
	if f[faultproxy.Status] != 3 || f[faultproxy.Reset] != 1 || f[faultproxy.Truncate] != 2 || f[faultproxy.Stall] != 1 || f[faultproxy.StallBody] != 1 {
		t.Errorf("faults injected: %v (%v); the schedule did not hit", f, p.Events())
	}
}

// TestFaultPushRetries pushes an index through failing uploads and
// manifest PUTs: the push completes and the registry holds exactly the
// pushed digests.
func TestFaultPushRetries(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	p := faultproxy.Start(t, "http://"+reg.host, faultproxy.Options{Rules: []faultproxy.Rule{
		{Path: uploads, Nth: []int{1, 4}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 502}},
		{Path: uploads, Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Method: http.MethodPut, Path: manifestAny, Nth: []int{1}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503, RetryAfter: time.Second}},
		{Method: http.MethodPut, Path: manifestAny, Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Reset}},
		{Method: http.MethodHead, Nth: []int{2}, Fault: faultproxy.Fault{Kind: faultproxy.Stall}},
	}})
	o := faultOptions(t, p)
	res, err := Push(context.Background(), "registry.example/lambda/x:1", idx, map[string]v1.Image{"amd64": imgs[0], "arm64": imgs[1]}, o)
	if err != nil {
		t.Fatalf("push through faults: %v", err)
	}
	if len(p.Events()) < 5 {
		t.Errorf("only %d faults injected: %v", len(p.Events()), p.Events())
	}
	for ref, want := range map[string]v1.Hash{
		reg.host + "/lambda/x:1":        digest(t, idx),
		reg.host + "/lambda/x:1-x86_64": digest(t, imgs[0]),
		reg.host + "/lambda/x:1-arm64":  digest(t, imgs[1]),
	} {
		if got := remoteDigest(t, ref); got != want {
			t.Errorf("%s is %s, want %s", ref, got, want)
		}
	}
	// Re-pull everything from the registry directly: complete and verified.
	r, _ := name.ParseReference(reg.host + "/lambda/x:1")
	got, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range imgs {
		img, err := got.Image(digest(t, want))
		if err != nil {
			t.Fatal(err)
		}
		if err := readAllLayers(t, img); err != nil {
			t.Errorf("re-pull: %v", err)
		}
	}
	_ = res
}

// TestFaultRetriesAreBounded: a registry that always fails makes the push
// give up after a bounded number of attempts with one line, and the tag
// of the index is never written.
func TestFaultRetriesAreBounded(t *testing.T) {
	reg := newTestRegistry(t)
	idx, imgs := dockerIndex(t, amd64, arm64)
	p := faultproxy.Start(t, "http://"+reg.host, faultproxy.Options{Rules: []faultproxy.Rule{
		{Method: http.MethodPut, Path: manifestAny, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}},
	}})
	o := faultOptions(t, p)
	_, err := Push(context.Background(), "registry.example/lambda/x:1", idx, map[string]v1.Image{"amd64": imgs[0], "arm64": imgs[1]}, o)
	if err == nil {
		t.Fatal("push succeeded against a registry refusing every manifest")
	}
	assertOneLine(t, err, "registry.example/lambda/x:1", "500")
	// The per-arch manifests are pushed concurrently: each is tried at
	// most the retry bound, and the one that ends the push exactly that.
	puts := map[string]int{}
	most := 0
	for _, e := range p.Events() {
		if e.Method == http.MethodPut {
			puts[e.Path]++
			most = max(most, puts[e.Path])
		}
	}
	for path, n := range puts {
		if n > retryBackoff.Steps {
			t.Errorf("%d PUTs of %s, more than the retry bound %d", n, path, retryBackoff.Steps)
		}
	}
	if most != retryBackoff.Steps {
		t.Errorf("PUTs per manifest %v, want one tried %d times (the retry bound)", puts, retryBackoff.Steps)
	}
	if _, ok := puts["/v2/lambda/x/manifests/1"]; ok {
		t.Error("the index was PUT although its images failed")
	}
	r, _ := name.ParseReference(reg.host + "/lambda/x:1")
	if _, err := remote.Get(r); err == nil {
		t.Error("the index tag exists after a failed push")
	}
}

// TestFaultCancelStopsRetrying: a cancelled context is not retried.
func TestFaultCancelStopsRetrying(t *testing.T) {
	reg := newTestRegistry(t)
	idx, _ := dockerIndex(t, amd64)
	writeIndex(t, reg.host+"/amazonlinux:2", idx)
	p := faultproxy.Start(t, "http://"+reg.host, faultproxy.Options{Rules: []faultproxy.Rule{
		{Path: manifestAny, Fault: faultproxy.Fault{Kind: faultproxy.Stall}},
	}})
	o := faultOptions(t, p)
	o.StallTimeout = time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := PullBase(ctx, "registry.example/amazonlinux:2", amd64, o)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pull: %v, want context.Canceled", err)
	}
	if n := len(p.Events()); n != 1 {
		t.Errorf("%d requests after cancel, want 1", n)
	}
}

func TestRetryableAndContentRange(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{context.Canceled, false},
		{&plainHTTPError{host: "x"}, false},
		{&StallError{}, true},
		{io.ErrUnexpectedEOF, true},
		{errors.New("manifest unknown"), false},
	} {
		if got := retryable(c.err); got != c.want {
			t.Errorf("retryable(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if s, n, ok := parseContentRange("bytes 100-199/200"); !ok || s != 100 || n != 200 {
		t.Errorf("parseContentRange: %d %d %v", s, n, ok)
	}
	if _, _, ok := parseContentRange("items 1-2/3"); ok {
		t.Error("bad Content-Range accepted")
	}
	if !strings.Contains((&StallError{Method: "GET", URL: "u", After: time.Second}).Error(), "no progress for 1s") {
		t.Error("StallError message")
	}
}

// TestTLSVerifiedByDefault: a registry whose certificate is not trusted is
// refused (pull and push), with the hint saying so; nothing falls back to
// plain HTTP for a non-loopback name.
func TestTLSVerifiedByDefault(t *testing.T) {
	srv := httptest.NewTLSServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	o := testOptions()
	o.Transport = redirectTransport(srv.Listener.Addr().String())
	idx, imgs := dockerIndex(t, amd64)
	_, err := PullBase(context.Background(), "registry.example.com/amazonlinux:2", amd64, o)
	if err == nil {
		t.Fatal("pull from an untrusted TLS registry succeeded")
	}
	assertOneLine(t, err, "registry.example.com/amazonlinux:2", "TLS certificate is not trusted")
	_, err = Push(context.Background(), "registry.example.com/lambda/x:1", idx, map[string]v1.Image{"amd64": imgs[0]}, o)
	if err == nil {
		t.Fatal("push to an untrusted TLS registry succeeded")
	}
	assertOneLine(t, err, "TLS certificate is not trusted")
}

// TestFaultPingForAMountIsRetried: pushing layers mountable from another
// repository of the registry makes go-containerregistry ping the registry
// again (for a token with the source's scope), with a context that its
// transport does not retry; a 503 on that ping is retried by the upload's
// own retry. The soak found the push failing there: the ping's error
// joins the failed https attempt (first) and the 503 (second), and only
// the first was looked at.
func TestFaultPingForAMountIsRetried(t *testing.T) {
	reg := testtools.StartRegistry(t)
	base := platformImage(t, amd64, 2)
	writeImage(t, reg.Host+"/base:1", base)
	p := faultproxy.Start(t, "http://"+reg.Host, faultproxy.Options{Rules: []faultproxy.Rule{
		// 1: the pull; 2: the push session; 3: the push's re-ping for the mount.
		{Method: http.MethodGet, Path: regexp.MustCompile(`^/v2/$`), Nth: []int{3}, Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503}},
	}})
	o := faultOptions(t, p)
	r, _ := name.ParseReference(p.Host + "/base:1")
	img, err := remote.Image(r, o.remoteOptions(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := img.Layers()
	if _, ok := ls[0].(*remote.MountableLayer); !ok {
		t.Fatalf("layers of a registry image are %T, want mountable", ls[0])
	}
	idx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &amd64}})
	if _, err := Push(context.Background(), "registry.example/function:1", idx, map[string]v1.Image{"amd64": img}, o); err != nil {
		t.Fatalf("push with a 503 on the mount's ping: %v", err)
	}
	if ev := p.Events(); len(ev) != 1 {
		t.Fatalf("faults injected: %v, want the one 503 on the third ping", ev)
	}
	if got := remoteDigest(t, reg.Host+"/function:1-x86_64"); got != digest(t, img) {
		t.Errorf("pushed %s, want %s", got, digest(t, img))
	}
}

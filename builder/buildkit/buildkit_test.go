package buildkit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/fetch"
	"github.com/rtbuild/rtbuild/manifests"
)

func TestParseCacheSpec(t *testing.T) {
	reg := manifests.RegistryOptions{}
	for _, tc := range []struct {
		in     string
		export bool
		want   client.CacheOptionsEntry // for runtime "python3.9"
		err    string
	}{
		{in: "type=registry,ref=127.0.0.1:5000/cache:{runtime},mode=max", export: true,
			want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "127.0.0.1:5000/cache:python3.9", "mode": "max", "registry.insecure": "true"}}},
		{in: "type=registry,ref=ghcr.io/acme/cache:py", export: true,
			want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "ghcr.io/acme/cache:py", "mode": "min"}}},
		{in: "ghcr.io/acme/cache:py",
			want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "ghcr.io/acme/cache:py"}}},
		{in: "type=local,src=/tmp/c",
			want: client.CacheOptionsEntry{Type: "local", Attrs: map[string]string{"src": "/tmp/c"}}},
		{in: `type=registry,"ref=ghcr.io/acme/cache:a,b"`,
			want: client.CacheOptionsEntry{Type: "registry", Attrs: map[string]string{"ref": "ghcr.io/acme/cache:a,b"}}},
		{in: "type=inline", export: true, want: client.CacheOptionsEntry{Type: "inline", Attrs: map[string]string{}}},
		{in: "", err: "invalid --cache-from \"\": empty"},
		{in: "ref=x/y:z", err: "no type="},
		{in: "type=registry", export: true, err: "type=registry needs ref="},
		{in: "type=local,src=/x", export: true, err: "type=local needs dest=DIR"},
		{in: "type=registry,ref=x/y:z,mode=all", export: true, err: "mode=all: want mode=min or mode=max"},
		{in: "type=registry,ref", err: `"ref" is not KEY=VALUE`},
	} {
		spec, err := ParseCacheSpec(tc.in, tc.export)
		if tc.err != "" {
			var u *builder.UsageError
			if err == nil || !errors.As(err, &u) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want a usage error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := spec.entry("python3.9", reg); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestResolveAddr(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "BUILDKIT_HOST" {
				return v
			}
			return ""
		}
	}
	if got := ResolveAddr("tcp://a:1", env("tcp://b:2")); got != "tcp://a:1" {
		t.Errorf("flag: %s", got)
	}
	if got := ResolveAddr("", env("tcp://b:2")); got != "tcp://b:2" {
		t.Errorf("BUILDKIT_HOST: %s", got)
	}
	if got := ResolveAddr("", env("")); got != "unix:///run/buildkit/buildkitd.sock" {
		t.Errorf("default: %s", got)
	}
}

// Connection failures are one ConnectError each, before any work.
func TestConnectErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "none.sock")
	_, err := connect(ctx, sock, TLS{})
	var ce *ConnectError
	if !errors.As(err, &ce) || !ce.Unreachable() || !strings.Contains(err.Error(), "cannot reach buildkitd at "+sock+": dial unix") ||
		strings.Contains(err.Error(), "desc =") {
		t.Errorf("unreachable: %v", err)
	}

	bogus := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(bogus, []byte("junk"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = connect(ctx, "tcp://127.0.0.1:1", TLS{CACert: bogus})
	if !errors.As(err, &ce) || ce.Unreachable() || !strings.Contains(err.Error(), "holds no PEM certificate") {
		t.Errorf("bogus CA: %v", err)
	}
	_, err = connect(ctx, "tcp://127.0.0.1:1", TLS{Cert: bogus})
	if err == nil || !strings.Contains(err.Error(), "--buildkit-tls-cert and --buildkit-tls-key go together") {
		t.Errorf("cert without key: %v", err)
	}
	_, err = connect(ctx, "buildkitd:1234", TLS{})
	var u *builder.UsageError
	if !errors.As(err, &u) || !strings.Contains(err.Error(), "want SCHEME://ADDRESS") {
		t.Errorf("no scheme: %v", err)
	}
}

func TestComponentCause(t *testing.T) {
	got, want := strings.Repeat("1", 64), strings.Repeat("2", 64)
	for _, msg := range []string{
		"failed to solve: digest mismatch for http://m/x: sha256:" + got + " (expected: sha256:" + want + ")",
		"digest mismatch sha256:" + got + ": sha256:" + want,
	} {
		err := componentCause(errors.New(msg), "https://upstream/x")
		var dm *fetch.DigestMismatchError
		if !errors.As(err, &dm) || dm.URL != "https://upstream/x" || dm.Got != got || dm.Expected != want {
			t.Errorf("%q: %#v", msg, err)
		}
	}
	err := componentCause(errors.New("failed to solve: failed to compute cache key: boom\nat line"), "")
	if err.Error() != "boom at line" {
		t.Errorf("cleaned: %q", err)
	}
	ce := &ComponentError{Runtime: "python3.9", Arch: images.Arm64, Component: "boto3", Err: errors.New("x")}
	if ce.Error() != "python3.9 (arm64): component boto3: x" {
		t.Errorf("%q", ce.Error())
	}
	ce.Arch = ""
	if ce.Error() != "python3.9: component boto3: x" {
		t.Errorf("%q", ce.Error())
	}
}

type recorder struct {
	mu     sync.Mutex
	events []builder.Event
}

func (r *recorder) Report(e builder.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

// The status stream becomes progress events and counts; a component vertex
// is cached when BuildKit says so.
func TestTracker(t *testing.T) {
	rec := &recorder{}
	tr := newTracker("python3.9", rec)
	comp, dl, other, failed := digest.FromString("c"), digest.FromString("d"), digest.FromString("o"), digest.FromString("f")
	tr.addDigests(map[digest.Digest]VertexInfo{
		comp:   {Role: RoleComponent, Runtime: "python3.9", Arch: images.X86_64, Component: "boto3", Version: "1"},
		dl:     {Role: RoleDownload, Runtime: "python3.9", Arch: images.X86_64, Component: "rie", Version: "1.22", URL: "u"},
		failed: {Role: RoleComponent, Runtime: "python3.9", Arch: images.Arm64, Component: "rie", Version: "1.22", URL: "u"},
	})
	now := time.Now()
	ch := make(chan *client.SolveStatus, 8)
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: comp, Name: "rtbuild [x86_64] boto3 1", Started: &now},
		{Digest: dl, Name: "rtbuild [x86_64] rie 1.22: download u", Started: &now},
		{Digest: other, Name: "exporting to image", Started: &now},
	}}
	ch <- &client.SolveStatus{Statuses: []*client.VertexStatus{{Vertex: dl, ID: "x", Current: 1234}}}
	ch <- &client.SolveStatus{Vertexes: []*client.Vertex{
		{Digest: comp, Name: "rtbuild [x86_64] boto3 1", Started: &now, Completed: &now, Cached: true},
		{Digest: dl, Name: "rtbuild [x86_64] rie 1.22: download u", Started: &now, Completed: &now},
		{Digest: other, Name: "exporting to image", Started: &now, Completed: &now},
		{Digest: failed, Name: "rtbuild [arm64] rie 1.22", Started: &now, Completed: &now, Error: "digest mismatch sha256:" + strings.Repeat("1", 64) + ": sha256:" + strings.Repeat("2", 64)},
	}}
	close(ch)
	tr.run(ch)

	var got []string
	for _, e := range rec.events {
		got = append(got, e.Status+" "+e.Arch+" "+e.Component+" "+e.Message)
	}
	want := []string{
		"building x86_64 boto3 ",
		"running   exporting to image",
		"cached x86_64 boto3 ",
		"downloaded x86_64 rie rtbuild [x86_64] rie 1.22: download u",
		"finished   exporting to image",
		"building arm64 rie ",
		"failed arm64 rie digest mismatch sha256:" + strings.Repeat("1", 64) + ": sha256:" + strings.Repeat("2", 64),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if c := tr.counts(); c != (Counts{Vertices: 4, VerticesCached: 1, Components: 2, ComponentsCached: 1}) {
		t.Errorf("counts %+v", c)
	}
	if cached, seen := tr.cached(comp); !cached || !seen {
		t.Errorf("boto3 cached=%v seen=%v", cached, seen)
	}
	st := tr.failed()
	if st == nil || st.info.Component != "rie" {
		t.Fatalf("failed vertex %+v", st)
	}
	err := infoError("python3.9", *st.info, errors.New(st.err))
	if err == nil || !strings.HasPrefix(err.Error(), "python3.9 (arm64): component rie: digest mismatch for u: expected sha256:2") {
		t.Errorf("error %v", err)
	}
}

func TestCheck(t *testing.T) {
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	plan, err := builder.MakePlan(cat, builder.Request{Runtimes: []string{"python3.9", "provided.al2"}}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := ParseCacheSpec("type=registry,ref=r.example/cache:x", true)
	var u *builder.UsageError
	if err := Check(plan, builder.Publish{}, Options{CacheTo: []CacheSpec{spec}}); !errors.As(err, &u) || !strings.Contains(err.Error(), "{runtime}") {
		t.Errorf("cache-to without {runtime}: %v", err)
	}
	spec, _ = ParseCacheSpec("type=registry,ref=r.example/cache:{runtime}", true)
	if err := Check(plan, builder.Publish{}, Options{CacheTo: []CacheSpec{spec}}); err != nil {
		t.Errorf("cache-to with {runtime}: %v", err)
	}
	if err := Check(plan, builder.Publish{Push: "r.example/x@sha256:" + strings.Repeat("a", 64)}, Options{}); !errors.As(err, &u) {
		t.Errorf("push by digest: %v", err)
	}
	plan.Runtimes[0].Platforms[0].BaseRef = "oci:/some/dir"
	if err := Check(plan, builder.Publish{}, Options{}); !errors.As(err, &u) || !strings.Contains(err.Error(), "--backend native") {
		t.Errorf("local base: %v", err)
	}
}

func TestRegistryHostAndRefs(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000/a/b:c": "127.0.0.1:5000", "ghcr.io/a:b": "ghcr.io", "library/alpine": "docker.io",
		"alpine": "docker.io", "localhost/x": "localhost",
	} {
		if got := registryHost(in); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", in, got, want)
		}
	}
	if got := withDigest("127.0.0.1:5000/a/b:v1", "sha256:x"); got != "127.0.0.1:5000/a/b@sha256:x" {
		t.Errorf("withDigest: %s", got)
	}
	if got := pin("r/x:2", digest.Digest("sha256:y")); got != "r/x:2@sha256:y" {
		t.Errorf("pin: %s", got)
	}
	if got := pin("r/x:2@sha256:z", digest.Digest("sha256:y")); got != "r/x:2@sha256:z" {
		t.Errorf("pin of a pinned ref: %s", got)
	}
}

package layers

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/layers/fetch"
	"github.com/rtbuild/rtbuild/layers/mirror"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// nodeTarGz is a tiny stand-in for an upstream Node.js tarball.
func nodeTarGz(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range []struct {
		name string
		mode int64
		body string
	}{
		{"node-v14.21.3-linux-x64/", 0o755, ""},
		{"node-v14.21.3-linux-x64/bin/", 0o755, ""},
		{"node-v14.21.3-linux-x64/bin/node", 0o755, "\x7fELF"},
	} {
		hdr := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), ModTime: time.Now(), Uid: 1000, Uname: "iojs"}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag = tar.TypeDir
		}
		tw.WriteHeader(hdr)
		io.WriteString(tw, e.body)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func artifact(t *testing.T, url string, data []byte) *fetch.Artifact {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifact")
	if err := os.WriteFile(p, data, 0o444); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return &fetch.Artifact{URL: url, FetchedURL: url, SHA256: hex.EncodeToString(sum[:]), Path: p, Size: int64(len(data))}
}

func openCache(t *testing.T) *cache.Cache {
	t.Helper()
	c, err := cache.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// contents lists a cached layer as "name mode [=body]" lines.
func contents(t *testing.T, c *cache.Cache, e *cache.Entry) []string {
	t.Helper()
	l, err := c.Layer(e)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Layer(l); err != nil {
		t.Fatalf("validate.Layer: %v", err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		line := fmt.Sprintf("%s %04o %d:%d %s", hdr.Name, hdr.Mode, hdr.Uid, hdr.Gid, hdr.ModTime.UTC().Format(time.DateOnly))
		if hdr.Typeflag == tar.TypeReg {
			b, _ := io.ReadAll(tr)
			line += " =" + string(b)
		}
		out = append(out, line)
	}
}

func nodeRecipe(t *testing.T) Recipe {
	return Recipe{
		Component: "nodejs14", Version: "14.21.3", Kind: KindArchive,
		Strip: 1, Dest: "/var/lang", Epoch: epoch,
		Inputs: []*fetch.Artifact{artifact(t, "https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.gz", nodeTarGz(t))},
	}
}

func TestBuildArchiveThenHit(t *testing.T) {
	c := openCache(t)
	r := nodeRecipe(t)
	e, hit, err := Build(context.Background(), c, r)
	if err != nil {
		t.Fatal(err)
	}
	if hit || e.Key != r.Key() {
		t.Fatalf("first Build: hit=%v key=%s", hit, e.Key)
	}
	want := []string{
		"var/ 0755 0:0 2024-01-01",
		"var/lang/ 0755 0:0 2024-01-01",
		"var/lang/bin/ 0755 0:0 2024-01-01",
		"var/lang/bin/node 0755 0:0 2024-01-01 =\x7fELF",
	}
	if got := contents(t, c, e); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("layer %q, want %q", got, want)
	}

	e2, hit, err := Build(context.Background(), c, r)
	if err != nil || !hit || *e2 != *e {
		t.Fatalf("second Build: %+v hit=%v err=%v", e2, hit, err)
	}

	// Another machine, another cache: the same layer bytes.
	e3, hit, err := Build(context.Background(), openCache(t), r)
	if err != nil || hit || e3.Digest != e.Digest || e3.DiffID != e.DiffID {
		t.Fatalf("build in a fresh cache: %+v hit=%v err=%v, want digest %s", e3, hit, err, e.Digest)
	}
}

func TestKey(t *testing.T) {
	base := nodeRecipe(t)
	if base.Key() != base.Key() || len(base.Key()) != 64 {
		t.Fatal("Key is not a stable hex sha256")
	}
	// A recipe that differs only in where its input was fetched from
	// (a mirror) or in the input's local path has the same key.
	same := base
	in := *base.Inputs[0]
	in.FetchedURL, in.Path = "http://127.0.0.1:9999/mirror/node-v14.21.3-linux-x64.tar.gz", "/elsewhere"
	same.Inputs = []*fetch.Artifact{&in}
	if same.Key() != base.Key() {
		t.Error("the fetched URL or local path changed the key")
	}

	mutations := map[string]func(r *Recipe){
		"version":    func(r *Recipe) { r.Version = "14.21.4" },
		"component":  func(r *Recipe) { r.Component = "nodejs16" },
		"kind":       func(r *Recipe) { r.Kind = KindFile },
		"format":     func(r *Recipe) { r.Format = "tar.gz" },
		"strip":      func(r *Recipe) { r.Strip = 2 },
		"subdir":     func(r *Recipe) { r.Subdir = "bin" },
		"dest":       func(r *Recipe) { r.Dest = "/opt" },
		"path":       func(r *Recipe) { r.Path = "/x" },
		"mode":       func(r *Recipe) { r.Mode = 0o755 },
		"epoch":      func(r *Recipe) { r.Epoch = epoch.Add(time.Second) },
		"content":    func(r *Recipe) { r.Content = []byte{} },
		"content2":   func(r *Recipe) { r.Content = []byte("x") },
		"no inputs":  func(r *Recipe) { r.Inputs = nil },
		"two inputs": func(r *Recipe) { r.Inputs = append(r.Inputs, r.Inputs[0]) },
		"digest": func(r *Recipe) {
			in := *r.Inputs[0]
			in.SHA256 = strings.Repeat("0", 64)
			r.Inputs = []*fetch.Artifact{&in}
		},
		"basename": func(r *Recipe) {
			in := *r.Inputs[0]
			in.URL = "https://nodejs.org/dist/v14.21.3/renamed.tar.gz"
			r.Inputs = []*fetch.Artifact{&in}
		},
	}
	seen := map[string]string{base.Key(): "base"}
	for name, mutate := range mutations {
		r := base
		mutate(&r)
		k := r.Key()
		if prev, dup := seen[k]; dup {
			t.Errorf("changing %s gives the key of %s", name, prev)
		}
		seen[k] = name
	}
}

// TestKeyGolden pins the canonical encoding: if this fails, every cached
// layer is rebuilt; change it only on purpose (with FormatVersion).
func TestKeyGolden(t *testing.T) {
	r := Recipe{
		Component: "rie", Version: "1.10", Kind: KindArchive, Format: "raw", Dest: "/usr/local/bin", Epoch: epoch,
		Inputs: []*fetch.Artifact{{URL: "https://github.com/aws/aws-lambda-runtime-interface-emulator/releases/download/v1.10/aws-lambda-rie", SHA256: strings.Repeat("ab", 32)}},
	}
	const want = "67979ef4a64a277db216cd242f0edba4fb33a003e2b718d7f2ceffff42fe0255"
	if got := r.Key(); got != want {
		t.Fatalf("Key() = %s, want %s", got, want)
	}
}

func TestBuildFile(t *testing.T) {
	c := openCache(t)
	inline := Recipe{Component: "bootstrap", Version: "1", Kind: KindFile, Path: "/var/runtime/bootstrap", Mode: 0o755,
		Content: []byte("#!/bin/sh\nexec node\n"), Epoch: epoch}
	e, hit, err := Build(context.Background(), c, inline)
	if err != nil || hit {
		t.Fatalf("Build: %v hit=%v", err, hit)
	}
	want := "[var/ 0755 0:0 2024-01-01 var/runtime/ 0755 0:0 2024-01-01 var/runtime/bootstrap 0755 0:0 2024-01-01 =#!/bin/sh\nexec node\n]"
	if got := fmt.Sprint(contents(t, c, e)); got != want {
		t.Fatalf("layer %q, want %q", got, want)
	}

	downloaded := Recipe{Component: "rie", Version: "1.10", Kind: KindFile, Path: "/usr/local/bin/aws-lambda-rie", Mode: 0o755, Epoch: epoch,
		Inputs: []*fetch.Artifact{artifact(t, "https://example.com/aws-lambda-rie-x86_64", []byte("ELF"))}}
	e, _, err = Build(context.Background(), c, downloaded)
	if err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c, e); got[len(got)-1] != "usr/local/bin/aws-lambda-rie 0755 0:0 2024-01-01 =ELF" {
		t.Fatalf("layer %q", got)
	}

	defaultMode := Recipe{Component: "conf", Kind: KindFile, Path: "/etc/x.conf", Content: []byte("x=1\n"), Epoch: epoch}
	e, _, err = Build(context.Background(), c, defaultMode)
	if err != nil {
		t.Fatal(err)
	}
	if got := contents(t, c, e); got[len(got)-1] != "etc/x.conf 0644 0:0 2024-01-01 =x=1\n" {
		t.Fatalf("layer %q", got)
	}
}

func TestBuildErrors(t *testing.T) {
	bad := nodeRecipe(t)
	bad.Inputs = []*fetch.Artifact{artifact(t, "https://example.com/broken.tar.gz", []byte("not gzip"))}
	tests := []struct {
		name    string
		r       Recipe
		wantErr string
	}{
		{"broken archive", bad, "component nodejs14: https://example.com/broken.tar.gz: not a tar.gz"},
		{"archive without inputs", Recipe{Component: "x", Kind: KindArchive}, "needs at least one artifact"},
		{"file without content", Recipe{Component: "x", Kind: KindFile, Path: "/a"}, "either content or exactly one artifact"},
		{"file relative path", Recipe{Component: "x", Kind: KindFile, Path: "a", Content: []byte{}}, "must be absolute"},
		{"unknown kind", Recipe{Component: "x", Kind: "rpm"}, `unknown kind "rpm"`},
		{"nil input", Recipe{Component: "x", Kind: KindArchive, Inputs: []*fetch.Artifact{nil}}, "no downloaded file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := openCache(t)
			_, _, err := Build(context.Background(), c, tt.r)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if _, ok, _ := c.Get(tt.r.Key()); ok {
				t.Fatal("a failed build was cached")
			}
		})
	}
}

func TestBuildCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := openCache(t)
	r := nodeRecipe(t)
	if _, _, err := Build(ctx, c, r); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if _, ok, _ := c.Get(r.Key()); ok {
		t.Fatal("a cancelled build was cached")
	}
}

// TestFetchAndBuild runs the whole path: a mirror, the download store, the
// layer cache; the second round needs neither network nor building.
func TestFetchAndBuild(t *testing.T) {
	data := nodeTarGz(t)
	sum := sha256.Sum256(data)
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Write(data)
	}))
	defer srv.Close()
	rules, err := mirror.Parse("https://nodejs.org/dist=" + srv.URL + "/nodejs.org/dist")
	if err != nil {
		t.Fatal(err)
	}
	store, err := fetch.NewStore(t.TempDir(), fetch.Options{Mirrors: rules})
	if err != nil {
		t.Fatal(err)
	}
	c := openCache(t)
	for round, wantHit := range []bool{false, true} {
		a, err := store.Fetch(context.Background(), "https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.gz", hex.EncodeToString(sum[:]))
		if err != nil {
			t.Fatal(err)
		}
		r := Recipe{Component: "nodejs14", Version: "14.21.3", Kind: KindArchive, Strip: 1, Dest: "/var/lang", Epoch: epoch, Inputs: []*fetch.Artifact{a}}
		_, hit, err := Build(context.Background(), c, r)
		if err != nil || hit != wantHit {
			t.Fatalf("round %d: hit=%v err=%v", round, hit, err)
		}
	}
	if requests.Load() != 1 {
		t.Fatalf("%d requests, want 1", requests.Load())
	}
}

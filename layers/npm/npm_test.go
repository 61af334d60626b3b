package npm

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// testRegistry serves testdata/registry's packuments (recorded abbreviated
// format) with tarballs the test generates; it fills in the tarball URLs
// and the digests of those tarballs where the packuments say "TEST".
type testRegistry struct {
	*httptest.Server
	t        *testing.T
	mu       sync.Mutex
	tarballs map[string][]byte // URL path -> bytes
	tampered map[string]bool   // URL path -> serve altered bytes
	requests []string          // escaped paths of packument requests
	accepts  []string          // their Accept headers
}

func newTestRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{t: t, tarballs: map[string][]byte{}, tampered: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

func (r *testRegistry) serve(w http.ResponseWriter, req *http.Request) {
	p := req.URL.EscapedPath()
	if strings.HasSuffix(p, ".tgz") {
		r.mu.Lock()
		b, ok := r.tarballs[req.URL.Path]
		bad := r.tampered[req.URL.Path]
		r.mu.Unlock()
		if !ok {
			http.NotFound(w, req)
			return
		}
		if bad {
			b = append(append([]byte(nil), b...), 0)
		}
		w.Write(b)
		return
	}
	r.mu.Lock()
	r.requests = append(r.requests, p)
	r.accepts = append(r.accepts, req.Header.Get("Accept"))
	r.mu.Unlock()
	file := filepath.Join("testdata", "registry", strings.TrimPrefix(p, "/")+".json")
	raw, err := os.ReadFile(file)
	if err != nil {
		http.NotFound(w, req)
		return
	}
	var pk map[string]any
	if err := json.Unmarshal(raw, &pk); err != nil {
		r.t.Errorf("%s: %v", file, err)
		http.Error(w, err.Error(), 500)
		return
	}
	for v, m := range pk["versions"].(map[string]any) {
		man := m.(map[string]any)
		d := man["dist"].(map[string]any)
		u := strings.Replace(d["tarball"].(string), "http://registry.test", r.URL, 1)
		d["tarball"] = u
		tgz := makeTarball(r.t, man["name"].(string), v)
		r.mu.Lock()
		r.tarballs[strings.TrimPrefix(u, r.URL)] = tgz
		r.mu.Unlock()
		if d["integrity"] == "sha512-TEST" {
			s := sha512.Sum512(tgz)
			d["integrity"] = "sha512-" + base64.StdEncoding.EncodeToString(s[:])
		}
		if d["shasum"] == "TEST" {
			s := sha1.Sum(tgz)
			d["shasum"] = hex.EncodeToString(s[:])
		}
	}
	w.Header().Set("Content-Type", "application/vnd.npm.install-v1+json")
	json.NewEncoder(w).Encode(pk)
}

// makeTarball builds an npm tarball: package/package.json and package/index.js.
func makeTarball(t *testing.T, name, version string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(path, body string) {
		hdr := &tar.Header{Name: path, Mode: 0o644, Size: int64(len(body)), ModTime: time.Unix(499162500, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	add("package/package.json", fmt.Sprintf(`{"name":%q,"version":%q}`, name, version))
	add("package/index.js", "module.exports = "+fmt.Sprintf("%q", name+"@"+version)+";\n")
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func summary(arts []resolve.Artifact) string {
	var lines []string
	for _, a := range arts {
		lines = append(lines, a.Dest+" "+a.Name+"@"+a.Version)
	}
	return strings.Join(lines, "\n")
}

func TestResolveTree(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	o := resolve.Options{Retries: -1}
	arts, err := Resolve(ctx, o, reg.URL+"/", "/var/runtime/node_modules", []string{"app@^1.0.0", "plugin@1"})
	if err != nil {
		t.Fatal(err)
	}
	// The layout npm 11.19 lays down from this test registry (checked with
	// `npm install app@^1.0.0 plugin@1 --os linux --cpu x64`).
	// lib@1 is hoisted for app and @scope/util; helper needs lib@2, which
	// conflicts, so it is nested. lib@1.2.0 is deprecated, so ^1.0.0 picks
	// 1.1.0. plugin's missing peer host is installed beside it (latest,
	// 3.1.0, satisfies), its optional peer is not. watcher-darwin is an
	// optional dependency for another OS: left out, with darwin-only which
	// only it needs. devDependencies are ignored.
	want := strings.Join([]string{
		"/var/runtime/node_modules/@scope/util @scope/util@1.2.5",
		"/var/runtime/node_modules/app app@1.0.0",
		"/var/runtime/node_modules/helper helper@2.0.0",
		"/var/runtime/node_modules/helper/node_modules/lib lib@2.0.0",
		"/var/runtime/node_modules/host host@3.1.0",
		"/var/runtime/node_modules/lib lib@1.1.0",
		"/var/runtime/node_modules/plugin plugin@1.0.0",
		"/var/runtime/node_modules/watcher-linux watcher-linux@1.0.0",
	}, "\n")
	if got := summary(arts); got != want {
		t.Fatalf("tree:\n%s\nwant:\n%s", got, want)
	}
	byDest := map[string]resolve.Artifact{}
	for _, a := range arts {
		byDest[strings.TrimPrefix(a.Dest, "/var/runtime/node_modules/")] = a
		if a.SHA256 != "" {
			t.Errorf("%s: SHA256 set before Pin", a.Dest)
		}
	}
	nested := byDest["helper/node_modules/lib"]
	if nested.RequiredBy != "helper 2.0.0 -> lib" || byDest["app"].RequiredBy != "" {
		t.Errorf("RequiredBy: nested lib %q, app %q", nested.RequiredBy, byDest["app"].RequiredBy)
	}
	if want := reg.URL + "/lib/-/lib-2.0.0.tgz"; nested.URL != want {
		t.Errorf("URL %q, want %q", nested.URL, want)
	}
	if !strings.HasPrefix(nested.Digest, "sha512-") {
		t.Errorf("digest %q, want the SRI integrity", nested.Digest)
	}
	if d := byDest["watcher-linux"].Digest; !strings.HasPrefix(d, "sha1:") || len(d) != 45 {
		t.Errorf("watcher-linux has no integrity: digest %q, want sha1:<shasum>", d)
	}

	// The scoped package was asked for escaped.
	found := false
	for _, p := range reg.requests {
		found = found || p == "/@scope%2futil"
	}
	if !found {
		t.Errorf("no request for /@scope%%2futil among %q", reg.requests)
	}
	for i, a := range reg.accepts {
		if a != Accept {
			t.Errorf("GET %s with Accept %q, want %q", reg.requests[i], a, Accept)
		}
	}

	// Pin verifies every tarball and gives its sha256.
	for i, a := range arts {
		sum, err := o.Pin(ctx, a.URL, a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		arts[i].SHA256 = sum
	}

	// The tarballs install where Dest says, with the unpack machinery.
	dir := t.TempDir()
	var layer bytes.Buffer
	w := unpack.NewWriter(&layer, time.Time{})
	for i, a := range arts {
		file := filepath.Join(dir, fmt.Sprintf("%d.tgz", i))
		b, err := o.Get(ctx, a.URL)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(file, b, 0o644)
		if err := w.AddArchive(file, unpack.Options{Format: unpack.FormatTarGz, Strip: 1, Dest: a.Dest, Name: a.URL}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	files := map[string]string{}
	tr := tar.NewReader(&layer)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[strings.TrimPrefix(h.Name, "/")] = string(b)
	}
	if got := files["var/runtime/node_modules/helper/node_modules/lib/package.json"]; got != `{"name":"lib","version":"2.0.0"}` {
		t.Errorf("nested lib's package.json: %q (layer has %d entries)", got, len(files))
	}
}

// TestResolveReplace checks replacing and pruning, on a tree whose layout
// was taken from `npm install alpha@1 zeta@1` (npm 11.19) against this test
// registry: alpha puts core@1.0.0 (latest) at the top, and core@1.0.0 puts
// dep@1.0.0 there, so extra's dep@^2 is nested; zeta's core@^1.2.0 then
// replaces core@1.0.0 by 1.5.0, which every dependent accepts, and dep@1.0.0,
// needed by nothing left, is pruned (extra's copy stays nested, as in npm).
func TestResolveReplace(t *testing.T) {
	reg := newTestRegistry(t)
	arts, err := Resolve(context.Background(), resolve.Options{Retries: -1}, reg.URL, "/nm", []string{"alpha@1", "zeta@1"})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"/nm/alpha alpha@1.0.0",
		"/nm/core core@1.5.0",
		"/nm/extra extra@1.0.0",
		"/nm/extra/node_modules/core core@2.0.0",
		"/nm/extra/node_modules/dep dep@2.0.0",
		"/nm/zeta zeta@1.0.0",
	}, "\n")
	if got := summary(arts); got != want {
		t.Fatalf("tree:\n%s\nwant (npm's):\n%s", got, want)
	}
}

func TestResolveVersionPicking(t *testing.T) {
	reg := newTestRegistry(t)
	for spec, want := range map[string]string{
		"lib":               "lib@2.0.0",        // latest
		"lib@*":             "lib@2.0.0",        // latest satisfies
		"lib@next":          "lib@2.1.0-beta.1", // a dist-tag
		"lib@>=1":           "lib@2.0.0",        // prereleases excluded
		"lib@^2.1.0-beta.0": "lib@2.1.0-beta.1", // same-tuple prerelease allowed
		"lib@~1.2.0":        "lib@1.2.0",        // deprecated, but the only one
		"lib@1.0.0 - 1.2.0": "lib@1.1.0",        // hyphen range, non-deprecated first
		"lib@=v1.0.0":       "lib@1.0.0",        // loose exact version
		"lib@1.x || 2.x":    "lib@2.0.0",
		"host@^3":           "host@3.1.0", // latest (not the highest) when it satisfies
		"host@>3.1":         "host@4.0.0",
	} {
		arts, err := Resolve(context.Background(), resolve.Options{Retries: -1}, reg.URL, "/nm", []string{spec})
		if err != nil {
			t.Errorf("%s: %v", spec, err)
			continue
		}
		if got := arts[0].Name + "@" + arts[0].Version; got != want {
			t.Errorf("%s: got %s, want %s", spec, got, want)
		}
	}
}

func TestResolveErrors(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	o := resolve.Options{Retries: -1}
	_, err := Resolve(ctx, o, reg.URL, "/nm", []string{"broken@1.0.0"})
	if err == nil || !strings.Contains(err.Error(), "broken@1.0.0 > helper@1.0.0 > lib@>=9: no version satisfies (have 2.1.0-beta.1, 2.0.0, 1.2.0, 1.1.0, 1.0.0)") {
		t.Errorf("unsatisfiable range: %v", err)
	}
	_, err = Resolve(ctx, o, reg.URL, "/nm", []string{"app@1", "nope@^1"})
	if err == nil || !strings.Contains(err.Error(), `"nope" not found`) || !strings.Contains(err.Error(), reg.URL) {
		t.Errorf("unknown package: %v", err)
	}
	_, err = Resolve(ctx, o, reg.URL, "/nm", []string{"lib@^7"})
	if err == nil || !strings.Contains(err.Error(), "lib@^7: no version satisfies") {
		t.Errorf("unsatisfiable request: %v", err)
	}
	_, err = Resolve(ctx, o, reg.URL, "/nm", []string{"lib@github:someone/lib"})
	if err == nil || !strings.Contains(err.Error(), "unsupported dependency spec") {
		t.Errorf("git spec: %v", err)
	}
}

func TestResolvePlatform(t *testing.T) {
	reg := newTestRegistry(t)
	arts, err := ResolveFor(context.Background(), resolve.Options{Retries: -1}, reg.URL, "/nm",
		Platform{OS: "linux", CPU: CPU("ppc64"), Libc: "glibc"}, []string{"app@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if strings.HasPrefix(a.Name, "watcher") || a.Name == "darwin-only" {
			t.Errorf("%s installed for linux/ppc64", a.Name)
		}
	}
	arts, err = ResolveFor(context.Background(), resolve.Options{Retries: -1}, reg.URL, "/nm",
		Platform{OS: "darwin", CPU: CPU("arm64")}, []string{"app@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(arts); !strings.Contains(got, "/nm/darwin-only darwin-only@1.0.0") || strings.Contains(got, "watcher-linux") {
		t.Errorf("darwin/arm64 tree:\n%s", got)
	}
}

func TestPinTamperedTarball(t *testing.T) {
	reg := newTestRegistry(t)
	ctx := context.Background()
	o := resolve.Options{Retries: -1}
	arts, err := Resolve(ctx, o, reg.URL, "/nm", []string{"lib@1.1.0"})
	if err != nil {
		t.Fatal(err)
	}
	a := arts[0]
	if _, err := o.Pin(ctx, a.URL, a.Digest); err != nil {
		t.Fatalf("untampered: %v", err)
	}
	reg.mu.Lock()
	reg.tampered[strings.TrimPrefix(a.URL, reg.URL)] = true
	reg.mu.Unlock()
	_, err = o.Pin(ctx, a.URL, a.Digest)
	var mm *resolve.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("tampered tarball: %v, want a *resolve.MismatchError", err)
	}
	if mm.URL != a.URL || mm.Want != a.Digest || mm.Got == a.Digest || !strings.HasPrefix(mm.Got, "sha512-") {
		t.Errorf("mismatch %+v for %s (digest %s)", mm, a.URL, a.Digest)
	}
	for _, s := range []string{a.URL, a.Digest, mm.Got} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

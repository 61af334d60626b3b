package maven

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// jar is the generated content of the jar at repository path p.
func jar(p string) []byte {
	return bytes.Repeat([]byte("PK fixture jar "+p+"\n"), 32)
}

func hexsum(algo string, b []byte) string {
	switch algo {
	case "sha1":
		s := sha1.Sum(b)
		return hex.EncodeToString(s[:])
	case "sha512":
		s := sha512.Sum512(b)
		return hex.EncodeToString(s[:])
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// repo serves testdata/repo in the Maven 2 layout: POMs from testdata, jars
// generated beside every POM, and the checksum files the fixture publishes
// for each artifact (by default .sha1 and .md5 only, as for releases of
// that era), computed from the bytes it serves.
type repo struct {
	*httptest.Server
	mu        sync.Mutex
	published map[string][]string // artifact dir ("org/example/app/1.0") -> checksum kinds
	tampered  map[string]bool     // file paths served with other bytes
	requested []string
}

func newRepo(t *testing.T) *repo {
	t.Helper()
	r := &repo{published: map[string][]string{}, tampered: map[string]bool{}}
	r.Server = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.Close)
	return r
}

// original returns the bytes of the file at p (no checksum suffix).
func (r *repo) original(p string) ([]byte, bool) {
	switch filepath.Ext(p) {
	case ".pom":
		b, err := os.ReadFile(filepath.Join("testdata/repo", p))
		return b, err == nil
	case ".jar":
		dir := filepath.Dir(p)
		parts := strings.Split(dir, "/")
		if len(parts) < 2 {
			return nil, false
		}
		pom := filepath.Join("testdata/repo", dir, parts[len(parts)-2]+"-"+parts[len(parts)-1]+".pom")
		if _, err := os.Stat(pom); err != nil {
			return nil, false
		}
		return jar(p), true
	}
	return nil, false
}

func (r *repo) serve(w http.ResponseWriter, req *http.Request) {
	p := strings.TrimPrefix(req.URL.Path, "/maven2/")
	r.mu.Lock()
	r.requested = append(r.requested, p)
	r.mu.Unlock()
	for _, kind := range []string{"sha1", "sha256", "sha512", "md5"} {
		if !strings.HasSuffix(p, "."+kind) {
			continue
		}
		file := strings.TrimSuffix(p, "."+kind)
		b, ok := r.original(file)
		kinds := r.published[filepath.Dir(file)]
		if kinds == nil {
			kinds = []string{"sha1", "md5"}
		}
		published := false
		for _, k := range kinds {
			published = published || k == kind
		}
		if !ok || !published {
			http.NotFound(w, req)
			return
		}
		if kind == "md5" {
			w.Write([]byte("d41d8cd98f00b204e9800998ecf8427e"))
			return
		}
		w.Write([]byte(hexsum(kind, b)))
		return
	}
	b, ok := r.original(p)
	if !ok {
		http.NotFound(w, req)
		return
	}
	if r.tampered[p] {
		b = append(b, "tampered"...)
	}
	w.Write(b)
}

func (r *repo) fetched(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, q := range r.requested {
		if q == p {
			return true
		}
	}
	return false
}

func TestRuntimeInterfaceClient(t *testing.T) {
	r := newRepo(t)
	base := r.URL + "/maven2"
	got, err := Resolve(context.Background(), resolve.Options{}, base, []string{"com.amazonaws:aws-lambda-java-runtime-interface-client:2.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, version, path, requiredBy string }{
		{"com.amazonaws:aws-lambda-java-runtime-interface-client", "2.0.0", "com/amazonaws/aws-lambda-java-runtime-interface-client/2.0.0/aws-lambda-java-runtime-interface-client-2.0.0.jar", ""},
		{"com.amazonaws:aws-lambda-java-core", "1.2.1", "com/amazonaws/aws-lambda-java-core/1.2.1/aws-lambda-java-core-1.2.1.jar",
			"com.amazonaws:aws-lambda-java-runtime-interface-client 2.0.0 -> com.amazonaws:aws-lambda-java-core"},
		{"com.amazonaws:aws-lambda-java-serialization", "1.0.0", "com/amazonaws/aws-lambda-java-serialization/1.0.0/aws-lambda-java-serialization-1.0.0.jar",
			"com.amazonaws:aws-lambda-java-runtime-interface-client 2.0.0 -> com.amazonaws:aws-lambda-java-serialization"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d artifacts %+v, want %d", len(got), got, len(want))
	}
	for i, w := range want {
		a := got[i]
		b := jar(w.path)
		if a.Name != w.name || a.Version != w.version || a.URL != base+"/"+w.path || a.RequiredBy != w.requiredBy {
			t.Errorf("artifact %d = %+v, want %+v", i, a, w)
		}
		if a.Digest != "sha1:"+hexsum("sha1", b) || a.SHA256 != hexsum("sha256", b) {
			t.Errorf("%s: digest %s sha256 %s, want the published sha1 and the bytes' sha256", a.Name, a.Digest, a.SHA256)
		}
	}
	if r.fetched("org/junit/jupiter/junit-jupiter-engine/5.7.0/junit-jupiter-engine-5.7.0.pom") {
		t.Error("a test-scoped dependency was followed")
	}
}

func TestParentPropertiesManagementAndNearestWins(t *testing.T) {
	r := newRepo(t)
	r.published["org/example/app/1.0"] = []string{"sha1", "sha512", "sha256"}
	r.published["org/example/lib-b/2.0"] = []string{"sha1", "sha512"}
	base := r.URL + "/maven2"
	got, err := Resolve(context.Background(), resolve.Options{}, base, []string{"org.example:app:1.0"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	byName := map[string]resolve.Artifact{}
	for _, a := range got {
		names = append(names, a.Name+":"+a.Version)
		byName[a.Name] = a
	}
	// Breadth-first: the requested coordinate, its dependencies in declaration
	// order, then theirs. lib-b 2.0 (managed by the parent through
	// ${lib.version}, over the BOM's 9.9) beats lib-d's lib-b 1.0; lib-d 1.0
	// (depth 2) beats lib-e's lib-d 2.0 (depth 3); shared 1.0 (lib-a, declared
	// first) beats lib-c's shared 2.0 at the same depth.
	want := []string{
		"org.example:app:1.0",
		"org.example:lib-a:1.0", "org.example:lib-b:2.0", "org.example:from-bom:3.1", "org.example:managed:1.5", "org.example:lib-c:1.0",
		"org.example:lib-d:1.0", "org.example:shared:1.0", "org.example:lib-e:1.0",
	}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("closure\n got %v\nwant %v", names, want)
	}
	for _, loser := range []string{
		"org/example/lib-b/1.0/lib-b-1.0.pom", "org/example/lib-d/2.0/lib-d-2.0.pom", "org/example/shared/2.0/shared-2.0.pom",
		"org/example/excluded/1.0/excluded-1.0.pom", "org/example/opt/1.0/opt-1.0.pom", "junit/junit/4.13.2/junit-4.13.2.pom",
		"javax/servlet/javax.servlet-api/4.0.1/javax.servlet-api-4.0.1.pom",
	} {
		if r.fetched(loser) {
			t.Errorf("%s was fetched: a losing, excluded, optional, test or provided dependency was followed", loser)
		}
	}
	// Checksum preference: .sha256, then .sha512, then .sha1.
	app := jar("org/example/app/1.0/app-1.0.jar")
	if a := byName["org.example:app"]; a.Digest != "sha256:"+hexsum("sha256", app) {
		t.Errorf("app digest %s, want the published sha256", a.Digest)
	}
	libB := jar("org/example/lib-b/2.0/lib-b-2.0.jar")
	if a := byName["org.example:lib-b"]; a.Digest != "sha512:"+hexsum("sha512", libB) || a.SHA256 != hexsum("sha256", libB) {
		t.Errorf("lib-b digest %s sha256 %s, want the published sha512 and the bytes' sha256", a.Digest, a.SHA256)
	}
	if a := byName["org.example:lib-e"]; a.RequiredBy != "org.example:app 1.0 -> org.example:lib-c 1.0 -> org.example:lib-e" {
		t.Errorf("lib-e required by %q", a.RequiredBy)
	}
}

func TestMissingDependencyNamesChain(t *testing.T) {
	r := newRepo(t)
	_, err := Resolve(context.Background(), resolve.Options{}, r.URL+"/maven2", []string{"org.example:broken:1.0"})
	if err == nil {
		t.Fatal("resolved a closure with a missing dependency")
	}
	for _, s := range []string{"org.example:broken:1.0 -> org.example:lib-x:9.9", "not in the repository", "lib-x-9.9.pom"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not contain %q", err, s)
		}
	}
	if !resolve.NotFound(err) {
		t.Errorf("error %v does not wrap the HTTP 404", err)
	}
}

func TestJarMismatch(t *testing.T) {
	r := newRepo(t)
	p := "com/amazonaws/aws-lambda-java-core/1.2.1/aws-lambda-java-core-1.2.1.jar"
	r.tampered[p] = true
	base := r.URL + "/maven2"
	_, err := Resolve(context.Background(), resolve.Options{}, base, []string{"com.amazonaws:aws-lambda-java-runtime-interface-client:2.0.0"})
	var me *resolve.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a *resolve.MismatchError", err)
	}
	want := "sha1:" + hexsum("sha1", jar(p))
	got := "sha1:" + hexsum("sha1", append(jar(p), "tampered"...))
	if me.URL != base+"/"+p || me.Want != want || me.Got != got {
		t.Errorf("mismatch %+v, want URL %s want %s got %s", me, base+"/"+p, want, got)
	}
	if !strings.Contains(err.Error(), "aws-lambda-java-runtime-interface-client:2.0.0 -> com.amazonaws:aws-lambda-java-core:1.2.1") {
		t.Errorf("error %q does not name the chain", err)
	}
}

func TestPOMMismatchAndNoChecksum(t *testing.T) {
	r := newRepo(t)
	p := "org/example/lib-b/2.0/lib-b-2.0.pom"
	r.tampered[p] = true
	_, err := Resolve(context.Background(), resolve.Options{}, r.URL+"/maven2", []string{"org.example:lib-b:2.0"})
	var me *resolve.MismatchError
	if !errors.As(err, &me) || me.URL != r.URL+"/maven2/"+p {
		t.Errorf("tampered POM: err = %v, want a *resolve.MismatchError for %s", err, p)
	}

	r2 := newRepo(t)
	r2.published["org/example/shared/1.0"] = []string{"md5"}
	_, err = Resolve(context.Background(), resolve.Options{}, r2.URL+"/maven2", []string{"org.example:shared:1.0"})
	if err == nil || !strings.Contains(err.Error(), "no published checksum") {
		t.Errorf("md5 only: err = %v, want no published checksum", err)
	}
}

func TestCoordinates(t *testing.T) {
	c, err := ParseCoordinate("com.amazonaws:aws-lambda-java-runtime-interface-client:2.3.3:linux-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.path(c.ext(), c.Classifier); got != "com/amazonaws/aws-lambda-java-runtime-interface-client/2.3.3/aws-lambda-java-runtime-interface-client-2.3.3-linux-x86_64.jar" {
		t.Errorf("path = %s", got)
	}
	for _, bad := range []string{"a:b", "a:b:c:d:e", "a::1", "a:b:1 2"} {
		if _, err := ParseCoordinate(bad); err == nil {
			t.Errorf("ParseCoordinate(%q) succeeded", bad)
		}
	}
	if _, err := Resolve(context.Background(), resolve.Options{}, "http://127.0.0.1:1", []string{"a:b:[1.0,2.0)"}); err == nil || !strings.Contains(err.Error(), "range") {
		t.Errorf("version range: err = %v", err)
	}
}

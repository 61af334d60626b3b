package nuget

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"sync"
	"testing"
	"text/template"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// nupkg is the generated content of the package file name
// ("amazon.lambda.core.2.1.0.nupkg").
func nupkg(name string) []byte {
	return bytes.Repeat([]byte("PK fixture nupkg "+name+"\n"), 48)
}

func sha512b64(b []byte) string {
	s := sha512.Sum512(b)
	return base64.StdEncoding.EncodeToString(s[:])
}
func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// source serves testdata as a NuGet v3 source: JSON templated with its base
// URL and the generated packages' hashes, registrations gzip-encoded (as
// the RegistrationsBaseUrl/3.6.0 hive is), packages generated.
type source struct {
	*httptest.Server
	mu        sync.Mutex
	tampered  map[string]bool
	requested []string
}

func newSource(t *testing.T) *source {
	t.Helper()
	s := &source{tampered: map[string]bool{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *source) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requested = append(s.requested, r.URL.Path)
	s.mu.Unlock()
	if strings.HasSuffix(r.URL.Path, ".nupkg") {
		name := path.Base(r.URL.Path)
		if _, err := os.Stat("testdata/v3-flatcontainer/" + strings.Split(r.URL.Path, "/")[2] + "/index.json"); err != nil {
			http.NotFound(w, r)
			return
		}
		b := nupkg(name)
		if s.tampered[name] {
			b = append(b, 0)
		}
		w.Write(b)
		return
	}
	raw, err := os.ReadFile("testdata" + path.Clean(r.URL.Path))
	if err != nil {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>`))
		return
	}
	tmpl := template.Must(template.New("").Funcs(template.FuncMap{
		"sha512b64": func(n string) string { return sha512b64(nupkg(n)) },
		"size":      func(n string) int { return len(nupkg(n)) },
	}).Parse(string(raw)))
	var out bytes.Buffer
	if err := tmpl.Execute(&out, map[string]string{"Base": s.URL}); err != nil {
		panic(err)
	}
	w.Header().Set("Content-Type", "application/json")
	if strings.Contains(r.URL.Path, "/registration5-gz-") && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(out.Bytes())
		zw.Close()
		return
	}
	w.Write(out.Bytes())
}

func (s *source) fetched(p string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, q := range s.requested {
		if q == p {
			return true
		}
	}
	return false
}

func names(as []resolve.Artifact) string {
	var s []string
	for _, a := range as {
		s = append(s, a.Name+" "+a.Version)
	}
	return strings.Join(s, ", ")
}

func TestRuntimeSupportNetstandard(t *testing.T) {
	s := newSource(t)
	got, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Amazon.Lambda.RuntimeSupport@1.5.0"})
	if err != nil {
		t.Fatal(err)
	}
	// Lowest applicable versions: Core 2.1.0 (not 2.2.0), System.Runtime 4.3.0
	// (not 4.3.1); System.Runtime.Loader's .NETStandard1.5 group applies.
	want := "Amazon.Lambda.RuntimeSupport 1.5.0, Amazon.Lambda.Core 2.1.0, System.Runtime.Loader 4.3.0, System.IO 4.3.0, System.Reflection 4.3.0, System.Runtime 4.3.0"
	if names(got) != want {
		t.Fatalf("closure\n got %s\nwant %s", names(got), want)
	}
	rs := got[0]
	b := nupkg("amazon.lambda.runtimesupport.1.5.0.nupkg")
	if rs.URL != s.URL+"/v3-flatcontainer/amazon.lambda.runtimesupport/1.5.0/amazon.lambda.runtimesupport.1.5.0.nupkg" ||
		rs.Digest != "sha512-"+sha512b64(b) || rs.SHA256 != sha256hex(b) || rs.RequiredBy != "" {
		t.Errorf("RuntimeSupport = %+v", rs)
	}
	if got[1].RequiredBy != "Amazon.Lambda.RuntimeSupport 1.5.0 -> Amazon.Lambda.Core" {
		t.Errorf("Core required by %q", got[1].RequiredBy)
	}
	if got[3].RequiredBy != "Amazon.Lambda.RuntimeSupport 1.5.0 -> System.Runtime.Loader 4.3.0 -> System.IO" {
		t.Errorf("System.IO required by %q", got[3].RequiredBy)
	}
	// Amazon.Lambda.Core's registration links its page: it must have been read.
	if !s.fetched("/v3/registration5-gz-semver2/amazon.lambda.core/page/1.0.0/2.2.0.json") {
		t.Error("the linked registration page was not fetched")
	}
}

func TestFrameworkGroupSelection(t *testing.T) {
	s := newSource(t)
	// .NET Framework 4.6.2: RuntimeSupport's .NETStandard2.0 group, then
	// System.Runtime.Loader's own (empty) .NETFramework4.6.2 group.
	got, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "net462", []string{"Amazon.Lambda.RuntimeSupport@1.5.0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Amazon.Lambda.RuntimeSupport 1.5.0, Amazon.Lambda.Core 2.1.0, System.Runtime.Loader 4.3.0"; names(got) != want {
		t.Errorf("net462 closure\n got %s\nwant %s", names(got), want)
	}
	// A long framework name and .NET 6 (net6.0 group, then .NETStandard1.5).
	for _, fw := range []string{".NETCoreApp3.1", "net6.0"} {
		got, err = Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", fw, []string{"Amazon.Lambda.RuntimeSupport@1.5.0"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 6 {
			t.Errorf("%s closure: %s", fw, names(got))
		}
	}
	// Nothing applies to MonoAndroid from System.IO's .NETStandard1.3 group ...
	// but its own MonoAndroid1.0 group does (and is empty).
	got, err = Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "MonoAndroid1.0", []string{"System.IO@4.3.0"})
	if err != nil {
		t.Fatal(err)
	}
	if names(got) != "System.IO 4.3.0" {
		t.Errorf("MonoAndroid closure: %s", names(got))
	}
}

func TestNearestGroup(t *testing.T) {
	groups := []string{"", ".NETFramework4.6.2", ".NETStandard1.3", ".NETStandard2.0", "netcoreapp2.1", "net5.0", "net6.0-windows7.0"}
	for fw, want := range map[string]string{
		"netstandard2.0": ".NETStandard2.0",
		"netstandard1.6": ".NETStandard1.3",
		"netstandard1.0": "",
		"net48":          ".NETFramework4.6.2",
		"net461":         ".NETStandard2.0",
		"net45":          "",
		"netcoreapp3.1":  "netcoreapp2.1",
		"net6.0":         "net5.0",
		"net6.0-windows": "net6.0-windows7.0",
	} {
		f, err := ParseFramework(fw)
		if err != nil {
			t.Fatal(err)
		}
		i, err := f.nearest(groups)
		if err != nil || i < 0 || groups[i] != want {
			t.Errorf("%s: nearest group %d (%v), want %q", fw, i, err, want)
		}
	}
	f, _ := ParseFramework("netstandard1.0")
	if i, _ := f.nearest([]string{".NETStandard2.0"}); i != -1 {
		t.Errorf("netstandard1.0 took a .NETStandard2.0 group")
	}
}

func TestMissingVersionNamesChain(t *testing.T) {
	s := newSource(t)
	_, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Example.Broken@1.0.0"})
	if err == nil {
		t.Fatal("resolved a dependency with no satisfying version")
	}
	for _, want := range []string{"Example.Broken 1.0.0 -> Example.Missing [2.0.0, )", "available: 1.0.0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	_, err = Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Amazon.Lambda.RuntimeSupport@9.9.9"})
	if err == nil || !strings.Contains(err.Error(), "9.9.9") || !strings.Contains(err.Error(), "1.5.0") {
		t.Errorf("missing version: err = %v, want one naming it and the versions there are", err)
	}
	_, err = Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"No.Such.Package@1.0.0"})
	if err == nil || !resolve.NotFound(err) || !strings.Contains(err.Error(), "No.Such.Package") {
		t.Errorf("missing package: err = %v", err)
	}
}

func TestDowngrade(t *testing.T) {
	s := newSource(t)
	_, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3", "netstandard2.0", []string{"System.Runtime@4.1.0", "System.IO@4.3.0"})
	if err == nil || !strings.Contains(err.Error(), "downgrade") || !strings.Contains(err.Error(), "System.IO 4.3.0 -> System.Runtime [4.3.0, )") {
		t.Fatalf("err = %v, want a downgrade naming the chain", err)
	}
}

func TestMismatch(t *testing.T) {
	s := newSource(t)
	name := "amazon.lambda.core.2.1.0.nupkg"
	s.tampered[name] = true
	_, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Amazon.Lambda.RuntimeSupport@1.5.0"})
	var me *resolve.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a *resolve.MismatchError", err)
	}
	u := s.URL + "/v3-flatcontainer/amazon.lambda.core/2.1.0/" + name
	want := "sha512-" + sha512b64(nupkg(name))
	got := "sha512-" + sha512b64(append(nupkg(name), 0))
	if me.URL != u || me.Want != want || me.Got != got {
		t.Errorf("mismatch = %+v, want URL %s want %s got %s", me, u, want, got)
	}
	if !strings.Contains(err.Error(), "Amazon.Lambda.RuntimeSupport 1.5.0 -> Amazon.Lambda.Core 2.1.0") {
		t.Errorf("error %q does not name the chain", err)
	}
}

func TestVersionsAndRanges(t *testing.T) {
	for _, c := range []struct {
		rng, v string
		in     bool
	}{
		{"[1.0.0, )", "1.0.0", true},
		{"[1.0.0, )", "0.9.9", false},
		{"1.0", "1.0.0", true},
		{"(1.0,2.0)", "1.0", false},
		{"(1.0,2.0)", "1.5.0.1", true},
		{"(1.0,2.0)", "2.0.0", false},
		{"[1.0,2.0]", "2.0.0", true},
		{"[1.2.3]", "1.2.3.0", true},
		{"[1.2.3]", "1.2.4", false},
		{"(, 2.0)", "1.9", true},
		{"[1.0.0, )", "2.0.0-beta", false},
		{"[2.0.0-alpha, )", "2.0.0-beta", true},
	} {
		r, err := ParseRange(c.rng)
		if err != nil {
			t.Fatal(err)
		}
		v, err := ParseVersion(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if r.Contains(v) != c.in {
			t.Errorf("%s contains %s = %v, want %v", c.rng, c.v, !c.in, c.in)
		}
	}
	order := []string{"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0", "1.0.0.1", "1.0.1", "1.10.0"}
	for i := 1; i < len(order); i++ {
		a, _ := ParseVersion(order[i-1])
		b, _ := ParseVersion(order[i])
		if a.Compare(b) >= 0 {
			t.Errorf("%s is not before %s", order[i-1], order[i])
		}
	}
	if v, _ := ParseVersion("1.02.3.0+build"); v.String() != "1.2.3" {
		t.Errorf("normalized = %s", v)
	}
	for _, bad := range []string{"", "1.x", "1.2.3.4.5", "[1.0", "(1.0)"} {
		if _, err := ParseRange(bad); bad != "" && err == nil {
			t.Errorf("ParseRange(%q) succeeded", bad)
		}
	}
}

func TestUnlistedSkippedUnlessExact(t *testing.T) {
	s := newSource(t)
	got, err := Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Example.UsesUnlisted@1.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "Example.UsesUnlisted 1.0.0, Example.Unlisted 1.1.0"; names(got) != want {
		t.Errorf("closure %s, want %s (the lowest listed version)", names(got), want)
	}
	got, err = Resolve(context.Background(), resolve.Options{}, s.URL+"/v3/index.json", "netstandard2.0", []string{"Example.Unlisted@1.0.0"})
	if err != nil || names(got) != "Example.Unlisted 1.0.0" {
		t.Errorf("exact unlisted request: %s, %v", names(got), err)
	}
}

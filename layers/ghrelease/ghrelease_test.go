package ghrelease

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"strings"
	"testing"
	"text/template"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

func content(name string) []byte {
	return bytes.Repeat([]byte("rtbuild fixture asset "+name+"\n"), 128)
}

func sha256hex(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// fixture answers the releases API from a testdata file (templated with the
// generated assets' digests and sizes) and serves the assets.
type fixture struct {
	*httptest.Server
	release  string          // testdata file for tag v1.22
	tampered map[string]bool // assets served with other bytes
}

func newFixture(t *testing.T, release string) *fixture {
	t.Helper()
	f := &fixture{release: release, tampered: map[string]bool{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fixture) serve(w http.ResponseWriter, r *http.Request) {
	const repo = "/api/repos/aws/aws-lambda-runtime-interface-emulator"
	switch {
	case r.URL.Path == repo+"/releases/tags/v1.22":
		raw, err := os.ReadFile("testdata/" + f.release)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tmpl := template.Must(template.New("").Funcs(template.FuncMap{
			"sha256": func(n string) string { return "sha256:" + sha256hex(content(n)) },
			"size":   func(n string) int { return len(content(n)) },
		}).Parse(string(raw)))
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		tmpl.Execute(w, map[string]string{"API": f.URL + "/api", "Download": f.URL + "/dl"})
	case strings.HasPrefix(r.URL.Path, "/api/"):
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"message":"Not Found","documentation_url":"https://docs.github.com/rest/releases/releases#get-a-release-by-tag-name","status":"404"}`))
	case strings.HasPrefix(r.URL.Path, "/dl/aws/aws-lambda-runtime-interface-emulator/releases/download/v1.22/"):
		name := path.Base(r.URL.Path)
		b := content(name)
		if f.tampered[name] {
			b = append(b, '!')
		}
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

const rie = "aws/aws-lambda-runtime-interface-emulator"

func TestLookup(t *testing.T) {
	f := newFixture(t, "release-v1.22.json")
	for _, name := range []string{"aws-lambda-rie-x86_64", "aws-lambda-rie-arm64"} {
		a, err := Lookup(context.Background(), resolve.Options{}, f.URL+"/api", rie, "v1.22", name)
		if err != nil {
			t.Fatal(err)
		}
		want := sha256hex(content(name))
		u := f.URL + "/dl/" + rie + "/releases/download/v1.22/" + name
		if a.SHA256 != want || a.Digest != "sha256:"+want || a.URL != u || a.Version != "v1.22" || a.Name != rie+"/"+name {
			t.Errorf("%s: got %+v", name, a)
		}
	}
}

func TestMismatch(t *testing.T) {
	f := newFixture(t, "release-v1.22.json")
	name := "aws-lambda-rie-arm64"
	f.tampered[name] = true
	_, err := Lookup(context.Background(), resolve.Options{}, f.URL+"/api", rie, "v1.22", name)
	var me *resolve.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("err = %v, want a *resolve.MismatchError", err)
	}
	u := f.URL + "/dl/" + rie + "/releases/download/v1.22/" + name
	want := "sha256:" + sha256hex(content(name))
	got := "sha256:" + sha256hex(append(content(name), '!'))
	if me.URL != u || me.Want != want || me.Got != got {
		t.Errorf("mismatch = %+v, want URL %s, want %s, got %s", me, u, want, got)
	}
}

func TestMissingDigest(t *testing.T) {
	f := newFixture(t, "release-v1.22-no-digest.json")
	_, err := Lookup(context.Background(), resolve.Options{}, f.URL+"/api", rie, "v1.22", "aws-lambda-rie-x86_64")
	if err == nil || !strings.Contains(err.Error(), "cannot be pinned from publisher metadata") || !strings.Contains(err.Error(), "aws-lambda-rie-x86_64") {
		t.Fatalf("err = %v, want one saying the asset cannot be pinned from publisher metadata", err)
	}
}

func TestMissingAssetAndRelease(t *testing.T) {
	f := newFixture(t, "release-v1.22.json")
	_, err := Lookup(context.Background(), resolve.Options{}, f.URL+"/api", rie, "v1.22", "aws-lambda-rie-riscv64")
	if err == nil || !strings.Contains(err.Error(), "aws-lambda-rie-riscv64") || !strings.Contains(err.Error(), "aws-lambda-rie-arm64") {
		t.Errorf("missing asset: err = %v, want one naming it and the assets there are", err)
	}
	_, err = Lookup(context.Background(), resolve.Options{}, f.URL+"/api", rie, "v9.99", "aws-lambda-rie")
	if err == nil || !strings.Contains(err.Error(), "v9.99") || !resolve.NotFound(err) {
		t.Errorf("missing release: err = %v, want a not-found naming the tag", err)
	}
	if _, err := Lookup(context.Background(), resolve.Options{}, f.URL+"/api", "no-slash", "v1", "x"); err == nil {
		t.Error("a repository without owner/ was accepted")
	}
}

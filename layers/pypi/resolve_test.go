package pypi

import (
	"context"
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/layers/mirror"
	"github.com/rtbuild/rtbuild/layers/resolve"
)

func testOptions() resolve.Options { return resolve.Options{Retries: -1} }

func byName(arts []resolve.Artifact) map[string]resolve.Artifact {
	m := map[string]resolve.Artifact{}
	for _, a := range arts {
		m[a.Name] = a
	}
	return m
}

func TestResolveBoto3Closure(t *testing.T) {
	idx := newFakeIndex(t)
	want := []struct{ name, version, file, requiredBy string }{
		{"boto3", "1.18.55", "boto3-1.18.55-py3-none-any.whl", ""},
		{"botocore", "1.21.55", "botocore-1.21.55-py3-none-any.whl", "boto3 1.18.55 -> botocore"},
		{"jmespath", "0.10.0", "jmespath-0.10.0-py2.py3-none-any.whl", "boto3 1.18.55 -> jmespath"},
		{"python-dateutil", "2.8.2", "python_dateutil-2.8.2-py2.py3-none-any.whl", "boto3 1.18.55 -> botocore 1.21.55 -> python-dateutil"},
		{"s3transfer", "0.5.0", "s3transfer-0.5.0-py3-none-any.whl", "boto3 1.18.55 -> s3transfer"},
		{"six", "1.16.0", "six-1.16.0-py2.py3-none-any.whl", "boto3 1.18.55 -> botocore 1.21.55 -> python-dateutil 2.8.2 -> six"},
		{"urllib3", "1.26.7", "urllib3-1.26.7-py2.py3-none-any.whl", "boto3 1.18.55 -> botocore 1.21.55 -> urllib3"},
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			o := testOptions()
			arts, err := Resolve(context.Background(), o, idx.index(), Env{Python: "3.9", Arch: arch}, []string{"boto3==1.18.55"})
			if err != nil {
				t.Fatal(err)
			}
			if len(arts) != len(want) {
				t.Fatalf("got %d artifacts, want %d: %+v", len(arts), len(want), arts)
			}
			for i, w := range want {
				a := arts[i]
				if a.Name != w.name || a.Version != w.version || path.Base(a.URL) != w.file || a.RequiredBy != w.requiredBy {
					t.Errorf("artifact %d = %s %s %s (required by %q), want %s %s %s (required by %q)",
						i, a.Name, a.Version, path.Base(a.URL), a.RequiredBy, w.name, w.version, w.file, w.requiredBy)
				}
				if a.SHA256 != idx.sha256(w.file) || a.Digest != "sha256:"+a.SHA256 {
					t.Errorf("%s: SHA256 %s Digest %s, want the served file's %s", a.Name, a.SHA256, a.Digest, idx.sha256(w.file))
				}
				if !strings.HasPrefix(a.URL, idx.srv.URL+"/packages/") {
					t.Errorf("%s: URL %s is not the index's file URL", a.Name, a.URL)
				}
				got, err := o.Pin(context.Background(), a.URL, a.Digest)
				if err != nil || got != a.SHA256 {
					t.Errorf("Pin(%s) = %s, %v; want %s", a.URL, got, err, a.SHA256)
				}
			}
		})
	}
}

func TestResolvePicksPlatformWheel(t *testing.T) {
	idx := newFakeIndex(t)
	for _, tc := range []struct {
		env        Env
		lambdaric  string
		simplejson string
	}{
		{Env{Python: "3.9", Arch: "x86_64"},
			"awslambdaric-2.0.4-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
			"simplejson-3.17.2-cp39-cp39-manylinux2010_x86_64.whl"},
		{Env{Python: "3.9", Arch: "arm64"},
			"awslambdaric-2.0.4-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl",
			"simplejson-3.17.2-cp39-cp39-manylinux2014_aarch64.whl"},
		// The controls: the decoys are refused for the reason the test means.
		{Env{Python: "3.9", Arch: "amd64", Glibc: "2.34"},
			"awslambdaric-2.0.4-cp39-cp39-manylinux_2_34_x86_64.whl",
			"simplejson-3.17.2-cp39-cp39-manylinux2010_x86_64.whl"},
		{Env{Python: "3.8", Arch: "aarch64"},
			"awslambdaric-2.0.4-cp38-cp38-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", ""},
	} {
		t.Run(tc.env.Python+"-"+tc.env.Arch+"-"+tc.env.Glibc, func(t *testing.T) {
			arts, err := Resolve(context.Background(), testOptions(), idx.index(), tc.env, []string{"awslambdaric==2.0.4"})
			if tc.simplejson == "" {
				// No cp38 aarch64 simplejson wheel in the fixture: the error names what exists.
				if err == nil || !strings.Contains(err.Error(), "no wheel of simplejson 3.17.2 (required by awslambdaric 2.0.4) is compatible with cp38 on manylinux_2_26_aarch64") ||
					!strings.Contains(err.Error(), "simplejson-3.17.2-cp39-cp39-manylinux2014_aarch64.whl") {
					t.Fatalf("err = %v, want no compatible simplejson wheel naming the platform and the wheels", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := byName(arts)
			if len(arts) != 2 || path.Base(m["awslambdaric"].URL) != tc.lambdaric || path.Base(m["simplejson"].URL) != tc.simplejson {
				t.Fatalf("got %+v, want %s and %s", arts, tc.lambdaric, tc.simplejson)
			}
			if m["simplejson"].RequiredBy != "awslambdaric 2.0.4 -> simplejson" || m["simplejson"].Version != "3.17.2" {
				t.Errorf("simplejson = %+v", m["simplejson"])
			}
		})
	}
}

func TestResolveUnsatisfiableChain(t *testing.T) {
	idx := newFakeIndex(t)
	_, err := Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.9", Arch: "x86_64"}, []string{"boto3==1.18.56"})
	want := "boto3 1.18.56 requires botocore<1.22.0,>=1.21.56; no release satisfies it (have: 1.21.53, 1.21.54, 1.21.55, 1.22.0)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to contain %q", err, want)
	}
	_, err = Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.9", Arch: "x86_64"}, []string{"boto3==1.18.55", "urllib3>=2"})
	for _, want := range []string{"requested urllib3>=2", "boto3 1.18.55 -> botocore 1.21.55 requires urllib3<1.27,>=1.25.4", "no release satisfies them all"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want it to contain %q", err, want)
		}
	}
}

func TestResolveRefusesSdistsAndIncompatible(t *testing.T) {
	idx := newFakeIndex(t)
	for _, tc := range []struct {
		env  Env
		req  string
		want []string
	}{
		{Env{Python: "3.9", Arch: "x86_64"}, "simplejson==3.17.1",
			[]string{"simplejson 3.17.1", "only a source distribution (simplejson-3.17.1.tar.gz)", "does not build sdists"}},
		{Env{Python: "3.9", Arch: "arm64"}, "awslambdaric==2.0.3",
			[]string{"awslambdaric 2.0.3 (requested) has only a source distribution"}},
		{Env{Python: "2.7", Arch: "arm64"}, "simplejson==3.17.2",
			[]string{"no wheel of simplejson 3.17.2 (requested) is compatible with cp27 on manylinux_2_26_aarch64", "simplejson-3.17.2-cp27-cp27mu-manylinux1_x86_64.whl"}},
		{Env{Python: "3.9", Arch: "x86_64"}, "no-such-project",
			[]string{`project "no-such-project" (requested) is not on the index`}},
	} {
		_, err := Resolve(context.Background(), testOptions(), idx.index(), tc.env, []string{tc.req})
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s on %+v: err = %v, want it to contain %q", tc.req, tc.env, err, w)
			}
		}
	}
	// Python 2.7 on x86_64 takes the cp27mu wheel.
	arts, err := Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "2.7", Arch: "x86_64"}, []string{"simplejson==3.17.2"})
	if err != nil || len(arts) != 1 || path.Base(arts[0].URL) != "simplejson-3.17.2-cp27-cp27mu-manylinux1_x86_64.whl" {
		t.Fatalf("python 2.7: %+v, %v", arts, err)
	}
}

func TestResolveMarkersAndRequiresPython(t *testing.T) {
	idx := newFakeIndex(t)
	// Unpinned: jmespath 1.0.0 and urllib3 2.0.0 are excluded by botocore's
	// bounds, s3transfer 0.6.0 by boto3's; an unmet marker drops a requirement.
	arts, err := Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.9", Arch: "x86_64"},
		[]string{"boto3>=1.18,<1.18.56", "jmespath", `awslambdaric==2.0.4; python_version < "3"`})
	if err != nil {
		t.Fatal(err)
	}
	m := byName(arts)
	if len(arts) != 7 || m["boto3"].Version != "1.18.55" || m["jmespath"].Version != "0.10.0" || m["awslambdaric"].Name != "" {
		t.Fatalf("got %+v", arts)
	}
	// Python 3.6: jmespath 1.0.0 needs >=3.7 anyway; requested alone it falls back to 0.10.0.
	arts, err = Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.6", Arch: "x86_64"}, []string{"jmespath"})
	if err != nil || len(arts) != 1 || arts[0].Version != "0.10.0" {
		t.Fatalf("python 3.6 jmespath: %+v, %v", arts, err)
	}
	arts, err = Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.9", Arch: "x86_64"}, []string{"jmespath"})
	if err != nil || len(arts) != 1 || arts[0].Version != "1.0.0" {
		t.Fatalf("python 3.9 jmespath: %+v, %v", arts, err)
	}
	// Extras: boto3[crt] asks for botocore[crt], which needs awscrt (absent from the fixture).
	_, err = Resolve(context.Background(), testOptions(), idx.index(), Env{Python: "3.9", Arch: "x86_64"}, []string{"boto3[crt]==1.18.55"})
	if err == nil || !strings.Contains(err.Error(), `project "awscrt" (required by boto3 1.18.55 -> botocore 1.21.55) is not on the index`) {
		t.Fatalf("extras: err = %v", err)
	}
}

func TestResolveMirrorRewritesIndexHost(t *testing.T) {
	idx := newFakeIndex(t)
	idx.keepURLs = true
	rules, err := mirror.Parse("https://pypi.org/pypi="+idx.srv.URL+"/pypi", "https://files.pythonhosted.org="+idx.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	o := resolve.Options{Retries: -1, Mirrors: rules}
	arts, err := Resolve(context.Background(), o, "https://pypi.org/pypi", Env{Python: "3.9", Arch: "arm64"}, []string{"boto3==1.18.55"})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 7 {
		t.Fatalf("got %d artifacts", len(arts))
	}
	for _, a := range arts {
		if !strings.HasPrefix(a.URL, "https://files.pythonhosted.org/packages/") {
			t.Errorf("%s: URL %s: want the upstream URL kept", a.Name, a.URL)
		}
		if got, err := o.Pin(context.Background(), a.URL, a.Digest); err != nil || got != a.SHA256 {
			t.Errorf("Pin(%s) through the mirror = %s, %v", a.URL, got, err)
		}
	}
	idx.mu.Lock()
	defer idx.mu.Unlock()
	if len(idx.requests) == 0 || idx.requests[0] != "/pypi/boto3/json" {
		t.Errorf("mirror requests: %v", idx.requests)
	}
}

func TestPinRefusesTamperedWheel(t *testing.T) {
	idx := newFakeIndex(t)
	idx.tamper["botocore-1.21.55-py3-none-any.whl"] = true
	o := testOptions()
	arts, err := Resolve(context.Background(), o, idx.index(), Env{Python: "3.9", Arch: "x86_64"}, []string{"boto3==1.18.55"})
	if err != nil {
		t.Fatal(err)
	}
	a := byName(arts)["botocore"]
	_, err = o.Pin(context.Background(), a.URL, a.Digest)
	var mm *resolve.MismatchError
	if !errors.As(err, &mm) {
		t.Fatalf("Pin of a tampered wheel: err = %v, want a MismatchError", err)
	}
	if mm.URL != a.URL || mm.Want != a.Digest || mm.Got == a.Digest || !strings.HasPrefix(mm.Got, "sha256:") {
		t.Errorf("MismatchError = %+v, want URL %s, want %s and the download's digest", mm, a.URL, a.Digest)
	}
	for _, s := range []string{a.URL, a.Digest, mm.Got} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
}

// TestResolveExclude: an excluded project is neither resolved nor
// returned, so a dependency another component provides (simplejson from
// its sdist) does not stop the closure.
func TestResolveExclude(t *testing.T) {
	idx := newFakeIndex(t)
	env := Env{Python: "3.9", Arch: "x86_64"}
	if _, err := Resolve(context.Background(), testOptions(), idx.index(), env, []string{"simplejson==3.17.1"}); err == nil {
		t.Fatal("resolving an sdist-only project succeeded")
	}
	env.Exclude = []string{"SimpleJSON"}
	arts, err := Resolve(context.Background(), testOptions(), idx.index(), env, []string{"boto3==1.18.55", "simplejson==3.17.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range arts {
		if Normalize(a.Name) == "simplejson" {
			t.Errorf("excluded project returned: %+v", a)
		}
	}
	if len(arts) == 0 {
		t.Error("nothing resolved")
	}
}

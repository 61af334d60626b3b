package pypi

import (
	"slices"
	"strings"
	"testing"
)

func TestVersionOrder(t *testing.T) {
	// PEP 440's own example ordering (and packaging's test suite's).
	ordered := []string{
		"1.0.dev456", "1.0a1", "1.0a2.dev456", "1.0a12.dev456", "1.0a12", "1.0b1.dev456", "1.0b2",
		"1.0b2.post345.dev456", "1.0b2.post345", "1.0rc1.dev456", "1.0rc1", "1.0", "1.0+abc.5", "1.0+abc.7",
		"1.0+5", "1.0.post456.dev34", "1.0.post456", "1.0.15", "1.1.dev1", "1.21.55", "1.21.100", "1!0.1",
	}
	for i := range ordered {
		for j := range ordered {
			a, err := ParseVersion(ordered[i])
			if err != nil {
				t.Fatal(err)
			}
			b := mustVersion(t, ordered[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
	for in, norm := range map[string]string{
		"1.0": "1.0", "1.0.0": "1.0.0", "v1.0": "1.0", "1.0-1": "1.0.post1", "1.0alpha1": "1.0a1", "1.0c1": "1.0rc1",
		"1.0-dev": "1.0.dev0", "1.0.RC.1": "1.0rc1", "1.0+Ubuntu-1": "1.0+ubuntu.1", "2.0a.0": "2.0a0",
	} {
		if v := mustVersion(t, in); v.String() != norm {
			t.Errorf("ParseVersion(%q) = %s, want %s", in, v, norm)
		}
	}
	if mustVersion(t, "1.0").Compare(mustVersion(t, "1.0.0")) != 0 {
		t.Error("1.0 != 1.0.0")
	}
	for _, bad := range []string{"", "1.0-", "french toast", "1.0+", "1..0"} {
		if _, err := ParseVersion(bad); err == nil {
			t.Errorf("ParseVersion(%q) accepted", bad)
		}
	}
}

func mustVersion(t *testing.T, s string) Version {
	t.Helper()
	v, err := ParseVersion(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSpecifiers(t *testing.T) {
	for _, tc := range []struct {
		spec, version string
		want          bool
	}{
		{"==1.21.55", "1.21.55", true}, {"==1.21.55", "1.21.55.0", true}, {"==1.21.55", "1.21.56", false},
		{"==1.21.55", "1.21.55+local", true}, {"==1.21.55+local", "1.21.55", false},
		{"==1.*", "1.9", true}, {"==1.*", "2.0", false}, {"==1.1.*", "1.1", true}, {"==1.1.*", "1.10", false},
		{"==1.0.*", "1", true}, {"!=3.0.*", "3.0.5", false}, {"!=3.0.*", "3.9.0", true},
		{"!=1.5.7", "1.5.7", false}, {"!=1.5.7", "1.5.8", true},
		{"~=2.2", "2.3", true}, {"~=2.2", "3.0", false}, {"~=2.2", "2.1", false},
		{"~=1.4.5", "1.4.9", true}, {"~=1.4.5", "1.5.0", false}, {"~=2.2.post3", "2.2.post4", true},
		{"<1.22.0", "1.21.99", true}, {"<1.22.0", "1.22.0", false}, {"<1.22.0", "1.22.0rc1", false},
		{"<1.22.0rc2", "1.22.0rc1", true}, {"<2.0a.0", "1.99", true},
		{">1.7", "1.7.1", true}, {">1.7", "1.7.post1", false}, {">1.7.post2", "1.7.post3", true}, {">1.7", "1.7+local", false},
		{"<=2.0", "2.0+local", true}, {">=1.21.55", "1.21.55", true}, {">=1.21.55", "1.21.54", false},
		{"===1.0", "1.0", true}, {"===1.0", "1.0.0", false},
	} {
		s, err := ParseSpecifiers(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Contains(mustVersion(t, tc.version), true); got != tc.want {
			t.Errorf("%s contains %s = %v, want %v", tc.spec, tc.version, got, tc.want)
		}
	}
	// Pre-releases are excluded unless asked for or named.
	set, _ := ParseSpecifiers(">=1.0")
	if set.Contains(mustVersion(t, "2.0b1"), false) || !set.Contains(mustVersion(t, "2.0b1"), true) {
		t.Error(">=1.0 and a pre-release")
	}
	set, _ = ParseSpecifiers(">=2.0b1")
	if !set.Contains(mustVersion(t, "2.0b2"), false) {
		t.Error(">=2.0b1 names a pre-release and should admit 2.0b2")
	}
	for _, bad := range []string{"~=1", "<1.*", ">=1.0+local", "==1.0a1.*", "=>1.0", "1.0", "==", ">=1.0,,<2"} {
		if _, err := ParseSpecifiers(bad); err == nil {
			t.Errorf("ParseSpecifiers(%q) accepted", bad)
		}
	}
}

func TestRequirementsAndMarkers(t *testing.T) {
	e, err := Env{Python: "3.9", Arch: "arm64"}.expand()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		req, name, spec string
		extras          []string
		want, wantExtra bool // marker result without extras, with extra "crt"
	}{
		{"botocore (<1.22.0,>=1.21.55)", "botocore", "botocore<1.22.0,>=1.21.55", nil, true, true},
		{"boto3==1.18.55", "boto3", "boto3==1.18.55", nil, true, true},
		{"botocore[crt] (<2.0a.0,>=1.20.29) ; extra == 'crt'", "botocore", "botocore[crt]<2.0a.0,>=1.20.29", []string{"crt"}, false, true},
		{`ipaddress ; (python_version == "2.7") and extra == 'secure'`, "ipaddress", "ipaddress", nil, false, false},
		{`brotli (>=1.0.9) ; ((os_name != "nt" or python_version >= "3") and platform_python_implementation == "CPython") and extra == 'crt'`, "brotli", "brotli>=1.0.9", nil, false, true},
		{`dataclasses; python_version < "3.7"`, "dataclasses", "dataclasses", nil, false, false},
		{`typing-extensions>=3.7; python_full_version >= "3.9.0" and sys_platform == "linux"`, "typing-extensions", "typing-extensions>=3.7", nil, true, true},
		{`x; platform_machine == "aarch64" and platform_system == "Linux" and implementation_name == "cpython"`, "x", "x", nil, true, true},
		{`x; platform_machine == "x86_64"`, "x", "x", nil, false, false},
		{`x; "linux" in sys_platform and os.name == 'posix'`, "x", "x", nil, true, true},
		{`x; python_version not in "3.8, 3.10"`, "x", "x", nil, true, true},
		{`x; python_version > "3.10"`, "x", "x", nil, false, false},
		{`Zope.Interface[Foo_Bar]>=4 ; extra == "CRT"`, "Zope.Interface", "Zope.Interface[foo-bar]>=4", []string{"foo-bar"}, false, true},
	} {
		r, err := ParseRequirement(tc.req)
		if err != nil {
			t.Errorf("%s: %v", tc.req, err)
			continue
		}
		if r.Name != tc.name || r.String() != tc.spec || !slices.Equal(r.Extras, tc.extras) {
			t.Errorf("%s: name %q string %q extras %v", tc.req, r.Name, r, r.Extras)
		}
		got, err := r.Marker.Evaluate(e.markers(""))
		gotX, errX := r.Marker.Evaluate(e.markers("crt"))
		if err != nil || errX != nil || got != tc.want || gotX != tc.wantExtra {
			t.Errorf("%s: marker = %v, %v (extra crt: %v, %v), want %v, %v", tc.req, got, err, gotX, errX, tc.want, tc.wantExtra)
		}
	}
	for _, bad := range []string{"", "boto3 ==", "x; ", "x; python_version", "x; foo == 'a'", "x[a", "x; (python_version == '3'", "x (>=1"} {
		if _, err := ParseRequirement(bad); err == nil {
			t.Errorf("ParseRequirement(%q) accepted", bad)
		}
	}
	if r, err := ParseRequirement("pkg @ https://example.invalid/pkg.whl ; python_version >= '3'"); err != nil || r.URL != "https://example.invalid/pkg.whl" || r.Marker == nil {
		t.Errorf("URL requirement: %+v, %v", r, err)
	}
	for in, want := range map[string]string{"Python_Dateutil": "python-dateutil", "zope.interface": "zope-interface", "A--B__c": "a-b-c"} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTagOrder(t *testing.T) {
	e, err := Env{Python: "3.9", Arch: "x86_64"}.expand()
	if err != nil {
		t.Fatal(err)
	}
	// Best first; the rest are incompatible.
	ordered := []string{
		"x-1-cp39-cp39-manylinux_2_26_x86_64.whl",
		"x-1-cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
		"x-1-cp39-cp39-manylinux2010_x86_64.whl",
		"x-1-cp39-cp39-manylinux1_x86_64.whl",
		"x-1-cp39-abi3-manylinux2014_x86_64.whl",
		"x-1-cp39-none-manylinux2014_x86_64.whl",
		"x-1-cp36-abi3-manylinux2014_x86_64.whl",
		"x-1-py3-none-manylinux1_x86_64.whl",
		"x-1-cp39-none-any.whl",
		"x-1-py39-none-any.whl",
		"x-1-py2.py3-none-any.whl",
		"x-1-py38-none-any.whl",
	}
	last := -1
	for _, n := range ordered {
		w, err := parseWheelName(n)
		if err != nil {
			t.Fatal(err)
		}
		p := e.priority(w)
		if p <= last {
			t.Errorf("%s: priority %d, not after the previous (%d)", n, p, last)
		}
		last = p
	}
	for _, n := range []string{
		"x-1-cp39-cp39-manylinux_2_27_x86_64.whl", "x-1-cp39-cp39-linux_x86_64.whl", "x-1-cp39-cp39-musllinux_1_1_x86_64.whl",
		"x-1-cp310-cp310-manylinux1_x86_64.whl", "x-1-cp39-cp39-manylinux2014_aarch64.whl", "x-1-cp39-cp39m-manylinux1_x86_64.whl",
		"x-1-cp310-abi3-manylinux1_x86_64.whl", "x-1-py2-none-any.whl", "x-1-cp39-cp39-win_amd64.whl", "x-1-cp39-cp39-macosx_11_0_arm64.whl",
	} {
		w, err := parseWheelName(n)
		if err != nil {
			t.Fatal(err)
		}
		if p := e.priority(w); p >= 0 {
			t.Errorf("%s is compatible with %s (priority %d)", n, e, p)
		}
	}
	e37, _ := Env{Python: "3.7", Arch: "arm64"}.expand()
	w, _ := parseWheelName("x-1-cp37-cp37m-manylinux2014_aarch64.whl")
	w2, _ := parseWheelName("x-1-cp37-cp37m-manylinux1_x86_64.whl")
	if e37.priority(w) < 0 || e37.priority(w2) >= 0 {
		t.Error("cp37m on aarch64")
	}
	for _, bad := range []Env{{Python: "3", Arch: "x86_64"}, {Python: "3.9", Arch: "s390x"}, {Python: "3.9", Arch: "x86_64", Glibc: "3.1"}} {
		if _, err := bad.expand(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if _, err := parseWheelName("x-1-py3-none.whl"); err == nil || !strings.Contains(err.Error(), "NAME-VERSION") {
		t.Errorf("short wheel name: %v", err)
	}
}

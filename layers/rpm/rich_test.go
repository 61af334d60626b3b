package rpm

import (
	"strings"
	"testing"
)

func TestParseRich(t *testing.T) {
	for in, want := range map[string]string{
		"(a or b)": "or[a b]",
		"(a >= 1.0-1 and (b or libc.so.6()(64bit)))": "and[a >= 1.0-1 or[b libc.so.6()(64bit)]]",
		"(a if b else c)": "if[a b else c]",
		"(a unless b)":    "unless[a b]",
		"(a or b or c)":   "or[a b c]",
		"(python3dist(setuptools) with python3.9)": "with[python3dist(setuptools) python3.9]",
	} {
		r, err := parseRich(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got := richString(r); got != want {
			t.Errorf("%s: parsed as %s, want %s", in, got, want)
		}
	}
	for _, bad := range []string{"(a or", "(a nand b)", "(a else b)", "(a or b) c", "()"} {
		if _, err := parseRich(bad); err == nil {
			t.Errorf("%s: parsed", bad)
		}
	}
}

func richString(r *rich) string {
	if r.op == "" {
		return r.leaf.String()
	}
	var parts []string
	for _, a := range r.args {
		parts = append(parts, richString(a))
	}
	s := r.op + "[" + strings.Join(parts, " ")
	if r.elze != nil {
		s += " else " + richString(r.elze)
	}
	return s + "]"
}

func TestResolveRich(t *testing.T) {
	zsh := testPkg{name: "zsh", arch: "x86_64", ver: "5", rel: "1", files: []testFile{reg("/bin/zsh", 0o755, "zsh")}}
	richPkg := testPkg{name: "rich", arch: "noarch", ver: "1", rel: "1", requires: []string{
		"(libfoo.so.1()(64bit) and (bash or zsh))",
		"(foo-data >= 1.0 if libfoo)",
		"(nosuch if python36)",
		"(zsh unless bash)",
	}}
	broken := testPkg{name: "broken", arch: "noarch", ver: "1", rel: "1", requires: []string{"(nosuch or alsonot)"}}
	dir := t.TempDir()
	writeRepo(t, dir, repoOptions{}, libfoo11, bash, zsh, fooData, python36, richPkg, broken)
	url := serveDir(t, dir)
	arts, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"rich"}, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range arts {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, " "); got != "bash foo-data libfoo rich" {
		t.Errorf("closure %s", got)
	}
	if m := byName(arts); m["bash"].RequiredBy != "rich 1-1 -> (libfoo.so.1()(64bit) and (bash or zsh))" {
		t.Errorf("bash RequiredBy %q", m["bash"].RequiredBy)
	}
	// With zsh in the base image, "or" is already met: no bash.
	arts, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"rich"}, ResolveOptions{Exclude: []string{"zsh"}})
	if err != nil || len(arts) != 3 || byName(arts)["bash"].Name != "" {
		t.Errorf("zsh excluded: %+v %v", arts, err)
	}
	_, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"broken"}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "broken 1-1 requires nosuch; nothing in") {
		t.Errorf("broken: %v", err)
	}
}

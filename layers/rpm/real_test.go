package rpm

import (
	"archive/tar"
	"path/filepath"
	"strings"
	"testing"
)

// The repository in testdata/real was written by rpmbuild 4.18 and
// createrepo_c 0.17 (testdata/real/make.sh): these tests check the reader
// against bytes the real tools wrote, the Go-written repositories of the
// other tests against the cases those tools cannot easily produce.

func TestRealRepoResolve(t *testing.T) {
	base := serveDir(t, "testdata/real")
	arts, err := Resolve(ctx(t), opts(t), base, "x86_64", []string{"demo-tool"}, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, a := range arts {
		got[a.Name] = a.Version + " " + strings.TrimPrefix(a.URL, base)
		if a.Digest != "sha256:"+a.SHA256 || len(a.SHA256) != 64 {
			t.Errorf("%s: digest %q sha256 %q", a.Name, a.Digest, a.SHA256)
		}
		// The pinned digest is the served file's.
		if sum, err := opts(t).Pin(ctx(t), a.URL, a.Digest); err != nil || sum != a.SHA256 {
			t.Errorf("Pin(%s) = %s, %v", a.URL, sum, err)
		}
	}
	want := map[string]string{
		"demo-tool":  "1.2-3 /Packages/demo-tool-1.2-3.x86_64.rpm",
		"demo-lib":   "1.2-3 /Packages/demo-lib-1.2-3.x86_64.rpm",
		"demo-shell": "2.0-1 /Packages/demo-shell-2.0-1.noarch.rpm",
	}
	if len(got) != len(want) {
		t.Fatalf("resolved %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	if arts[0].Name != "demo-lib" || !strings.Contains(arts[0].RequiredBy, "demo-tool 1.2-3 -> ") {
		t.Errorf("RequiredBy of %s = %q", arts[0].Name, arts[0].RequiredBy)
	}

	arm, err := Resolve(ctx(t), opts(t), base, "aarch64", []string{"demo-tool"}, ResolveOptions{Exclude: []string{"demo-shell"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(arm) != 2 || arm[0].Version != "1.2-9" || !strings.HasSuffix(arm[0].URL, ".aarch64.rpm") {
		t.Errorf("aarch64 closure with demo-shell excluded: %+v", arm)
	}
}

func TestRealRPMInstall(t *testing.T) {
	for _, arch := range []string{"x86_64", "aarch64"} { // xz and zstd payloads
		rpms, _ := filepath.Glob("testdata/real/Packages/demo-tool-*." + arch + ".rpm")
		if len(rpms) != 1 {
			t.Fatalf("fixture missing: %v", rpms)
		}
		files, _, err := install(t, InstallOptions{AllowSetuid: true}, rpms[0])
		if err != nil {
			t.Fatal(err)
		}
		check := map[string]tarEntry{
			"usr/bin/demo-hard":       {typ: tar.TypeReg, mode: 0o755, body: "#!/bin/demo-sh\necho demo\n"},
			"usr/bin/demo":            {typ: tar.TypeLink, mode: 0o755, linkname: "usr/bin/demo-hard"},
			"usr/bin/demo-link":       {typ: tar.TypeSymlink, mode: 0o777, linkname: "demo"},
			"usr/bin/demo-suid":       {typ: tar.TypeReg, mode: 0o4755, body: "suid\n"},
			"usr/share/demo/":         {typ: tar.TypeDir, mode: 0o755},
			"usr/share/demo/empty/":   {typ: tar.TypeDir, mode: 0o750},
			"usr/share/demo/data.txt": {typ: tar.TypeReg, mode: 0o644, body: "data\n"},
		}
		for name, w := range check {
			g, ok := files[name]
			if !ok {
				t.Errorf("%s: %s missing from the layer (has %v)", arch, name, keys(files))
				continue
			}
			if g.typ != w.typ || g.mode != w.mode || g.linkname != w.linkname || g.body != w.body || g.uid != 0 || g.gid != 0 {
				t.Errorf("%s: %s = %+v, want %+v", arch, name, g, w)
			}
			if g.mtime.After(testEpoch) {
				t.Errorf("%s: %s mtime %v not clamped", arch, name, g.mtime)
			}
		}
	}
}

func keys(m map[string]tarEntry) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

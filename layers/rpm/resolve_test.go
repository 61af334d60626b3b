package rpm

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/rtbuild/rtbuild/layers/resolve"
)

// The test repository: foo requires libfoo by a soname provide, /bin/sh by
// path (bash holds it) and foo-data (noarch) by a versioned name; libfoo
// exists at two x86_64 versions and a higher aarch64 one.
var (
	libfoo10 = testPkg{name: "libfoo", arch: "x86_64", ver: "1.0", rel: "1", compressor: "xz",
		provides: []string{"libfoo.so.1()(64bit)"},
		files:    []testFile{reg("/usr/lib64/libfoo.so.1", 0o755, "old")}}
	libfoo11 = testPkg{name: "libfoo", arch: "x86_64", ver: "1.10", rel: "1", compressor: "xz",
		provides: []string{"libfoo.so.1()(64bit)"},
		files: []testFile{
			reg("/usr/lib64/libfoo.so.1.10", 0o755, "ELF libfoo"),
			{path: "/usr/lib64/libfoo.so.1", mode: cpio.TypeSymlink | 0o777, body: "libfoo.so.1.10"},
		}}
	libfooArm = testPkg{name: "libfoo", arch: "aarch64", ver: "9.0", rel: "1",
		provides: []string{"libfoo.so.1()(64bit)"},
		files:    []testFile{reg("/usr/lib64/libfoo.so.1", 0o755, "arm")}}
	bash = testPkg{name: "bash", arch: "x86_64", ver: "4.2.46", rel: "34.amzn2",
		files: []testFile{reg("/bin/sh", 0o755, "#!sh"), reg("/bin/bash", 0o755, "bash")}}
	fooData = testPkg{name: "foo-data", arch: "noarch", ver: "1.0", rel: "2", compressor: "lzma",
		files: []testFile{
			{path: "/usr/share/foo", mode: cpio.TypeDir | 0o755},
			reg("/usr/share/foo/conf", 0o644, "conf\n"),
		}}
	foo = testPkg{name: "foo", arch: "x86_64", epoch: "1", ver: "2.0", rel: "1", compressor: "zstd",
		requires: []string{
			"libfoo.so.1()(64bit)", "/bin/sh", "foo-data >= 1.0-1",
			"rpmlib(CompressedFileNames) <= 3.0.4-1", "foo = 1:2.0-1",
		},
		files: []testFile{
			{path: "/usr/bin/foo", mode: cpio.TypeReg | 0o755, body: "#!/bin/sh\necho foo\n", ino: 7},
			{path: "/usr/bin/foo-suid", mode: cpio.TypeReg | 0o4755, body: "suid"},
			{path: "/usr/bin/foo-link", mode: cpio.TypeSymlink | 0o777, body: "foo"},
			{path: "/usr/libexec/foo", mode: cpio.TypeDir | 0o750},
			{path: "/usr/libexec/foo/helper", mode: cpio.TypeReg | 0o700, body: "helper"},
			{path: "/usr/bin/foo2", mode: cpio.TypeReg | 0o755, body: "#!/bin/sh\necho foo\n", ino: 7},
		}}
	python36 = testPkg{name: "python36", arch: "x86_64", ver: "3.6.8", rel: "1",
		requires: []string{"libpython3.6m.so.1.0()(64bit)"}}
	app      = testPkg{name: "app", arch: "noarch", ver: "1", rel: "1", requires: []string{"python36"}}
	needsNew = testPkg{name: "needs-new", arch: "x86_64", ver: "1", rel: "1", requires: []string{"libfoo >= 2.0"}}
)

func testRepo(t *testing.T, o repoOptions) (dir, url string) {
	dir = t.TempDir()
	writeRepo(t, dir, o, libfoo10, libfoo11, libfooArm, bash, fooData, foo, python36, app, needsNew)
	return dir, serveDir(t, dir)
}

func byName(arts []resolve.Artifact) map[string]resolve.Artifact {
	m := map[string]resolve.Artifact{}
	for _, a := range arts {
		m[a.Name] = a
	}
	return m
}

func TestResolveClosure(t *testing.T) {
	for _, comp := range []string{"gz", "xz", "zst", "xml"} {
		t.Run(comp, func(t *testing.T) {
			_, url := testRepo(t, repoOptions{compression: comp})
			arts, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"foo"}, ResolveOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, a := range arts {
				names = append(names, a.Name+"@"+a.Version)
			}
			want := "bash@4.2.46-34.amzn2 foo@1:2.0-1 foo-data@1.0-2 libfoo@1.10-1"
			if got := strings.Join(names, " "); got != want {
				t.Fatalf("closure %s, want %s", got, want)
			}
			m := byName(arts)
			if a := m["libfoo"]; a.URL != url+"/Packages/libfoo-1.10-1.x86_64.rpm" ||
				a.RequiredBy != "foo 1:2.0-1 -> libfoo.so.1()(64bit)" {
				t.Errorf("libfoo: %+v", a)
			}
			if a := m["bash"]; a.RequiredBy != "foo 1:2.0-1 -> /bin/sh" {
				t.Errorf("bash pulled in by %q", a.RequiredBy)
			}
			if a := m["foo-data"]; a.RequiredBy != "foo 1:2.0-1 -> foo-data >= 1.0-1" {
				t.Errorf("foo-data pulled in by %q", a.RequiredBy)
			}
			if a := m["foo"]; a.RequiredBy != "" {
				t.Errorf("requested foo has RequiredBy %q", a.RequiredBy)
			}
			for _, a := range arts {
				sum, err := opts(t).Pin(ctx(t), a.URL, a.Digest)
				if err != nil || sum != a.SHA256 || a.Digest != "sha256:"+a.SHA256 {
					t.Errorf("%s: Pin = %s, %v; artifact %+v", a.Name, sum, err, a)
				}
			}
		})
	}
}

func TestResolveRequestsExcludeAndArch(t *testing.T) {
	_, url := testRepo(t, repoOptions{})
	// name-version-release picks that build; Exclude drops what the base has.
	arts, err := Resolve(ctx(t), opts(t), url, "amd64", []string{"libfoo-1.0-1", "foo"}, ResolveOptions{Exclude: []string{"bash", "foo-data"}})
	if err != nil {
		t.Fatal(err)
	}
	m := byName(arts)
	if len(arts) != 2 || m["libfoo"].Version != "1.0-1" || m["foo"].Version != "1:2.0-1" {
		t.Errorf("got %+v", arts)
	}
	// A request without the epoch names the package whatever its epoch.
	arts, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"foo-2.0-1", "foo-data-1.0"}, ResolveOptions{Exclude: []string{"bash", "libfoo"}})
	if m := byName(arts); err != nil || len(arts) != 2 || m["foo"].Version != "1:2.0-1" || m["foo-data"].Version != "1.0-2" {
		t.Errorf("foo-2.0-1: %+v, %v", arts, err)
	}
	// An excluded request is skipped.
	arts, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"bash"}, ResolveOptions{Exclude: []string{"bash"}})
	if err != nil || len(arts) != 0 {
		t.Errorf("excluded request: %+v, %v", arts, err)
	}
	// aarch64: the aarch64 libfoo, never an x86_64 one; x86_64 never the aarch64 one.
	arts, err = Resolve(ctx(t), opts(t), url, "aarch64", []string{"libfoo", "foo-data"}, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if m := byName(arts); len(arts) != 2 || !strings.HasSuffix(m["libfoo"].URL, ".aarch64.rpm") || !strings.HasSuffix(m["foo-data"].URL, ".noarch.rpm") {
		t.Errorf("aarch64: %+v", arts)
	}
	arts, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"libfoo"}, ResolveOptions{})
	if err != nil || len(arts) != 1 || arts[0].Version != "1.10-1" {
		t.Errorf("x86_64 libfoo: %+v, %v", arts, err)
	}
	// foo has no aarch64 build: the error says so.
	_, err = Resolve(ctx(t), opts(t), url, "aarch64", []string{"foo"}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "foo has no aarch64 build") || !strings.Contains(err.Error(), "only x86_64") {
		t.Errorf("foo on aarch64: %v", err)
	}
	_, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"nosuch"}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), `no package "nosuch"`) {
		t.Errorf("unknown package: %v", err)
	}
	_, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"libfoo-3.0"}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "no libfoo at 3.0") || !strings.Contains(err.Error(), "1.10-1") {
		t.Errorf("missing version: %v", err)
	}
	_, err = Resolve(ctx(t), opts(t), url, "s390x", []string{"foo"}, ResolveOptions{})
	if err == nil || !strings.Contains(err.Error(), "s390x") {
		t.Errorf("bad arch: %v", err)
	}
}

func TestResolveUnsatisfiable(t *testing.T) {
	_, url := testRepo(t, repoOptions{})
	_, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"app"}, ResolveOptions{})
	want := "app 1-1 -> python36 3.6.8-1 requires libpython3.6m.so.1.0()(64bit); nothing in " + url + " provides it"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant it to contain %q", err, want)
	}
	_, err = Resolve(ctx(t), opts(t), url, "x86_64", []string{"needs-new"}, ResolveOptions{})
	want = "needs-new 1-1 requires libfoo >= 2.0; nothing in " + url + " provides it at that version"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "libfoo 1.10-1") {
		t.Errorf("got %v\nwant it to contain %q", err, want)
	}
	// libfoo chosen at 1.0 by request cannot satisfy libfoo >= 2.0 either,
	// and excluding libfoo (in the base image) satisfies it.
	if _, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"needs-new"}, ResolveOptions{Exclude: []string{"libfoo"}}); err != nil {
		t.Errorf("with libfoo excluded: %v", err)
	}
}

func TestResolveMirrorList(t *testing.T) {
	dir, url := testRepo(t, repoOptions{})
	if err := os.WriteFile(filepath.Join(dir, "mirror.list"), []byte(url+"/\n"+"http://127.0.0.1:1/unused\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	arts, err := Resolve(ctx(t), opts(t), url+"/mirror.list", "x86_64", []string{"bash"}, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 || arts[0].URL != url+"/Packages/bash-4.2.46-34.amzn2.x86_64.rpm" {
		t.Errorf("got %+v", arts)
	}
}

func TestResolveMetadataChecksums(t *testing.T) {
	for _, o := range []repoOptions{{badPrimary: true}, {badOpen: true}} {
		_, url := testRepo(t, o)
		_, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"bash"}, ResolveOptions{})
		var me *resolve.MismatchError
		if !errors.As(err, &me) || !strings.Contains(me.URL, "primary.xml.gz") {
			t.Errorf("%+v: got %v, want a checksum mismatch naming primary.xml.gz", o, err)
		}
	}
}

// TestPinMismatch: a package whose bytes changed after the metadata was
// written fails Pin, naming the URL and both digests.
func TestPinMismatch(t *testing.T) {
	dir, url := testRepo(t, repoOptions{})
	arts, err := Resolve(ctx(t), opts(t), url, "x86_64", []string{"bash"}, ResolveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evil := bash
	evil.files = []testFile{reg("/bin/sh", 0o755, "evil")}
	writeRPM(t, filepath.Join(dir, "Packages"), evil)
	_, err = opts(t).Pin(ctx(t), arts[0].URL, arts[0].Digest)
	var me *resolve.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("Pin of a changed package: %v", err)
	}
	msg := err.Error()
	if me.URL != arts[0].URL || !strings.Contains(msg, arts[0].URL) || !strings.Contains(msg, arts[0].Digest) ||
		!strings.Contains(msg, me.Got) || me.Got == arts[0].Digest || !strings.HasPrefix(me.Got, "sha256:") {
		t.Errorf("mismatch error %q (%+v)", msg, me)
	}
}

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// TestLockCheckReportsUnpinned: `lock --check` on the embedded catalog lists
// each runtime's components per arch, says what still needs network, and
// exits 1; --locked refuses a build with an unpinned artifact.
func TestLockCheckReportsUnpinned(t *testing.T) {
	r := cli(t, t.TempDir(), nil, "lock", "--check", "python3.6", "nodejs14.x")
	if r.code != 1 {
		t.Fatalf("lock --check with unpinned components: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"RUNTIME", "python3.6", "python36", "not locked: `rtbuild lock` resolves it from rpm", "nodejs14.x", "arm64", "aws-sdk-js"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("lock --check output lacks %q:\n%s", want, r.stdout)
		}
	}
	r = cli(t, t.TempDir(), nil, "image", "java11", "--locked", "--arch", "x86_64")
	if r.code != 2 || !strings.Contains(r.stderr, "--locked") || !strings.Contains(r.stderr, "corretto11") {
		t.Errorf("--locked with an unpinned JDK: exit %d\n%s", r.code, r.stderr)
	}
	r = cli(t, t.TempDir(), nil, "image", "python3.6", "--allow-deprecated")
	if r.code != 2 || !strings.Contains(r.stderr, "python36 is not locked") {
		t.Errorf("building an unlocked RPM toolchain: exit %d\n%s", r.code, r.stderr)
	}
}

// TestLockFromYumRepositoryThenBuild: `rtbuild lock` resolves python3.6's
// RPM toolchain from a local yum repository (made by rpmbuild and
// createrepo_c, layers/rpm/testdata/real) with its requirements, pins each
// package by the repository's sha256, reports the components it cannot
// reach by name, and a build with the lock file installs the RPMs' files
// with their modes and links.
func TestLockFromYumRepositoryThenBuild(t *testing.T) {
	repo := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("..", "..", "layers", "rpm", "testdata", "real"))))
	t.Cleanup(repo.Close)
	overlay := filepath.Join(t.TempDir(), "rpm-overlay.yaml")
	if err := os.WriteFile(overlay, []byte(`components:
  python36:
    format: rpm
    dest: /
    resolve:
      url: `+repo.URL+`/
      packages: [demo-tool]
      exclude: []
`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	lockFile := filepath.Join(dir, "rtbuild.lock.yaml")
	r := cli(t, dir, nil, "lock", "python3.6", "--catalog", overlay, "--output", lockFile)
	// PyPI and GitHub are not reachable here: those components fail by name,
	// the yum repository's succeeds.
	if r.code != 1 || !strings.Contains(r.stderr, "lock boto3:") || !strings.Contains(r.stderr, "lock rie:") {
		t.Fatalf("lock: exit %d\n%s", r.code, r.stderr)
	}
	if strings.Contains(r.stderr, "lock python36:") {
		t.Fatalf("python36 failed to lock:\n%s", r.stderr)
	}
	l, err := images.ReadLock(lockFile)
	if err != nil {
		t.Fatal(err)
	}
	lc := l.Components["python36"]
	if lc == nil {
		t.Fatalf("no python36 entry in the lock file")
	}
	var pkgs []string
	for _, s := range lc.Sources[images.X86_64] {
		pkgs = append(pkgs, s.Package)
		if len(s.SHA256) != 64 || !strings.HasPrefix(s.URL, repo.URL+"/Packages/") {
			t.Errorf("locked source %+v: want a repository URL and its sha256", s)
		}
	}
	if got := strings.Join(pkgs, " "); !strings.Contains(got, "demo-tool@") || !strings.Contains(got, "demo-lib@") || !strings.Contains(got, "demo-shell@") || strings.Contains(got, "aarch64") {
		t.Errorf("locked packages %q: want demo-tool with its requirements demo-lib and demo-shell, x86_64/noarch only", got)
	}

	w := testworld.Start(t)
	args := append(append([]string{"image", "python3.6"}, w.Args()...), "--catalog", overlay, "--lock", lockFile, "--locked", "--output", "oci:out", "--allow-deprecated")
	mustCLI(t, dir, nil, args...)
	umoci := testworld.RequireTool(t, "umoci")
	bundle := filepath.Join(t.TempDir(), "bundle")
	runTool(t, umoci, "unpack", "--image", filepath.Join(dir, "out")+":python3.6-x86_64", bundle)
	root := filepath.Join(bundle, "rootfs")
	for _, f := range []struct {
		path string
		mode os.FileMode
		link string
	}{
		{"usr/bin/demo", 0o755, ""},
		{"usr/bin/demo-link", 0, "demo"},
		{"usr/lib64/libdemo.so.1", 0o755, ""},
		{"usr/bin/demo-suid", 0o755, ""}, // setuid cleared: the catalog does not allow it
	} {
		p := filepath.Join(root, f.path)
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("/%s missing: %v", f.path, err)
			continue
		}
		if f.link != "" {
			if target, _ := os.Readlink(p); target != f.link {
				t.Errorf("/%s links to %q, want %q", f.path, target, f.link)
			}
			continue
		}
		if fi.Mode()&(os.ModePerm|os.ModeSetuid) != f.mode {
			t.Errorf("/%s mode %v, want %v", f.path, fi.Mode(), f.mode)
		}
	}
}

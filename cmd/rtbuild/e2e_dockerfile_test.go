package main

// The repository's Dockerfile, built by a real buildkitd (BuildKit v0.34.2,
// testworld.StartBuildkitd) from local images only and without the network:
// the Go builder and the runtime base are made here (Debian packages and this
// machine's Go toolchain, testworld.GoBuilderImage and StaticBaseImage) and
// pushed to a local registry, the Go modules come from this machine's module
// cache as the goproxy named build context, and RUN steps have no network
// (force-network-mode=none). Needs root; skipped locally without it, failed
// in CI (CI=true).
//
// Time (2 CPUs): the build compiles the standard library and every
// dependency inside BuildKit, 3 to 5 minutes (a fresh buildkitd has empty
// cache mounts); the modules stage takes seconds. What is made here is cached
// in $RTBUILD_TEST_CACHE: the Go toolchain layer, the Debian packages,
// buildctl and the module proxy directory.

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// TestDockerfile builds the Dockerfile with buildctl air-gapped (the
// goproxy named context, no network) and checks the image: its config
// (entrypoint, env, user), that it is the runtime base plus the binary and
// the cache directory, and the binary: static, trimmed, stripped, and
// `rtbuild version` (with the VERSION build argument) and `rtbuild runtimes`
// work. Then it builds the modules stage the default way, from GOPROXY.
func TestDockerfile(t *testing.T) {
	t.Parallel()
	bk := testworld.StartBuildkitd(t)
	buildctlBin := testworld.BuildBuildctl(t)
	reg := testworld.StartRegistry(t)
	root := dockerfileRepoRoot(t)
	goproxy := dockerfileGoProxy(t, root)

	goImage := reg.Host + "/local/golang:1.26"
	baseImage := reg.Host + "/local/static:nonroot"
	base := testworld.StaticBaseImage(t)
	dockerfilePush(t, goImage, testworld.GoBuilderImage(t))
	dockerfilePush(t, baseImage, base)

	// buildctl runs a build of the Dockerfile on b; extra are more flags.
	buildctl := func(b *testworld.Buildkitd, what string, extra ...string) {
		t.Helper()
		start := time.Now()
		args := append([]string{"--addr", b.Addr, "build", "--progress", "plain",
			"--frontend", "dockerfile.v0",
			"--local", "context=" + root, "--local", "dockerfile=" + root,
			"--opt", "build-arg:GO_IMAGE=" + goImage, "--opt", "build-arg:RUNTIME_IMAGE=" + baseImage,
			"--opt", "platform=linux/" + runtime.GOARCH}, extra...)
		cmd := exec.Command(buildctlBin, args...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("buildctl %s: %v\n%s\nbuildkitd log:\n%s", strings.Join(args, " "), err, out.String(), dockerfileTail(b.Log(), 4000))
		}
		t.Logf("%s: built in %s", what, time.Since(start).Round(time.Second))
	}

	// The air-gapped build: modules from the goproxy named context only, RUN
	// steps without network.
	ref := reg.Host + "/rtbuild:test"
	buildctl(bk, "the air-gapped build", "--local", "goproxy="+goproxy, "--opt", "context:goproxy=local:goproxy",
		"--opt", "build-arg:VERSION=1.2.3-test", "--opt", "force-network-mode=none",
		"--output", "type=image,name="+ref+",push=true,registry.insecure=true")
	checkDockerfileImage(t, dockerfilePull(t, ref), base, "1.2.3-test")
	bk.Stop()

	// The default path on a fresh buildkitd (empty cache mounts): without
	// the goproxy context its stage is empty and the modules come from
	// GOPROXY, here a module proxy on 127.0.0.1 serving the same directory
	// (RUN steps use the host's network: buildkitd without CNI). Only the
	// modules stage is built.
	var mu sync.Mutex
	var zips int
	files := http.FileServer(http.Dir(goproxy))
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ".zip") {
			mu.Lock()
			zips++
			mu.Unlock()
		}
		files.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	buildctl(testworld.StartBuildkitd(t), "the modules stage from GOPROXY", "--opt", "target=modules",
		"--opt", "build-arg:GOPROXY="+proxy.URL)
	mu.Lock()
	defer mu.Unlock()
	if zips == 0 {
		t.Errorf("the modules stage without the goproxy context downloaded no module from GOPROXY=%s", proxy.URL)
	}
}

// checkDockerfileImage checks an image the Dockerfile built on base.
func checkDockerfileImage(t *testing.T, img, base v1.Image, version string) {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s, want linux/%s", cf.OS, cf.Architecture, runtime.GOARCH)
	}
	if strings.Join(c.Entrypoint, " ") != "/usr/local/bin/rtbuild" || len(c.Cmd) != 0 {
		t.Errorf("entrypoint %q, cmd %q: want [/usr/local/bin/rtbuild] and no cmd", c.Entrypoint, c.Cmd)
	}
	if want := fmt.Sprintf("%d:%d", testworld.StaticUID, testworld.StaticUID); c.User != want {
		t.Errorf("user %q, want %q", c.User, want)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		k, v, _ := strings.Cut(e, "=")
		env[k] = v
	}
	if env["RTBUILD_CACHE_DIR"] != "/cache" {
		t.Errorf("RTBUILD_CACHE_DIR=%q, want /cache (env %q)", env["RTBUILD_CACHE_DIR"], c.Env)
	}
	if env["SSL_CERT_FILE"] == "" {
		t.Errorf("the base's env is lost: %q", c.Env)
	}

	// The base's layers, then the binary and the cache directory.
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	baseLayers, err := base.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != len(baseLayers)+2 {
		t.Fatalf("%d layers, want the base's %d and 2", len(layers), len(baseLayers))
	}
	for i, bl := range baseLayers {
		want, _ := bl.DiffID()
		got, _ := layers[i].DiffID()
		if got != want {
			t.Errorf("layer %d is %s, want the base's %s", i, got, want)
		}
	}

	var bin []byte
	var sawCache, sawTmp bool
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")
		switch {
		case name == "usr/local/bin/rtbuild":
			if h.Typeflag != tar.TypeReg || h.Mode&0o777 != 0o755 || h.Uid != 0 {
				t.Errorf("%s: type %c mode %o uid %d, want a regular file 0755 owned by root", name, h.Typeflag, h.Mode, h.Uid)
			}
			if bin, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		case name == "cache":
			sawCache = true
			if h.Typeflag != tar.TypeDir || h.Uid != testworld.StaticUID || h.Gid != testworld.StaticUID {
				t.Errorf("/cache: type %c owner %d:%d, want a directory owned by %d", h.Typeflag, h.Uid, h.Gid, testworld.StaticUID)
			}
		case name == "tmp":
			sawTmp = true
		case strings.HasPrefix(name, "usr/local/go/") || strings.HasPrefix(name, "src/") || strings.HasPrefix(name, "gomodcache"):
			t.Errorf("the build stage leaked into the image: %s", name)
		}
	}
	if bin == nil || !sawCache || !sawTmp {
		t.Fatalf("the image lacks /usr/local/bin/rtbuild (%v), /cache (%v) or the base's /tmp (%v)", bin != nil, sawCache, sawTmp)
	}

	// The binary: static, stripped, built with -trimpath and CGO_ENABLED=0.
	path := filepath.Join(t.TempDir(), "rtbuild")
	if err := os.WriteFile(path, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ef, err := elf.Open(path)
	if err != nil {
		t.Fatalf("the image's rtbuild: %v", err)
	}
	for _, p := range ef.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the image's rtbuild is dynamically linked (program header %s)", p.Type)
		}
	}
	// -ldflags is not in the build info of a -trimpath build: check what
	// -s (no symbol table) and -w (no DWARF) do.
	if syms, err := ef.Symbols(); err == nil && len(syms) > 0 {
		t.Errorf("the image's rtbuild has a symbol table (%d symbols): not built with -s", len(syms))
	}
	for _, s := range ef.Sections {
		if strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_") {
			t.Errorf("the image's rtbuild has DWARF (%s): not built with -w", s.Name)
		}
	}
	ef.Close()
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		t.Fatalf("the image's rtbuild: %v", err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" || settings["GOARCH"] != runtime.GOARCH {
		t.Errorf("build settings %v: want CGO_ENABLED=0, -trimpath, linux/%s", settings, runtime.GOARCH)
	}
	if bi.GoVersion != runtime.Version() {
		t.Errorf("built with %s, want this machine's toolchain %s", bi.GoVersion, runtime.Version())
	}

	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(path, args...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "RTBUILD_CACHE_DIR=" + t.TempDir(), "PATH=/usr/bin:/bin"}
		out, err := cmd.Output()
		if err != nil {
			stderr := ""
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = string(ee.Stderr)
			}
			t.Fatalf("the image's rtbuild %s: %v\n%s", strings.Join(args, " "), err, stderr)
		}
		return string(out)
	}
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := run("version"), fmt.Sprintf("rtbuild %s\ncatalog %s\n", version, cat.Version); got != want {
		t.Errorf("rtbuild version printed %q, want %q", got, want)
	}
	out := run("runtimes")
	for _, rt := range cat.Runtimes {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(rt.Identifier) + `\s`).MatchString(out) {
			t.Errorf("rtbuild runtimes does not list %s:\n%s", rt.Identifier, out)
		}
	}
}

// dockerfileRepoRoot is the repository's root (the Dockerfile's context).
func dockerfileRepoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"go.mod", "Dockerfile", ".dockerignore"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Fatalf("the repository root %s: %v", root, err)
		}
	}
	return root
}

// dockerfileGoProxy returns a directory laid out as a Go module proxy holding what
// `go mod download` needs for the module at root: the cache/download
// directory of a module cache filled by it, from this machine's module cache
// (falling back to the configured proxy for anything missing). It is cached
// in the test cache, keyed by go.mod and go.sum.
func dockerfileGoProxy(t *testing.T, root string) string {
	t.Helper()
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	dir := filepath.Join(testworld.CacheDir(t), "dockerfile-goproxy")
	out := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))[:16])
	if fi, err := os.Stat(out); err == nil && fi.IsDir() {
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goenv := func(k string) string {
		b, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		return strings.TrimSpace(string(b))
	}
	proxy := "file://" + filepath.Join(goenv("GOMODCACHE"), "cache", "download")
	if p := goenv("GOPROXY"); p != "" && p != "off" {
		proxy += "," + p
	}
	tmp, err := os.MkdirTemp(dir, ".tmp-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "mod", "download")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOMODCACHE="+filepath.Join(tmp, "modcache"), "GOPROXY="+proxy,
		"GOFLAGS=-modcacherw", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go mod download (GOPROXY=%s): %v\n%s", proxy, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "modcache", "cache", "download"), out); err != nil {
		if _, serr := os.Stat(out); serr != nil {
			t.Fatal(err)
		}
	}
	// Directories for other go.mod and go.sum contents are stale.
	if old, err := os.ReadDir(dir); err == nil {
		for _, e := range old {
			if p := filepath.Join(dir, e.Name()); p != out && !strings.HasPrefix(e.Name(), ".") {
				os.RemoveAll(p)
			}
		}
	}
	return out
}

// dockerfilePush pushes img to ref on a loopback registry.
func dockerfilePush(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
}

// dockerfilePull reads ref from a loopback registry.
func dockerfilePull(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(r)
	if err != nil {
		t.Fatalf("pulling %s: %v", ref, err)
	}
	return img
}

// dockerfileTail is the last n bytes of s.
func dockerfileTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

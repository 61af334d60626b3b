package testworld

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
)

// rieModule is the main package of the Runtime Interface Emulator, pinned by a
// tool directive in testdata/tools/go.mod (a module of its own, so the
// emulator's dependencies stay out of rtbuild's go.mod).
const rieModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"

// CacheDir returns the persistent directory where test tools and downloads
// are kept across runs: $RTBUILD_TEST_CACHE, or rtbuild-test in the user's
// cache directory. It creates it.
func CacheDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RTBUILD_TEST_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("no cache directory (set RTBUILD_TEST_CACHE): %v", err)
		}
		dir = filepath.Join(base, "rtbuild-test")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("creating the test cache: %v", err)
	}
	return dir
}

// unavailable skips the test locally, or fails it in CI (CI=true), when
// something it needs from outside (the network, a tool) cannot be had.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required in CI)", msg)
	}
	t.Skipf("%s; skipping", msg)
}

// ToolsDir returns the directory of the test tools module (testdata/tools),
// found upwards from the working directory (a test runs in its package's
// directory), or from this source file.
func ToolsDir(t testing.TB) string {
	t.Helper()
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			cand := filepath.Join(dir, "testdata", "tools")
			if fileExists(filepath.Join(cand, "go.mod")) && fileExists(filepath.Join(dir, "go.mod")) {
				return cand
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cand := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "tools")
		if fileExists(filepath.Join(cand, "go.mod")) {
			return filepath.Clean(cand)
		}
	}
	t.Fatalf("testdata/tools/go.mod not found above the working directory")
	return ""
}

func fileExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// BuildRIE returns the path of the Runtime Interface Emulator (aws-lambda-rie)
// built for linux/goarch (amd64, arm64) with CGO_ENABLED=0 from the version
// pinned in testdata/tools. The binary is cached in CacheDir, keyed by goarch
// and a hash of the tools module's go.mod and go.sum, so it is built once per
// machine and emulator version; it is built to a temporary name and renamed
// into place, so concurrent test processes never see a partial binary.
// Without a Go toolchain, or when the module proxy cannot be reached, the
// test is skipped locally and fails in CI.
func BuildRIE(t testing.TB, goarch string) string {
	t.Helper()
	return buildGoTool(t, goTool{
		what: "aws-lambda-rie", moduleDir: ToolsDir(t), pkg: rieModule, goarch: goarch,
		keyFiles: []string{"go.mod", "go.sum"}, cacheDir: "rie", name: "aws-lambda-rie-linux-" + goarch,
		ldflags: "-s -w", env: []string{"CGO_ENABLED=0"},
	})
}

// goTool is a Go program the tests build from a module under testdata.
type goTool struct {
	what      string   // for messages, e.g. "aws-lambda-rie"
	moduleDir string   // the module's directory
	pkg       string   // the package to build: a path in the module or "./dir"
	goarch    string   // linux/goarch; "" builds for this machine
	keyFiles  []string // globs, relative to moduleDir, whose contents key the cache
	cacheDir  string   // subdirectory of CacheDir
	name      string   // the binary's name before "-<key>"
	ldflags   string
	env       []string // extra environment for go build
}

var toolMu sync.Mutex

// buildGoTool builds g once per machine and key: it is cached in CacheDir,
// keyed by the contents of its key files, built to a temporary name and
// renamed into place under a file lock, so concurrent test processes never
// see a partial binary or build it twice; builds of other keys are removed.
// Without a Go toolchain, or when the module proxy cannot be reached, the
// test is skipped locally and fails in CI.
func buildGoTool(t testing.TB, g goTool) string {
	t.Helper()
	h := sha256.New()
	for _, pattern := range g.keyFiles {
		files, _ := filepath.Glob(filepath.Join(g.moduleDir, pattern))
		if len(files) == 0 {
			t.Fatalf("building %s: no %s in %s", g.what, pattern, g.moduleDir)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("building %s: %v", g.what, err)
			}
			rel, _ := filepath.Rel(g.moduleDir, f)
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
			h.Write(b)
		}
	}
	dir := filepath.Join(CacheDir(t), g.cacheDir)
	out := filepath.Join(dir, g.name+"-"+hex.EncodeToString(h.Sum(nil))[:16])

	toolMu.Lock()
	defer toolMu.Unlock()
	if fileExists(out) {
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(filepath.Join(dir, "."+g.name+".lock"))
	if err != nil {
		t.Fatalf("locking the %s cache: %v", g.what, err)
	}
	defer unlock()
	if fileExists(out) {
		return out
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := runtime.GOROOT(); root != "" && fileExists(filepath.Join(root, "bin", "go")) {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			unavailable(t, "the go command is needed to build %s and is not installed", g.what)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+g.name+"-*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := []string{"build", "-C", g.moduleDir, "-trimpath", "-o", tmp.Name()}
	if g.ldflags != "" {
		args = append(args, "-ldflags="+g.ldflags)
	}
	cmd := exec.Command(goBin, append(args, g.pkg)...)
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), g.env...)
	if g.goarch != "" {
		cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+g.goarch)
	}
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		if looksLikeNetworkFailure(outBuf.String()) {
			unavailable(t, "building %s needs the Go module proxy, which is unreachable: %v\n%s", g.what, err, outBuf.String())
		}
		t.Fatalf("building %s: %v\n%s", g.what, err, outBuf.String())
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("installing %s into the cache: %v", g.what, err)
	}
	if old, err := filepath.Glob(filepath.Join(dir, g.name+"-*")); err == nil {
		for _, p := range old {
			if p != out && !strings.HasPrefix(filepath.Base(p), ".") {
				os.Remove(p)
			}
		}
	}
	return out
}

func looksLikeNetworkFailure(s string) bool {
	for _, m := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout",
		"TLS handshake timeout", "network is unreachable", "server misbehaving", "connection reset"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

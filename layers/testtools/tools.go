package testtools

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

// Unavailable skips the test locally, or fails it in CI (CI=true), when
// something it needs from outside (the network, a tool, root) cannot be had;
// format and args say what is missing.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s (required in CI)", msg)
	}
	t.Skipf("%s; skipping", msg)
}

// ToolsDir returns the directory of the test tools module (testdata/tools at
// the root of the rtbuild module), found upwards from the working directory
// (a test runs in its package's directory), or else from this source file's
// place in the module (layers/testtools).
func ToolsDir(t testing.TB) string {
	t.Helper()
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			cand := filepath.Join(dir, "testdata", "tools")
			if FileExists(filepath.Join(cand, "go.mod")) && FileExists(filepath.Join(dir, "go.mod")) {
				return cand
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cand := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "tools")
		if FileExists(filepath.Join(cand, "go.mod")) {
			return filepath.Clean(cand)
		}
	}
	t.Fatalf("testdata/tools/go.mod not found above the working directory")
	return ""
}

// FileExists reports whether p is an existing regular file (symbolic links
// followed).
func FileExists(p string) bool {
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
	return BuildGoTool(t, GoTool{
		What: "aws-lambda-rie", ModuleDir: ToolsDir(t), Pkg: rieModule, GOARCH: goarch,
		KeyFiles: []string{"go.mod", "go.sum"}, CacheDir: "rie", Name: "aws-lambda-rie-linux-" + goarch,
		LDFlags: "-s -w", Env: []string{"CGO_ENABLED=0"},
	})
}

// GoTool is a Go program the tests build from a module under testdata (see
// BuildGoTool).
type GoTool struct {
	What      string   // for messages, e.g. "aws-lambda-rie"
	ModuleDir string   // the module's directory
	Pkg       string   // the package to build: a path in the module or "./dir"
	GOARCH    string   // build for linux/GOARCH; "" builds for this machine
	KeyFiles  []string // globs, relative to ModuleDir, whose contents key the cache
	CacheDir  string   // subdirectory of CacheDir(t) holding the builds
	Name      string   // the binary's name before "-<key>"
	LDFlags   string   // -ldflags for go build, if any
	Env       []string // extra environment for go build
}

var toolMu sync.Mutex

// BuildGoTool builds g and returns the binary's path. It is built once per
// machine and key: it is cached in CacheDir, keyed by the contents of its key
// files, built to a temporary name and
// renamed into place under a file lock, so concurrent test processes never
// see a partial binary or build it twice; builds of other keys are removed.
// Without a Go toolchain, or when the module proxy cannot be reached, the
// test is skipped locally and fails in CI.
func BuildGoTool(t testing.TB, g GoTool) string {
	t.Helper()
	h := sha256.New()
	for _, pattern := range g.KeyFiles {
		files, _ := filepath.Glob(filepath.Join(g.ModuleDir, pattern))
		if len(files) == 0 {
			t.Fatalf("building %s: no %s in %s", g.What, pattern, g.ModuleDir)
		}
		sort.Strings(files)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("building %s: %v", g.What, err)
			}
			rel, _ := filepath.Rel(g.ModuleDir, f)
			fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
			h.Write(b)
		}
	}
	dir := filepath.Join(CacheDir(t), g.CacheDir)
	out := filepath.Join(dir, g.Name+"-"+hex.EncodeToString(h.Sum(nil))[:16])

	toolMu.Lock()
	defer toolMu.Unlock()
	if FileExists(out) {
		return out
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	unlock, err := LockFile(filepath.Join(dir, "."+g.Name+".lock"))
	if err != nil {
		t.Fatalf("locking the %s cache: %v", g.What, err)
	}
	defer unlock()
	if FileExists(out) {
		return out
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := runtime.GOROOT(); root != "" && FileExists(filepath.Join(root, "bin", "go")) {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			Unavailable(t, "the go command is needed to build %s and is not installed", g.What)
		}
	}
	tmp, err := os.CreateTemp(dir, "."+g.Name+"-*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	args := []string{"build", "-C", g.ModuleDir, "-trimpath", "-o", tmp.Name()}
	if g.LDFlags != "" {
		args = append(args, "-ldflags="+g.LDFlags)
	}
	cmd := exec.Command(goBin, append(args, g.Pkg)...)
	cmd.Env = append(append(os.Environ(), "GOWORK=off"), g.Env...)
	if g.GOARCH != "" {
		cmd.Env = append(cmd.Env, "GOOS=linux", "GOARCH="+g.GOARCH)
	}
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		if LooksLikeNetworkFailure(outBuf.String()) {
			Unavailable(t, "building %s needs the Go module proxy, which is unreachable: %v\n%s", g.What, err, outBuf.String())
		}
		t.Fatalf("building %s: %v\n%s", g.What, err, outBuf.String())
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("installing %s into the cache: %v", g.What, err)
	}
	if old, err := filepath.Glob(filepath.Join(dir, g.Name+"-*")); err == nil {
		for _, p := range old {
			if p != out && !strings.HasPrefix(filepath.Base(p), ".") {
				os.Remove(p)
			}
		}
	}
	return out
}

// LooksLikeNetworkFailure reports whether the output s of a command (go
// build, apt-get, ...) shows that it failed for want of the network rather
// than through a fault of its own, so that the test can call Unavailable.
func LooksLikeNetworkFailure(s string) bool {
	for _, m := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout",
		"TLS handshake timeout", "network is unreachable", "server misbehaving", "connection reset"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

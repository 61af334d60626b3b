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

var buildMu sync.Mutex

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
	tools := ToolsDir(t)
	h := sha256.New()
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(tools, f))
		if err != nil {
			t.Fatalf("reading the tools module: %v", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(b))
		h.Write(b)
	}
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(CacheDir(t), "rie")
	out := filepath.Join(dir, fmt.Sprintf("aws-lambda-rie-linux-%s-%s", goarch, key))

	buildMu.Lock()
	defer buildMu.Unlock()
	if fileExists(out) {
		return out
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		if root := runtime.GOROOT(); root != "" && fileExists(filepath.Join(root, "bin", "go")) {
			goBin = filepath.Join(root, "bin", "go")
		} else {
			unavailable(t, "the go command is needed to build aws-lambda-rie and is not installed")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, ".aws-lambda-rie-*")
	if err != nil {
		t.Fatal(err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name())

	cmd := exec.Command(goBin, "build", "-C", tools, "-trimpath", "-ldflags=-s -w", "-o", tmp.Name(), rieModule)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOWORK=off")
	var outBuf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &outBuf, &outBuf
	if err := cmd.Run(); err != nil {
		if looksLikeNetworkFailure(outBuf.String()) {
			unavailable(t, "building aws-lambda-rie needs the Go module proxy, which is unreachable: %v\n%s", err, outBuf.String())
		}
		t.Fatalf("building aws-lambda-rie for linux/%s: %v\n%s", goarch, err, outBuf.String())
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatalf("installing aws-lambda-rie into the cache: %v", err)
	}
	// Drop builds of other emulator versions for this architecture.
	if old, err := filepath.Glob(filepath.Join(dir, "aws-lambda-rie-linux-"+goarch+"-*")); err == nil {
		for _, p := range old {
			if p != out {
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

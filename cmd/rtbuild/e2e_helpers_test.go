package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/builder"
)

// rtbuildBin is the rtbuild binary the end-to-end tests run, built once by TestMain.
var rtbuildBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rtbuild-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rtbuildBin = filepath.Join(dir, "rtbuild")
	build := exec.Command("go", "build", "-o", rtbuildBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building rtbuild:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one rtbuild invocation did.
type cliResult struct {
	code   int
	stdout string
	stderr string
}

// cli runs the rtbuild binary with a clean environment (HOME, PATH, and the
// extra KEY=VALUE pairs in env) in dir (empty: a fresh temp dir).
func cli(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	cmd := exec.Command(rtbuildBin, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("running rtbuild %s: %v", strings.Join(args, " "), err)
		}
		res.code = ee.ExitCode()
	}
	return res
}

// mustCLI runs rtbuild and fails the test unless it exits 0.
func mustCLI(t *testing.T, dir string, env []string, args ...string) cliResult {
	t.Helper()
	r := cli(t, dir, env, args...)
	if r.code != 0 {
		t.Fatalf("rtbuild %s: exit %d\nstderr:\n%s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// run runs a tool and returns its stdout, failing the test on error.
func runTool(t *testing.T, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

func readMetadata(t *testing.T, path string) *builder.Metadata {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading metadata: %v", err)
	}
	var md builder.Metadata
	if err := json.Unmarshal(b, &md); err != nil {
		t.Fatalf("parsing metadata: %v\n%s", err, b)
	}
	return &md
}

// oneLineError checks that stderr is exactly one line starting with "rtbuild: ".
func oneLineError(t *testing.T, r cliResult) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	last := lines[len(lines)-1]
	if !strings.HasPrefix(last, "rtbuild: ") {
		t.Fatalf("error output does not end with one rtbuild: line:\n%s", r.stderr)
	}
	return last
}

// metadataT is the metadata file's type, named short for the tests.
type metadataT = builder.Metadata

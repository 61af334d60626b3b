package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	rtrun "github.com/rtbuild/rtbuild/builder/run"
	"github.com/rtbuild/rtbuild/builder/run/runtest"
	"github.com/rtbuild/rtbuild/builder/testworld"
)

func TestRunUsageErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"no image", []string{"run"}, "rtbuild run takes one IMAGE, got 0 arguments"},
		{"two images", []string{"run", "a", "b"}, "rtbuild run takes one IMAGE, got 2 arguments"},
		{"bad arch", []string{"run", "x", "--arch", "mips"}, `unknown architecture "mips"`},
		{"two archs", []string{"run", "x", "--arch", "x86_64,arm64"}, "rtbuild run runs one architecture"},
		{"bad timeout", []string{"run", "x", "--timeout", "soon"}, `invalid --timeout "soon"`},
		{"timeout too long", []string{"run", "x", "--timeout", "16m"}, "invalid --timeout 16m0s: Lambda allows 1s to 15m"},
		{"bad env", []string{"run", "x", "--env", "=v"}, `invalid --env "=v"`},
		{"bad memory", []string{"run", "x", "--memory", "64"}, "invalid --memory 64"},
		{"missing event file", []string{"run", "x", "--event", "/nonexistent/event.json"}, "invalid --event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := cli(t, "", nil, c.args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			if line := oneLineError(t, r); !strings.Contains(line, c.want) {
				t.Errorf("error %q does not say %q", line, c.want)
			}
		})
	}
}

// A user other than root gets one line saying root is needed.
func TestRunNeedsRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		r := cli(t, "", nil, "run", "oci:/nonexistent")
		if r.code != 2 || !strings.Contains(r.stderr, "rtbuild: rtbuild run needs root to run runc: ") {
			t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
		}
		return
	}
	// As root: run the binary as nobody, from a directory nobody can read.
	dir, err := os.MkdirTemp("", "rtbuild-run-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "rtbuild")
	b, err := os.ReadFile(rtbuildBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "run", "oci:/nonexistent")
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 2 {
		t.Fatalf("err %v, stderr %q; want exit 2", err, stderr.String())
	}
	if got := strings.TrimSpace(stderr.String()); !strings.HasPrefix(got, "rtbuild: rtbuild run needs root to run runc: ") || strings.Contains(got, "\n") {
		t.Errorf("stderr %q", got)
	}
}

// rtbuild run oci:DIR:REF --event - runs the image and prints the answer.
func TestRunEndToEnd(t *testing.T) {
	testworld.RequireTool(t, "runc")
	testworld.RequireTool(t, "go")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtbuild run needs root in CI")
		}
		t.Skip("not root: rtbuild run needs root to run runc")
	}
	arch := rtrun.HostArch()
	layout := runtest.WriteLayout(t, "fake", runtest.Image(t, arch, runtest.BuildFakeRIE(t, arch)))
	tmp := t.TempDir()
	cmd := exec.Command(rtbuildBin, "run", "oci:"+layout+":fake", "--event", "-", "--env", "FOO=bar",
		"--handler", "cli.handler", "--memory", "512", "--timeout", "30", "--tmp-dir", tmp)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "HOST_ONLY=1"}
	cmd.Stdin = strings.NewReader(`{"from":"stdin"}`)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("rtbuild run: %v\nstderr:\n%s", err, stderr.String())
	}
	var r runtest.Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	ev, _ := json.Marshal(r.Event)
	if string(ev) != `{"from":"stdin"}` || r.Handler != "cli.handler" || r.Env["FOO"] != "bar" ||
		r.Env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] != "512" || r.Env["AWS_LAMBDA_FUNCTION_TIMEOUT"] != "30" {
		t.Errorf("report %+v", r)
	}
	if _, ok := r.Env["HOST_ONLY"]; ok {
		t.Error("the host environment leaked into the container")
	}
	if !strings.Contains(stderr.String(), "fake-rie: listening") {
		t.Errorf("the container's logs are not on stderr: %q", stderr.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in --tmp-dir: %v", ents)
	}
}

// Ctrl-C on the terminal (SIGINT to rtbuild's process group) stops the
// container, removes everything and exits 130.
func TestRunCtrlC(t *testing.T) {
	testworld.RequireTool(t, "runc")
	testworld.RequireTool(t, "go")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtbuild run needs root in CI")
		}
		t.Skip("not root: rtbuild run needs root to run runc")
	}
	arch := rtrun.HostArch()
	layout := runtest.WriteLayout(t, "fake", runtest.Image(t, arch, runtest.BuildFakeRIE(t, arch)))
	tmp := t.TempDir()
	token := "hang.ctrlc-" + filepath.Base(tmp)
	cmd := exec.Command(rtbuildBin, "run", "oci:"+layout+":fake", "--handler", token, "--tmp-dir", tmp)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a process group of its own, like a terminal job
	logs := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "fake-rie: listening") {
		if time.Now().After(deadline) {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			t.Fatalf("the container did not start:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the invocation is in flight
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 130 {
		t.Fatalf("err %v, want exit 130; output:\n%s", err, logs.String())
	}
	if !strings.Contains(logs.String(), "rtbuild: interrupted") {
		t.Errorf("output %q", logs.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("left in --tmp-dir: %v", ents)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), token) {
			t.Errorf("a process of the run is still running: %s: %q", p, b)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// An HTTP error from the emulator (the runtime failed) is not an answer.
func TestRunEmulatorFailureExits1(t *testing.T) {
	testworld.RequireTool(t, "runc")
	testworld.RequireTool(t, "go")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtbuild run needs root in CI")
		}
		t.Skip("not root: rtbuild run needs root to run runc")
	}
	arch := rtrun.HostArch()
	layout := runtest.WriteLayout(t, "fake", runtest.Image(t, arch, runtest.BuildFakeRIE(t, arch)))
	r := cli(t, "", nil, "run", "oci:"+layout+":fake", "--handler", "broken.handler")
	if r.code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", r.code, r.stderr)
	}
	if line := oneLineError(t, r); line != "rtbuild: the emulator answered HTTP 502 Bad Gateway: the runtime failed, see its logs above" {
		t.Errorf("error %q", line)
	}
}

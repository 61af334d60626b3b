package run

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/builder/run/runtest"
	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// requireRunc returns runc's path, skipping the test locally (failing it in
// CI) when runc, go or root is missing.
func requireRunc(t *testing.T) string {
	t.Helper()
	bin := testworld.RequireTool(t, "runc")
	testworld.RequireTool(t, "go")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtbuild run's integration tests need root in CI (runc creates namespaces and cgroups)")
		}
		t.Skip("not root: rtbuild run's integration tests need root to run runc")
	}
	return bin
}

var fixture struct {
	once   sync.Once
	layout string
	err    error
}

// fixtureImage is oci:DIR:fake, the fake-emulator image for the machine's
// architecture, built once per test binary.
func fixtureImage(t *testing.T) string {
	t.Helper()
	fixture.once.Do(func() {
		arch := HostArch()
		if arch == "" {
			fixture.err = fmt.Errorf("unsupported machine architecture")
			return
		}
		dir, err := os.MkdirTemp("", "rtbuild-run-fixture-")
		if err != nil {
			fixture.err = err
			return
		}
		fixture.layout = filepath.Join(dir, "layout")
		// Built under t, but kept for the whole test binary (see TestMain).
		img := runtest.Image(t, arch, runtest.BuildFakeRIE(t, arch))
		src := runtest.WriteLayout(t, "fake", img)
		fixture.err = os.Rename(src, fixture.layout)
	})
	if fixture.err != nil {
		t.Fatalf("building the fixture image: %v", fixture.err)
	}
	return "oci:" + fixture.layout + ":fake"
}

func TestMain(m *testing.M) {
	code := m.Run()
	if fixture.layout != "" {
		os.RemoveAll(filepath.Dir(fixture.layout))
	}
	os.Exit(code)
}

// syncBuffer collects the container's output.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// started records what a run started.
type started struct {
	mu   sync.Mutex
	root string
	id   string
	pid  int
	at   time.Time
	ch   chan struct{}
}

func newStarted() *started { return &started{ch: make(chan struct{})} }

func (s *started) host() host {
	h := defaultHost()
	h.started = func(root, id string, pid int) {
		s.mu.Lock()
		s.root, s.id, s.pid, s.at = root, id, pid, time.Now()
		s.mu.Unlock()
		if pid != 0 {
			close(s.ch)
		}
	}
	return h
}

// assertNothingLeft checks that the run left no runc container, no
// temporary directory, no mount and no process behind.
func assertNothingLeft(t *testing.T, runcBin, tmp string, s *started, token string) {
	t.Helper()
	s.mu.Lock()
	root, id, pid := s.root, s.id, s.pid
	s.mu.Unlock()
	if id == "" || (pid == 0 && !strings.HasPrefix(token, "crash")) { // a crash may be over before its PID is read
		t.Fatal("the container was never started")
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("temporary directories left in %s: %v", tmp, ents)
	}
	// runc list creates its root: ask it only when the state directory
	// survived (then it must not hold the container).
	if _, err := os.Stat(root); err == nil {
		out, err := exec.Command(runcBin, "--root", root, "list", "--quiet").CombinedOutput()
		if err != nil || strings.Contains(string(out), id) {
			t.Errorf("runc --root %s list: %v: %s", root, err, out)
		}
	}
	if m, err := mountsUnder(tmp); err != nil || len(m) != 0 {
		t.Errorf("mounts left under %s: %v %v", tmp, m, err)
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); pid != 0 && err == nil && strings.Contains(string(b), token) {
		t.Errorf("the container's process %d is still running", pid)
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if b, err := os.ReadFile(p); err == nil && strings.Contains(string(b), token) {
			t.Errorf("a process of the run is still running: %s: %q", p, b)
		}
	}
	// runc's cgroups are gone (cgroup v1 hierarchies and v2 alike).
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == id {
			t.Errorf("cgroup left: %s", p)
		}
		if strings.Count(p, "/") > 8 {
			return fs.SkipDir
		}
		return nil
	})
}

func token(kind string) string {
	return fmt.Sprintf("%s.handler-%d", kind, time.Now().UnixNano())
}

func TestRunInvokesTheEmulator(t *testing.T) {
	runcBin := requireRunc(t)
	image := fixtureImage(t)
	tmp := t.TempDir()
	t.Setenv("RTBUILD_HOST_MARKER", "host-only")

	// Hold the host's 127.0.0.1:8080 when it is free: the container's
	// emulator must bind its own.
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err == nil {
		defer l.Close()
	} else {
		t.Logf("127.0.0.1:8080 is busy on the host (%v); the container binds its own anyway", err)
	}

	s := newStarted()
	tok := token("app")
	var logs syncBuffer
	res, err := run(context.Background(), Options{
		Image:   image,
		Event:   []byte(`{"hello":"world"}`),
		Handler: tok,
		Env:     []string{"FOO=bar", "AWS_REGION=eu-central-1"},
		Output:  &logs,
		TempDir: tmp,
	}, s.host())
	if err != nil {
		t.Fatalf("run: %v\ncontainer output:\n%s", err, logs.String())
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)

	if res.StatusCode != 200 {
		t.Errorf("status %d", res.StatusCode)
	}
	var r runtest.Report
	if err := json.Unmarshal(res.Body, &r); err != nil {
		t.Fatalf("answer %q: %v", res.Body, err)
	}
	if want := []string{runtest.FakeRIEPath, tok}; !slices.Equal(r.Args, want) {
		t.Errorf("args %q, want %q", r.Args, want)
	}
	if ev, _ := json.Marshal(r.Event); string(ev) != `{"hello":"world"}` {
		t.Errorf("event %s", ev)
	}
	for k, want := range map[string]string{
		"FOO":                             "bar",
		"IMAGE_VAR":                       "from-image",
		"AWS_REGION":                      "eu-central-1",
		"AWS_LAMBDA_FUNCTION_NAME":        "function",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "300",
		"_HANDLER":                        tok,
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
	} {
		if r.Env[k] != want {
			t.Errorf("%s=%q in the container, want %q", k, r.Env[k], want)
		}
	}
	if _, ok := r.Env["RTBUILD_HOST_MARKER"]; ok {
		t.Error("the host environment leaked into the container")
	}
	if r.Cwd != "/var/task" || r.PID != 1 || r.Hostname != "localhost" {
		t.Errorf("cwd %q pid %d hostname %q, want /var/task, 1, localhost", r.Cwd, r.PID, r.Hostname)
	}
	if r.RootWritable || !r.TmpWritable {
		t.Errorf("root writable %v, /tmp writable %v; want a read-only root and a writable /tmp", r.RootWritable, r.TmpWritable)
	}
	if !r.DeletedGone || r.Kept != "new" {
		t.Errorf("whiteout: deleted gone %v, kept %q", r.DeletedGone, r.Kept)
	}
	if !strings.Contains(logs.String(), "fake-rie: listening") {
		t.Errorf("the container's output was not passed on: %q", logs.String())
	}
}

func TestRunConcurrentRunsDoNotCollide(t *testing.T) {
	runcBin := requireRunc(t)
	image := fixtureImage(t)
	const n = 2
	var wg sync.WaitGroup
	type outcome struct {
		s    *started
		tok  string
		tmp  string
		res  *Result
		err  error
		logs syncBuffer
		done time.Time
	}
	outs := make([]*outcome, n)
	for i := range outs {
		outs[i] = &outcome{s: newStarted(), tok: token("slow"), tmp: t.TempDir()}
	}
	for _, o := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o.res, o.err = run(context.Background(), Options{Image: image, Handler: o.tok, Output: &o.logs, TempDir: o.tmp}, o.s.host())
			o.done = time.Now()
		}()
	}
	wg.Wait()
	for _, o := range outs {
		if o.err != nil {
			t.Fatalf("run: %v\n%s", o.err, o.logs.String())
		}
		var r runtest.Report
		if err := json.Unmarshal(o.res.Body, &r); err != nil || r.Handler != o.tok {
			t.Errorf("answer %q (%v), want the report of %s", o.res.Body, err, o.tok)
		}
		assertNothingLeft(t, runcBin, o.tmp, o.s, o.tok)
	}
	// Both emulators listened on 8080 at the same time.
	if !outs[0].s.at.Before(outs[1].done) || !outs[1].s.at.Before(outs[0].done) {
		t.Errorf("the runs did not overlap; the test proves nothing")
	}
}

func TestRunFunctionErrorIsAnAnswer(t *testing.T) {
	runcBin := requireRunc(t)
	tmp, s, tok := t.TempDir(), newStarted(), token("error")
	res, err := run(context.Background(), Options{Image: fixtureImage(t), Handler: tok, TempDir: tmp}, s.host())
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Body) != `{"errorMessage":"boom","errorType":"Error"}` || res.FunctionError != "Unhandled" {
		t.Errorf("answer %q, function error %q", res.Body, res.FunctionError)
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)
}

func TestRunContainerExitsEarly(t *testing.T) {
	runcBin := requireRunc(t)
	tmp, s, tok := t.TempDir(), newStarted(), token("crash")
	var logs syncBuffer
	_, err := run(context.Background(), Options{Image: fixtureImage(t), Handler: tok, TempDir: tmp, Output: &logs}, s.host())
	if err == nil || !strings.Contains(err.Error(), "the container exited with status 3") {
		t.Fatalf("err = %v, want the container's exit status", err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("err is not one line: %q", err)
	}
	if !strings.Contains(logs.String(), "crashing as asked") {
		t.Errorf("output %q", logs.String())
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)
}

func TestRunInterrupted(t *testing.T) {
	runcBin := requireRunc(t)
	for _, kind := range []string{"hang", "stubborn"} { // stubborn ignores SIGTERM: SIGKILL follows
		t.Run(kind, func(t *testing.T) {
			defer func(d time.Duration) { termGrace = d }(termGrace)
			termGrace = time.Second
			tmp, s, tok := t.TempDir(), newStarted(), token(kind)
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				<-s.ch
				time.Sleep(500 * time.Millisecond) // the request is in flight
				cancel()
			}()
			start := time.Now()
			_, err := run(ctx, Options{Image: fixtureImage(t), Handler: tok, TempDir: tmp}, s.host())
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "interrupted") {
				t.Fatalf("err = %v, want an interruption", err)
			}
			if d := time.Since(start); d > 15*time.Second {
				t.Errorf("stopping took %s", d)
			}
			assertNothingLeft(t, runcBin, tmp, s, tok)
		})
	}
}

func TestRunAnswerDeadline(t *testing.T) {
	runcBin := requireRunc(t)
	tmp, s, tok := t.TempDir(), newStarted(), token("hang")
	_, err := run(context.Background(), Options{
		Image: fixtureImage(t), Handler: tok, TempDir: tmp, Timeout: time.Second, StartTimeout: 2 * time.Second,
	}, s.host())
	if err == nil || !strings.Contains(err.Error(), "the function did not answer in time") {
		t.Fatalf("err = %v", err)
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)
}

func TestRunEmulatorNeverListens(t *testing.T) {
	runcBin := requireRunc(t)
	tmp, s, tok := t.TempDir(), newStarted(), token("deaf")
	_, err := run(context.Background(), Options{Image: fixtureImage(t), Handler: tok, TempDir: tmp, StartTimeout: time.Second}, s.host())
	if err == nil || !strings.Contains(err.Error(), "the emulator did not listen on 127.0.0.1:8080 in the container within 1s") {
		t.Fatalf("err = %v", err)
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)
}

// A foreign architecture runs under QEMU when a fix-binary handler is
// registered; the test never registers one.
func TestRunForeignArchitecture(t *testing.T) {
	runcBin := requireRunc(t)
	foreign := images.Arm64
	if HostArch() == images.Arm64 {
		foreign = images.X86_64
	}
	if err := defaultHost().checkEmulation(foreign); err != nil {
		t.Skipf("no QEMU emulation for %s here: %v", foreign, err)
	}
	img := runtest.Image(t, foreign, runtest.BuildFakeRIE(t, foreign))
	layout := runtest.WriteLayout(t, "fake", img)
	tmp, s, tok := t.TempDir(), newStarted(), token("app")
	res, err := run(context.Background(), Options{Image: "oci:" + layout + ":fake", Arch: foreign, Handler: tok, TempDir: tmp, StartTimeout: 2 * time.Minute}, s.host())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(res.Body), tok) {
		t.Errorf("answer %q", res.Body)
	}
	assertNothingLeft(t, runcBin, tmp, s, tok)
}

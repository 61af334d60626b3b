package main

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/rtbuild/rtbuild/builder/testworld"
)

// The live progress view (--progress auto on a terminal) is tested by
// running the rtbuild binary under a pseudo-terminal against the fixture
// world: the view shows each component and its state, the summary line
// follows it, and the terminal is left clean (the cursor the view hid is
// shown again) whether the build succeeds, fails or is interrupted.

const (
	hideCursorSeq = "\x1b[?25l"
	showCursorSeq = "\x1b[?25h"
)

// ptyRun is rtbuild running under a pseudo-terminal.
type ptyRun struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  []byte
	more chan struct{} // signalled on each read
	done chan struct{} // closed when the terminal is drained
}

func startPTY(t *testing.T, dir string, args ...string) *ptyRun {
	t.Helper()
	cmd := exec.Command(rtbuildBin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=xterm"}
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 60, Cols: 160})
	if err != nil {
		t.Fatalf("starting rtbuild under a pseudo-terminal: %v", err)
	}
	r := &ptyRun{cmd: cmd, more: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		defer f.Close()
		buf := make([]byte, 32<<10)
		for {
			n, err := f.Read(buf)
			r.mu.Lock()
			r.out = append(r.out, buf[:n]...)
			r.mu.Unlock()
			select {
			case r.more <- struct{}{}:
			default:
			}
			if err != nil { // EIO once the process has exited and the output is read
				return
			}
		}
	}()
	t.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
	})
	return r
}

func (r *ptyRun) output() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(r.out)
}

// waitFor waits until the output matches re; hang guards a test that
// would otherwise never end, it is not a performance bound.
func (r *ptyRun) waitFor(t *testing.T, re *regexp.Regexp) {
	t.Helper()
	hang := time.After(2 * time.Minute)
	for !re.MatchString(r.output()) {
		select {
		case <-r.more:
		case <-r.done:
			if !re.MatchString(r.output()) {
				t.Fatalf("rtbuild ended without printing %s:\n%q", re, r.output())
			}
		case <-hang:
			t.Fatalf("no %s in the output after 2 minutes:\n%q", re, r.output())
		}
	}
}

// wait waits for rtbuild to exit and its output to be drained, and
// returns its exit code.
func (r *ptyRun) wait(t *testing.T) int {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.cmd.Wait() }()
	var err error
	select {
	case err = <-errc:
	case <-time.After(2 * time.Minute):
		t.Fatalf("rtbuild did not exit within 2 minutes:\n%q", r.output())
	}
	<-r.done
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			t.Fatalf("rtbuild was killed by %v:\n%q", ws.Signal(), r.output())
		}
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

// gate is a proxy in front of the fixture artifact server: it sends half of
// each body, then holds the rest until the gate is opened (or the client
// goes away), so that a download is seen in progress.
type gate struct {
	*httptest.Server
	open chan struct{}
	once sync.Once
}

func startGate(t *testing.T, upstream string) *gate {
	g := &gate{open: make(chan struct{})}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, err := http.Get(upstream + r.URL.Path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			http.Error(w, "upstream: "+resp.Status, resp.StatusCode)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		half := len(body) / 2
		_, _ = w.Write(body[:half])
		w.(http.Flusher).Flush()
		select {
		case <-g.open:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write(body[half:])
	}))
	t.Cleanup(func() {
		g.release()
		g.Server.CloseClientConnections()
		g.Server.Close()
	})
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// gatedArgs are the world's --catalog and --mirror flags with the
// artifact server's mirror rules sent through g.
func gatedArgs(w *testworld.World, g *gate) []string {
	args := []string{"--catalog", w.CatalogFile}
	for _, m := range w.Mirrors {
		args = append(args, "--mirror", strings.ReplaceAll(m, w.Artifacts.URL, g.URL))
	}
	return args
}

// checkClean checks the view hid the cursor and showed it again at the end,
// after its last frame.
func checkClean(t *testing.T, out string) {
	t.Helper()
	hid := strings.LastIndex(out, hideCursorSeq)
	if hid < 0 {
		t.Fatalf("the live view never started (no cursor hiding):\n%q", out)
	}
	shown := strings.LastIndex(out, showCursorSeq)
	if shown < hid {
		t.Fatalf("the cursor is left hidden:\n%q", out)
	}
	// Nothing redraws after the cursor is shown: the view is stopped.
	if tail := out[shown:]; strings.Contains(tail, "\x1b[J") || regexp.MustCompile(`\x1b\[\d+A`).MatchString(tail) {
		t.Errorf("the view kept drawing after it was closed:\n%q", tail)
	}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func TestTTYProgress(t *testing.T) {
	w := testworld.Start(t)

	t.Run("success", func(t *testing.T) {
		g := startGate(t, w.Artifacts.URL)
		work := t.TempDir()
		r := startPTY(t, work, append([]string{"image", "provided.al2", "--arch", "x86_64",
			"--cache-dir", filepath.Join(work, "cache")}, gatedArgs(w, g)...)...)
		// The live view shows the image, its components and their states,
		// with a download in progress: bytes of the total.
		r.waitFor(t, regexp.MustCompile(`provided\.al2/x86_64`))
		r.waitFor(t, regexp.MustCompile(`rie@\S+\s+downloading\s.*\d+(\.\d)? (B|KiB|MiB) / \d+(\.\d)? (B|KiB|MiB)`))
		g.release()
		if code := r.wait(t); code != 0 {
			t.Fatalf("exit %d:\n%q", code, r.output())
		}
		out := r.output()
		checkClean(t, out)
		plain := ansi.ReplaceAllString(out, "")
		for _, c := range []string{"base", "bootstrap", "entrypoint"} {
			if !regexp.MustCompile(`(?m)^\s+` + c + `(@\S+)?\s+(resolving|resolved|cached|building|built)\b`).MatchString(plain) {
				t.Errorf("the view never showed component %s with a state:\n%s", c, plain)
			}
		}
		if !regexp.MustCompile(`=> provided\.al2/x86_64\s+done\s`).MatchString(plain) {
			t.Errorf("the image never showed as done:\n%s", plain)
		}
		tail := out[strings.LastIndex(out, showCursorSeq):]
		if !regexp.MustCompile(`built 1 image\(s\) \(1 platform\(s\)\) in \d+\.\ds: \d+ layer\(s\) built, \d+ cached, \d+(\.\d)? (B|KiB|MiB) downloaded`).MatchString(tail) {
			t.Errorf("no summary line after the view:\n%q", tail)
		}
		if !regexp.MustCompile(`provided\.al2 sha256:[0-9a-f]{64}`).MatchString(tail) {
			t.Errorf("the image digest is not printed after the view:\n%q", tail)
		}
	})

	t.Run("unknown runtime", func(t *testing.T) {
		work := t.TempDir()
		r := startPTY(t, work, append([]string{"image", "python3.99", "--cache-dir", filepath.Join(work, "cache")}, w.Args()...)...)
		if code := r.wait(t); code != exitUsage {
			t.Fatalf("exit %d, want %d:\n%q", code, exitUsage, r.output())
		}
		out := r.output()
		checkClean(t, out)
		tail := out[strings.LastIndex(out, showCursorSeq):]
		if !strings.Contains(tail, "rtbuild: ") || !strings.Contains(tail, "python3.99") {
			t.Errorf("the error is not printed after the view:\n%q", tail)
		}
		if strings.Contains(tail, "built ") {
			t.Errorf("a failed build printed a summary:\n%q", tail)
		}
	})

	t.Run("failing download", func(t *testing.T) {
		bad := httptest.NewServer(http.NotFoundHandler())
		t.Cleanup(bad.Close)
		work := t.TempDir()
		args := []string{"image", "provided.al2", "--arch", "x86_64", "--cache-dir", filepath.Join(work, "cache"), "--catalog", w.CatalogFile}
		for _, m := range w.Mirrors {
			args = append(args, "--mirror", strings.ReplaceAll(m, w.Artifacts.URL, bad.URL))
		}
		r := startPTY(t, work, args...)
		code := r.wait(t)
		if code == 0 {
			t.Fatalf("a build whose download fails succeeded:\n%q", r.output())
		}
		out := r.output()
		checkClean(t, out)
		tail := out[strings.LastIndex(out, showCursorSeq):]
		if !strings.Contains(tail, "rtbuild: ") || !strings.Contains(tail, "404") {
			t.Errorf("the download error is not printed after the view:\n%q", tail)
		}
		if plain := ansi.ReplaceAllString(out, ""); !regexp.MustCompile(`rie@\S+\s+failed`).MatchString(plain) {
			t.Errorf("the failed download does not show as failed:\n%s", plain)
		}
	})

	t.Run("interrupt", func(t *testing.T) {
		g := startGate(t, w.Artifacts.URL)
		work := t.TempDir()
		r := startPTY(t, work, append([]string{"image", "provided.al2", "--arch", "x86_64",
			"--cache-dir", filepath.Join(work, "cache")}, gatedArgs(w, g)...)...)
		r.waitFor(t, regexp.MustCompile(`rie@\S+\s+downloading`))
		// Ctrl-C: the terminal sends SIGINT to the foreground process.
		if err := r.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := r.wait(t); code != exitCanceled {
			t.Fatalf("exit %d after SIGINT, want %d:\n%q", code, exitCanceled, r.output())
		}
		out := r.output()
		checkClean(t, out)
		plain := ansi.ReplaceAllString(out[strings.LastIndex(out, hideCursorSeq):], "")
		if !regexp.MustCompile(`rie@\S+\s+stopped`).MatchString(plain) {
			t.Errorf("the interrupted download does not show as stopped:\n%s", plain)
		}
	})

	// Without a terminal, plain and json progress end with the summary too.
	t.Run("summary plain and json", func(t *testing.T) {
		work := t.TempDir()
		args := append([]string{"image", "provided.al2", "--arch", "x86_64", "--cache-dir", filepath.Join(work, "cache")}, w.Args()...)
		r := mustCLI(t, work, nil, append(args, "--progress", "plain")...)
		if strings.Contains(r.stderr, "\x1b") {
			t.Errorf("plain progress has escape sequences:\n%q", r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
		if last := lines[len(lines)-1]; !regexp.MustCompile(`^built 1 image\(s\) \(1 platform\(s\)\) in \d+\.\ds: 3 layer\(s\) built, 0 cached, \d+(\.\d)? (B|KiB|MiB) downloaded$`).MatchString(last) {
			t.Errorf("plain progress does not end with the summary: %q", last)
		}
		r = mustCLI(t, work, nil, append(args, "--progress", "json")...)
		lines = strings.Split(strings.TrimSpace(r.stderr), "\n")
		var last struct {
			Status  string
			Summary *struct {
				Images, Platforms                          int
				Seconds                                    float64
				LayersBuilt, LayersCached, BytesDownloaded int64
			}
		}
		for _, l := range lines {
			if err := json.Unmarshal([]byte(l), &last); err != nil {
				t.Fatalf("json progress line %q: %v", l, err)
			}
		}
		if last.Status != "summary" || last.Summary == nil || last.Summary.Images != 1 || last.Summary.Platforms != 1 ||
			last.Summary.LayersBuilt != 0 || last.Summary.LayersCached != 3 || last.Summary.BytesDownloaded != 0 {
			t.Errorf("the last json event is not the summary of a cached rebuild: %s", lines[len(lines)-1])
		}
	})
}

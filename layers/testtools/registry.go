package testtools

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireTool returns the path of a tool the test needs. Locally a missing
// tool skips the test with a message; in CI (CI=true) it fails it, because
// .ci/run installs every tool the tests need.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required in CI but not installed (.ci/run installs it): %v", name, err)
		}
		t.Skipf("%s not installed; run .ci/run or apt-get install it to run this test", name)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Registry is a real docker-registry process on 127.0.0.1.
type Registry struct {
	Host string // 127.0.0.1:PORT
	Dir  string
	cmd  *exec.Cmd
	log  *SyncBuffer
}

// StartRegistry starts Debian's docker-registry on a free loopback port with
// its storage in a temporary directory, and stops it (by its own PID) when
// the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin := RequireTool(t, "docker-registry")
	dir := t.TempDir()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		port := FreePort(t)
		host := fmt.Sprintf("127.0.0.1:%d", port)
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "storage"), host)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		r := &Registry{Host: host, Dir: dir, log: &SyncBuffer{}}
		r.cmd = exec.Command(bin, "serve", cfgPath)
		r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
		r.cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if err := r.cmd.Start(); err != nil {
			t.Fatalf("starting docker-registry: %v", err)
		}
		done := make(chan struct{})
		go func() { _ = r.cmd.Wait(); close(done) }()
		if err := waitHTTP("http://"+host+"/v2/", done, 10*time.Second); err != nil {
			lastErr = fmt.Errorf("%v; log:\n%s", err, r.log.String())
			_ = r.cmd.Process.Kill()
			<-done
			continue
		}
		t.Cleanup(func() {
			_ = r.cmd.Process.Kill()
			<-done
		})
		return r
	}
	t.Fatalf("docker-registry did not start: %v", lastErr)
	return nil
}

// Log returns what the registry has logged so far (its access log included).
func (r *Registry) Log() string { return r.log.String() }

// CountRequests counts access-log lines of the given method whose path contains substr.
func (r *Registry) CountRequests(method, substr string) int {
	n := 0
	for _, line := range strings.Split(r.Log(), "\n") {
		if strings.Contains(line, `"`+method+` `) && strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

func waitHTTP(url string, exited <-chan struct{}, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("process exited before serving %s", url)
		default:
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s", url, timeout)
}

// SyncBuffer is an io.Writer that keeps everything written to it and is safe
// for concurrent use, so a process's stdout and stderr can share it while a
// test reads it with String.
type SyncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

// Write appends p; it never fails.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Stop kills the registry now (by its own PID), for tests of what happens
// when it is gone; the test's cleanup still waits for it.
func (r *Registry) Stop() { _ = r.cmd.Process.Kill() }

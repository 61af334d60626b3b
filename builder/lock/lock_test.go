package lock

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/resolve"
)

// catalogWith loads a small complete catalog whose two components resolve
// from the given servers.
func catalogWith(t *testing.T, repo, sums string) *images.Catalog {
	t.Helper()
	file := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(file, []byte(`replace: true
version: "test"
bases:
  al2: {name: AL2, os: Amazon Linux 2, image: "oci:/nowhere", architectures: [x86_64, arm64]}
components:
  shell:
    kind: archive
    version: "2.0"
    description: a noarch RPM
    format: rpm
    dest: /
    resolve: {registry: rpm, url: `+repo+`/, packages: [demo-shell]}
  tool:
    kind: archive
    version: "1.2"
    description: an arch RPM with its requirements
    format: rpm
    dest: /
    resolve: {registry: rpm, url: `+repo+`/, packages: [demo-tool]}
  node:
    kind: file
    version: "1"
    description: a file pinned from a checksum file
    path: /usr/bin/node
    resolve: {registry: checksums, url: `+sums+`/SHASUMS256.txt}
    sources:
      x86_64: [{url: `+sums+`/node-x64}]
      arm64: [{url: `+sums+`/node-arm64}]
runtimes:
  - {identifier: demo, name: Demo, family: provided, base: al2, architectures: [x86_64, arm64], sdk: "", deprecation: {phase1: null, phase2: null}, components: [shell, tool, node]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := images.LoadWith(images.LoadOptions{Overlays: []string{file}, NoEmbeddedLock: true})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRunLocksRegistriesAndChecksums(t *testing.T) {
	repo := httptest.NewServer(http.FileServer(http.Dir(filepath.Join("..", "..", "layers", "rpm", "testdata", "real"))))
	t.Cleanup(repo.Close)
	files := map[string]string{"node-x64": "x64 binary", "node-arm64": "arm64 binary"}
	var sums strings.Builder
	for name, body := range files {
		s := sha256.Sum256([]byte(body))
		sums.WriteString(hex.EncodeToString(s[:]) + "  " + name + "\n")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/SHASUMS256.txt", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte(sums.String())) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(files[strings.TrimPrefix(r.URL.Path, "/")]))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	cat := catalogWith(t, repo.URL, srv.URL)
	l := &images.Lock{}
	res := Run(context.Background(), cat, cat.Runtimes, l, Options{Resolve: resolve.Options{Retries: -1}})
	if len(res.Failed) != 0 {
		t.Fatalf("failed: %+v", res.Failed)
	}
	// The noarch package resolves the same for both archs: stored once, under any.
	if sh := l.Components["shell"]; sh == nil || len(sh.Sources) != 1 || len(sh.Sources[images.AnyArch]) != 1 {
		t.Errorf("shell: %+v, want one source under any", sh)
	}
	// The arch package differs per arch and brings its requirements.
	tool := l.Components["tool"]
	if tool == nil || len(tool.Sources[images.X86_64]) != 3 || len(tool.Sources[images.Arm64]) == 0 || tool.Sources[images.AnyArch] != nil {
		t.Fatalf("tool: %+v, want per-arch closures", tool)
	}
	for _, s := range tool.Sources[images.Arm64] {
		if strings.Contains(s.URL, "x86_64") {
			t.Errorf("arm64 closure holds %s", s.URL)
		}
	}
	// The checksum file pins the listed sources, per arch.
	node := l.Components["node"]
	if node == nil || len(node.Sources[images.X86_64]) != 1 || node.Sources[images.X86_64][0].SHA256 == "" {
		t.Fatalf("node: %+v", node)
	}
	// Applied, the lock pins everything; --check agrees.
	cat2 := catalogWith(t, repo.URL, srv.URL)
	if stale := cat2.ApplyLock(l); len(stale) != 0 {
		t.Fatalf("stale right after locking: %v", stale)
	}
	for _, row := range Check(cat2, cat2.Runtimes) {
		if !row.Pinned {
			t.Errorf("%s %s %s not pinned: %s", row.Runtime, row.Arch, row.Component, row.Reason)
		}
	}
	// Before, the registry components are reported as not locked.
	unpinned := 0
	for _, row := range Check(cat, cat.Runtimes) {
		if !row.Pinned {
			unpinned++
		}
	}
	if unpinned != 6 {
		t.Errorf("%d unpinned rows before the lock is applied, want 6 (3 components x 2 archs)", unpinned)
	}
}

func TestRunReportsUnreachableByComponent(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	cat := catalogWith(t, srv.URL, srv.URL)
	l := &images.Lock{}
	res := Run(context.Background(), cat, cat.Runtimes, l, Options{Resolve: resolve.Options{Retries: -1}})
	if len(res.Failed) != 3 || len(l.Components) != 0 {
		t.Fatalf("failed %+v, locked %v: want all three to fail and nothing locked", res.Failed, l.Components)
	}
	for _, f := range res.Failed {
		if !strings.Contains(f.Message, "404") {
			t.Errorf("%s: %s, want the HTTP status", f.Component, f.Message)
		}
	}
}

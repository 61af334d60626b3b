package npm

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// TestRealRegistryAWSSDK resolves aws-sdk@2.1001.0 with its whole tree from
// the registry npm is configured with, pins (downloads and verifies) every
// tarball, installs them with the unpack machinery, and checks that the
// installed tree holds exactly the packages, versions and paths that
// `npm install aws-sdk@2.1001.0` lays down.
func TestRealRegistryAWSSDK(t *testing.T) {
	const pkg = "aws-sdk@2.1001.0"
	npmBin, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("npm is not installed, and CI=true: this test must run in CI: %v", err)
		}
		t.Skipf("npm is not installed: %v", err)
	}
	if testing.Short() && os.Getenv("CI") != "true" {
		t.Skip("-short: skipping the registry test (never skipped when CI=true)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	out, err := exec.CommandContext(ctx, npmBin, "config", "get", "registry").Output()
	if err != nil {
		t.Fatalf("npm config get registry: %v", err)
	}
	registry := strings.TrimSpace(string(out))
	if registry == "" || registry == "undefined" {
		t.Fatalf("npm config get registry printed %q", out)
	}

	// npm's own install, in the background while we resolve.
	npmDir := t.TempDir()
	npmDone := make(chan error, 1)
	var npmOut []byte
	go func() {
		cmd := exec.CommandContext(ctx, npmBin, "install", pkg, "--no-save", "--ignore-scripts", "--no-audit",
			"--no-fund", "--no-package-lock", "--cache", filepath.Join(t.TempDir(), "npm-cache"),
			"--registry", registry, "--loglevel", "error")
		cmd.Dir = npmDir
		cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
		var err error
		npmOut, err = cmd.CombinedOutput()
		npmDone <- err
	}()

	// Tarball bodies are recorded as Pin reads them, so that exactly the
	// verified bytes are installed.
	rec := &recorder{dir: t.TempDir(), files: map[string]string{}}
	o := resolve.Options{Client: &http.Client{Transport: rec, Timeout: 2 * time.Minute}}
	const nm = "/opt/test/node_modules"
	arts, err := Resolve(ctx, o, registry, nm, []string{pkg})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) < 5 {
		t.Fatalf("only %d artifacts resolved: %+v", len(arts), arts)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i := range arts {
		a := &arts[i]
		if !strings.HasPrefix(a.Digest, "sha512-") {
			t.Errorf("%s@%s: digest %q is not an SRI sha512", a.Name, a.Version, a.Digest)
		}
		g.Go(func() error {
			sum, err := o.Pin(gctx, a.URL, a.Digest)
			if err != nil {
				return fmt.Errorf("%s@%s: %w", a.Name, a.Version, err)
			}
			a.SHA256 = sum
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}

	// Install every tarball into one layer, then onto disk.
	layer := filepath.Join(t.TempDir(), "layer.tar")
	f, err := os.Create(layer)
	if err != nil {
		t.Fatal(err)
	}
	w := unpack.NewWriter(f, time.Time{})
	for _, a := range arts {
		file := rec.file(a.URL)
		if file == "" {
			t.Fatalf("%s: no recorded download", a.URL)
		}
		if got := sha256File(t, file); got != a.SHA256 {
			t.Fatalf("%s: installed bytes have sha256 %s, Pin gave %s", a.URL, got, a.SHA256)
		}
		if err := w.AddArchive(file, unpack.Options{Format: unpack.FormatTarGz, Strip: 1, Dest: a.Dest, Name: a.URL}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	ours := t.TempDir()
	extractTar(t, layer, ours)

	if err := <-npmDone; err != nil {
		t.Fatalf("npm install %s: %v\n%s", pkg, err, npmOut)
	}
	got := listTree(t, filepath.Join(ours, strings.TrimPrefix(nm, "/")))
	want := listTree(t, filepath.Join(npmDir, "node_modules"))
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("installed tree differs from npm's\nours:\n  %s\nnpm's:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	if len(got) != len(arts) {
		t.Errorf("%d artifacts but %d packages installed", len(arts), len(got))
	}
	t.Logf("%d packages match npm's install", len(got))
}

// recorder is a RoundTripper that copies each response body to a file as
// it is read.
type recorder struct {
	dir   string
	mu    sync.Mutex
	n     int
	files map[string]string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(req.URL.Path, ".tgz") {
		return resp, err
	}
	r.mu.Lock()
	r.n++
	name := filepath.Join(r.dir, fmt.Sprintf("%d.tgz", r.n))
	r.mu.Unlock()
	f, err := os.Create(name)
	if err != nil {
		resp.Body.Close()
		return nil, err
	}
	resp.Body = &teeBody{rc: resp.Body, f: f, done: func() {
		r.mu.Lock()
		r.files[req.URL.String()] = name
		r.mu.Unlock()
	}}
	return resp, nil
}

func (r *recorder) file(url string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.files[url]
}

type teeBody struct {
	rc   io.ReadCloser
	f    *os.File
	done func()
	eof  bool
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		if _, werr := t.f.Write(p[:n]); werr != nil {
			return n, werr
		}
	}
	if errors.Is(err, io.EOF) {
		t.eof = true
	}
	return n, err
}

func (t *teeBody) Close() error {
	err := t.rc.Close()
	if cerr := t.f.Close(); cerr == nil && t.eof {
		t.done()
	}
	return err
}

func sha256File(t *testing.T, name string) string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// extractTar writes a layer's directories and regular files below dir (the
// layer's paths are already cleaned by unpack).
func extractTar(t *testing.T, layer, dir string) {
	t.Helper()
	f, err := os.Open(layer)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(h.Name, "/")))
		if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
			t.Fatalf("layer entry %q escapes", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
}

// listTree lists the packages installed below a node_modules directory as
// "path name@version" lines, path relative to it, sorted.
func listTree(t *testing.T, nm string) []string {
	t.Helper()
	var out []string
	var walk func(nm, prefix string)
	walk = func(nm, prefix string) {
		ents, err := os.ReadDir(nm)
		if err != nil {
			if os.IsNotExist(err) {
				return
			}
			t.Fatal(err)
		}
		var dirs []string
		for _, e := range ents {
			name := e.Name()
			if !e.IsDir() || strings.HasPrefix(name, ".") {
				continue
			}
			if strings.HasPrefix(name, "@") {
				sub, err := os.ReadDir(filepath.Join(nm, name))
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range sub {
					if s.IsDir() {
						dirs = append(dirs, name+"/"+s.Name())
					}
				}
				continue
			}
			dirs = append(dirs, name)
		}
		for _, d := range dirs {
			dir := filepath.Join(nm, filepath.FromSlash(d))
			b, err := os.ReadFile(filepath.Join(dir, "package.json"))
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			var pj struct{ Name, Version string }
			if err := json.Unmarshal(b, &pj); err != nil {
				t.Errorf("%s/package.json: %v", dir, err)
				continue
			}
			out = append(out, prefix+d+" "+pj.Name+"@"+pj.Version)
			walk(filepath.Join(dir, "node_modules"), prefix+d+"/node_modules/")
		}
	}
	walk(nm, "")
	sort.Strings(out)
	return out
}

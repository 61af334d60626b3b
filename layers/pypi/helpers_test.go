package pypi

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// member is one file of a test wheel.
type member struct {
	name string
	data string
	mode fs.FileMode // 0: 0644
}

// buildWheel returns a wheel (zip) holding members plus, unless given,
// dist-info WHEEL and METADATA, and a RECORD with every member's hash.
// badHash names a member whose RECORD hash is made wrong; omit names one
// left out of RECORD.
func buildWheel(t testing.TB, name, version string, members []member, badHash, omit string) []byte {
	t.Helper()
	di := name + "-" + version + ".dist-info/"
	has := map[string]bool{}
	for _, m := range members {
		has[m.name] = true
	}
	if !has[di+"WHEEL"] {
		members = append(members, member{name: di + "WHEEL", data: "Wheel-Version: 1.0\nGenerator: bdist_wheel (0.37.0)\nRoot-Is-Purelib: true\nTag: py3-none-any\n\n"})
	}
	if !has[di+"METADATA"] {
		members = append(members, member{name: di + "METADATA", data: "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n\n"})
	}
	var record strings.Builder
	for _, m := range members {
		if m.name == omit {
			continue
		}
		sum := sha256.Sum256([]byte(m.data))
		if m.name == badHash {
			sum = sha256.Sum256([]byte(m.data + "tampered"))
		}
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", m.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(m.data))
	}
	record.WriteString(di + "RECORD,,\n")
	members = append(members, member{name: di + "RECORD", data: record.String()})
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		mode := m.mode
		if mode == 0 {
			mode = 0o644
		}
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: time.Date(2021, 10, 5, 0, 0, 0, 0, time.UTC)}
		h.SetMode(mode)
		f, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		f.Write([]byte(m.data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// fakeIndex serves testdata/pypi as a PyPI JSON API under /pypi/ and the
// files it lists under /packages/: wheels are generated from their file
// names, and every digests.sha256 is rewritten to the bytes served.
type fakeIndex struct {
	t   testing.TB
	srv *httptest.Server
	// keepURLs serves the JSON's file URLs unchanged (for mirror tests);
	// otherwise they point at this server.
	keepURLs bool
	// tamper names files whose served bytes differ from their digest.
	tamper map[string]bool

	mu       sync.Mutex
	files    map[string][]byte
	requests []string
}

func newFakeIndex(t testing.TB) *fakeIndex {
	f := &fakeIndex{t: t, tamper: map[string]bool{}, files: map[string][]byte{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIndex) index() string { return f.srv.URL + "/pypi" }

// content is what the index serves for a file name.
func (f *fakeIndex) content(filename string) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if b, ok := f.files[filename]; ok {
		return b
	}
	var b []byte
	if w, err := parseWheelName(filename); err == nil {
		pkg := strings.ToLower(w.name)
		b = buildWheel(f.t, w.name, w.version, []member{
			{name: pkg + "/__init__.py", data: fmt.Sprintf("__version__ = %q\n# %s\n", w.version, filename)},
		}, "", "")
	} else {
		b = []byte("sdist " + filename)
	}
	f.files[filename] = b
	return b
}

func (f *fakeIndex) sha256(filename string) string {
	s := sha256.Sum256(f.content(filename))
	return hex.EncodeToString(s[:])
}

func (f *fakeIndex) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.URL.Path)
	f.mu.Unlock()
	switch {
	case strings.HasPrefix(r.URL.Path, "/pypi/") && strings.HasSuffix(r.URL.Path, "/json"):
		rel := strings.TrimPrefix(r.URL.Path, "/pypi/")
		if strings.Contains(rel, "..") {
			http.NotFound(w, r)
			return
		}
		b, err := os.ReadFile(filepath.Join("testdata", "pypi", filepath.FromSlash(rel)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			f.t.Errorf("testdata %s: %v", rel, err)
			http.Error(w, err.Error(), 500)
			return
		}
		fix := func(v any) {
			list, _ := v.([]any)
			for _, e := range list {
				file := e.(map[string]any)
				name := file["filename"].(string)
				file["digests"].(map[string]any)["sha256"] = f.sha256(name)
				if !f.keepURLs {
					u := file["url"].(string)
					file["url"] = f.srv.URL + strings.TrimPrefix(u, "https://files.pythonhosted.org")
				}
			}
		}
		fix(doc["urls"])
		if rel, ok := doc["releases"].(map[string]any); ok {
			for _, files := range rel {
				fix(files)
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	case strings.HasPrefix(r.URL.Path, "/packages/"):
		name := path.Base(r.URL.Path)
		b := f.content(name)
		if f.tamper[name] {
			b = append(bytes.Clone(b), "tampered"...)
		}
		w.Write(b)
	default:
		http.NotFound(w, r)
	}
}

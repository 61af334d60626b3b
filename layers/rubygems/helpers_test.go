package rubygems

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// fixtureTime is the mtime of the fixture gems' members (their build date).
var fixtureTime = time.Date(2021, 1, 29, 0, 0, 0, 0, time.UTC)

// gemParts are the members of a .gem, before the outer tar is written.
type gemParts struct {
	metadata  []byte // YAML, compressed when written
	data      []byte // data.tar.gz
	checksums []byte // checksums.yaml.gz; nil: none
}

// fixtureGems lists the gems under testdata/gems (NAME-VERSION).
func fixtureGems(t testing.TB) []string {
	t.Helper()
	dirs, err := os.ReadDir("testdata/gems")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range dirs {
		if d.IsDir() {
			out = append(out, d.Name())
		}
	}
	return out
}

// buildGem builds testdata/gems/FULL as `gem build` lays a .gem out: a tar
// of metadata.gz (the recorded Gem::Specification YAML), data.tar.gz (the
// files under data/, which must be the spec's files list; the executables
// 0755, the rest 0644) and checksums.yaml.gz (SHA256 and SHA512 of the
// other two). edit, if set, changes the members before they are written.
func buildGem(t testing.TB, full string, edit func(*gemParts)) []byte {
	t.Helper()
	dir := filepath.Join("testdata", "gems", full)
	meta, err := os.ReadFile(filepath.Join(dir, "metadata.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var spec struct {
		Bindir      string   `yaml:"bindir"`
		Executables []string `yaml:"executables"`
		Files       []string `yaml:"files"`
	}
	if err := yaml.Unmarshal(meta, &spec); err != nil {
		t.Fatalf("%s/metadata.yaml: %v", dir, err)
	}
	var files []string
	root := filepath.Join(dir, "data")
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	listed := slices.Clone(spec.Files)
	slices.Sort(listed)
	if !slices.Equal(files, listed) {
		t.Fatalf("%s: data/ holds %v but metadata.yaml lists %v", dir, files, listed)
	}
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	for _, f := range spec.Files {
		body, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			t.Fatal(err)
		}
		mode := int64(0o644)
		if path.Dir(f) == spec.Bindir && slices.Contains(spec.Executables, path.Base(f)) {
			mode = 0o755
		}
		writeMember(t, tw, f, mode, body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p := &gemParts{metadata: meta, data: gzipped(t, data.Bytes())}
	metaGz := gzipped(t, p.metadata)
	p.checksums = gzipped(t, checksumsYAML(metaGz, p.data))
	if edit != nil {
		edit(p)
		metaGz = gzipped(t, p.metadata)
	}
	return gemTar(t, metaGz, p.data, p.checksums)
}

// checksumsYAML is checksums.yaml as `gem build` writes it.
func checksumsYAML(metaGz, dataGz []byte) []byte {
	var b strings.Builder
	b.WriteString("---\nSHA256:\n")
	s1, s2 := sha256.Sum256(metaGz), sha256.Sum256(dataGz)
	fmt.Fprintf(&b, "  metadata.gz: %x\n  data.tar.gz: %x\n", s1, s2)
	b.WriteString("SHA512:\n")
	t1, t2 := sha512.Sum512(metaGz), sha512.Sum512(dataGz)
	fmt.Fprintf(&b, "  metadata.gz: %x\n  data.tar.gz: %x\n", t1, t2)
	return []byte(b.String())
}

func gemTar(t testing.TB, metaGz, dataGz, checksumsGz []byte) []byte {
	t.Helper()
	var gem bytes.Buffer
	tw := tar.NewWriter(&gem)
	writeMember(t, tw, "metadata.gz", 0o444, metaGz)
	writeMember(t, tw, "data.tar.gz", 0o444, dataGz)
	if checksumsGz != nil {
		writeMember(t, tw, "checksums.yaml.gz", 0o444, checksumsGz)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return gem.Bytes()
}

func writeMember(t testing.TB, tw *tar.Writer, name string, mode int64, body []byte) {
	t.Helper()
	h := &tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg,
		ModTime: fixtureTime, Uname: "wheel", Gname: "wheel", Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
}

func gzipped(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// gemServer is a RubyGems server on 127.0.0.1 speaking the JSON API from
// recorded-format files (overlays first, then testdata/server), with each
// "{{sha256 NAME-VERSION.gem}}" replaced by the sha256 of the fixture gem
// it serves at /downloads/NAME-VERSION.gem.
type gemServer struct {
	*httptest.Server
	gems     map[string][]byte // "NAME-VERSION.gem" -> bytes served
	mu       sync.Mutex
	requests []string
}

// serve replaces the bytes served for a gem file name.
func (s *gemServer) serve(name string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gems[name] = b
}

// Requests returns the request URIs served so far.
func (s *gemServer) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func newGemServer(t testing.TB, overlays ...string) *gemServer {
	t.Helper()
	s := &gemServer{gems: map[string][]byte{}}
	for _, full := range fixtureGems(t) {
		s.gems[full+".gem"] = buildGem(t, full, nil)
	}
	var replace []string
	for name, b := range s.gems {
		replace = append(replace, "{{sha256 "+name+"}}", sha256Hex(b))
	}
	subst := strings.NewReplacer(replace...)
	roots := append([]string{}, overlays...)
	roots = append(roots, "server")
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.URL.RequestURI())
		s.mu.Unlock()
		p := path.Clean(r.URL.Path)
		if name, ok := strings.CutPrefix(p, "/downloads/"); ok {
			s.mu.Lock()
			b, ok := s.gems[name]
			s.mu.Unlock()
			if !ok {
				http.NotFound(w, r)
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(b)
			return
		}
		if !strings.HasPrefix(p, "/api/") || !strings.HasSuffix(p, ".json") {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(p, "/api/v2/") && r.URL.Query().Get("platform") != "ruby" {
			http.Error(w, "the test server expects ?platform=ruby", http.StatusBadRequest)
			return
		}
		for _, root := range roots {
			b, err := os.ReadFile(filepath.Join("testdata", root, filepath.FromSlash(p)))
			if err == nil {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				io.WriteString(w, subst.Replace(string(b)))
				return
			}
		}
		// The public server answers an unknown gem with a plain-text 404.
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, "This rubygem could not be found.")
	}))
	t.Cleanup(s.Close)
	return s
}

// layerEntry is one entry of a layer read back, with a file's body.
type layerEntry struct {
	hdr  *tar.Header
	body string
}

// readLayer reads a layer tar: its entries by name, and the names in order.
func readLayer(t testing.TB, b []byte) (map[string]layerEntry, []string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	out := map[string]layerEntry{}
	var order []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out[h.Name] = layerEntry{hdr: h, body: string(body)}
		order = append(order, h.Name)
	}
}

// extractLayer writes a layer tar below dir (a test's own directory).
func extractLayer(t testing.TB, b []byte, dir string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var body []byte
			if body, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(p, body, fs.FileMode(h.Mode).Perm())
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		default:
			t.Fatalf("unexpected entry %s of type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

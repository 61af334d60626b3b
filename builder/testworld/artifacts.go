package testworld

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// Artifact is one synthetic upstream artifact.
type Artifact struct {
	URL    string // the catalog's URL
	Path   string // path on the artifact server: /HOST/PATH
	Body   []byte
	SHA256 string
}

// ArtifactServer serves synthetic artifacts over HTTP on 127.0.0.1 under
// /HOST/PATH, so a mirror rule https://HOST=http://127.0.0.1:PORT/HOST
// redirects the catalog's URLs to it. It counts requests.
type ArtifactServer struct {
	*httptest.Server
	mu        sync.Mutex
	artifacts map[string]*Artifact // by server path
	requests  int
	override  map[string][]byte
}

// NewArtifactServer starts an empty artifact server, closed when the test ends.
func NewArtifactServer(t testing.TB) *ArtifactServer {
	s := &ArtifactServer{artifacts: map[string]*Artifact{}, override: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *ArtifactServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	a := s.artifacts[r.URL.Path]
	body, overridden := s.override[r.URL.Path]
	s.mu.Unlock()
	if a == nil {
		http.NotFound(w, r)
		return
	}
	if !overridden {
		body = a.Body
	}
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	_, _ = w.Write(body)
}

// Requests returns how many requests the server has answered.
func (s *ArtifactServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Override makes the server answer url with body instead of the artifact's
// bytes (to simulate a tampered upstream).
func (s *ArtifactServer) Override(rawURL string, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.override[serverPath(rawURL)] = body
}

// Add registers an artifact under the catalog URL it stands in for.
func (s *ArtifactServer) Add(rawURL string, body []byte) *Artifact {
	sum := sha256.Sum256(body)
	a := &Artifact{URL: rawURL, Path: serverPath(rawURL), Body: body, SHA256: hex.EncodeToString(sum[:])}
	s.mu.Lock()
	s.artifacts[a.Path] = a
	s.mu.Unlock()
	return a
}

// MirrorRules returns one --mirror rule per upstream host of the served artifacts.
func (s *ArtifactServer) MirrorRules() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	hosts := map[string]string{}
	for _, a := range s.artifacts {
		u, err := url.Parse(a.URL)
		if err != nil {
			continue
		}
		hosts[u.Scheme+"://"+u.Host+"/"] = s.URL + "/" + u.Host + "/"
	}
	var rules []string
	for from, to := range hosts {
		rules = append(rules, from+"="+to)
	}
	sort.Strings(rules)
	return rules
}

func serverPath(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "/invalid"
	}
	return "/" + u.Host + u.Path
}

// Expected is a file the built image must hold, with its mode.
type Expected struct {
	Path    string // absolute path in the image
	Mode    int64  // permission bits
	Symlink string // link target, for symlinks
}

// fixtureEntries are the files every synthetic archive holds, below the
// directory named for the artifact.
func fixtureEntries(base string) []fileEntry {
	dir := "fixture/" + base + "/"
	return []fileEntry{
		{name: dir + "README", mode: 0o644, body: []byte("fixture " + base + "\n")},
		{name: dir + "run", mode: 0o755, body: []byte("#!/bin/sh\necho fixture " + base + "\n")},
		{name: dir + "link", mode: 0o777, link: "run"},
	}
}

type fileEntry struct {
	name string
	mode int64
	body []byte
	link string
}

// GenerateArtifacts adds a synthetic artifact for every source of every
// component the catalog's runtimes use, shaped so that the component's
// strip, subdir and format apply, and returns what each runtime image must
// then contain, per runtime and arch.
func (s *ArtifactServer) GenerateArtifacts(cat *images.Catalog) (map[string]map[images.Arch][]Expected, error) {
	done := map[string]bool{}
	expect := map[string]map[images.Arch][]Expected{}
	for _, rt := range cat.Runtimes {
		expect[rt.Identifier] = map[images.Arch][]Expected{}
		for _, arch := range rt.Architectures {
			var exp []Expected
			for _, key := range rt.Components {
				c := cat.Components[key]
				srcs := images.ComponentSources(c, arch)
				if c.Kind == images.KindFile {
					exp = append(exp, Expected{Path: c.Path, Mode: fileMode(c.Mode)})
					for _, src := range srcs {
						if !done[src.URL] {
							done[src.URL] = true
							s.Add(src.URL, []byte("#!/bin/sh\necho fixture "+key+" "+src.URL+"\n"))
						}
					}
					continue
				}
				if c.Builtin != "" {
					// A tree shipped inside rtbuild: every file under Dest.
					names, err := builtinNames(c.Builtin)
					if err != nil {
						return nil, fmt.Errorf("component %s: %w", key, err)
					}
					for _, n := range names {
						exp = append(exp, Expected{Path: path.Join(c.Dest, n), Mode: 0o644})
					}
				}
				for _, src := range srcs {
					base := path.Base(src.URL)
					dest := c.Dest
					if src.Dest != "" {
						dest = src.Dest
					}
					format := c.Format
					if format == "" {
						f, err := unpack.DetectFormat(src.URL)
						if err != nil {
							return nil, fmt.Errorf("component %s: %w", key, err)
						}
						format = f
					}
					switch format {
					case "raw":
						exp = append(exp, Expected{Path: path.Join(dest, base), Mode: 0o644})
					case "wheel", "gem-install":
						names, err := installedNames(format, base)
						if err != nil {
							return nil, fmt.Errorf("component %s: %w", key, err)
						}
						for _, n := range names {
							exp = append(exp, Expected{Path: path.Join(dest, n.name), Mode: n.mode})
						}
					default:
						for _, e := range fixtureEntries(base) {
							x := Expected{Path: path.Join(dest, e.name), Mode: e.mode}
							if e.link != "" {
								x.Mode, x.Symlink = 0, e.link
							}
							exp = append(exp, x)
						}
					}
					if done[src.URL] {
						continue
					}
					done[src.URL] = true
					body, err := buildArchive(format, c.Strip, c.Subdir, fixtureEntries(base), src.URL)
					if err != nil {
						return nil, fmt.Errorf("component %s: %s: %w", key, src.URL, err)
					}
					s.Add(src.URL, body)
				}
			}
			expect[rt.Identifier][arch] = exp
		}
	}
	return expect, nil
}

func fileMode(s string) int64 {
	if s == "" {
		return 0o644
	}
	var m int64
	fmt.Sscanf(s, "%o", &m)
	return m
}

// buildArchive makes an archive of the given format whose entries, after
// stripping strip leading components and taking subdir, are entries.
func buildArchive(format string, strip int, subdir string, entries []fileEntry, rawURL string) ([]byte, error) {
	prefix := ""
	for i := 0; i < strip; i++ {
		prefix += fmt.Sprintf("top%d/", i)
	}
	if subdir != "" {
		prefix += strings.Trim(subdir, "/") + "/"
	}
	switch format {
	case "raw":
		return []byte("fixture raw artifact " + rawURL + "\n"), nil
	case "zip":
		var buf bytes.Buffer
		zw := zip.NewWriter(&buf)
		// An entry outside subdir, which must not reach the image.
		if subdir != "" {
			w, err := zw.Create(strings.Repeat("x/", strip) + "outside-subdir.txt")
			if err != nil {
				return nil, err
			}
			w.Write([]byte("not in the image\n"))
		}
		if err := writeZip(zw, prefix, entries); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	case "tar", "tar.gz", "tar.xz":
		raw, err := tarOf(prefix, entries)
		if err != nil {
			return nil, err
		}
		return compress(format, raw)
	case "gem":
		data, err := tarOf(prefix, entries)
		if err != nil {
			return nil, err
		}
		dataGz, err := compress("tar.gz", data)
		if err != nil {
			return nil, err
		}
		metaGz, err := compress("tar.gz", []byte("--- !ruby/object:Gem::Specification\nname: fixture\n"))
		if err != nil {
			return nil, err
		}
		return gemOf(fileEntry{name: "metadata.gz", body: metaGz}, fileEntry{name: "data.tar.gz", body: dataGz})
	case "wheel":
		return fixtureWheel(path.Base(rawURL))
	case "gem-install":
		return fixtureGem(path.Base(rawURL))
	}
	return nil, fmt.Errorf("fixture world cannot make format %q", format)
}

// wheelName splits a wheel file name into distribution and version.
func wheelName(base string) (string, string, error) {
	parts := strings.Split(strings.TrimSuffix(base, ".whl"), "-")
	if len(parts) < 5 || !strings.HasSuffix(base, ".whl") {
		return "", "", fmt.Errorf("%q is not a wheel file name", base)
	}
	return parts[0], parts[1], nil
}

// gemName splits NAME-VERSION.gem.
func gemName(base string) (string, string, error) {
	stem := strings.TrimSuffix(base, ".gem")
	i := strings.LastIndex(stem, "-")
	if i <= 0 || stem == base {
		return "", "", fmt.Errorf("%q is not a gem file name", base)
	}
	return stem[:i], stem[i+1:], nil
}

// installedNames are the files a fixture wheel or gem installs, relative
// to the component's destination.
func installedNames(format, base string) ([]fileEntry, error) {
	var out []fileEntry
	switch format {
	case "wheel":
		name, version, err := wheelName(base)
		if err != nil {
			return nil, err
		}
		for _, e := range wheelFiles(name, version) {
			out = append(out, fileEntry{name: e.name, mode: e.mode})
		}
		di := name + "-" + version + ".dist-info/"
		out = append(out, fileEntry{name: di + "INSTALLER", mode: 0o644}, fileEntry{name: di + "RECORD", mode: 0o644})
	case "gem-install":
		name, version, err := gemName(base)
		if err != nil {
			return nil, err
		}
		for _, e := range gemFiles(name) {
			out = append(out, fileEntry{name: "gems/" + name + "-" + version + "/" + e.name, mode: e.mode})
		}
		out = append(out, fileEntry{name: "specifications/" + name + "-" + version + ".gemspec", mode: 0o644})
	}
	return out, nil
}

// wheelFiles are a fixture wheel's members other than its RECORD.
func wheelFiles(name, version string) []fileEntry {
	di := name + "-" + version + ".dist-info/"
	return []fileEntry{
		{name: name + "/__init__.py", mode: 0o644, body: []byte("# fixture " + name + " " + version + "\n")},
		{name: name + "/tool.py", mode: 0o755, body: []byte("#!/usr/bin/env python3\nprint('fixture')\n")},
		{name: di + "METADATA", mode: 0o644, body: []byte("Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n")},
		{name: di + "WHEEL", mode: 0o644, body: []byte("Wheel-Version: 1.0\nGenerator: rtbuild-testworld\nRoot-Is-Purelib: true\nTag: py3-none-any\n")},
	}
}

// fixtureWheel makes a wheel (PEP 427) with a RECORD of its files.
func fixtureWheel(base string) ([]byte, error) {
	name, version, err := wheelName(base)
	if err != nil {
		return nil, err
	}
	files := wheelFiles(name, version)
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256(f.body)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	di := name + "-" + version + ".dist-info/"
	record.WriteString(di + "RECORD,,\n")
	files = append(files, fileEntry{name: di + "RECORD", mode: 0o644, body: []byte(record.String())})
	var buf bytes.Buffer
	if err := writeZip(zip.NewWriter(&buf), "", files); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// writeZip writes entries (files and symlinks) under prefix and closes zw.
func writeZip(zw *zip.Writer, prefix string, entries []fileEntry) error {
	for _, e := range entries {
		h := &zip.FileHeader{Name: prefix + e.name, Method: zip.Deflate}
		body := e.body
		if e.link != "" {
			h.SetMode(0o777 | fs.ModeSymlink)
			body = []byte(e.link)
		} else {
			h.SetMode(fs.FileMode(e.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if _, err := w.Write(body); err != nil {
			return err
		}
	}
	return zw.Close()
}

// gemOf is a .gem: a plain tar of its members (metadata.gz, data.tar.gz, ...).
func gemOf(members ...fileEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0o444, Size: int64(len(m.body)), Typeflag: tar.TypeReg}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(m.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gemFiles are a fixture gem's data files.
func gemFiles(name string) []fileEntry {
	return []fileEntry{
		{name: "lib/" + name + ".rb", mode: 0o644, body: []byte("# fixture " + name + "\n")},
		{name: "README.md", mode: 0o644, body: []byte("fixture " + name + "\n")},
	}
}

// fixtureGem makes a .gem: metadata.gz (a YAML gemspec), data.tar.gz and
// checksums.yaml.gz, as `gem build` writes them.
func fixtureGem(base string) ([]byte, error) {
	name, version, err := gemName(base)
	if err != nil {
		return nil, err
	}
	files := gemFiles(name)
	var names []string
	for _, f := range files {
		names = append(names, f.name)
	}
	data, err := tarOf("", files)
	if err != nil {
		return nil, err
	}
	dataGz, err := compress("tar.gz", data)
	if err != nil {
		return nil, err
	}
	metaGz, err := compress("tar.gz", []byte(gemspecYAML(name, version, names, nil)))
	if err != nil {
		return nil, err
	}
	ms, ds := sha256.Sum256(metaGz), sha256.Sum256(dataGz)
	sums, err := compress("tar.gz", []byte(fmt.Sprintf("---\nSHA256:\n  metadata.gz: %x\n  data.tar.gz: %x\n", ms, ds)))
	if err != nil {
		return nil, err
	}
	return gemOf(fileEntry{name: "metadata.gz", body: metaGz}, fileEntry{name: "data.tar.gz", body: dataGz}, fileEntry{name: "checksums.yaml.gz", body: sums})
}

func tarOf(prefix string, entries []fileEntry) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, e := range entries {
		// parent directories, as real archives have them
		parts := strings.Split(prefix+e.name, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/") + "/"
			if !dirs[d] {
				dirs[d] = true
				if err := tw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, Uid: 1000, Gid: 1000, Uname: "builder"}); err != nil {
					return nil, err
				}
			}
		}
		h := &tar.Header{Name: prefix + e.name, Mode: e.mode, Uid: 1000, Gid: 1000, Uname: "builder"}
		if e.link != "" {
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if e.link == "" {
			tw.Write(e.body)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func compress(format string, raw []byte) ([]byte, error) {
	var buf bytes.Buffer
	switch format {
	case "tar":
		return raw, nil
	case "tar.gz":
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, err
		}
	case "tar.xz":
		xw, err := xz.NewWriter(&buf)
		if err != nil {
			return nil, err
		}
		xw.Write(raw)
		if err := xw.Close(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown compression %q", format)
	}
	return buf.Bytes(), nil
}

// builtinNames lists the files of an archive builtin.
func builtinNames(name string) ([]string, error) {
	b, err := images.BuiltinArchive(name)
	if err != nil {
		return nil, err
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return nil, err
		}
		names = append(names, h.Name)
	}
}

package testworld

// Debian packages for the real world: resolving a package set with its
// dependencies and downloading it with apt, using a private apt state so the
// machine's dpkg and apt lists are never touched, and merging the packages'
// data into one root file system layer laid out like a usr-merged system.

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

// DebPackage is one downloaded Debian package.
type DebPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"` // the package's architecture: amd64, arm64 or all
	URL     string `json:"url"`
	// File is the .deb in the test cache (CacheDir/debian/<arch>/pool).
	File   string `json:"-"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// debExcluded are packages never pulled in as dependencies: they exist for
// dpkg's maintainer scripts or for a booted system (a layer built from data
// archives runs no maintainer scripts and boots nothing), or they would drag
// half of an installed system in. A dependency group naming one of them is
// taken as satisfied.
var debExcluded = map[string]bool{
	"adduser": true, "base-files": true, "base-passwd": true, "ca-certificates-java": true,
	"cdebconf": true, "debconf": true, "debconf-2.0": true, "dpkg": true, "init-system-helpers": true,
	"install-info": true, "login": true, "lsb-base": true, "mount": true, "passwd": true,
	"perl-base": true, "sysvinit-utils": true, "ucf": true, "util-linux": true,
}

// debResolverVersion is part of a package set's cache key: bump it when the
// resolution rules (debExcluded, the parsing) change.
const debResolverVersion = "1"

// debSet is what is cached for one resolved package set.
type debSet struct {
	Roots    []string     `json:"roots"`
	Packages []DebPackage `json:"packages"`
}

// DebianPackages returns the Debian (the machine's apt sources, normally
// bookworm) packages roots and everything they depend on (Depends and
// Pre-Depends, not Recommends; debExcluded left out) for goarch (amd64,
// arm64), downloaded into the test cache. apt runs with a private state per
// architecture in CacheDir/debian/<arch> (its own lists, cache and an empty
// dpkg status), never the machine's. A resolved set is remembered, and every
// .deb is checked against its sha256 on reuse, so a second run needs neither
// apt nor the network. Without apt-get, or when Debian's mirrors cannot be
// reached, the test is skipped locally and fails in CI.
func DebianPackages(t testing.TB, goarch string, roots ...string) []DebPackage {
	t.Helper()
	if goarch != "amd64" && goarch != "arm64" {
		t.Fatalf("DebianPackages: unsupported architecture %q (want amd64 or arm64)", goarch)
	}
	a := &aptState{dir: filepath.Join(CacheDir(t), "debian", goarch), arch: goarch}
	for _, d := range []string{"lists/partial", "cache/archives/partial", "pool", "sets", "tmp"} {
		if err := os.MkdirAll(filepath.Join(a.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	unlock, err := testtools.LockFile(filepath.Join(a.dir, ".lock"))
	if err != nil {
		t.Fatalf("locking %s: %v", a.dir, err)
	}
	defer unlock()

	sorted := append([]string(nil), roots...)
	sort.Strings(sorted)
	sorted = realCompact(sorted)
	key := sha256.Sum256([]byte(debResolverVersion + "\n" + goarch + "\n" + strings.Join(sorted, "\n")))
	setFile := filepath.Join(a.dir, "sets", hex.EncodeToString(key[:12])+".json")
	if set, err := a.loadSet(setFile); err == nil {
		return set.Packages
	}

	for _, name := range []string{"apt-get", "apt-cache"} {
		if _, err := exec.LookPath(name); err != nil {
			testtools.Unavailable(t, "%s is needed to download Debian packages for the real test world", name)
		}
	}
	if err := os.WriteFile(filepath.Join(a.dir, "status"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	refreshed := false
	if !a.haveLists() {
		a.update(t)
		refreshed = true
	}
	for {
		pkgs, err := a.fetch(sorted)
		if err == nil {
			b, err := json.MarshalIndent(debSet{Roots: sorted, Packages: pkgs}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if err := atomicfile.Write(setFile, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return pkgs
		}
		if refreshed {
			if isAptNetworkError(err.Error()) {
				testtools.Unavailable(t, "downloading Debian packages (%s) failed: %v", goarch, err)
			}
			t.Fatalf("Debian packages %v for %s: %v", sorted, goarch, err)
		}
		// The lists may be stale (a package superseded by a security update,
		// a new package name): refresh them once and try again.
		t.Logf("Debian packages for %s: %v; refreshing the apt lists", goarch, err)
		a.update(t)
		refreshed = true
	}
}

func realCompact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func isAptNetworkError(s string) bool {
	if testtools.LooksLikeNetworkFailure(s) {
		return true
	}
	for _, m := range []string{"Temporary failure resolving", "Could not resolve", "Failed to fetch",
		"Could not connect", "Connection failed", "Connection timed out", "Unable to connect"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// aptState is a private apt state for one architecture.
type aptState struct {
	dir  string
	arch string
}

func (a *aptState) options() []string {
	o := []string{
		"-oAPT::Architecture=" + a.arch,
		"-oAPT::Architectures=" + a.arch,
		"-oDir::State::Lists=" + filepath.Join(a.dir, "lists"),
		"-oDir::Cache=" + filepath.Join(a.dir, "cache"),
		"-oDir::State::Status=" + filepath.Join(a.dir, "status"),
		"-oAcquire::Languages=none",
		"-oAPT::Get::List-Cleanup=false",
		"-qq",
	}
	if os.Geteuid() == 0 {
		// The cache usually lies under root's home, which apt's _apt
		// download user cannot enter.
		o = append(o, "-oAPT::Sandbox::User=root")
	}
	return o
}

// run runs an apt command in dir and returns its standard output.
func (a *aptState) run(dir, name string, args ...string) (string, error) {
	cmd := exec.Command(name, append(a.options(), args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "DEBIAN_FRONTEND=noninteractive")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (a *aptState) haveLists() bool {
	m, _ := filepath.Glob(filepath.Join(a.dir, "lists", "*_Packages*"))
	return len(m) > 0
}

func (a *aptState) update(t testing.TB) {
	t.Helper()
	start := time.Now()
	_, err := a.run(a.dir, "apt-get", "update")
	if err == nil && !a.haveLists() {
		err = errors.New("apt-get update fetched no package lists")
	}
	if err != nil {
		if isAptNetworkError(err.Error()) || !a.haveLists() {
			testtools.Unavailable(t, "Debian's package mirrors are unreachable for %s: %v", a.arch, err)
		}
		t.Fatalf("apt-get update (%s): %v", a.arch, err)
	}
	t.Logf("apt-get update for %s in %s", a.arch, time.Since(start).Round(time.Millisecond))
}

func (a *aptState) loadSet(file string) (*debSet, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var set debSet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	for i := range set.Packages {
		p := &set.Packages[i]
		p.File = filepath.Join(a.dir, "pool", debFileName(p))
		if err := checkSHA256File(p.File, p.Size, p.SHA256); err != nil {
			return nil, err
		}
	}
	return &set, nil
}

// fetch resolves roots and downloads what the pool lacks.
func (a *aptState) fetch(roots []string) ([]DebPackage, error) {
	names, err := a.resolve(roots)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Join(a.dir, "tmp"), "dl-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out, err := a.run(tmp, "apt-get", append([]string{"download", "--print-uris"}, names...)...)
	if err != nil {
		return nil, err
	}
	pkgs, err := parsePrintURIs(out)
	if err != nil {
		return nil, err
	}
	if len(pkgs) != len(names) {
		return nil, fmt.Errorf("apt-get download --print-uris gave %d packages for %d names", len(pkgs), len(names))
	}
	var missing []string
	for i := range pkgs {
		p := &pkgs[i]
		p.File = filepath.Join(a.dir, "pool", debFileName(p))
		if checkSHA256File(p.File, p.Size, p.SHA256) != nil {
			missing = append(missing, p.Name+"="+p.Version)
		}
	}
	if len(missing) > 0 {
		if _, err := a.run(tmp, "apt-get", append([]string{"download"}, missing...)...); err != nil {
			return nil, err
		}
		for i := range pkgs {
			p := &pkgs[i]
			if testtools.FileExists(p.File) && checkSHA256File(p.File, p.Size, p.SHA256) == nil {
				continue
			}
			got := filepath.Join(tmp, debFileName(p))
			if err := checkSHA256File(got, p.Size, p.SHA256); err != nil {
				return nil, fmt.Errorf("%s: %v", p.URL, err)
			}
			if err := os.Rename(got, p.File); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	return pkgs, nil
}

// debFileName is the name apt-get download gives a package's file.
func debFileName(p *DebPackage) string {
	return p.Name + "_" + strings.ReplaceAll(p.Version, ":", "%3a") + "_" + p.Arch + ".deb"
}

// parsePrintURIs reads apt-get download --print-uris lines:
// 'URL' NAME_VERSION_ARCH.deb SIZE SHA256:HEX
func parsePrintURIs(out string) ([]DebPackage, error) {
	var pkgs []DebPackage
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 4 || !strings.HasPrefix(f[3], "SHA256:") {
			return nil, fmt.Errorf("unexpected apt-get --print-uris line %q", line)
		}
		parts := strings.Split(strings.TrimSuffix(f[1], ".deb"), "_")
		if len(parts) != 3 {
			return nil, fmt.Errorf("unexpected package file name %q", f[1])
		}
		size, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected size in %q", line)
		}
		pkgs = append(pkgs, DebPackage{
			Name: parts[0], Version: strings.ReplaceAll(parts[1], "%3a", ":"), Arch: parts[2],
			URL: strings.Trim(f[0], "'"), Size: size, SHA256: strings.ToLower(strings.TrimPrefix(f[3], "SHA256:")),
		})
	}
	return pkgs, nil
}

// resolve returns roots and their dependency closure, sorted.
func (a *aptState) resolve(roots []string) ([]string, error) {
	chosen := map[string]bool{}
	var queue []string
	for _, r := range roots {
		if !chosen[r] {
			chosen[r] = true
			queue = append(queue, r)
		}
	}
	for len(queue) > 0 {
		out, err := a.run(a.dir, "apt-cache", append([]string{"depends", "--no-recommends", "--no-suggests",
			"--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances"}, queue...)...)
		if err != nil {
			return nil, err
		}
		deps, err := parseDepends(out)
		if err != nil {
			return nil, err
		}
		for _, name := range queue {
			if _, ok := deps[name]; !ok {
				return nil, fmt.Errorf("apt-cache depends said nothing about %s (a virtual package? name a real one)", name)
			}
		}
		queue = nil
		pkgs := make([]string, 0, len(deps))
		for p := range deps {
			pkgs = append(pkgs, p)
		}
		sort.Strings(pkgs)
		for _, p := range pkgs {
			for _, group := range deps[p] {
				pick := chooseAlternative(group, chosen)
				if pick != "" && !chosen[pick] {
					chosen[pick] = true
					queue = append(queue, pick)
				}
			}
		}
	}
	names := make([]string, 0, len(chosen))
	for n := range chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// depAlt is one alternative of a dependency: a package, or a virtual one
// with the packages that provide it.
type depAlt struct {
	name      string
	providers []string
	virtual   bool
}

// chooseAlternative returns the package to add for an OR group of
// alternatives, or "" when the group is satisfied already (by a chosen or an
// excluded package) or cannot be.
func chooseAlternative(group []depAlt, chosen map[string]bool) string {
	var candidates []string
	for _, alt := range group {
		if alt.virtual {
			if debExcluded[alt.name] {
				return ""
			}
			candidates = append(candidates, alt.providers...)
		} else {
			candidates = append(candidates, alt.name)
		}
	}
	for _, c := range candidates {
		if chosen[c] || debExcluded[c] {
			return ""
		}
	}
	if len(candidates) == 0 {
		return ""
	}
	return candidates[0]
}

// parseDepends reads apt-cache depends output into each package's
// dependency groups (an OR group is the alternatives of one dependency):
//
//	pkg
//	  Depends: a
//	 |Depends: b        (b or the next one)
//	  Depends: <virt>   (a virtual package, its providers below)
//	    provider1
func parseDepends(out string) (map[string][][]depAlt, error) {
	deps := map[string][][]depAlt{}
	cur := ""
	continuing := false // the last alternative ended with "|"
	last := -1          // index of the last alternative's group in deps[cur], -1: none
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
		case !strings.HasPrefix(line, " "):
			cur, continuing, last = strings.TrimSpace(line), false, -1
			if strings.HasPrefix(cur, "<") { // a virtual package named as a root
				cur = ""
				continue
			}
			if _, ok := deps[cur]; !ok {
				deps[cur] = nil
			}
		case strings.HasPrefix(line, "    "):
			if cur == "" || last < 0 {
				continue
			}
			g := deps[cur][last]
			g[len(g)-1].providers = append(g[len(g)-1].providers, stripArchQual(strings.TrimSpace(line)))
		default:
			if cur == "" {
				continue
			}
			or := len(line) > 1 && line[1] == '|'
			kind, target, ok := strings.Cut(strings.TrimSpace(strings.TrimLeft(line, " |")), ": ")
			if !ok {
				return nil, fmt.Errorf("unexpected apt-cache depends line %q", line)
			}
			if kind != "Depends" && kind != "PreDepends" {
				continuing, last = false, -1
				continue
			}
			alt := depAlt{name: stripArchQual(target), virtual: strings.HasPrefix(target, "<")}
			gs := deps[cur]
			if continuing && len(gs) > 0 {
				gs[len(gs)-1] = append(gs[len(gs)-1], alt)
			} else {
				gs = append(gs, []depAlt{alt})
			}
			deps[cur], last, continuing = gs, len(gs)-1, or
		}
	}
	return deps, sc.Err()
}

func stripArchQual(s string) string {
	s = strings.Trim(s, "<>")
	if i := strings.IndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	return s
}

func checkSHA256File(p string, size int64, want string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); n != size || got != want {
		return fmt.Errorf("%s: got %d bytes with sha256 %s, want %d bytes with sha256 %s", p, n, got, size, want)
	}
	return nil
}

// ---- .deb reading -------------------------------------------------------------

// openDebData returns the decompressed data.tar of a .deb (an ar archive of
// debian-binary, control.tar.* and data.tar.*; data.tar may be xz, zstd,
// gzip or plain).
func openDebData(p string) (io.ReadCloser, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	r, err := debMember(f, "data.tar")
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return r, nil
}

// debMember finds the first ar member of f whose name starts with prefix
// and returns it decompressed according to its suffix. Closing the result
// closes f.
func debMember(f *os.File, prefix string) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(f, 64<<10)
	magic := make([]byte, 8)
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != "!<arch>\n" {
		return nil, errors.New("not an ar archive")
	}
	hdr := make([]byte, 60)
	for {
		if _, err := io.ReadFull(br, hdr); err != nil {
			if err == io.EOF {
				return nil, fmt.Errorf("no %s* member", prefix)
			}
			return nil, err
		}
		if string(hdr[58:60]) != "`\n" {
			return nil, errors.New("corrupt ar member header")
		}
		name := strings.TrimRight(strings.TrimSpace(string(hdr[0:16])), "/")
		size, err := strconv.ParseInt(strings.TrimSpace(string(hdr[48:58])), 10, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("corrupt ar member size %q", hdr[48:58])
		}
		if strings.HasPrefix(name, prefix) {
			body := io.LimitReader(br, size)
			var rc io.ReadCloser
			switch strings.TrimPrefix(name, prefix) {
			case ".xz":
				xr, err := xz.NewReader(body)
				if err != nil {
					return nil, err
				}
				rc = io.NopCloser(xr)
			case ".zst":
				zr, err := zstd.NewReader(body)
				if err != nil {
					return nil, err
				}
				rc = zr.IOReadCloser()
			case ".gz":
				gr, err := gzip.NewReader(body)
				if err != nil {
					return nil, err
				}
				rc = gr
			case "":
				rc = io.NopCloser(body)
			default:
				return nil, fmt.Errorf("unsupported member %s", name)
			}
			return &closeBoth{ReadCloser: rc, f: f}, nil
		}
		if _, err := io.CopyN(io.Discard, br, size+size%2); err != nil {
			return nil, err
		}
	}
}

type closeBoth struct {
	io.ReadCloser
	f *os.File
}

func (c *closeBoth) Close() error {
	err := c.ReadCloser.Close()
	if ferr := c.f.Close(); err == nil {
		err = ferr
	}
	return err
}

// ---- the root file system layer -----------------------------------------------

// usrMergedDirs are the top-level directories that are symlinks into /usr
// on a usr-merged system (Debian since bookworm's usrmerge; Amazon Linux 2
// has /bin, /sbin, /lib and /lib64 the same way).
var usrMergedDirs = []string{"bin", "lib", "lib64", "sbin"}

// debSkipped are the parts of packages that a base image does without.
var debSkipped = []string{"usr/share/doc/", "usr/share/doc-base/", "usr/share/man/", "usr/share/info/",
	"usr/share/lintian/", "usr/share/bug/", "usr/share/locale/", "usr/share/bash-completion/"}

// rootfsEpoch is the modification time of the entries the layer adds itself.
var rootfsEpoch = time.Date(2021, 10, 1, 0, 0, 0, 0, time.UTC)

// RootfsFile is a file the root file system layer gets besides the packages'.
type RootfsFile struct {
	Path string // relative: etc/passwd
	Mode int64
	Body string
	Link string // a symlink's target instead of Body
	Dir  bool
}

// rootfsWriter writes a deterministic root file system tar, each path once
// (the first writer of a path wins), with parent directories before their
// contents.
type rootfsWriter struct {
	tw      *tar.Writer
	seen    map[string]byte // 'd' directory, 'f' anything else
	skipped map[string]bool // package paths left out (debSkipped)
}

func newRootfsWriter(w io.Writer) *rootfsWriter {
	return &rootfsWriter{tw: tar.NewWriter(w), seen: map[string]byte{}, skipped: map[string]bool{}}
}

func (r *rootfsWriter) parents(name string) error {
	dir := path.Dir(name)
	if dir == "." || r.seen[dir] == 'd' {
		return nil
	}
	if r.seen[dir] != 0 {
		// A symlink to a directory (bin -> usr/bin) or a file: entries
		// below it must have been mapped already.
		return fmt.Errorf("%s: parent %s is not a directory in the layer", name, dir)
	}
	if err := r.parents(dir); err != nil {
		return err
	}
	return r.write(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: rootfsEpoch}, nil)
}

func (r *rootfsWriter) write(h *tar.Header, body io.Reader) error {
	name := strings.TrimSuffix(h.Name, "/")
	if h.Typeflag == tar.TypeDir {
		r.seen[name] = 'd'
	} else {
		r.seen[name] = 'f'
	}
	if err := r.tw.WriteHeader(h); err != nil {
		return err
	}
	if body != nil {
		if _, err := io.Copy(r.tw, body); err != nil {
			return err
		}
	}
	return nil
}

// add writes one entry unless its path is there already.
func (r *rootfsWriter) add(f RootfsFile) error {
	name := path.Clean(f.Path)
	if r.seen[name] != 0 {
		return nil
	}
	if err := r.parents(name); err != nil {
		return err
	}
	h := &tar.Header{Name: name, Mode: f.Mode, ModTime: rootfsEpoch}
	switch {
	case f.Dir:
		h.Name, h.Typeflag = name+"/", tar.TypeDir
	case f.Link != "":
		h.Typeflag, h.Linkname = tar.TypeSymlink, f.Link
		if h.Mode == 0 {
			h.Mode = 0o777
		}
	default:
		h.Typeflag, h.Size = tar.TypeReg, int64(len(f.Body))
		return r.write(h, strings.NewReader(f.Body))
	}
	return r.write(h, nil)
}

// usrMerge maps a package path into the usr-merged layout: lib/x -> usr/lib/x.
func usrMerge(name string) string {
	first, _, _ := strings.Cut(name, "/")
	switch first {
	case "bin", "sbin", "lib", "lib64", "lib32", "libx32":
		return "usr/" + name
	}
	return name
}

func isDebSkipped(name string) bool {
	for _, p := range debSkipped {
		if name+"/" == p || strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// addDeb writes the data of one .deb.
func (r *rootfsWriter) addDeb(p string) error {
	rc, err := openDebData(p)
	if err != nil {
		return err
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "./"))
		if name == "." || name == "/" || strings.HasPrefix(name, "../") || path.IsAbs(name) {
			continue
		}
		name = usrMerge(name)
		if isDebSkipped(name) {
			r.skipped[name] = true
			continue
		}
		if r.seen[name] != 0 {
			// Directories shared by packages, and (rarely) a file two
			// packages of a consistent set both ship: the first wins.
			continue
		}
		if err := r.parents(name); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		out := &tar.Header{Name: name, Mode: h.Mode & 0o7777, Uid: h.Uid, Gid: h.Gid, ModTime: h.ModTime.UTC().Truncate(time.Second)}
		switch h.Typeflag {
		case tar.TypeDir:
			out.Typeflag, out.Name = tar.TypeDir, name+"/"
			err = r.write(out, nil)
		case tar.TypeReg:
			out.Typeflag, out.Size = tar.TypeReg, h.Size
			err = r.write(out, tr)
		case tar.TypeSymlink:
			out.Typeflag, out.Linkname = tar.TypeSymlink, h.Linkname
			err = r.write(out, nil)
		case tar.TypeLink:
			target := usrMerge(path.Clean(strings.TrimPrefix(h.Linkname, "./")))
			if r.seen[target] != 'f' {
				if isDebSkipped(name) || r.skipped[target] {
					continue
				}
				return fmt.Errorf("%s: hard link %s to %s, which is not in the layer", p, name, target)
			}
			out.Typeflag, out.Linkname = tar.TypeLink, target
			err = r.write(out, nil)
		default:
			continue // device nodes and fifos do not belong in an image layer
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, name, err)
		}
	}
}

// WriteRootfsLayer writes, as an uncompressed tar to w, a usr-merged root
// file system: the top-level bin, lib, lib64 and sbin as symlinks into usr/,
// then files (they win over package content), then the data of each package
// in order with package paths under bin/, lib/... moved into usr/, then
// links (skipped where a package already put something).
func WriteRootfsLayer(w io.Writer, debs []string, files, links []RootfsFile) error {
	r := newRootfsWriter(w)
	for _, d := range usrMergedDirs {
		if err := r.add(RootfsFile{Path: "usr/" + d, Mode: 0o755, Dir: true}); err != nil {
			return err
		}
		if err := r.add(RootfsFile{Path: d, Link: "usr/" + d}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := r.add(f); err != nil {
			return err
		}
	}
	for _, d := range debs {
		if err := r.addDeb(d); err != nil {
			return err
		}
	}
	for _, l := range links {
		if err := r.add(l); err != nil {
			return err
		}
	}
	return r.tw.Close()
}

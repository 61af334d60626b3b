package pypi

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/rtbuild/rtbuild/layers/unpack"
)

// InstallOptions say where and for which interpreter a wheel is installed.
type InstallOptions struct {
	// Target is the absolute image directory, e.g. /var/runtime.
	Target string
	// Python is the interpreter version for script shebangs:
	// #!/var/lang/bin/python3.9 unless Interpreter is set.
	Python string
	// Interpreter is the shebang's interpreter path, overriding Python's.
	Interpreter string
}

// Installer is the INSTALLER rtbuild writes into each .dist-info.
const Installer = "rtbuild"

// maxScript bounds a script rewritten in memory (its shebang).
const maxScript = 16 << 20

// recordRow is one RECORD line of the wheel.
type recordRow struct {
	algo   string
	digest []byte
	size   int64 // -1: not stated
}

// planned is one file to write: from the wheel (f) or generated (data).
type planned struct {
	rel    string // relative to Target
	f      *zip.File
	data   []byte
	mode   fs.FileMode
	sha256 []byte
	size   int64
}

// Install installs one downloaded wheel file into o.Target the way
// `pip install --target` does, writing entries with w.AddEntry:
// purelib/platlib files and NAME-VER.data/{purelib,platlib} into the
// target, .data/scripts into target/bin (mode 0755, a "#!python" shebang
// rewritten to the interpreter), .data/headers into
// target/include/python/NAME, .data/data into the target, console and GUI
// scripts from entry_points.txt generated as target/bin/NAME, and the
// .dist-info kept with INSTALLER "rtbuild" and a RECORD listing the
// installed paths. Modes come from the zip (0755 when any execute bit is
// set, else 0644). Every file is checked against the wheel's RECORD before
// anything is written: a missing or mismatching hash, or a path leaving the
// target, is an error naming the wheel and the file. artifactURL names the
// wheel in messages and gives its file name.
func Install(w *unpack.Writer, wheelPath, artifactURL string, o InstallOptions) error {
	name := artifactURL
	if name == "" {
		name = wheelPath
	}
	target := path.Clean(o.Target)
	if !path.IsAbs(o.Target) || target == "/" {
		return fmt.Errorf("pypi: installing %s: target %q is not an absolute directory below /", name, o.Target)
	}
	interp := o.Interpreter
	if interp == "" {
		if o.Python == "" {
			return fmt.Errorf("pypi: installing %s: set InstallOptions.Python or Interpreter for script shebangs", name)
		}
		interp = "/var/lang/bin/python" + o.Python
	}
	zr, err := zip.OpenReader(wheelPath)
	if err != nil {
		return fmt.Errorf("pypi: wheel %s: %w", name, err)
	}
	defer zr.Close()
	in := &installer{name: name, zr: &zr.Reader, target: target, interp: interp}
	if err := in.plan(wheelFileName(artifactURL, wheelPath)); err != nil {
		return err
	}
	return in.write(w)
}

// wheelFileName is the wheel's file name from its URL (the stored file may
// be named by its digest).
func wheelFileName(artifactURL, wheelPath string) string {
	if u, err := url.Parse(artifactURL); err == nil && strings.HasSuffix(u.Path, ".whl") {
		if b, err := url.PathUnescape(path.Base(u.Path)); err == nil {
			return b
		}
	}
	return path.Base(strings.ReplaceAll(wheelPath, "\\", "/"))
}

type installer struct {
	name, target, interp string
	zr                   *zip.Reader
	distInfo             string // "six-1.16.0.dist-info"
	files                []planned
}

func (in *installer) fail(file string, format string, a ...any) error {
	if file == "" {
		return fmt.Errorf("pypi: wheel %s: %s", in.name, fmt.Sprintf(format, a...))
	}
	return fmt.Errorf("pypi: wheel %s: file %q: %s", in.name, file, fmt.Sprintf(format, a...))
}

// plan verifies every member against RECORD and maps it to its installed path.
func (in *installer) plan(filename string) error {
	members := map[string]*zip.File{}
	var total uint64
	for _, f := range in.zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		// The zip reader refuses a member longer than it declares, so this
		// bounds what the wheel expands to (it is read twice).
		if total += f.UncompressedSize64; total > unpack.DefaultMaxBytes {
			return in.fail("", "expands to more than %d bytes: refused as a decompression bomb", unpack.DefaultMaxBytes)
		}
		if err := safeRel(f.Name); err != nil {
			return in.fail(f.Name, "%v", err)
		}
		if _, dup := members[f.Name]; dup {
			return in.fail(f.Name, "appears twice in the wheel")
		}
		members[f.Name] = f
	}
	if err := in.findDistInfo(filename, members); err != nil {
		return err
	}
	if err := in.checkWheelFile(members); err != nil {
		return err
	}
	record, err := in.readRecord(members)
	if err != nil {
		return err
	}
	dataDir := strings.TrimSuffix(in.distInfo, ".dist-info") + ".data/"
	distName, _, _ := strings.Cut(in.distInfo, "-")
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	sort.Strings(names)
	scripts := map[string]bool{}
	for _, n := range names {
		f := members[n]
		base := path.Base(n)
		if path.Dir(n) == in.distInfo && (base == "RECORD" || base == "INSTALLER" || base == "RECORD.jws" || base == "RECORD.p7s") {
			continue // rewritten (RECORD, INSTALLER) or no longer valid once installed (signatures)
		}
		sum, size, err := in.verify(f, record[n])
		if err != nil {
			return err
		}
		p := planned{rel: n, f: f, sha256: sum, size: size, mode: 0o644}
		if f.Mode()&0o111 != 0 {
			p.mode = 0o755
		}
		if rest, ok := strings.CutPrefix(n, dataDir); ok {
			scheme, sub, _ := strings.Cut(rest, "/")
			switch scheme {
			case "purelib", "platlib", "data":
				p.rel = sub
			case "headers":
				p.rel = "include/python/" + distName + "/" + sub
			case "scripts":
				p.rel, p.mode = "bin/"+sub, 0o755
				if err := in.rewriteShebang(&p); err != nil {
					return err
				}
				scripts[p.rel] = true
			default:
				return in.fail(n, "unknown wheel data directory %q (want purelib, platlib, headers, scripts or data)", scheme)
			}
			if err := safeRel(p.rel); err != nil {
				return in.fail(n, "%v", err)
			}
		}
		in.files = append(in.files, p)
	}
	gen, err := in.entryPointScripts(members)
	if err != nil {
		return err
	}
	genPaths := map[string]bool{}
	for _, g := range gen {
		genPaths[g.rel] = true
	}
	// A generated console script replaces a shipped script of the same name, as with pip.
	kept := in.files[:0]
	for _, p := range in.files {
		if !genPaths[p.rel] {
			kept = append(kept, p)
		}
	}
	in.files = append(kept, gen...)
	in.files = append(in.files, generated(in.distInfo+"/INSTALLER", []byte(Installer+"\n"), 0o644))
	seen := map[string]bool{}
	for _, p := range in.files {
		if seen[p.rel] {
			return in.fail(p.rel, "installed twice (from the wheel's root and its .data)")
		}
		seen[p.rel] = true
	}
	in.files = append(in.files, generated(in.distInfo+"/RECORD", in.newRecord(), 0o644))
	sort.Slice(in.files, func(i, j int) bool { return in.files[i].rel < in.files[j].rel })
	return nil
}

func generated(rel string, data []byte, mode fs.FileMode) planned {
	sum := sha256.Sum256(data)
	return planned{rel: rel, data: data, mode: mode, sha256: sum[:], size: int64(len(data))}
}

// findDistInfo finds NAME-VER.dist-info, preferring the one the file name names.
func (in *installer) findDistInfo(filename string, members map[string]*zip.File) error {
	dirs := map[string]bool{}
	for n := range members {
		if top, _, ok := strings.Cut(n, "/"); ok && strings.HasSuffix(top, ".dist-info") {
			dirs[top] = true
		}
	}
	var found []string
	for d := range dirs {
		found = append(found, d)
	}
	sort.Strings(found)
	if wn, err := parseWheelName(filename); err == nil {
		for _, d := range found {
			dn, dv, _ := strings.Cut(strings.TrimSuffix(d, ".dist-info"), "-")
			if Normalize(dn) == Normalize(wn.name) && dv == wn.version {
				in.distInfo = d
				return nil
			}
		}
		return in.fail("", "no %s-%s.dist-info directory (found: %s)", wn.name, wn.version, strings.Join(found, ", "))
	}
	if len(found) != 1 {
		return in.fail("", "want one .dist-info directory, found %d: %s", len(found), strings.Join(found, ", "))
	}
	in.distInfo = found[0]
	return nil
}

// checkWheelFile reads WHEEL and refuses a wheel format rtbuild cannot install.
func (in *installer) checkWheelFile(members map[string]*zip.File) error {
	f := members[in.distInfo+"/WHEEL"]
	if f == nil {
		return in.fail(in.distInfo+"/WHEEL", "missing")
	}
	b, err := readMember(f, 1<<20)
	if err != nil {
		return in.fail(f.Name, "%v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Wheel-Version") {
			if major, _, _ := strings.Cut(strings.TrimSpace(v), "."); major != "1" {
				return in.fail(f.Name, "Wheel-Version %s is not supported (want 1.x)", strings.TrimSpace(v))
			}
			return nil
		}
	}
	return in.fail(f.Name, "no Wheel-Version")
}

// readRecord parses the wheel's RECORD.
func (in *installer) readRecord(members map[string]*zip.File) (map[string]recordRow, error) {
	f := members[in.distInfo+"/RECORD"]
	if f == nil {
		return nil, in.fail(in.distInfo+"/RECORD", "missing: the wheel's files cannot be verified")
	}
	b, err := readMember(f, 64<<20)
	if err != nil {
		return nil, in.fail(f.Name, "%v", err)
	}
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = -1
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, in.fail(f.Name, "%v", err)
	}
	out := map[string]recordRow{}
	for _, row := range rows {
		if len(row) == 0 || row[0] == "" {
			continue
		}
		rr := recordRow{size: -1}
		if len(row) > 1 && row[1] != "" {
			algo, enc, ok := strings.Cut(row[1], "=")
			d, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(enc, "="))
			if !ok || err != nil {
				return nil, in.fail(f.Name, "bad hash %q for %q", row[1], row[0])
			}
			rr.algo, rr.digest = strings.ToLower(algo), d
		}
		if len(row) > 2 && row[2] != "" {
			n, err := strconv.ParseInt(row[2], 10, 64)
			if err != nil {
				return nil, in.fail(f.Name, "bad size %q for %q", row[2], row[0])
			}
			rr.size = n
		}
		out[row[0]] = rr
	}
	return out, nil
}

// verify reads a member whole, checks it against its RECORD row and
// returns its sha256 and size.
func (in *installer) verify(f *zip.File, rr recordRow) ([]byte, int64, error) {
	var h hash.Hash
	switch rr.algo {
	case "sha256":
		h = sha256.New()
	case "sha384":
		h = sha512.New384()
	case "sha512":
		h = sha512.New()
	case "":
		return nil, 0, in.fail(f.Name, "not listed with a hash in RECORD: it cannot be verified")
	default:
		return nil, 0, in.fail(f.Name, "RECORD hash algorithm %q is not accepted (want sha256 or stronger)", rr.algo)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, 0, in.fail(f.Name, "%v", err)
	}
	defer rc.Close()
	s := sha256.New()
	n, err := io.Copy(io.MultiWriter(h, s), rc)
	if err != nil {
		return nil, 0, in.fail(f.Name, "%v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, rr.digest) {
		return nil, 0, in.fail(f.Name, "RECORD states %s=%s, the wheel has %s=%s", rr.algo,
			base64.RawURLEncoding.EncodeToString(rr.digest), rr.algo, base64.RawURLEncoding.EncodeToString(got))
	}
	if rr.size >= 0 && rr.size != n {
		return nil, 0, in.fail(f.Name, "RECORD states %d bytes, the wheel has %d", rr.size, n)
	}
	return s.Sum(nil), n, nil
}

// rewriteShebang replaces a "#!python" (or "#!pythonw") first line with the interpreter.
func (in *installer) rewriteShebang(p *planned) error {
	if p.f.UncompressedSize64 > maxScript {
		return nil // not a script to rewrite in memory; installed as is
	}
	b, err := readMember(p.f, maxScript)
	if err != nil {
		return in.fail(p.f.Name, "%v", err)
	}
	if !bytes.HasPrefix(b, []byte("#!python")) {
		return nil
	}
	rest := b[bytes.IndexByte(append(b, '\n'), '\n'):]
	if len(rest) > 0 {
		rest = rest[1:]
	}
	nb := append([]byte("#!"+in.interp+"\n"), rest...)
	*p = generated(p.rel, nb, 0o755)
	return nil
}

var (
	entryPointRE = regexp.MustCompile(`^([A-Za-z0-9_.]+)\s*(?::\s*([A-Za-z0-9_.]+))?\s*(?:\[.*\])?\s*$`)
)

// entryPointScripts generates target/bin/NAME for console_scripts and gui_scripts.
func (in *installer) entryPointScripts(members map[string]*zip.File) ([]planned, error) {
	f := members[in.distInfo+"/entry_points.txt"]
	if f == nil {
		return nil, nil
	}
	b, err := readMember(f, 16<<20)
	if err != nil {
		return nil, in.fail(f.Name, "%v", err)
	}
	var out []planned
	section := ""
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
			continue
		case strings.HasPrefix(line, "["):
			section = strings.TrimSpace(strings.Trim(line, "[]"))
			continue
		case section != "console_scripts" && section != "gui_scripts":
			continue
		}
		name, value, ok := strings.Cut(line, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		m := entryPointRE.FindStringSubmatch(value)
		if !ok || name == "" || m == nil || m[2] == "" {
			return nil, in.fail(f.Name, "invalid script entry point %q: want NAME = module:function", line)
		}
		if strings.ContainsAny(name, "/\\") || name == "." || name == ".." {
			return nil, in.fail(f.Name, "script name %q is not a file name", name)
		}
		rel := "bin/" + name
		if seen[rel] {
			continue // the first definition wins, as in pip
		}
		seen[rel] = true
		out = append(out, generated(rel, []byte(scriptText(in.interp, m[1], m[2])), 0o755))
	}
	if err := sc.Err(); err != nil {
		return nil, in.fail(f.Name, "%v", err)
	}
	return out, nil
}

// scriptText is pip's console-script template (distlib's SCRIPT_TEMPLATE).
func scriptText(interp, module, attr string) string {
	importName, _, _ := strings.Cut(attr, ".")
	return "#!" + interp + "\n" +
		"# -*- coding: utf-8 -*-\n" +
		"import re\n" +
		"import sys\n" +
		"from " + module + " import " + importName + "\n" +
		"if __name__ == '__main__':\n" +
		"    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])\n" +
		"    sys.exit(" + attr + "())\n"
}

// newRecord lists every installed file relative to the target, sorted,
// with urlsafe-base64 sha256 (no padding) and size; RECORD itself last
// without either.
func (in *installer) newRecord() []byte {
	rows := make([][]string, 0, len(in.files)+1)
	for _, p := range in.files {
		rows = append(rows, []string{p.rel, "sha256=" + base64.RawURLEncoding.EncodeToString(p.sha256), strconv.FormatInt(p.size, 10)})
	}
	rows = append(rows, []string{in.distInfo + "/RECORD", "", ""})
	sort.Slice(rows, func(i, j int) bool { return rows[i][0] < rows[j][0] })
	var buf bytes.Buffer
	cw := csv.NewWriter(&buf)
	cw.WriteAll(rows) // writes to a bytes.Buffer do not fail
	return buf.Bytes()
}

// write adds the planned files in path order; wheel members are hashed
// again as they are written.
func (in *installer) write(w *unpack.Writer) error {
	for _, p := range in.files {
		dest := in.target + "/" + p.rel
		if p.f == nil {
			if err := w.AddEntry(in.name, unpack.Entry{Path: dest, Type: tar.TypeReg, Mode: p.mode, Size: p.size, Body: bytes.NewReader(p.data)}); err != nil {
				return fmt.Errorf("pypi: %w", err)
			}
			continue
		}
		rc, err := p.f.Open()
		if err != nil {
			return in.fail(p.f.Name, "%v", err)
		}
		h := sha256.New()
		err = w.AddEntry(in.name, unpack.Entry{Path: dest, Type: tar.TypeReg, Mode: p.mode, Size: p.size, Body: io.TeeReader(rc, h)})
		rc.Close()
		if err != nil {
			return fmt.Errorf("pypi: %w", err)
		}
		if !bytes.Equal(h.Sum(nil), p.sha256) {
			return in.fail(p.f.Name, "changed while it was installed")
		}
	}
	return nil
}

// safeRel refuses member paths that could leave the target.
func safeRel(p string) error {
	switch {
	case p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0):
		return errors.New("not a relative path inside the target: refused")
	case len(p) > 1 && p[1] == ':':
		return errors.New("a drive-letter path: refused")
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." || c == "." || c == "" {
			return errors.New("a path with an empty, \".\" or \"..\" component, which could leave the target: refused")
		}
	}
	return nil
}

func readMember(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("larger than %d bytes", limit)
	}
	return b, nil
}

// Package unpack streams archives (tar, tar.gz, tar.xz, zip) into a
// deterministic tar: leading components stripped, entries placed under a
// destination directory, modes kept, owners normalised to 0:0, mtimes
// clamped, and unsafe entries refused with the artifact and entry named.
//
// The output is a function of the input bytes and the options only: every
// header is rebuilt from the entry's type, path, link target, size, mode
// (permission, setuid, setgid and sticky bits) and mtime (clamped to the
// epoch, whole seconds); owners are 0:0 with no names; access and change
// times, PAX records, extended attributes and device numbers are dropped.
// archive/tar chooses the header format from that normalised header alone
// (USTAR when it fits, PAX for long names or large files), so identical
// inputs give byte-identical output. Entries are written in archive order,
// each preceded by those of its parent directories not yet written (0755).
//
// Refused, with an *EntryError naming the artifact and the entry: absolute
// paths, paths with a ".." component, device nodes, FIFOs and other special
// files, a path written twice in one layer (unless both are directories:
// the second is skipped), an entry below a non-directory of the layer, and
// hard links whose target is not a regular file unpacked earlier into the
// same layer, names and link targets that are not valid UTF-8 or hold a
// NUL byte, and an archive that expands past Options.MaxBytes or, once past
// 64 MiB, past Options.MaxRatio times its own size (a decompression bomb).
// Symbolic links are kept as they are, absolute or relative: they are
// resolved inside the image, where /usr/lib/... is normal; nothing is
// written below one (that entry is refused), so writes through a link
// cannot leave the layer. Setuid, setgid and sticky bits are kept.
package unpack

import (
	"archive/tar"
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// Archive formats.
const (
	FormatTar   = "tar"
	FormatTarGz = "tar.gz"
	FormatTarXz = "tar.xz"
	FormatZip   = "zip"
	FormatGem   = "gem" // a RubyGems package: the files of its data.tar.gz
	FormatRaw   = "raw" // the artifact itself, as Dest/<basename of Name>, mode 0644
)

// Formats lists the supported formats.
var Formats = []string{FormatTar, FormatTarGz, FormatTarXz, FormatZip, FormatGem, FormatRaw}

// Options say how an archive is unpacked.
type Options struct {
	Format string    // tar, tar.gz, tar.xz, zip, gem, raw ("" = DetectFormat(Name))
	Subdir string    // after stripping, keep only entries below this relative dir (and drop it)
	Strip  int       // leading path components to drop
	Dest   string    // absolute directory in the image, e.g. /var/lang ("" = /)
	Epoch  time.Time // mtimes are clamped to this (SOURCE_DATE_EPOCH); used by Archive, a Writer has its own
	Name   string    // artifact name for error messages (its URL); "" = the file path

	// Decompression-bomb limits, for archive formats (not raw). MaxBytes
	// bounds the bytes one archive expands to: its decompressed stream and
	// the sizes of the files it holds (0 = DefaultMaxBytes, <0 = none).
	// MaxRatio bounds that count divided by the artifact's size, checked
	// once the count passes 64 MiB (0 = DefaultMaxRatio, <0 = none).
	MaxBytes int64
	MaxRatio int64
}

// Default decompression-bomb limits (see Options).
const (
	DefaultMaxBytes = 8 << 30
	DefaultMaxRatio = 200
	ratioFloor      = 64 << 20
)

// budget counts what one archive expands to: in, the decompressed bytes
// read; out, the sizes of the regular files written (a sparse tar entry
// writes more than it reads).
type budget struct {
	max, ratio, size int64
	in, out          int64
}

func newBudget(o Options, size int64) *budget {
	b := &budget{max: o.MaxBytes, ratio: o.MaxRatio, size: size}
	if b.max == 0 {
		b.max = DefaultMaxBytes
	}
	if b.ratio == 0 {
		b.ratio = DefaultMaxRatio
	}
	return b
}

// check reports whether n more bytes fit.
func (b *budget) check(n int64) error {
	if n < 0 {
		return fmt.Errorf("negative size %d", n)
	}
	total := max(b.in, b.out)
	if b.max > 0 && n > b.max-total {
		return fmt.Errorf("the archive expands to more than %d bytes (the MaxBytes limit): refused as a decompression bomb", b.max)
	}
	total += n
	if b.ratio > 0 && total > ratioFloor && total/b.ratio > b.size {
		return fmt.Errorf("the archive expands to more than %d times its size of %d bytes (the MaxRatio limit): refused as a decompression bomb", b.ratio, b.size)
	}
	return nil
}

// budgetReader counts the decompressed bytes read through it against b.
type budgetReader struct {
	r io.Reader
	b *budget
}

func (r *budgetReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if n > 0 {
		if e := r.b.check(int64(n)); e != nil {
			return 0, e
		}
		r.b.in += int64(n)
	}
	return n, err
}

// EntryError is a refused or unreadable entry (or archive, when Entry is
// empty). Err says why.
type EntryError struct {
	Artifact string
	Entry    string
	Err      error
}

func (e *EntryError) Error() string {
	if e.Entry == "" {
		return fmt.Sprintf("%s: %v", e.Artifact, e.Err)
	}
	return fmt.Sprintf("%s: entry %q: %v", e.Artifact, e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// DetectFormat tells the format from an artifact's name (a URL or a file
// name): .tar, .tar.gz/.tgz, .tar.xz/.txz, .zip/.whl/.nupkg, .gem. Other
// names (a .jar, which may be meant whole or unpacked) need an explicit
// format.
func DetectFormat(name string) (string, error) {
	p := name
	if u, err := url.Parse(name); err == nil && u.Scheme != "" {
		p = u.Path
	}
	base := strings.ToLower(path.Base(p))
	for _, f := range []struct{ suffix, format string }{
		{".tar.gz", FormatTarGz}, {".tgz", FormatTarGz},
		{".tar.xz", FormatTarXz}, {".txz", FormatTarXz},
		{".tar", FormatTar},
		{".zip", FormatZip}, {".whl", FormatZip}, {".nupkg", FormatZip},
		{".gem", FormatGem},
	} {
		if strings.HasSuffix(base, f.suffix) {
			return f.format, nil
		}
	}
	return "", fmt.Errorf("cannot tell the archive format of %s from its name: set its format (%s)", name, strings.Join(Formats, ", "))
}

// Archive reads the archive at path and writes a tar stream to w: first
// the parent directories of Dest (0755, root), then the entries in archive
// order. Entries whose path is empty after stripping are dropped.
func Archive(path string, w io.Writer, o Options) error {
	tw := NewWriter(w, o.Epoch)
	if err := tw.AddArchive(path, o); err != nil {
		return err
	}
	return tw.Close()
}

// File writes a tar holding one regular file (and its parent directories).
func File(w io.Writer, path string, mode os.FileMode, content io.Reader, size int64, epoch time.Time) error {
	tw := NewWriter(w, epoch)
	if err := tw.AddFile(path, mode, content, size); err != nil {
		return err
	}
	return tw.Close()
}

// Writer writes one layer's tar stream from several archives and files. It
// writes each directory once and refuses a non-directory path written twice
// (a tar with duplicates has no single meaning), naming both sources. After
// an error the stream is incomplete and the Writer returns that error.
type Writer struct {
	tw    *tar.Writer
	epoch time.Time
	seen  map[string]origin
	err   error
}

// origin records what wrote a path, for duplicate and hard-link checks.
type origin struct {
	typ      byte // tar.TypeDir, TypeReg, TypeSymlink, TypeLink
	artifact string
	entry    string
}

// NewWriter returns a Writer writing to w; mtimes are clamped to epoch (a
// zero epoch means the Unix epoch, 1970-01-01T00:00:00Z).
func NewWriter(w io.Writer, epoch time.Time) *Writer {
	if epoch.IsZero() || epoch.Before(unixZero) {
		epoch = unixZero
	}
	return &Writer{tw: tar.NewWriter(w), epoch: epoch.Truncate(time.Second).UTC(), seen: map[string]origin{}}
}

var unixZero = time.Unix(0, 0).UTC()

// Close writes the tar trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	w.err = w.tw.Close()
	if w.err == nil {
		w.err = errors.New("unpack: Writer is closed")
		return nil
	}
	return w.err
}

// AddFile adds one regular file at path (absolute in the image) with mode's
// permission, setuid, setgid and sticky bits, and the epoch as mtime;
// content must hold exactly size bytes.
func (w *Writer) AddFile(path string, mode os.FileMode, content io.Reader, size int64) error {
	if w.err != nil {
		return w.err
	}
	src := origin{typ: tar.TypeReg, artifact: "file " + path, entry: path}
	fail := func(err error) error {
		w.err = &EntryError{Artifact: src.artifact, Err: err}
		return w.err
	}
	if !mode.IsRegular() {
		return fail(fmt.Errorf("mode %v is not a regular file's", mode))
	}
	p, err := cleanPath(path)
	if err != nil {
		return fail(err)
	}
	if p == "" {
		return fail(errors.New("no file name"))
	}
	w.err = w.put(entry{name: p, typ: tar.TypeReg, mode: tarMode(mode), size: size, mtime: w.epoch, body: content}, p, src)
	return w.err
}

// AddArchive unpacks the archive at path into the layer: the directories
// of o.Dest first, then the archive's entries in order. Mtimes are clamped
// to the Writer's epoch (o.Epoch is not used).
func (w *Writer) AddArchive(path string, o Options) error {
	if w.err != nil {
		return w.err
	}
	w.err = w.addArchive(path, o)
	return w.err
}

func (w *Writer) addArchive(file string, o Options) error {
	name := o.Name
	if name == "" {
		name = file
	}
	fail := func(err error) error { return &EntryError{Artifact: name, Err: err} }
	format := o.Format
	if format == "" {
		f, err := DetectFormat(name)
		if err != nil {
			return fail(err)
		}
		format = f
	}
	m, err := newMapper(o)
	if err != nil {
		return fail(err)
	}
	a := &archive{w: w, name: name, m: m}
	if err := w.dirs(m.dest, origin{typ: tar.TypeDir, artifact: name, entry: "(dest " + o.Dest + ")"}); err != nil {
		return err
	}

	f, err := os.Open(file)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 256<<10)
	fi, err := f.Stat()
	if err != nil {
		return fail(err)
	}
	a.b = newBudget(o, fi.Size())
	switch format {
	case FormatTar:
		return a.tar(&budgetReader{r: r, b: a.b})
	case FormatTarGz:
		zr, err := gzip.NewReader(r)
		if err != nil {
			return fail(fmt.Errorf("not a tar.gz: %w", err))
		}
		return a.tar(&budgetReader{r: zr, b: a.b})
	case FormatTarXz:
		xr, err := xz.NewReader(r)
		if err != nil {
			return fail(fmt.Errorf("not a tar.xz: %w", err))
		}
		return a.tar(&budgetReader{r: xr, b: a.b})
	case FormatZip:
		zr, err := zip.NewReader(f, fi.Size())
		if err != nil {
			return fail(fmt.Errorf("not a zip: %w", err))
		}
		return a.zip(zr)
	case FormatGem:
		return a.gem(r)
	case FormatRaw:
		base, err := rawName(name)
		if err != nil {
			return fail(err)
		}
		p := path.Join(m.dest, base)
		return w.put(entry{name: base, typ: tar.TypeReg, mode: 0o644, size: fi.Size(), mtime: w.epoch, body: r},
			p, origin{typ: tar.TypeReg, artifact: name, entry: base})
	}
	return fail(fmt.Errorf("unknown format %q (want one of %s)", format, strings.Join(Formats, ", ")))
}

// rawName is the file name a raw artifact gets: the last element of its
// URL's path (or file name).
func rawName(name string) (string, error) {
	p := name
	if u, err := url.Parse(name); err == nil && u.Scheme != "" {
		p = u.Path
	} else {
		p = filepath.ToSlash(name)
	}
	base := path.Base(p)
	if base == "" || base == "." || base == ".." || base == "/" {
		return "", fmt.Errorf("raw artifact: cannot take a file name from %q", name)
	}
	return base, nil
}

// entry is one archive member, independent of the archive format.
type entry struct {
	name     string // as in the archive (for messages)
	typ      byte   // tar.TypeReg, TypeDir, TypeSymlink or TypeLink
	mode     int64  // permission, setuid, setgid and sticky bits
	size     int64
	linkname string // symlink target as is, or hard link target as in the archive
	mtime    time.Time
	body     io.Reader
}

// archive is one AddArchive call.
type archive struct {
	w    *Writer
	name string
	m    mapper
	b    *budget
}

func (a *archive) fail(entry string, err error) error {
	return &EntryError{Artifact: a.name, Entry: entry, Err: err}
}

// add maps an entry's path and writes it.
func (a *archive) add(e entry) error {
	p, keep, err := a.m.mapPath(e.name)
	if err != nil {
		return a.fail(e.name, err)
	}
	if !keep {
		return nil
	}
	if e.typ == tar.TypeSymlink && !validName(e.linkname) {
		return a.fail(e.name, errors.New("symbolic link target is not valid UTF-8 or holds a NUL byte"))
	}
	if e.typ == tar.TypeReg {
		if err := a.b.check(e.size); err != nil {
			return a.fail(e.name, err)
		}
		a.b.out += e.size
	}
	if e.typ == tar.TypeLink {
		target, keep, err := a.m.mapPath(e.linkname)
		if err != nil || !keep {
			return a.fail(e.name, fmt.Errorf("hard link to %q, which is outside what is unpacked", e.linkname))
		}
		if prev, ok := a.w.seen[target]; !ok || prev.typ != tar.TypeReg {
			return a.fail(e.name, fmt.Errorf("hard link to %q, which is not a regular file unpacked before it", e.linkname))
		}
		e.linkname, e.size = target, 0
	}
	return a.w.put(e, p, origin{typ: e.typ, artifact: a.name, entry: e.name})
}

func (a *archive) tar(r io.Reader) error {
	tr := tar.NewReader(r)
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if last == "" && a.b.in == 0 {
				return a.fail("", errors.New("reading tar: the archive is empty (0 bytes)"))
			}
			// Read to the end, so that a compressed stream's trailer (its
			// checksum and length) is checked: a tar ends before it.
			if _, err := io.Copy(io.Discard, r); err != nil {
				return a.fail("", fmt.Errorf("reading after the end of the tar: %w", err))
			}
			return nil
		}
		if err != nil {
			if last != "" {
				return a.fail("", fmt.Errorf("reading tar after entry %q: %w", last, err))
			}
			return a.fail("", fmt.Errorf("reading tar: %w", err))
		}
		last = hdr.Name
		e := entry{name: hdr.Name, mode: hdr.Mode & 0o7777, mtime: hdr.ModTime, linkname: hdr.Linkname}
		switch hdr.Typeflag {
		case tar.TypeReg, '\x00', tar.TypeGNUSparse, tar.TypeCont:
			e.typ, e.size, e.body, e.linkname = tar.TypeReg, hdr.Size, tr, ""
		case tar.TypeDir:
			e.typ, e.linkname = tar.TypeDir, ""
		case tar.TypeSymlink:
			e.typ = tar.TypeSymlink
			if e.linkname == "" {
				return a.fail(hdr.Name, errors.New("symbolic link with an empty target"))
			}
		case tar.TypeLink:
			e.typ = tar.TypeLink
		case tar.TypeXGlobalHeader:
			continue // archive-wide PAX records (e.g. git archive's comment): dropped
		case tar.TypeChar, tar.TypeBlock:
			return a.fail(hdr.Name, errors.New("device nodes are not allowed in a layer"))
		case tar.TypeFifo:
			return a.fail(hdr.Name, errors.New("FIFOs are not allowed in a layer"))
		default:
			return a.fail(hdr.Name, fmt.Errorf("unsupported entry type %q", hdr.Typeflag))
		}
		if err := a.add(e); err != nil {
			return err
		}
	}
}

// gem streams a RubyGems package's data.tar.gz (its files); the metadata
// and checksums beside it are not part of the layer.
func (a *archive) gem(r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return a.fail("", errors.New("not a gem: no data.tar.gz in it"))
		}
		if err != nil {
			return a.fail("", fmt.Errorf("reading gem: %w", err))
		}
		if path.Clean(hdr.Name) != "data.tar.gz" || hdr.Typeflag != tar.TypeReg {
			continue
		}
		zr, err := gzip.NewReader(tr)
		if err != nil {
			return a.fail("data.tar.gz", err)
		}
		if err := a.tar(&budgetReader{r: zr, b: a.b}); err != nil {
			return err
		}
		// Read the rest of the gem, so that a truncated one is refused.
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err == nil {
				_, err = io.Copy(io.Discard, tr)
			}
			if err != nil {
				return a.fail("", fmt.Errorf("reading gem after data.tar.gz: %w", err))
			}
			if path.Clean(hdr.Name) == "data.tar.gz" {
				return a.fail("data.tar.gz", errors.New("a second data.tar.gz in the gem"))
			}
		}
	}
}

func (a *archive) zip(zr *zip.Reader) error {
	for _, f := range zr.File {
		mode := f.Mode()
		// Modes are meaningful only from a Unix zip tool; others get defaults.
		creator := f.CreatorVersion >> 8
		unix := (creator == 3 || creator == 19) && f.ExternalAttrs>>16 != 0
		e := entry{name: f.Name, mtime: f.Modified}
		switch {
		case mode&fs.ModeSymlink != 0:
			rc, err := f.Open()
			if err != nil {
				return a.fail(f.Name, err)
			}
			target, err := io.ReadAll(io.LimitReader(rc, 4097))
			rc.Close()
			if err != nil {
				return a.fail(f.Name, err)
			}
			if len(target) == 0 || len(target) > 4096 {
				return a.fail(f.Name, errors.New("symbolic link with an empty or overlong target"))
			}
			e.typ, e.mode, e.linkname = tar.TypeSymlink, 0o777, string(target)
		case mode.IsDir() || strings.HasSuffix(f.Name, "/"):
			e.typ, e.mode = tar.TypeDir, 0o755
			if unix {
				e.mode = tarMode(mode)
			}
		case mode&(fs.ModeDevice|fs.ModeCharDevice) != 0:
			return a.fail(f.Name, errors.New("device nodes are not allowed in a layer"))
		case mode&fs.ModeNamedPipe != 0:
			return a.fail(f.Name, errors.New("FIFOs are not allowed in a layer"))
		case !mode.IsRegular():
			return a.fail(f.Name, fmt.Errorf("unsupported file type %v", mode.Type()))
		default:
			e.typ, e.mode, e.size = tar.TypeReg, 0o644, int64(f.UncompressedSize64)
			if unix {
				e.mode = tarMode(mode)
			}
		}
		if e.typ == tar.TypeReg {
			if _, keep, err := a.m.mapPath(f.Name); err == nil && !keep {
				continue // dropped: do not decompress it
			}
			if f.UncompressedSize64 > uint64(DefaultMaxBytes)<<8 { // would overflow int64 sizes
				return a.fail(f.Name, fmt.Errorf("size %d is too large", f.UncompressedSize64))
			}
			rc, err := f.Open()
			if err != nil {
				return a.fail(f.Name, err)
			}
			e.body = &budgetReader{r: rc, b: a.b}
			err = a.add(e)
			rc.Close()
			if err != nil {
				return err
			}
			continue
		}
		if err := a.add(e); err != nil {
			return err
		}
	}
	return nil
}

// put writes e at layer path p (relative, clean, no trailing slash) after
// the parent directories it still lacks.
func (w *Writer) put(e entry, p string, src origin) error {
	fail := func(err error) error { return &EntryError{Artifact: src.artifact, Entry: src.entry, Err: err} }
	if prev, ok := w.seen[p]; ok {
		if prev.typ == tar.TypeDir && e.typ == tar.TypeDir {
			return nil
		}
		return fail(fmt.Errorf("/%s is already in the layer, from %s (entry %q)", p, prev.artifact, prev.entry))
	}
	if err := w.dirs(path.Dir(p), src); err != nil {
		return err
	}
	hdr := &tar.Header{
		Typeflag: e.typ,
		Name:     p,
		Linkname: e.linkname,
		Mode:     e.mode,
		ModTime:  w.clamp(e.mtime),
	}
	switch e.typ {
	case tar.TypeDir:
		hdr.Name += "/"
	case tar.TypeReg:
		hdr.Size = e.size
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return fail(err)
	}
	w.seen[p] = origin{typ: e.typ, artifact: src.artifact, entry: src.entry}
	if e.typ == tar.TypeReg {
		if err := copyExact(w.tw, e.body, e.size); err != nil {
			return fail(err)
		}
	}
	return nil
}

// dirs writes dir and its parents that are not written yet (0755, epoch).
func (w *Writer) dirs(dir string, src origin) error {
	if dir == "" || dir == "." {
		return nil
	}
	if prev, ok := w.seen[dir]; ok {
		if prev.typ != tar.TypeDir {
			return &EntryError{Artifact: src.artifact, Entry: src.entry,
				Err: fmt.Errorf("/%s is not a directory in the layer (it is from %s, entry %q)", dir, prev.artifact, prev.entry)}
		}
		return nil
	}
	if err := w.dirs(path.Dir(dir), src); err != nil {
		return err
	}
	hdr := &tar.Header{Typeflag: tar.TypeDir, Name: dir + "/", Mode: 0o755, ModTime: w.epoch}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return &EntryError{Artifact: src.artifact, Entry: src.entry, Err: err}
	}
	w.seen[dir] = origin{typ: tar.TypeDir, artifact: src.artifact, entry: src.entry}
	return nil
}

// clamp returns t limited to [Unix epoch, w.epoch], in whole seconds.
func (w *Writer) clamp(t time.Time) time.Time {
	switch {
	case t.After(w.epoch):
		return w.epoch
	case t.Before(unixZero):
		return unixZero
	}
	return t.Truncate(time.Second).UTC()
}

// copyExact copies exactly size bytes and checks that src then ends (which
// is also when a zip entry's CRC is checked).
func copyExact(dst io.Writer, src io.Reader, size int64) error {
	n, err := io.CopyN(dst, src, size)
	if err == io.EOF {
		return fmt.Errorf("content ends after %d of %d bytes", n, size)
	}
	if err != nil {
		return err
	}
	var one [1]byte
	if n, err := io.ReadFull(src, one[:]); n > 0 {
		return fmt.Errorf("content is longer than its size, %d bytes", size)
	} else if err != io.EOF {
		return err
	}
	return nil
}

// tarMode converts an fs.FileMode's permission, setuid, setgid and sticky
// bits to tar's.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// cleanPath turns an absolute or relative image path into a layer path:
// relative, clean, no trailing slash ("" for the root). ".." is refused.
func cleanPath(p string) (string, error) {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", fmt.Errorf("path %q contains \"..\"", p)
		default:
			parts = append(parts, c)
		}
	}
	return strings.Join(parts, "/"), nil
}

// mapper maps archive paths to layer paths: strip, subdir, dest.
type mapper struct {
	strip  int
	subdir []string
	dest   string
}

func newMapper(o Options) (mapper, error) {
	if o.Strip < 0 {
		return mapper{}, fmt.Errorf("strip %d is negative", o.Strip)
	}
	dest, err := cleanPath(o.Dest)
	if err != nil {
		return mapper{}, fmt.Errorf("dest: %w", err)
	}
	if strings.HasPrefix(o.Subdir, "/") {
		return mapper{}, fmt.Errorf("subdir %q must be relative to the (stripped) archive", o.Subdir)
	}
	sub, err := cleanPath(o.Subdir)
	if err != nil {
		return mapper{}, fmt.Errorf("subdir: %w", err)
	}
	m := mapper{strip: o.Strip, dest: dest}
	if sub != "" {
		m.subdir = strings.Split(sub, "/")
	}
	return m, nil
}

// mapPath returns the layer path of an archive path, or keep=false when
// the entry is dropped (nothing left after stripping, or outside Subdir).
func (m mapper) mapPath(name string) (p string, keep bool, err error) {
	if !validName(name) {
		return "", false, errors.New("name is not valid UTF-8 or holds a NUL byte")
	}
	if strings.HasPrefix(name, "/") {
		return "", false, errors.New("absolute path in the archive")
	}
	var parts []string
	for _, c := range strings.Split(name, "/") {
		switch c {
		case "", ".":
		case "..":
			return "", false, errors.New(`path contains ".."`)
		default:
			parts = append(parts, c)
		}
	}
	if len(parts) <= m.strip {
		return "", false, nil
	}
	parts = parts[m.strip:]
	if len(m.subdir) > 0 {
		if len(parts) <= len(m.subdir) {
			return "", false, nil
		}
		for i, c := range m.subdir {
			if parts[i] != c {
				return "", false, nil
			}
		}
		parts = parts[len(m.subdir):]
	}
	return path.Join(m.dest, strings.Join(parts, "/")), true, nil
}

// validName reports whether an archive name or link target is valid UTF-8
// without NUL bytes: anything else has no single meaning across tools.
func validName(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// Entry is one member an installer (a wheel, a gem, an RPM) writes into a
// layer with AddEntry.
type Entry struct {
	// Path is absolute in the image ("/var/runtime/boto3/__init__.py").
	Path string
	// Type is tar.TypeReg, tar.TypeDir, tar.TypeSymlink or tar.TypeLink.
	Type byte
	// Mode holds the permission, setuid, setgid and sticky bits.
	Mode fs.FileMode
	// Size and Body: a regular file's content (Body must hold exactly Size bytes).
	Size int64
	Body io.Reader
	// Linkname: a symbolic link's target as is, or a hard link's target as an
	// absolute image path of a regular file written before it in this layer.
	Linkname string
	// ModTime is clamped to the Writer's epoch; zero means the epoch.
	ModTime time.Time
}

// AddEntry writes one entry of artifact (its URL, for messages) under the
// same rules as archive members: clean paths without "..", valid UTF-8
// names, no duplicates, nothing below a non-directory, hard links only to
// regular files of this layer.
func (w *Writer) AddEntry(artifact string, e Entry) error {
	if w.err != nil {
		return w.err
	}
	src := origin{typ: e.Type, artifact: artifact, entry: e.Path}
	fail := func(err error) error {
		w.err = &EntryError{Artifact: artifact, Entry: e.Path, Err: err}
		return w.err
	}
	if !validName(e.Path) {
		return fail(errors.New("name is not valid UTF-8 or holds a NUL byte"))
	}
	p, err := cleanPath(e.Path)
	if err != nil {
		return fail(err)
	}
	mtime := e.ModTime
	if mtime.IsZero() {
		mtime = w.epoch
	}
	te := entry{name: e.Path, typ: e.Type, mode: tarMode(e.Mode), mtime: mtime}
	switch e.Type {
	case tar.TypeDir:
		if p == "" {
			return nil
		}
	case tar.TypeReg:
		if p == "" {
			return fail(errors.New("no file name"))
		}
		if e.Body == nil {
			e.Body = strings.NewReader("")
		}
		te.size, te.body = e.Size, e.Body
	case tar.TypeSymlink:
		if p == "" || e.Linkname == "" || !validName(e.Linkname) {
			return fail(errors.New("symbolic link without a valid name or target"))
		}
		te.linkname = e.Linkname
	case tar.TypeLink:
		target, err := cleanPath(e.Linkname)
		if err != nil || p == "" || target == "" {
			return fail(fmt.Errorf("hard link to %q: not a path in the image", e.Linkname))
		}
		if prev, ok := w.seen[target]; !ok || prev.typ != tar.TypeReg {
			return fail(fmt.Errorf("hard link to %q, which is not a regular file written before it", e.Linkname))
		}
		te.linkname = target
	default:
		return fail(fmt.Errorf("entry type %q is not a file, directory or link", e.Type))
	}
	w.err = w.put(te, p, src)
	return w.err
}

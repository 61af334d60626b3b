package rpm

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rtbuild/rtbuild/layers/unpack"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

// InstallOptions say how an RPM is unpacked.
type InstallOptions struct {
	// AllowSetuid keeps the setuid and setgid bits of regular files; without
	// it they are cleared (the file stays, with its other permission bits).
	AllowSetuid bool
	// Prefix is an optional relocation root: "/opt/x" puts /usr/bin/foo at
	// /opt/x/usr/bin/foo. "" = / (paths as in the RPM).
	Prefix string
}

// maxPayloadBytes bounds what one payload expands to (a decompression bomb).
const maxPayloadBytes = unpack.DefaultMaxBytes

// Install unpacks one .rpm's payload into the layer via w.AddEntry: regular
// files, directories, symbolic links and hard links with their modes from
// the cpio payload; owners are normalised to 0:0 and mtimes clamped by the
// writer. The payload digest the header states is verified before anything
// is written. artifactURL names the RPM in errors ("" = rpmPath).
func Install(w *unpack.Writer, rpmPath, artifactURL string, o InstallOptions) error {
	name := artifactURL
	if name == "" {
		name = rpmPath
	}
	fail := func(err error) error { return &unpack.EntryError{Artifact: name, Err: err} }
	prefix, err := cleanPrefix(o.Prefix)
	if err != nil {
		return fail(err)
	}
	f, err := os.Open(rpmPath)
	if err != nil {
		return fail(err)
	}
	defer f.Close()
	rf, err := readRPM(bufio.NewReader(f))
	if err != nil {
		return fail(err)
	}
	format, err := rf.main.str(tagPayloadFormat)
	if err != nil {
		return fail(err)
	}
	if format != "" && format != "cpio" {
		return fail(fmt.Errorf("%s: payload format %q is not supported (want cpio)", rf.nevra(), format))
	}
	if err := verifyPayload(f, rf); err != nil {
		return fail(fmt.Errorf("%s: %w", rf.nevra(), err))
	}
	if _, err := f.Seek(rf.payloadOffset, io.SeekStart); err != nil {
		return fail(err)
	}
	comp, err := rf.main.str(tagPayloadCompressor)
	if err != nil {
		return fail(err)
	}
	zr, closeZ, err := decompressor(comp, bufio.NewReaderSize(f, 256<<10))
	if err != nil {
		return fail(fmt.Errorf("%s: %w", rf.nevra(), err))
	}
	defer closeZ()
	in := &limitedReader{r: zr, left: maxPayloadBytes}
	ins := &installer{w: w, name: name, nevra: rf.nevra(), prefix: prefix, o: o, pending: map[int64]*linkSet{}}
	if err := ins.run(in); err != nil {
		return err
	}
	// Read the stream to its end so that the compressor's own checks run.
	if _, err := io.Copy(io.Discard, in); err != nil {
		return fail(fmt.Errorf("%s: reading after the cpio trailer: %w", rf.nevra(), err))
	}
	return nil
}

// cleanPrefix validates the relocation root: absolute or relative, no "..".
func cleanPrefix(p string) (string, error) {
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return "", fmt.Errorf("prefix %q contains \"..\"", p)
		}
	}
	return path.Join("/", p), nil
}

// verifyPayload checks the compressed payload against the header's
// PAYLOADDIGEST (rpm >= 4.14) when present; md5 and unknown algorithms are
// not checked (the whole file is pinned by its repository checksum anyway).
func verifyPayload(f *os.File, rf *rpmFile) error {
	digests, err := rf.main.strings(tagPayloadDigest)
	if err != nil || len(digests) == 0 {
		return err
	}
	algo := uint32(8) // sha256, rpm's default when PAYLOADDIGESTALGO is absent
	if a, err := rf.main.int32s(tagPayloadDigestAlgo); err != nil {
		return err
	} else if len(a) > 0 {
		algo = a[0]
	}
	var h hash.Hash
	switch algo {
	case 2:
		h = sha1.New()
	case 8:
		h = sha256.New()
	case 9:
		h = sha512.New384()
	case 10:
		h = sha512.New()
	default:
		return nil
	}
	if _, err := f.Seek(rf.payloadOffset, io.SeekStart); err != nil {
		return err
	}
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("reading the payload: %w", err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(digests[0]) {
		return fmt.Errorf("payload digest mismatch: the header states %s, the payload has %s (the RPM is corrupt or truncated)", digests[0], got)
	}
	return nil
}

// decompressor opens the payload stream for PAYLOADCOMPRESSOR (absent =
// gzip, as rpm assumes).
func decompressor(comp string, r io.Reader) (io.Reader, func(), error) {
	nop := func() {}
	switch comp {
	case "", "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("gzip payload: %w", err)
		}
		return zr, nop, nil
	case "xz":
		zr, err := xz.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("xz payload: %w", err)
		}
		return zr, nop, nil
	case "lzma":
		zr, err := lzma.NewReader(r)
		if err != nil {
			return nil, nop, fmt.Errorf("lzma payload: %w", err)
		}
		return zr, nop, nil
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nop, fmt.Errorf("zstd payload: %w", err)
		}
		return zr, zr.Close, nil
	case "bzip2":
		return bzip2.NewReader(r), nop, nil
	case "identity":
		return r, nop, nil
	}
	return nil, nop, fmt.Errorf("payload compressor %q is not supported (gzip, xz, lzma, zstd, bzip2)", comp)
}

// limitedReader fails (rather than ending) past its budget.
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return 0, fmt.Errorf("the payload expands to more than %d bytes: refused as a decompression bomb", int64(maxPayloadBytes))
	}
	return n, err
}

// linkSet is a group of hard links (one inode) whose data has not come yet.
type linkSet struct {
	paths  []string // image paths, in payload order
	mode   fs.FileMode
	mtime  time.Time
	seen   int
	nlink  int
	target string // image path of the regular file once written
}

type installer struct {
	w       *unpack.Writer
	name    string // artifact, for errors
	nevra   string
	prefix  string
	o       InstallOptions
	pending map[int64]*linkSet
	order   []int64 // inodes in pending, in first-seen order
}

func (ins *installer) fail(entry string, err error) error {
	return &unpack.EntryError{Artifact: ins.name, Entry: entry, Err: fmt.Errorf("%s: %w", ins.nevra, err)}
}

// run reads the cpio archive and writes its entries.
func (ins *installer) run(r io.Reader) error {
	br := bufio.NewReader(r)
	if magic, err := br.Peek(6); err == nil && string(magic) == "07070X" {
		return ins.fail("", errors.New(`stripped cpio payload ("07070X", rpm's large-file format) is not supported`))
	}
	cr := cpio.NewReader(br)
	last := ""
	for {
		hdr, err := cr.Next()
		if err == io.EOF {
			if last == "" {
				return ins.fail("", errors.New("the payload ends before its cpio trailer (truncated or empty)"))
			}
			break
		}
		if err != nil {
			if last != "" {
				return ins.fail("", fmt.Errorf("reading the cpio payload after %q: %w", last, noEOF(err)))
			}
			return ins.fail("", fmt.Errorf("reading the cpio payload: %w", noEOF(err)))
		}
		last = hdr.Name
		if err := ins.entry(hdr, cr); err != nil {
			return err
		}
	}
	// Hard-link groups whose members all had no data are empty files.
	for _, ino := range ins.order {
		if s := ins.pending[ino]; s != nil && s.target == "" {
			if err := ins.flush(s, strings.NewReader(""), 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// imagePath maps a payload name ("./usr/bin/foo") to its path in the image.
func (ins *installer) imagePath(name string) string {
	name = strings.TrimPrefix(name, ".")
	return path.Join(ins.prefix, "/", name)
}

// mode converts a cpio mode's permission bits, clearing setuid and setgid
// on regular files unless allowed.
func (ins *installer) mode(m cpio.FileMode, regular bool) fs.FileMode {
	mode := fs.FileMode(m & cpio.ModePerm)
	if m&cpio.ModeSetuid != 0 && (ins.o.AllowSetuid || !regular) {
		mode |= fs.ModeSetuid
	}
	if m&cpio.ModeSetgid != 0 && (ins.o.AllowSetuid || !regular) {
		mode |= fs.ModeSetgid
	}
	if m&cpio.ModeSticky != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

func (ins *installer) entry(hdr *cpio.Header, body io.Reader) error {
	p := ins.imagePath(hdr.Name)
	if p == "/" || hdr.Name == "." {
		return nil
	}
	switch hdr.Mode & cpio.ModeType {
	case cpio.TypeDir:
		return ins.w.AddEntry(ins.name, unpack.Entry{Path: p, Type: tar.TypeDir, Mode: ins.mode(hdr.Mode, false), ModTime: hdr.ModTime})
	case cpio.TypeSymlink:
		return ins.w.AddEntry(ins.name, unpack.Entry{Path: p, Type: tar.TypeSymlink, Mode: 0o777, Linkname: hdr.Linkname, ModTime: hdr.ModTime})
	case cpio.TypeReg:
		mode := ins.mode(hdr.Mode, true)
		if hdr.Links <= 1 {
			return ins.w.AddEntry(ins.name, unpack.Entry{Path: p, Type: tar.TypeReg, Mode: mode, Size: hdr.Size, Body: body, ModTime: hdr.ModTime})
		}
		return ins.hardLink(hdr, p, mode, body)
	case cpio.TypeChar, cpio.TypeBlock:
		return ins.fail(p, errors.New("device nodes are not allowed in a layer (the RPM holds one)"))
	case cpio.TypeFifo:
		return ins.fail(p, errors.New("FIFOs are not allowed in a layer (the RPM holds one)"))
	case cpio.TypeSocket:
		return ins.fail(p, errors.New("sockets are not allowed in a layer (the RPM holds one)"))
	}
	return ins.fail(p, fmt.Errorf("unsupported cpio file type %#o", uint32(hdr.Mode&cpio.ModeType)))
}

// hardLink handles one member of a hard-link group. In a newc payload all
// members but the last have no data; the one with data is written as the
// regular file and the others as hard links to it.
func (ins *installer) hardLink(hdr *cpio.Header, p string, mode fs.FileMode, body io.Reader) error {
	s := ins.pending[hdr.Inode]
	if s == nil {
		s = &linkSet{mode: mode, nlink: hdr.Links, mtime: hdr.ModTime}
		ins.pending[hdr.Inode] = s
		ins.order = append(ins.order, hdr.Inode)
	}
	s.seen++
	if s.target != "" {
		// Data already written (an archive with data on the first member).
		return ins.w.AddEntry(ins.name, unpack.Entry{Path: p, Type: tar.TypeLink, Mode: mode, Linkname: s.target, ModTime: hdr.ModTime})
	}
	s.paths = append(s.paths, p)
	if hdr.Size > 0 || s.seen >= s.nlink {
		s.mode, s.mtime = mode, hdr.ModTime
		return ins.flush(s, body, hdr.Size)
	}
	return nil
}

// flush writes a hard-link group: the last member seen as the regular file,
// the others as links to it.
func (ins *installer) flush(s *linkSet, body io.Reader, size int64) error {
	last := s.paths[len(s.paths)-1]
	if err := ins.w.AddEntry(ins.name, unpack.Entry{Path: last, Type: tar.TypeReg, Mode: s.mode, Size: size, Body: body, ModTime: s.mtime}); err != nil {
		return err
	}
	s.target = last
	for _, p := range s.paths[:len(s.paths)-1] {
		if err := ins.w.AddEntry(ins.name, unpack.Entry{Path: p, Type: tar.TypeLink, Mode: s.mode, Linkname: last, ModTime: s.mtime}); err != nil {
			return err
		}
	}
	s.paths = nil
	return nil
}

package rpm

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The RPM file format (hand-written: no maintained Go reader of RPM
// headers is served to this project without cgo or OpenPGP dependencies):
// a 96-byte lead, the signature header padded to a multiple of 8 bytes,
// the main header, then the compressed payload. A header is a magic
// (8e ad e8 01), 4 reserved bytes, the index entry count and the data
// size (big-endian uint32), the index entries (tag, type, offset, count)
// and the data store they point into.

const (
	leadSize = 96
	// Limits rpm itself applies to a header (hdrchkTags, hdrchkData).
	maxIndexEntries = 0xffff
	maxDataSize     = 0x0fffffff
)

var (
	leadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
	headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01}
)

// Header tags used here.
const (
	tagName              = 1000
	tagVersion           = 1001
	tagRelease           = 1002
	tagEpoch             = 1003
	tagArch              = 1022
	tagPayloadFormat     = 1124
	tagPayloadCompressor = 1125
	tagPayloadDigest     = 5092
	tagPayloadDigestAlgo = 5093

	sigTagSHA1   = 269 // hex sha1 of the main header (rpm < 4.14 writes only this)
	sigTagSHA256 = 273 // hex sha256 of the main header
)

// Header data types.
const (
	typeChar        = 1
	typeInt8        = 2
	typeInt16       = 3
	typeInt32       = 4
	typeInt64       = 5
	typeString      = 6
	typeBin         = 7
	typeStringArray = 8
	typeI18NString  = 9
)

type indexEntry struct {
	tag, typ, offset, count uint32
}

// header is one parsed header: its index and data store, and its bytes
// from the magic on (for the digest in the signature header).
type header struct {
	index map[uint32]indexEntry
	data  []byte
	raw   []byte
}

// readHeader reads one header from r.
func readHeader(r io.Reader, what string) (*header, error) {
	var intro [16]byte
	if _, err := io.ReadFull(r, intro[:]); err != nil {
		return nil, fmt.Errorf("reading the %s header: %w", what, noEOF(err))
	}
	if !bytes.Equal(intro[:4], headerMagic) {
		return nil, fmt.Errorf("the %s header has a bad magic % x", what, intro[:4])
	}
	il := binary.BigEndian.Uint32(intro[8:12])
	dl := binary.BigEndian.Uint32(intro[12:16])
	if il < 1 || il > maxIndexEntries || dl > maxDataSize {
		return nil, fmt.Errorf("the %s header is malformed (%d index entries, %d data bytes)", what, il, dl)
	}
	raw := make([]byte, 16+int(il)*16+int(dl))
	copy(raw, intro[:])
	if _, err := io.ReadFull(r, raw[16:]); err != nil {
		return nil, fmt.Errorf("reading the %s header: %w", what, noEOF(err))
	}
	h := &header{index: make(map[uint32]indexEntry, il), data: raw[16+int(il)*16:], raw: raw}
	for i := 0; i < int(il); i++ {
		b := raw[16+i*16:]
		e := indexEntry{
			tag:    binary.BigEndian.Uint32(b[0:4]),
			typ:    binary.BigEndian.Uint32(b[4:8]),
			offset: binary.BigEndian.Uint32(b[8:12]),
			count:  binary.BigEndian.Uint32(b[12:16]),
		}
		if e.offset > dl {
			return nil, fmt.Errorf("the %s header is malformed: tag %d points past its data", what, e.tag)
		}
		h.index[e.tag] = e
	}
	return h, nil
}

// noEOF turns an early end of file into io.ErrUnexpectedEOF: the file is truncated.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// strings returns a string, string array or i18n string tag's values.
func (h *header) strings(tag uint32) ([]string, error) {
	e, ok := h.index[tag]
	if !ok {
		return nil, nil
	}
	switch e.typ {
	case typeString, typeStringArray, typeI18NString:
	default:
		return nil, fmt.Errorf("tag %d has type %d, not a string", tag, e.typ)
	}
	n := int(e.count)
	if e.typ == typeString {
		n = 1
	}
	if n > len(h.data) {
		return nil, fmt.Errorf("tag %d: count %d is larger than the header", tag, n)
	}
	d := h.data[e.offset:]
	out := make([]string, 0, n)
	for range n {
		i := bytes.IndexByte(d, 0)
		if i < 0 {
			return nil, fmt.Errorf("tag %d: string runs past the header's data", tag)
		}
		out = append(out, string(d[:i]))
		d = d[i+1:]
	}
	return out, nil
}

// str returns a string tag's first value ("" when absent).
func (h *header) str(tag uint32) (string, error) {
	s, err := h.strings(tag)
	if err != nil || len(s) == 0 {
		return "", err
	}
	return s[0], nil
}

// int32s returns an INT32 tag's values.
func (h *header) int32s(tag uint32) ([]uint32, error) {
	e, ok := h.index[tag]
	if !ok {
		return nil, nil
	}
	if e.typ != typeInt32 {
		return nil, fmt.Errorf("tag %d has type %d, not int32", tag, e.typ)
	}
	if uint64(e.offset)+uint64(e.count)*4 > uint64(len(h.data)) {
		return nil, fmt.Errorf("tag %d runs past the header's data", tag)
	}
	out := make([]uint32, e.count)
	for i := range out {
		out[i] = binary.BigEndian.Uint32(h.data[int(e.offset)+i*4:])
	}
	return out, nil
}

// rpmFile is an RPM's headers and where its payload starts.
type rpmFile struct {
	sig, main     *header
	payloadOffset int64
}

// readRPM reads the lead and both headers from r (positioned at the
// start), verifying the signature header's sha256 of the main header
// when it states one.
func readRPM(r io.Reader) (*rpmFile, error) {
	var lead [leadSize]byte
	if _, err := io.ReadFull(r, lead[:]); err != nil {
		return nil, fmt.Errorf("not an RPM (reading the lead): %w", noEOF(err))
	}
	if !bytes.Equal(lead[:4], leadMagic) {
		return nil, errors.New("not an RPM: bad lead magic")
	}
	if lead[4] != 3 && lead[4] != 4 {
		return nil, fmt.Errorf("unsupported RPM format version %d", lead[4])
	}
	if st := binary.BigEndian.Uint16(lead[78:80]); st != 5 {
		return nil, fmt.Errorf("unsupported RPM signature type %d (want 5, a header)", st)
	}
	sig, err := readHeader(r, "signature")
	if err != nil {
		return nil, err
	}
	off := int64(leadSize + len(sig.raw))
	if pad := (8 - off%8) % 8; pad > 0 {
		if _, err := io.ReadFull(r, make([]byte, pad)); err != nil {
			return nil, fmt.Errorf("reading the signature padding: %w", noEOF(err))
		}
		off += pad
	}
	main, err := readHeader(r, "main")
	if err != nil {
		return nil, err
	}
	off += int64(len(main.raw))
	for _, c := range []struct {
		tag  uint32
		algo string
		sum  func([]byte) string
	}{{sigTagSHA256, "sha256", sha256Hex}, {sigTagSHA1, "sha1", sha1Hex}} {
		want, err := sig.str(c.tag)
		if err != nil {
			return nil, fmt.Errorf("signature header: %w", err)
		}
		if want == "" {
			continue
		}
		if got := c.sum(main.raw); got != strings.ToLower(want) {
			return nil, fmt.Errorf("the main header's %s is %s, the signature header states %s: the RPM is corrupt", c.algo, got, want)
		}
		break
	}
	return &rpmFile{sig: sig, main: main, payloadOffset: off}, nil
}

// nevra names the package for messages ("name-[epoch:]version-release.arch").
func (f *rpmFile) nevra() string {
	name, _ := f.main.str(tagName)
	e := EVR{}
	e.Version, _ = f.main.str(tagVersion)
	e.Release, _ = f.main.str(tagRelease)
	if ep, _ := f.main.int32s(tagEpoch); len(ep) > 0 {
		e.Epoch = fmt.Sprint(ep[0])
	}
	arch, _ := f.main.str(tagArch)
	return name + "-" + e.String() + "." + arch
}

func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}

package rpm

// A test-only writer of RPM files and yum repodata. The tests build their
// repositories with it rather than with rpmbuild and createrepo_c, so that
// they need no tools beyond Go, run in milliseconds, and can write what the
// real tools will not (a device node, a wrong checksum, a truncated file).
// testdata/real holds a repository the real tools wrote, against which the
// reader is also checked.

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"
	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"
)

type testFile struct {
	path string
	mode uint32 // with the type bits (cpio.TypeReg etc.)
	body string // content, or a symlink's target
	ino  int64  // files sharing a non-zero ino are one hard-link group
}

func reg(path string, perm uint32, body string) testFile {
	return testFile{path: path, mode: cpio.TypeReg | perm, body: body}
}

type testPkg struct {
	name, arch, epoch, ver, rel string
	provides, requires          []string // "name" or "name OP [e:]v[-r]"
	files                       []testFile
	compressor                  string // gzip (default), xz, zstd, lzma, identity
	noPayloadDigest             bool
	sha1Signature               bool // the signature header has a sha1 of the header (rpm < 4.14), no sha256
}

func (p testPkg) fileName() string {
	return fmt.Sprintf("%s-%s-%s.%s.rpm", p.name, p.ver, p.rel, p.arch)
}

// headerEntry is one tag of a header being written.
type headerEntry struct {
	tag, typ uint32
	value    any // string, []string, []uint32, []byte
}

// writeHeader encodes a header (magic, counts, index, data store).
func writeHeader(entries []headerEntry) []byte {
	sort.Slice(entries, func(i, j int) bool { return entries[i].tag < entries[j].tag })
	var index, data bytes.Buffer
	for _, e := range entries {
		var count uint32
		switch e.typ {
		case typeInt32:
			for data.Len()%4 != 0 {
				data.WriteByte(0)
			}
		}
		off := uint32(data.Len())
		switch v := e.value.(type) {
		case string:
			data.WriteString(v + "\x00")
			count = 1
		case []string:
			for _, s := range v {
				data.WriteString(s + "\x00")
			}
			count = uint32(len(v))
		case []uint32:
			for _, n := range v {
				binary.Write(&data, binary.BigEndian, n)
			}
			count = uint32(len(v))
		case []byte:
			data.Write(v)
			count = uint32(len(v))
		}
		binary.Write(&index, binary.BigEndian, []uint32{e.tag, e.typ, off, count})
	}
	var out bytes.Buffer
	out.Write(headerMagic)
	out.Write([]byte{0, 0, 0, 0})
	binary.Write(&out, binary.BigEndian, []uint32{uint32(len(entries)), uint32(data.Len())})
	out.Write(index.Bytes())
	out.Write(data.Bytes())
	return out.Bytes()
}

// payload writes the cpio archive (data of a hard-link group on its last
// member, as rpm does) and compresses it.
func (p testPkg) payload(t *testing.T) []byte {
	t.Helper()
	var raw bytes.Buffer
	cw := cpio.NewWriter(&raw)
	links := map[int64]int{}
	for _, f := range p.files {
		if f.ino != 0 {
			links[f.ino]++
		}
	}
	seen := map[int64]int{}
	for i, f := range p.files {
		h := &cpio.Header{Name: "." + f.path, Mode: cpio.FileMode(f.mode), Links: 1, Inode: int64(1000 + i)}
		body := f.body
		switch cpio.FileMode(f.mode) & cpio.ModeType {
		case cpio.TypeDir:
			h.Links, body = 2, ""
		case cpio.TypeReg:
			if f.ino != 0 {
				h.Inode, h.Links = f.ino, links[f.ino]
				seen[f.ino]++
				if seen[f.ino] < links[f.ino] {
					body = ""
				}
			}
		case cpio.TypeChar, cpio.TypeBlock, cpio.TypeFifo:
			body = ""
		}
		h.Size = int64(len(body))
		if err := cw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := cw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	switch p.compressor {
	case "", "gzip":
		zw := gzip.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case "xz":
		zw, _ := xz.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case "lzma":
		zw, _ := lzma.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case "zstd":
		zw, _ := zstd.NewWriter(&out)
		zw.Write(raw.Bytes())
		zw.Close()
	case "identity":
		out.Write(raw.Bytes())
	default:
		t.Fatalf("compressor %q", p.compressor)
	}
	return out.Bytes()
}

// build returns the .rpm file's bytes.
func (p testPkg) build(t *testing.T) []byte {
	t.Helper()
	pl := p.payload(t)
	comp := p.compressor
	if comp == "" {
		comp = "gzip"
	}
	main := []headerEntry{
		{tagName, typeString, p.name},
		{tagVersion, typeString, p.ver},
		{tagRelease, typeString, p.rel},
		{tagArch, typeString, p.arch},
		{tagPayloadFormat, typeString, "cpio"},
		{tagPayloadCompressor, typeString, comp},
	}
	if p.epoch != "" && p.epoch != "0" {
		var e uint32
		fmt.Sscan(p.epoch, &e)
		main = append(main, headerEntry{tagEpoch, typeInt32, []uint32{e}})
	}
	if !p.noPayloadDigest {
		sum := sha256.Sum256(pl)
		main = append(main,
			headerEntry{tagPayloadDigest, typeStringArray, []string{hex.EncodeToString(sum[:])}},
			headerEntry{tagPayloadDigestAlgo, typeInt32, []uint32{8}})
	}
	mh := writeHeader(main)
	hs := sha256Hex(mh)
	tag := uint32(sigTagSHA256)
	if p.sha1Signature {
		hs, tag = sha1Hex(mh), sigTagSHA1
	}
	sig := writeHeader([]headerEntry{
		{tag, typeString, hs},
		{1000, typeInt32, []uint32{uint32(len(mh) + len(pl))}},
	})
	var out bytes.Buffer
	lead := make([]byte, leadSize)
	copy(lead, leadMagic)
	lead[4], lead[5] = 3, 0
	copy(lead[10:], p.name+"-"+p.ver+"-"+p.rel)
	binary.BigEndian.PutUint16(lead[76:], 1) // os: Linux
	binary.BigEndian.PutUint16(lead[78:], 5) // signature type: header
	out.Write(lead)
	out.Write(sig)
	for out.Len()%8 != 0 {
		out.WriteByte(0)
	}
	out.Write(mh)
	out.Write(pl)
	return out.Bytes()
}

// writeRPM writes p's .rpm to dir and returns its path.
func writeRPM(t *testing.T, dir string, p testPkg) string {
	t.Helper()
	f := filepath.Join(dir, p.fileName())
	if err := os.WriteFile(f, p.build(t), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// xmlDepEntry renders "name [OP evr]" as a primary.xml rpm:entry.
func xmlDepEntry(s string) string {
	if strings.HasPrefix(s, "(") { // a rich dependency, as is
		return fmt.Sprintf(`<rpm:entry name="%s"/>`, html.EscapeString(s))
	}
	f := strings.Fields(s)
	if len(f) == 1 {
		return fmt.Sprintf(`<rpm:entry name="%s"/>`, html.EscapeString(f[0]))
	}
	flags := map[string]string{"=": "EQ", "<": "LT", ">": "GT", "<=": "LE", ">=": "GE"}[f[1]]
	e := ParseEVR(f[2])
	if e.Epoch == "" {
		e.Epoch = "0"
	}
	rel := ""
	if e.Release != "" {
		rel = fmt.Sprintf(` rel="%s"`, e.Release)
	}
	return fmt.Sprintf(`<rpm:entry name="%s" flags="%s" epoch="%s" ver="%s"%s/>`, html.EscapeString(f[0]), flags, e.Epoch, e.Version, rel)
}

type repoOptions struct {
	compression string // gz (default), xz, zst, xml
	badPrimary  bool   // repomd states a wrong checksum of primary
	badOpen     bool   // repomd states a wrong open-checksum
}

// writeRepo writes the packages under dir/Packages and their repodata.
func writeRepo(t *testing.T, dir string, o repoOptions, pkgs ...testPkg) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "Packages"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "repodata"), 0o755); err != nil {
		t.Fatal(err)
	}
	var x strings.Builder
	fmt.Fprintf(&x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<metadata xmlns=\"http://linux.duke.edu/metadata/common\" xmlns:rpm=\"http://linux.duke.edu/metadata/rpm\" packages=\"%d\">\n", len(pkgs))
	for _, p := range pkgs {
		b := p.build(t)
		if err := os.WriteFile(filepath.Join(dir, "Packages", p.fileName()), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		epoch := p.epoch
		if epoch == "" {
			epoch = "0"
		}
		fmt.Fprintf(&x, "<package type=\"rpm\">\n  <name>%s</name>\n  <arch>%s</arch>\n  <version epoch=\"%s\" ver=\"%s\" rel=\"%s\"/>\n", p.name, p.arch, epoch, p.ver, p.rel)
		fmt.Fprintf(&x, "  <checksum type=\"sha256\" pkgid=\"YES\">%x</checksum>\n  <summary>%s</summary>\n", sum, p.name)
		fmt.Fprintf(&x, "  <location href=\"Packages/%s\"/>\n  <format>\n    <rpm:provides>\n", p.fileName())
		fmt.Fprintf(&x, "      <rpm:entry name=\"%s\" flags=\"EQ\" epoch=\"%s\" ver=\"%s\" rel=\"%s\"/>\n", p.name, epoch, p.ver, p.rel)
		for _, d := range p.provides {
			fmt.Fprintf(&x, "      %s\n", xmlDepEntry(d))
		}
		x.WriteString("    </rpm:provides>\n")
		if len(p.requires) > 0 {
			x.WriteString("    <rpm:requires>\n")
			for _, d := range p.requires {
				fmt.Fprintf(&x, "      %s\n", xmlDepEntry(d))
			}
			x.WriteString("    </rpm:requires>\n")
		}
		for _, f := range p.files {
			if cpio.FileMode(f.mode)&cpio.ModeType == cpio.TypeDir {
				fmt.Fprintf(&x, "    <file type=\"dir\">%s</file>\n", f.path)
			} else if strings.Contains(f.path, "bin/") || strings.HasPrefix(f.path, "/etc/") {
				fmt.Fprintf(&x, "    <file>%s</file>\n", f.path)
			}
		}
		x.WriteString("  </format>\n</package>\n")
	}
	x.WriteString("</metadata>\n")
	plain := []byte(x.String())

	var comp bytes.Buffer
	ext := o.compression
	switch ext {
	case "", "gz":
		ext = "gz"
		zw := gzip.NewWriter(&comp)
		zw.Write(plain)
		zw.Close()
	case "xz":
		zw, _ := xz.NewWriter(&comp)
		zw.Write(plain)
		zw.Close()
	case "zst":
		zw, _ := zstd.NewWriter(&comp)
		zw.Write(plain)
		zw.Close()
	case "xml":
		comp.Write(plain)
	}
	name := "repodata/0123-primary.xml"
	if ext != "xml" {
		name += "." + ext
	}
	if err := os.WriteFile(filepath.Join(dir, name), comp.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum, open := sha256.Sum256(comp.Bytes()), sha256.Sum256(plain)
	if o.badPrimary {
		sum[0] ^= 1
	}
	if o.badOpen {
		open[0] ^= 1
	}
	md := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">
  <revision>1</revision>
  <data type="other">
    <checksum type="sha256">00</checksum>
    <location href="repodata/other.xml.gz"/>
  </data>
  <data type="primary">
    <checksum type="sha256">%x</checksum>
    <open-checksum type="sha256">%x</open-checksum>
    <location href="%s"/>
    <size>%d</size>
  </data>
</repomd>
`, sum, open, name, comp.Len())
	if err := os.WriteFile(filepath.Join(dir, "repodata", "repomd.xml"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}

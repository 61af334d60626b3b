package unpack

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	stdgzip "compress/gzip"
	"errors"
	"io"
	"io/fs"
	"reflect"
	"strings"
	"testing"
)

// archiveFormats builds the same entries in every archive format. Zip has
// no hard links or FIFOs: rows using them skip it (zipEnts covers zip's own).
var archiveFormats = []struct {
	format string
	build  func(*testing.T, []ent) []byte
}{
	{FormatTar, makeTar},
	{FormatTarGz, func(t *testing.T, e []ent) []byte { return gzipBytes(t, makeTar(t, e)) }},
	{FormatTarXz, func(t *testing.T, e []ent) []byte { return xzBytes(t, makeTar(t, e)) }},
	{FormatZip, makeZip},
	{FormatGem, makeGem},
}

// unpackBytes unpacks data as artifact https://example.com/a.<format>
// below /opt and returns the layer's listing.
func unpackBytes(t *testing.T, format string, data []byte, o Options) ([]string, error) {
	t.Helper()
	o.Name, o.Format = "https://example.com/a."+format, format
	if o.Dest == "" {
		o.Dest = "/opt"
	}
	var out bytes.Buffer
	w := NewWriter(&out, epoch)
	if err := w.AddArchive(writeFile(t, "a."+format, data), o); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	checkLayer(t, out.Bytes(), strings.TrimPrefix(o.Dest, "/"))
	return list(t, out.Bytes()), nil
}

// checkRefused checks err is one line naming the artifact and the entry.
func checkRefused(t *testing.T, err error, format, entry, want string) {
	t.Helper()
	art := "https://example.com/a." + format
	var ee *EntryError
	if !errors.As(err, &ee) {
		t.Fatalf("error %v, want an *EntryError", err)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, art+": ") || strings.ContainsAny(msg, "\r\n") || !strings.Contains(msg, want) {
		t.Fatalf("error %q, want one line naming %s and saying %q", msg, art, want)
	}
	if entry != "" && !strings.Contains(msg, `"`+entry+`"`) {
		t.Fatalf("error %q does not name entry %q", msg, entry)
	}
	t.Log(msg)
}

func TestHostileArchives(t *testing.T) {
	tests := []struct {
		name  string
		ents  []ent
		noZip bool
		entry string
		want  string
	}{
		{name: "write through an escaping symlink",
			ents:  []ent{symlink("link", "../../etc"), reg("link/passwd", 0o644, "root::0:0:")},
			entry: "link/passwd", want: "/opt/link is not a directory in the layer"},
		{name: "write through an absolute symlink",
			ents:  []ent{symlink("etc", "/etc"), reg("etc/shadow", 0o644, "x")},
			entry: "etc/shadow", want: "/opt/etc is not a directory in the layer"},
		{name: "directory through a symlink",
			ents:  []ent{symlink("d", "/"), dir("d/etc/", 0o755)},
			entry: "d/etc/", want: "/opt/d is not a directory in the layer"},
		{name: "symlink replaced by a directory",
			ents:  []ent{symlink("d", "../.."), dir("d/", 0o755)},
			entry: "d/", want: "already in the layer"},
		{name: "symlink then file of the same name",
			ents:  []ent{symlink("f", "/etc/passwd"), reg("f", 0o644, "x")},
			entry: "f", want: "already in the layer"},
		{name: "nested dot-dot", ents: []ent{reg("a/b/../../../x", 0o644, "x")}, entry: "a/b/../../../x", want: `".."`},
		{name: "bare dot-dot", ents: []ent{dir("../", 0o755)}, entry: "../", want: `".."`},
		{name: "absolute directory", ents: []ent{dir("/etc/", 0o755)}, entry: "/etc/", want: "absolute path"},
		{name: "hard link through an escaping symlink", noZip: true,
			ents:  []ent{symlink("link", "../../etc"), hardlink("h", "link/passwd")},
			entry: "h", want: "not a regular file unpacked before it"},
		{name: "hard link to an absolute path", noZip: true,
			ents: []ent{hardlink("h", "/etc/passwd")}, entry: "h", want: "outside what is unpacked"},
		{name: "hard link to a symlink", noZip: true,
			ents: []ent{symlink("s", "/etc/passwd"), hardlink("h", "s")}, entry: "h", want: "not a regular file unpacked before it"},
		{name: "hard link to a directory", noZip: true,
			ents: []ent{dir("d/", 0o755), hardlink("h", "d")}, entry: "h", want: "not a regular file unpacked before it"},
		{name: "char device", ents: []ent{{name: "dev/mem", typ: tar.TypeChar, mode: 0o600}}, entry: "dev/mem", want: "device node"},
		{name: "block device", noZip: true, ents: []ent{{name: "dev/sda", typ: tar.TypeBlock, mode: 0o600}}, entry: "dev/sda", want: "device node"},
		{name: "fifo", noZip: true, ents: []ent{{name: "p", typ: tar.TypeFifo, mode: 0o644}}, entry: "p", want: "FIFO"},
		{name: "duplicate file", ents: []ent{reg("x", 0o644, "1"), reg("./x", 0o644, "2")}, entry: "./x", want: "already in the layer"},
		{name: "duplicate symlink", ents: []ent{symlink("s", "a"), symlink("s", "b")}, entry: "s", want: "already in the layer"},
		{name: "directory then file", ents: []ent{dir("d/", 0o755), reg("d", 0o644, "x")}, entry: "d", want: "already in the layer"},
		{name: "name not UTF-8", ents: []ent{reg("bin/\xff\xfe", 0o755, "x")}, entry: "bin/\\xff\\xfe", want: "not valid UTF-8"},
		{name: "symlink target not UTF-8", ents: []ent{symlink("s", "\xc3\x28")}, entry: "s", want: "not valid UTF-8"},
	}
	for _, tt := range tests {
		for _, f := range archiveFormats {
			if f.format == FormatZip && tt.noZip {
				continue
			}
			t.Run(tt.name+"/"+f.format, func(t *testing.T) {
				got, err := unpackBytes(t, f.format, f.build(t, tt.ents), Options{})
				if err == nil {
					t.Fatalf("unpacked:\n%s", strings.Join(got, "\n"))
				}
				checkRefused(t, err, f.format, tt.entry, tt.want)
			})
		}
	}
}

// zipWith builds a zip of one entry with the given mode (for the types
// makeZip cannot write).
func zipWith(t *testing.T, name string, mode fs.FileMode, body string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: newer}
	fh.SetMode(mode)
	w, err := zw.CreateHeader(fh)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHostileZip(t *testing.T) {
	for _, tt := range []struct {
		name, entry, want string
		data              []byte
	}{
		{"fifo", "p", "FIFO", zipWith(t, "p", fs.ModeNamedPipe|0o644, "")},
		{"socket", "s", "unsupported file type", zipWith(t, "s", fs.ModeSocket|0o644, "")},
		{"name with NUL", "a\\x00b", "NUL", zipWith(t, "a\x00b", 0o644, "x")},
		{"absolute", "/etc/cron.d/x", "absolute path", zipWith(t, "/etc/cron.d/x", 0o644, "x")},
		{"empty symlink", "s", "empty or overlong target", zipWith(t, "s", fs.ModeSymlink|0o777, "")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unpackBytes(t, FormatZip, tt.data, Options{})
			if err == nil {
				t.Fatalf("unpacked:\n%s", strings.Join(got, "\n"))
			}
			checkRefused(t, err, FormatZip, tt.entry, tt.want)
		})
	}
}

// TestSetuidKept documents the rule: setuid, setgid and sticky bits are
// kept as the archive has them (owners are 0:0), in every format that
// carries Unix modes. A zip without Unix modes gets 0644.
func TestSetuidKept(t *testing.T) {
	ents := []ent{reg("bin/su", 0o4755, "s"), reg("bin/wall", 0o2755, "g"), dir("tmp/", 0o1777)}
	want := []string{"opt/ 5 0755", "opt/bin/ 5 0755", "opt/bin/su 0 4755 =s", "opt/bin/wall 0 2755 =g", "opt/tmp/ 5 1777"}
	for _, f := range archiveFormats {
		if f.format == FormatZip {
			continue // makeZip writes setuid only
		}
		t.Run(f.format, func(t *testing.T) {
			got, err := unpackBytes(t, f.format, f.build(t, ents), Options{})
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("got %v, %v; want %v", got, err, want)
			}
		})
	}
	got, err := unpackBytes(t, FormatZip, makeZip(t, []ent{reg("su", 0o4755, "s")}), Options{})
	if want := []string{"opt/ 5 0755", "opt/su 0 4755 =s"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("zip: got %v, %v; want %v", got, err, want)
	}
}

// zerosTar is a tar of one file of n zero bytes, streamed to w.
func zerosTar(t *testing.T, w io.Writer, name string, n int64) {
	t.Helper()
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: n, ModTime: older}); err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(tw, zeroReader{}, n); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func gzipZerosTar(t *testing.T, name string, n int64) []byte {
	var buf bytes.Buffer
	zw, _ := stdgzip.NewWriterLevel(&buf, stdgzip.BestSpeed)
	zerosTar(t, zw, name, n)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDecompressionBomb(t *testing.T) {
	t.Run("MaxBytes tar.gz", func(t *testing.T) {
		_, err := unpackBytes(t, FormatTarGz, gzipZerosTar(t, "zeros", 2<<20), Options{MaxBytes: 1 << 20})
		checkRefused(t, err, FormatTarGz, "zeros", "more than 1048576 bytes (the MaxBytes limit)")
	})
	t.Run("MaxBytes tar.xz", func(t *testing.T) {
		var tb bytes.Buffer
		zerosTar(t, &tb, "zeros", 2<<20)
		_, err := unpackBytes(t, FormatTarXz, xzBytes(t, tb.Bytes()), Options{MaxBytes: 1 << 20})
		checkRefused(t, err, FormatTarXz, "zeros", "MaxBytes")
	})
	t.Run("MaxBytes zip", func(t *testing.T) {
		data := zipWith(t, "zeros", 0o644, strings.Repeat("\x00", 2<<20))
		_, err := unpackBytes(t, FormatZip, data, Options{MaxBytes: 1 << 20})
		checkRefused(t, err, FormatZip, "zeros", "MaxBytes")
	})
	t.Run("MaxBytes gem", func(t *testing.T) {
		data := makeGem(t, []ent{reg("zeros", 0o644, strings.Repeat("\x00", 2<<20))})
		_, err := unpackBytes(t, FormatGem, data, Options{MaxBytes: 1 << 20})
		checkRefused(t, err, FormatGem, "zeros", "MaxBytes")
	})
	t.Run("MaxBytes counts skipped entries", func(t *testing.T) {
		// Strip 1 drops the top-level file, which must still be decompressed.
		_, err := unpackBytes(t, FormatTarGz, gzipZerosTar(t, "zeros", 2<<20), Options{Strip: 1, MaxBytes: 1 << 20})
		checkRefused(t, err, FormatTarGz, "zeros", "MaxBytes")
	})
	t.Run("default MaxBytes from the header", func(t *testing.T) {
		// A header claiming 9 GiB is refused before its content is read.
		var buf bytes.Buffer
		zw := stdgzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		tw.WriteHeader(&tar.Header{Name: "huge", Mode: 0o644, Size: 9 << 30, ModTime: older})
		tw.Write(make([]byte, 4096))
		tw.Flush()
		zw.Close()
		_, err := unpackBytes(t, FormatTarGz, buf.Bytes(), Options{})
		checkRefused(t, err, FormatTarGz, "huge", "more than 8589934592 bytes (the MaxBytes limit)")
	})
	if testing.Short() {
		t.Skip("ratio cases expand 80 MiB")
	}
	bomb := gzipZerosTar(t, "zeros", 80<<20) // about 350 KiB: ratio over 200
	t.Run("default MaxRatio", func(t *testing.T) {
		_, err := unpackBytes(t, FormatTarGz, bomb, Options{})
		checkRefused(t, err, FormatTarGz, "zeros", "(the MaxRatio limit)")
	})
	t.Run("limits off", func(t *testing.T) {
		got, err := unpackBytes(t, FormatTarGz, bomb, Options{MaxBytes: -1, MaxRatio: -1})
		if err != nil || len(got) != 2 {
			t.Fatalf("got %d entries, %v", len(got), err)
		}
	})
}

// TestTruncatedAndCorrupt cuts or damages a valid archive of each format:
// it is refused with one line naming the artifact (and the entry being
// read when there is one), and never half-accepted.
func TestTruncatedAndCorrupt(t *testing.T) {
	ents := []ent{dir("d/", 0o755), reg("d/a", 0o644, strings.Repeat("a", 3000)), reg("d/b", 0o644, strings.Repeat("b", 3000))}
	for _, f := range archiveFormats {
		good := f.build(t, ents)
		for _, c := range []struct {
			name string
			data []byte
		}{
			{"truncated at 1/3", good[:len(good)/3]},
			{"truncated at 2/3", good[:2*len(good)/3]},
			{"last byte missing", good[:len(good)-1]},
			{"empty", nil},
			{"corrupt middle", flip(good, len(good)/2)},
			{"corrupt start", flip(good, 0)},
		} {
			t.Run(f.format+"/"+c.name, func(t *testing.T) {
				got, err := unpackBytes(t, f.format, c.data, Options{})
				if err == nil {
					if why, ok := tolerated[f.format+"/"+c.name]; ok {
						t.Logf("accepted (%d entries): %s", len(got), why)
						return
					}
					t.Fatalf("accepted: %d entries", len(got))
				}
				checkRefused(t, err, f.format, "", "")
			})
		}
	}
}

// tolerated are the damaged archives accepted, and why: nothing that
// reaches the layer is missing or unchecked by the format.
var tolerated = map[string]string{
	// archive/tar accepts a stream cut inside the padding after the last
	// entry or inside the end-of-archive blocks: every entry is whole.
	"tar/last byte missing": "only the end-of-archive blocks are cut",
	"gem/truncated at 2/3":  "cut in the outer tar's padding after its last entry",
	"tar/corrupt middle":    "a plain tar has no checksum over file contents (only over headers)",
	"zip/corrupt start":     "the local header of a directory entry is never read: the central directory is authoritative",
}

func flip(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	for j := i; j < i+8 && j < len(c); j++ {
		c[j] ^= 0x5a
	}
	return c
}

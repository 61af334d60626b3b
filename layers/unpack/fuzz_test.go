package unpack

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzDest is where the fuzzers unpack; every output entry must be below it.
const fuzzDest = "/opt/fz"

// fuzzSeeds are small valid and hostile archives (as tar entries) from
// which each fuzzer's seeds are built in its format.
func fuzzSeeds() [][]ent {
	return [][]ent{
		nodeTree,
		{reg("a", 0o644, "x"), hardlink("b", "a")},
		{reg("pkg/../../etc/passwd", 0o644, "x")},
		{reg("/etc/passwd", 0o644, "x")},
		{symlink("link", "../../etc"), reg("link/passwd", 0o644, "root::0:0")},
		{hardlink("h", "../../etc/shadow")},
		{{name: "dev/null", typ: tar.TypeChar, mode: 0o666}},
		{{name: "p", typ: tar.TypeFifo, mode: 0o644}},
		{reg("s", 0o6755, "suid")},
		{reg("d", 0o644, "1"), reg("d", 0o644, "2")},
		{reg("bad\xff\xfename", 0o644, "x")},
		{dir("x/", 0o755), dir("x/", 0o700), symlink("x/y", "/usr/lib")},
	}
}

// fuzzOne unpacks data as an artifact of the given format into a fresh
// layer and checks the output tar's invariants. It fails on a panic (the
// fuzzer reports those itself) and on a call that takes too long.
func fuzzOne(t *testing.T, format string, data []byte) {
	file := filepath.Join(t.TempDir(), "artifact")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	name := "https://example.com/fuzz." + format
	var out bytes.Buffer
	w := NewWriter(&out, epoch)
	done := make(chan error, 1)
	go func() {
		err := w.AddArchive(file, Options{Format: format, Dest: fuzzDest, Name: name, Strip: int(len(data) % 2),
			MaxBytes: 16 << 20})
		if err == nil {
			err = w.Close()
		}
		done <- err
	}()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("AddArchive of %d bytes did not return in 10s", len(data))
	}
	if err != nil {
		msg := err.Error()
		var ee *EntryError
		if !errors.As(err, &ee) || !strings.HasPrefix(msg, name+": ") {
			t.Fatalf("error %q (%T) does not name the artifact", msg, err)
		}
		if strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("error is not one line: %q", msg)
		}
		return // the stream is incomplete after an error: nothing more to check
	}
	checkLayer(t, out.Bytes(), strings.TrimPrefix(fuzzDest, "/"))
}

// checkLayer checks what any layer written by a Writer must satisfy.
func checkLayer(t *testing.T, layer []byte, dest string) {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	seen := map[string]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("output is not a valid tar: %v", err)
		}
		p := strings.TrimSuffix(hdr.Name, "/")
		if p == "" || strings.HasPrefix(p, "/") || path.Clean(p) != p || p == ".." ||
			strings.HasPrefix(p, "../") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			t.Fatalf("entry %q is not a relative, clean path without ..", hdr.Name)
		}
		if !utf8.ValidString(p) || strings.ContainsRune(p, 0) {
			t.Fatalf("entry %q is not valid UTF-8", hdr.Name)
		}
		if !(p == dest || strings.HasPrefix(dest, p+"/") || strings.HasPrefix(p, dest+"/")) {
			t.Fatalf("entry %q is neither below %s nor one of its parents", hdr.Name, dest)
		}
		if !strings.HasPrefix(p, dest+"/") && hdr.Typeflag != tar.TypeDir {
			t.Fatalf("entry %q (type %c) is outside %s", hdr.Name, hdr.Typeflag, dest)
		}
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if typ, ok := seen[d]; !ok || typ != tar.TypeDir {
				t.Fatalf("entry %q: parent %q is not an earlier directory", hdr.Name, d)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink:
		case tar.TypeLink:
			if typ, ok := seen[hdr.Linkname]; !ok || typ != tar.TypeReg {
				t.Fatalf("hard link %q -> %q: target is not an earlier regular entry", hdr.Name, hdr.Linkname)
			}
		default:
			t.Fatalf("entry %q has type %c (devices, FIFOs and others are not allowed)", hdr.Name, hdr.Typeflag)
		}
		if prev, ok := seen[p]; ok {
			t.Fatalf("entry %q (type %c) written twice (first as type %c)", hdr.Name, hdr.Typeflag, prev)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.Devmajor != 0 || hdr.Devminor != 0 || hdr.ModTime.After(epoch) {
			t.Fatalf("entry %q: header not normalised: %+v", hdr.Name, hdr)
		}
		seen[p] = hdr.Typeflag
	}
}

// The seed corpora are committed in testdata/fuzz/<FuzzName>/: the archives
// of fuzzSeeds in each format (written by TestWriteFuzzSeeds with
// RTBUILD_WRITE_FUZZ_SEEDS=1), and any input a fuzzer once failed on.

func fuzzAddSmall(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte("hello"))
	f.Add(make([]byte, 1024)) // two zero blocks: an empty tar
}

func FuzzTar(f *testing.F) {
	fuzzAddSmall(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, FormatTar, data) })
}

func FuzzTarGz(f *testing.F) {
	fuzzAddSmall(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, FormatTarGz, data) })
}

func FuzzTarXz(f *testing.F) {
	fuzzAddSmall(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, FormatTarXz, data) })
}

func FuzzZip(f *testing.F) {
	fuzzAddSmall(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, FormatZip, data) })
}

func FuzzGem(f *testing.F) {
	fuzzAddSmall(f)
	f.Fuzz(func(t *testing.T, data []byte) { fuzzOne(t, FormatGem, data) })
}

// TestWriteFuzzSeeds regenerates the seed corpora from fuzzSeeds when
// RTBUILD_WRITE_FUZZ_SEEDS=1; otherwise it only checks they are there.
func TestWriteFuzzSeeds(t *testing.T) {
	builders := map[string]func([]ent) []byte{
		"FuzzTar":   func(e []ent) []byte { return makeTar(t, e) },
		"FuzzTarGz": func(e []ent) []byte { return gzipBytes(t, makeTar(t, e)) },
		"FuzzTarXz": func(e []ent) []byte { return xzBytes(t, makeTar(t, e)) },
		"FuzzZip":   func(e []ent) []byte { return makeZip(t, zipable(e)) },
		"FuzzGem":   func(e []ent) []byte { return makeGem(t, e) },
	}
	write := os.Getenv("RTBUILD_WRITE_FUZZ_SEEDS") == "1"
	for name, build := range builders {
		dir := filepath.Join("testdata", "fuzz", name)
		if !write {
			if m, _ := filepath.Glob(filepath.Join(dir, "seed-*")); len(m) == 0 {
				t.Errorf("no seed corpus in %s (run with RTBUILD_WRITE_FUZZ_SEEDS=1)", dir)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, s := range fuzzSeeds() {
			data := build(s)
			text := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// zipable drops the entry types makeZip cannot write (FIFOs, hard links).
func zipable(ents []ent) []ent {
	var out []ent
	for _, e := range ents {
		if e.typ != tar.TypeFifo && e.typ != tar.TypeLink {
			out = append(out, e)
		}
	}
	return out
}

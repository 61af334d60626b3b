package testworld

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

type ioReadCloser = io.ReadCloser

func nopCloser(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// buildCachedLayer makes the gzip tar out (in the test cache) once per
// machine: unless it exists, it takes the lock file, checks again, writes
// the tar with write through a temporary file, syncs it and renames it into
// place. It says whether it built the layer (false: another run had).
func buildCachedLayer(t testing.TB, out, lock string, write func(io.Writer) error) bool {
	t.Helper()
	if testtools.FileExists(out) {
		return false
	}
	unlock, err := testtools.LockFile(lock)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if testtools.FileExists(out) {
		return false
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".layer-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(tmp.Name())
	zw, err := gzip.NewWriterLevel(tmp, gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if err := write(zw); err != nil {
		tmp.Close()
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		t.Fatal(err)
	}
	return true
}

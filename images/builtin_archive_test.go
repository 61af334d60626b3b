package images

import (
	"archive/tar"
	"bytes"
	"io"
	"testing"
)

func TestBuiltinArchiveNodejsRIC(t *testing.T) {
	a, err := BuiltinArchive("nodejs-ric")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := BuiltinArchive("nodejs-ric")
	if !bytes.Equal(a, b) {
		t.Fatal("builtin archive is not deterministic")
	}
	tr := tar.NewReader(bytes.NewReader(a))
	found := false
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Name == "index.js" {
			found = true
		}
		if h.Mode != 0o644 || h.Uid != 0 {
			t.Errorf("%s: mode %o uid %d", h.Name, h.Mode, h.Uid)
		}
	}
	if !found {
		t.Error("index.js missing from the Node.js client")
	}
	if _, err := BuiltinArchive("nope"); err == nil {
		t.Error("unknown builtin accepted")
	}
}

package cachemgmt

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// file is one file of a hand-made cache directory.
type file struct {
	path    string
	content string
	mtime   time.Time
}

// writeFiles writes files under dir and sets their modification times.
func writeFiles(t *testing.T, dir string, files ...file) {
	t.Helper()
	for _, f := range files {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, f.mtime, f.mtime); err != nil {
			t.Fatal(err)
		}
	}
}

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func exists(p string) bool { _, err := os.Lstat(p); return err == nil }

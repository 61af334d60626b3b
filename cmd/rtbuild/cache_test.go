package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeTestCache fills a cache directory in rtbuild's layout by hand: two
// downloads (one named by a URL record), two layers (one named by two
// keys) and a temp file. Modification times are base minus the given ages.
func writeTestCache(t *testing.T, base time.Time) string {
	t.Helper()
	dir := t.TempDir()
	day := 24 * time.Hour
	dlA, dlB := strings.Repeat("a", 3000), strings.Repeat("b", 1500)
	lyA, lyB := strings.Repeat("c", 2048), strings.Repeat("d", 700)
	keyJSON := func(blob string) string {
		return `{"digest":"sha256:` + hexSum(blob) + `","diffID":"sha256:` + hexSum("x") + `","size":1,"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip"}`
	}
	for _, f := range []struct {
		path, content string
		age           time.Duration
	}{
		{"downloads/sha256/" + hexSum(dlA), dlA, 40 * day},
		{"downloads/urls/" + hexSum("https://example.com/a.tar.gz"), "sha256:" + hexSum(dlA) + "\n", 40 * day},
		{"downloads/sha256/" + hexSum(dlB), dlB, 3 * day},
		{"downloads/tmp/download-1", "partial", 90 * day},
		{"layers/blobs/sha256/" + hexSum(lyA), lyA, 20 * day},
		{"layers/keys/" + hexSum("key-a1") + ".json", keyJSON(lyA), 20 * day},
		{"layers/keys/" + hexSum("key-a2") + ".json", keyJSON(lyA), 21 * day},
		{"layers/blobs/sha256/" + hexSum(lyB), lyB, 2 * time.Hour},
		{"layers/keys/" + hexSum("key-b") + ".json", keyJSON(lyB), 2 * time.Hour},
		{"layers/tmp/blob-1", "partial", 90 * day},
	} {
		p := filepath.Join(dir, f.path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(f.content), 0o444); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(-f.age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCacheGolden(t *testing.T) {
	dir := writeTestCache(t, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	for _, sub := range []string{"ls", "du"} {
		for _, format := range []string{"table", "json"} {
			t.Run(sub+"_"+format, func(t *testing.T) {
				code, out, errOut := runInProcess(t, "cache", sub, "--cache-dir", dir, "--format", format)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				checkGolden(t, "cache_"+sub+"_"+format, []byte(out))
			})
		}
	}
}

func cacheFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	return out
}

func TestCachePruneOlderThan(t *testing.T) {
	dir := writeTestCache(t, time.Now())
	code, out, errOut := runInProcess(t, "cache", "prune", "--cache-dir", dir, "--older-than", "7d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "removed 2 entries, 4.9 KiB") || strings.Count(out, "\n") != 3 {
		t.Errorf("stdout %q, stderr %q", out, errOut)
	}
	got := strings.Join(cacheFiles(t, dir), "\n")
	want := strings.Join([]string{
		"downloads/sha256/" + hexSum(strings.Repeat("b", 1500)),
		"downloads/tmp/download-1",
		"layers/blobs/sha256/" + hexSum(strings.Repeat("d", 700)),
		"layers/keys/" + hexSum("key-b") + ".json",
		"layers/tmp/blob-1",
	}, "\n")
	if got != want {
		t.Errorf("left:\n%s\nwant:\n%s", got, want)
	}
}

func TestCachePruneKeepStorage(t *testing.T) {
	dir := writeTestCache(t, time.Now())
	// 7248 bytes: dropping the least recently used download (3000) and
	// layer (2048) leaves 2200 <= 3000.
	code, out, errOut := runInProcess(t, "cache", "prune", "--cache-dir", dir, "--keep-storage", "3KB", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, hexSum(strings.Repeat("a", 3000))) || !strings.Contains(out, hexSum(strings.Repeat("c", 2048))) {
		t.Errorf("json output lacks the removed entries: %s", out)
	}
	if n := len(cacheFiles(t, dir)); n != 5 {
		t.Errorf("%d files left: %v", n, cacheFiles(t, dir))
	}
	// Nothing left is old enough to go: the newest entries are kept
	// down to the limit, and recent ones (2h) are only removed by size.
	code, _, errOut = runInProcess(t, "cache", "prune", "--cache-dir", dir, "--keep-storage", "0")
	if code != 0 || !strings.Contains(errOut, "removed 2 entries") {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if got := strings.Join(cacheFiles(t, dir), " "); got != "downloads/tmp/download-1 layers/tmp/blob-1" {
		t.Errorf("left %s; want only the temp files", got)
	}
}

func TestCachePruneSparesRunningBuild(t *testing.T) {
	dir := writeTestCache(t, time.Now())
	fresh := filepath.Join(dir, "layers", "blobs", "sha256", hexSum("fresh"))
	if err := os.WriteFile(fresh, []byte("fresh"), 0o444); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runInProcess(t, "cache", "prune", "--cache-dir", dir, "--keep-storage", "0")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("a blob written just now was removed: %v", err)
	}
}

// hexSum is the hex sha256 of s, as cache file names are.
func hexSum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

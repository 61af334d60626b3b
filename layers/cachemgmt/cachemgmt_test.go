package cachemgmt

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

// testCache holds, from oldest to newest:
//
//	dlOld   download, 40 days old, named by one URL record, 400 bytes
//	lyOld   layer, 20 days old (its key), 300 bytes, named by two keys
//	dlMid   download, 5 days old, 200 bytes
//	lyNew   layer, 2 hours old, 100 bytes
//	lyHot   layer written 10 seconds ago, 50 bytes (a running build)
//
// plus temp files, a key naming a missing blob and a URL record naming a
// missing download, which are no entries.
type testCache struct {
	dir                               string
	dlOld, lyOld, dlMid, lyNew, lyHot string // contents
	keyOld1, keyOld2, keyNew, keyHot  string
}

func newTestCache(t *testing.T) *testCache {
	c := &testCache{
		dir:   t.TempDir(),
		dlOld: strings.Repeat("o", 400), lyOld: strings.Repeat("l", 300),
		dlMid: strings.Repeat("m", 200), lyNew: strings.Repeat("n", 100), lyHot: strings.Repeat("h", 50),
		keyOld1: sum("key-old-1"), keyOld2: sum("key-old-2"), keyNew: sum("key-new"), keyHot: sum("key-hot"),
	}
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	day := 24 * time.Hour
	key := func(blob string) string { return `{"digest":"sha256:` + sum(blob) + `","size":1}` }
	writeFiles(t, c.dir,
		file{"downloads/sha256/" + sum(c.dlOld), c.dlOld, ago(41 * day)},
		file{"downloads/urls/" + sum("https://example.com/old.tar.gz"), "sha256:" + sum(c.dlOld) + "\n", ago(40 * day)},
		file{"downloads/urls/" + sum("https://example.com/gone.tar.gz"), "sha256:" + sum("gone") + "\n", ago(50 * day)},
		file{"downloads/sha256/" + sum(c.dlMid), c.dlMid, ago(5 * day)},
		file{"downloads/tmp/download-123", "partial", ago(90 * day)},
		file{"layers/blobs/sha256/" + sum(c.lyOld), c.lyOld, ago(30 * day)},
		file{"layers/keys/" + c.keyOld1 + ".json", key(c.lyOld), ago(25 * day)},
		file{"layers/keys/" + c.keyOld2 + ".json", key(c.lyOld), ago(20 * day)},
		file{"layers/blobs/sha256/" + sum(c.lyNew), c.lyNew, ago(2 * time.Hour)},
		file{"layers/keys/" + c.keyNew + ".json", key(c.lyNew), ago(2 * time.Hour)},
		file{"layers/blobs/sha256/" + sum(c.lyHot), c.lyHot, ago(10 * time.Second)},
		file{"layers/keys/" + c.keyHot + ".json", key(c.lyHot), ago(10 * time.Second)},
		file{"layers/keys/" + sum("dangling") + ".json", key("missing"), ago(60 * day)},
		file{"layers/tmp/blob-456", "partial", ago(90 * day)},
	)
	return c
}

func (c *testCache) has(t *testing.T, rel string) bool { return exists(filepath.Join(c.dir, rel)) }

func digests(es []Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Digest)
	}
	return out
}

func TestList(t *testing.T) {
	c := newTestCache(t)
	es, err := List(c.dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256:" + sum(c.dlMid), "sha256:" + sum(c.dlOld), "sha256:" + sum(c.lyHot), "sha256:" + sum(c.lyNew), "sha256:" + sum(c.lyOld)}
	if got := digests(es); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v, want %v", got, want)
	}
	old := es[4]
	if old.Kind != KindLayer || old.Size != 300 || len(old.Keys) != 2 || !old.LastUsed.Equal(now.Add(-20*24*time.Hour)) {
		t.Errorf("old layer entry %+v", old)
	}
	if es[1].URLs != 1 || !es[1].LastUsed.Equal(now.Add(-40*24*time.Hour)) {
		t.Errorf("old download entry %+v", es[1])
	}
	u := DiskUsage(es)
	if u[0] != (Usage{KindDownload, 2, 600}) || u[1] != (Usage{KindLayer, 3, 450}) {
		t.Errorf("usage %+v", u)
	}
}

func TestPruneOlderThan(t *testing.T) {
	c := newTestCache(t)
	removed, err := Prune(c.dir, PruneOptions{KeepStorage: -1, OlderThan: 7 * 24 * time.Hour, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256:" + sum(c.dlOld), "sha256:" + sum(c.lyOld)}
	if got := digests(removed); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("removed %v, want %v", got, want)
	}
	for _, gone := range []string{
		"downloads/sha256/" + sum(c.dlOld), "downloads/urls/" + sum("https://example.com/old.tar.gz"),
		"layers/blobs/sha256/" + sum(c.lyOld), "layers/keys/" + c.keyOld1 + ".json", "layers/keys/" + c.keyOld2 + ".json",
	} {
		if c.has(t, gone) {
			t.Errorf("%s still there", gone)
		}
	}
	for _, kept := range []string{
		"downloads/sha256/" + sum(c.dlMid), "layers/blobs/sha256/" + sum(c.lyNew), "layers/keys/" + c.keyNew + ".json",
		"downloads/tmp/download-123", "layers/tmp/blob-456",
	} {
		if !c.has(t, kept) {
			t.Errorf("%s removed", kept)
		}
	}
}

func TestPruneKeepStorage(t *testing.T) {
	c := newTestCache(t)
	// 1050 bytes in all: dropping the oldest two (700) leaves 350 <= 500.
	removed, err := Prune(c.dir, PruneOptions{KeepStorage: 500, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"sha256:" + sum(c.dlOld), "sha256:" + sum(c.lyOld)}
	if got := digests(removed); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("removed %v, want %v", got, want)
	}
	es, _ := List(c.dir)
	if len(es) != 3 {
		t.Errorf("left %v", digests(es))
	}
}

func TestPruneSparesRecentAndTemp(t *testing.T) {
	c := newTestCache(t)
	removed, err := Prune(c.dir, PruneOptions{KeepStorage: 0, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 4 {
		t.Errorf("removed %v, want every entry but the one written 10s ago", digests(removed))
	}
	for _, kept := range []string{"layers/blobs/sha256/" + sum(c.lyHot), "layers/keys/" + c.keyHot + ".json", "downloads/tmp/download-123", "layers/tmp/blob-456"} {
		if !c.has(t, kept) {
			t.Errorf("%s removed", kept)
		}
	}
}

func TestPruneDryRun(t *testing.T) {
	c := newTestCache(t)
	removed, err := Prune(c.dir, PruneOptions{KeepStorage: 0, Now: now, DryRun: true})
	if err != nil || len(removed) != 4 {
		t.Fatalf("removed %v, %v", digests(removed), err)
	}
	if es, _ := List(c.dir); len(es) != 5 {
		t.Errorf("dry run removed entries: %v left", digests(es))
	}
}

func TestParseSizeAndAge(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "512": 512, "1KB": 1000, "1kib": 1024, "2G": 2 << 30, "1.5MB": 1500000, "10 GiB": 10 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "-1", "5XB"} {
		if _, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) succeeded", bad)
		}
	}
	for in, want := range map[string]time.Duration{"72h": 72 * time.Hour, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90m": 90 * time.Minute} {
		if got, err := ParseAge(in); err != nil || got != want {
			t.Errorf("ParseAge(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "0", "d", "-1h"} {
		if _, err := ParseAge(bad); err == nil {
			t.Errorf("ParseAge(%q) succeeded", bad)
		}
	}
}

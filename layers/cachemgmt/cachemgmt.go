// Package cachemgmt lists, totals and prunes rtbuild's cache directory:
//
//	<cache>/downloads/sha256/<hex>      downloaded artifacts (kind "download")
//	<cache>/downloads/urls/<sha256(url)> the digest an unpinned URL last resolved to
//	<cache>/layers/blobs/sha256/<hex>   built layer blobs (kind "layer")
//	<cache>/layers/keys/<key>.json      the recipe key naming a layer blob
//
// An entry is one stored blob together with the files that name it: a
// download with the urls/ files that point at it, a layer blob with the
// keys/ files that point at it (normally one; none for an orphaned blob).
// Its size is the blob's, and its last use is the newest modification
// time among its files. rtbuild does not touch cache files when it reads
// them, so "last used" is when the entry was last written.
//
// Prune removes whole entries, naming files first and the blob last, so an
// interrupted prune leaves at worst a blob nothing names (which a later
// prune removes), never a key or URL file that names a missing blob. It
// never touches tmp/ (writes in progress) and never removes an entry any of
// whose files changed within Grace, so it is safe alongside a running
// build: an entry a build is writing is recent, and a build that finds an
// entry gone after checking for it treats it as a cache miss.
package cachemgmt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Entry kinds.
const (
	KindDownload = "download"
	KindLayer    = "layer"
)

// Grace is how recently modified an entry may be and still be pruned: not
// at all within it.
const Grace = time.Minute

// Entry is one cache entry.
type Entry struct {
	Kind     string    `json:"kind"`
	Digest   string    `json:"digest"`         // sha256:<hex> of the blob
	Keys     []string  `json:"keys,omitempty"` // layer: the recipe keys naming the blob
	URLs     int       `json:"urls,omitempty"` // download: how many URL records point at it
	Size     int64     `json:"size"`
	LastUsed time.Time `json:"lastUsed"`

	names []string // key/url files, removed first
	blob  string   // removed last
}

// ID is how tables name the entry: a layer's first key, else its digest.
func (e *Entry) ID() string {
	if e.Kind == KindLayer && len(e.Keys) > 0 {
		return e.Keys[0]
	}
	return e.Digest
}

// Usage totals one kind.
type Usage struct {
	Kind    string `json:"kind"`
	Entries int    `json:"entries"`
	Size    int64  `json:"size"`
}

// List returns the entries of the cache in dir, downloads then layers,
// each kind newest first. A missing directory is an empty cache.
func List(dir string) ([]Entry, error) {
	dl, err := listDownloads(filepath.Join(dir, "downloads"))
	if err != nil {
		return nil, err
	}
	ly, err := listLayers(filepath.Join(dir, "layers"))
	if err != nil {
		return nil, err
	}
	out := append(dl, ly...)
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if !a.LastUsed.Equal(b.LastUsed) {
			return a.LastUsed.After(b.LastUsed)
		}
		return a.Digest < b.Digest
	})
	return out, nil
}

// DiskUsage totals entries per kind (downloads, layers, in that order).
func DiskUsage(entries []Entry) []Usage {
	u := []Usage{{Kind: KindDownload}, {Kind: KindLayer}}
	for _, e := range entries {
		i := 0
		if e.Kind == KindLayer {
			i = 1
		}
		u[i].Entries++
		u[i].Size += e.Size
	}
	return u
}

// PruneOptions select what Prune removes. At least one of KeepStorage >= 0
// and OlderThan > 0 should be set; with neither, nothing is removed.
type PruneOptions struct {
	KeepStorage int64         // remove least recently used entries until the cache holds at most this; < 0: no limit
	OlderThan   time.Duration // remove entries last used longer ago than this; 0: no age limit
	Now         time.Time     // zero: time.Now()
	DryRun      bool
}

// Prune removes entries of the cache in dir as o asks and returns them,
// least recently used first.
func Prune(dir string, o PruneOptions) ([]Entry, error) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	entries, err := List(dir)
	if err != nil {
		return nil, err
	}
	sort.SliceStable(entries, func(i, j int) bool {
		if !entries[i].LastUsed.Equal(entries[j].LastUsed) {
			return entries[i].LastUsed.Before(entries[j].LastUsed)
		}
		return entries[i].Digest < entries[j].Digest
	})
	var total int64
	for _, e := range entries {
		total += e.Size
	}
	var removed []Entry
	for _, e := range entries {
		if now.Sub(e.LastUsed) < Grace {
			continue // possibly in use by a running build
		}
		old := o.OlderThan > 0 && now.Sub(e.LastUsed) > o.OlderThan
		over := o.KeepStorage >= 0 && total > o.KeepStorage
		if !old && !over {
			continue
		}
		if !o.DryRun {
			if recentlyModified(e, now) {
				continue // written since List: a build is using it
			}
			if err := remove(e); err != nil {
				return removed, err
			}
		}
		total -= e.Size
		removed = append(removed, e)
	}
	return removed, nil
}

// recentlyModified re-checks e's files just before removal: a build that
// stores a layer or download again renames a fresh blob over the old one.
func recentlyModified(e Entry, now time.Time) bool {
	for _, p := range append(append([]string{}, e.names...), e.blob) {
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) < Grace {
			return true
		}
	}
	return false
}

// remove deletes the files naming e, then its blob.
func remove(e Entry) error {
	for _, p := range append(append([]string{}, e.names...), e.blob) {
		if p == "" {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("cache prune: %w", err)
		}
	}
	return nil
}

func listDownloads(dir string) ([]Entry, error) {
	blobs, err := readBlobs(filepath.Join(dir, "sha256"), KindDownload)
	if err != nil {
		return nil, err
	}
	urls, err := readDir(filepath.Join(dir, "urls"))
	if err != nil {
		return nil, err
	}
	for _, u := range urls {
		if !u.Type().IsRegular() || strings.HasPrefix(u.Name(), ".") {
			continue
		}
		p := filepath.Join(dir, "urls", u.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		hex := strings.TrimPrefix(strings.TrimSpace(string(b)), "sha256:")
		e, ok := blobs[hex]
		if !ok {
			continue // names a missing blob: a miss for rtbuild, not an entry
		}
		e.URLs++
		e.names = append(e.names, p)
		touch(e, u)
	}
	return values(blobs), nil
}

func listLayers(dir string) ([]Entry, error) {
	blobs, err := readBlobs(filepath.Join(dir, "blobs", "sha256"), KindLayer)
	if err != nil {
		return nil, err
	}
	keys, err := readDir(filepath.Join(dir, "keys"))
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		key, ok := strings.CutSuffix(k.Name(), ".json")
		key = strings.TrimSuffix(key, "+zstd") // the zstd layer of the key
		if !ok || !k.Type().IsRegular() || !isHex64(key) {
			continue
		}
		p := filepath.Join(dir, "keys", k.Name())
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var rec struct {
			Digest string `json:"digest"`
		}
		if json.Unmarshal(b, &rec) != nil {
			continue
		}
		e, ok := blobs[strings.TrimPrefix(rec.Digest, "sha256:")]
		if !ok {
			continue // names a missing blob: rtbuild discards it on use
		}
		e.Keys = append(e.Keys, key)
		e.names = append(e.names, p)
		touch(e, k)
	}
	return values(blobs), nil
}

// readBlobs returns the blobs in dir (files named by a sha256 hex) by hex.
func readBlobs(dir, kind string) (map[string]*Entry, error) {
	des, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[string]*Entry{}
	for _, d := range des {
		if !d.Type().IsRegular() || !isHex64(d.Name()) {
			continue
		}
		fi, err := d.Info()
		if err != nil {
			continue // removed meanwhile
		}
		out[d.Name()] = &Entry{
			Kind: kind, Digest: "sha256:" + d.Name(), Size: fi.Size(), LastUsed: fi.ModTime().UTC(),
			blob: filepath.Join(dir, d.Name()),
		}
	}
	return out, nil
}

func readDir(dir string) ([]fs.DirEntry, error) {
	des, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	return des, nil
}

// touch moves e's last use up to d's modification time if newer.
func touch(e *Entry, d fs.DirEntry) {
	if fi, err := d.Info(); err == nil && fi.ModTime().After(e.LastUsed) {
		e.LastUsed = fi.ModTime().UTC()
	}
}

func values(m map[string]*Entry) []Entry {
	out := make([]Entry, 0, len(m))
	for _, e := range m {
		sort.Strings(e.Keys)
		out = append(out, *e)
	}
	return out
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// ParseSize parses a storage size: a number of bytes with an optional
// unit, B, KB/MB/GB/TB (powers of 1000) or K/M/G/T, KiB/MiB/GiB/TiB
// (powers of 1024), case-insensitive: "500MB", "10GiB", "2g", "0".
func ParseSize(s string) (int64, error) {
	orig := strings.TrimSpace(s)
	t := strings.ToLower(orig)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.TrimSpace(t[i:])
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || f < 0 {
		return 0, fmt.Errorf("invalid size %q: use a number of bytes with an optional unit (500MB, 10GiB, 2G)", s)
	}
	mult := map[string]float64{
		"": 1, "b": 1,
		"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12,
		"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
		"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
	}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit %q (use B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)", s, strings.TrimSpace(orig[i:]))
	}
	return int64(f * mult), nil
}

// ParseAge parses a duration as time.ParseDuration does, also accepting
// whole days ("7d") and days with a rest ("1d12h").
func ParseAge(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	var days time.Duration
	if i := strings.IndexByte(t, 'd'); i > 0 {
		n, err := strconv.Atoi(t[:i])
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 72h, 7d or 1d12h", s)
		}
		days, t = time.Duration(n)*24*time.Hour, t[i+1:]
	}
	var rest time.Duration
	if t != "" {
		d, err := time.ParseDuration(t)
		if err != nil {
			return 0, fmt.Errorf("invalid duration %q: use e.g. 72h, 7d or 1d12h", s)
		}
		rest = d
	}
	d := days + rest
	if d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: must be positive", s)
	}
	return d, nil
}

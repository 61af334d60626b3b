// Package checksums pins a download from the checksum file its publisher
// ships beside it: sha256sum-style lists ("<hex>  <file>", "<hex> *<file>",
// as in SHASUMS256.txt), BSD-style lines ("SHA256 (file) = <hex>") and .NET
// release metadata (a channel's releases.json, whose runtime and SDK files
// carry a sha512 hex "hash"). The digest always comes from the publisher's
// file; the download is verified against it before its sha256 is pinned.
package checksums

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// Entry is one file a checksum file lists.
type Entry struct {
	// File is the name as listed (may hold a directory: "win-x64/node.exe");
	// for .NET metadata, the file's name ("dotnet-runtime-linux-x64.tar.gz").
	File string
	// URL is the file's download URL when the checksum file states it (.NET).
	URL string
	// Digest is "sha256:<hex>", "sha512:<hex>" or "sha1:<hex>".
	Digest string
	// Version is the release the file belongs to, when stated (.NET).
	Version string
}

// Lookup fetches the checksum file at sumsURL, finds url in it (by file name
// for text lists, by URL for .NET metadata), downloads url, verifies it
// against the listed digest and returns it pinned. A mismatch is a
// *resolve.MismatchError.
func Lookup(ctx context.Context, o resolve.Options, sumsURL, url string) (resolve.Artifact, error) {
	data, err := o.Get(ctx, sumsURL)
	if err != nil {
		return resolve.Artifact{}, fmt.Errorf("checksums for %s: %w", url, err)
	}
	entries, err := Parse(data)
	if err != nil {
		return resolve.Artifact{}, fmt.Errorf("checksums for %s: %s: %w", url, sumsURL, err)
	}
	e, err := find(entries, url)
	if err != nil {
		return resolve.Artifact{}, fmt.Errorf("checksums: %s in %s: %w", url, sumsURL, err)
	}
	sum, err := o.Pin(ctx, url, e.Digest)
	if err != nil {
		return resolve.Artifact{}, fmt.Errorf("checksums: pinning %s against %s: %w", url, sumsURL, err)
	}
	return resolve.Artifact{
		Name:    path.Base(e.File),
		Version: e.Version,
		URL:     url,
		SHA256:  sum,
		Digest:  e.Digest,
	}, nil
}

// find returns the entry for url: an entry stating url itself, else the one
// whose listed name is url's path suffix (the longest such, so
// "win-x64/node.exe" beats "node.exe"), or the .NET entry whose URL has
// the same file name.
func find(entries []Entry, rawURL string) (Entry, error) {
	for _, e := range entries {
		if e.URL != "" && e.URL == rawURL {
			return e, nil
		}
	}
	p := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Path != "" {
		p = u.Path
	}
	base := path.Base(p)
	var best *Entry
	ambiguous := false
	for i := range entries {
		e := &entries[i]
		if e.URL != "" {
			// A .NET entry also matches a URL of the same file name on
			// another host of the same feed (builds.dotnet.microsoft.com
			// serves what releases.json lists under download URLs).
			if u, err := url.Parse(e.URL); err == nil && path.Base(u.Path) == base {
				if best != nil && best.Digest != e.Digest {
					ambiguous = true
				}
				best = e
			}
			continue
		}
		name := strings.TrimPrefix(e.File, "./")
		if path.Base(name) != base || !strings.HasSuffix("/"+strings.TrimPrefix(p, "/"), "/"+name) {
			continue
		}
		switch {
		case best == nil || len(name) > len(strings.TrimPrefix(best.File, "./")):
			best, ambiguous = e, false
		case len(name) == len(strings.TrimPrefix(best.File, "./")) && e.Digest != best.Digest:
			ambiguous = true
		}
	}
	switch {
	case best == nil:
		return Entry{}, fmt.Errorf("not listed (looked for %q among %d entries)", base, len(entries))
	case ambiguous:
		return Entry{}, fmt.Errorf("%q is listed more than once with different digests", best.File)
	}
	return *best, nil
}

// Parse reads a checksum file: .NET release metadata (JSON) or a text list
// in sha256sum or BSD style. Blank lines, comments ("#") and PGP armour
// around a clearsigned list are skipped; other unparsable lines are errors.
func Parse(data []byte) ([]Entry, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return parseDotnet(trimmed)
	}
	return parseText(data)
}

var (
	bsdLine = regexp.MustCompile(`^(SHA1|SHA256|SHA512|SHA-1|SHA-256|SHA-512) ?\((.+)\) ?= ?([0-9A-Fa-f]+)$`)
	hexOnly = regexp.MustCompile(`^[0-9A-Fa-f]+$`)
)

func parseText(data []byte) ([]Entry, error) {
	var out []Entry
	inSig := false
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		t := strings.TrimSpace(line)
		switch {
		case t == "" || strings.HasPrefix(t, "#"):
			continue
		case strings.HasPrefix(t, "-----BEGIN PGP SIGNED MESSAGE"):
			continue
		case strings.HasPrefix(t, "-----BEGIN PGP SIGNATURE"):
			inSig = true
			continue
		case strings.HasPrefix(t, "-----END PGP SIGNATURE"):
			inSig = false
			continue
		case inSig || strings.HasPrefix(t, "Hash: "):
			continue
		}
		if m := bsdLine.FindStringSubmatch(t); m != nil {
			algo := strings.ToLower(strings.ReplaceAll(m[1], "-", ""))
			d, err := digest(algo, m[3])
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", n+1, err)
			}
			out = append(out, Entry{File: m[2], Digest: d})
			continue
		}
		// sha256sum: "<hex>  <file>" (text) or "<hex> *<file>" (binary); a
		// leading backslash marks an escaped file name.
		t = strings.TrimPrefix(t, `\`)
		sum, file, ok := strings.Cut(t, " ")
		file = strings.TrimPrefix(strings.TrimPrefix(file, " "), "*")
		if !ok || file == "" || !hexOnly.MatchString(sum) {
			return nil, fmt.Errorf("line %d: want \"<hex>  <file>\" or \"SHA256 (file) = <hex>\", got %q", n+1, line)
		}
		d, err := digest("", sum)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		out = append(out, Entry{File: file, Digest: d})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no checksums found")
	}
	return out, nil
}

// digest names hex by algo, or by its length when algo is empty.
func digest(algo, hexSum string) (string, error) {
	hexSum = strings.ToLower(hexSum)
	if algo == "" {
		switch len(hexSum) {
		case 40:
			algo = "sha1"
		case 64:
			algo = "sha256"
		case 128:
			algo = "sha512"
		default:
			return "", fmt.Errorf("checksum %q: %d hex digits is no sha1, sha256 or sha512", hexSum, len(hexSum))
		}
	}
	d := algo + ":" + hexSum
	if _, err := resolve.ParseDigest(d); err != nil {
		return "", err
	}
	return d, nil
}

// dotnetFile is a file of .NET release metadata.
type dotnetFile struct {
	Name string `json:"name"`
	RID  string `json:"rid"`
	URL  string `json:"url"`
	Hash string `json:"hash"` // sha512, hex
}

type dotnetProduct struct {
	Version string       `json:"version"`
	Files   []dotnetFile `json:"files"`
}

// parseDotnet reads a channel's releases.json (releases[] with runtime, sdk,
// sdks[], aspnetcore-runtime, windowsdesktop ... each holding files[]) or a
// single release object of the same shape.
func parseDotnet(data []byte) ([]Entry, error) {
	var doc struct {
		Releases []map[string]json.RawMessage `json:"releases"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding .NET release metadata: %w", err)
	}
	if doc.Releases == nil {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(data, &one); err != nil {
			return nil, fmt.Errorf("decoding .NET release metadata: %w", err)
		}
		doc.Releases = append(doc.Releases, one)
	}
	var out []Entry
	add := func(p dotnetProduct, fallback string) error {
		v := p.Version
		if v == "" {
			v = fallback
		}
		for _, f := range p.Files {
			if f.URL == "" || f.Hash == "" {
				continue
			}
			d, err := digest("sha512", f.Hash)
			if err != nil {
				return fmt.Errorf("%s: %w", f.URL, err)
			}
			out = append(out, Entry{File: f.Name, URL: f.URL, Digest: d, Version: v})
		}
		return nil
	}
	for _, rel := range doc.Releases {
		var relVersion string
		_ = json.Unmarshal(rel["release-version"], &relVersion)
		keys := make([]string, 0, len(rel))
		for k := range rel {
			keys = append(keys, k)
		}
		sort.Strings(keys) // deterministic: "runtime" before "sdk" before "sdks"
		for _, key := range keys {
			raw := bytes.TrimSpace(rel[key])
			if len(raw) == 0 {
				continue
			}
			switch raw[0] {
			case '{':
				var p dotnetProduct
				if json.Unmarshal(raw, &p) == nil {
					if err := add(p, relVersion); err != nil {
						return nil, err
					}
				}
			case '[':
				var ps []dotnetProduct
				if json.Unmarshal(raw, &ps) == nil {
					for _, p := range ps {
						if err := add(p, relVersion); err != nil {
							return nil, fmt.Errorf("%s: %w", key, err)
						}
					}
				}
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no files with a hash in .NET release metadata")
	}
	return out, nil
}

package rpm

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/ulikunitz/xz"
)

// maxPrimaryBytes bounds a decompressed primary.xml.
const maxPrimaryBytes = 2 << 30

// repomd.xml
type repomd struct {
	Data []struct {
		Type         string      `xml:"type,attr"`
		Checksum     xmlChecksum `xml:"checksum"`
		OpenChecksum xmlChecksum `xml:"open-checksum"`
		Location     xmlLocation `xml:"location"`
	} `xml:"data"`
}

type xmlChecksum struct {
	Type  string `xml:"type,attr"`
	Value string `xml:",chardata"`
}

type xmlLocation struct {
	Href string `xml:"href,attr"`
	Base string `xml:"http://www.w3.org/XML/1998/namespace base,attr"`
}

// primary.xml's <package>.
type xmlPackage struct {
	Type    string `xml:"type,attr"`
	Name    string `xml:"name"`
	Arch    string `xml:"arch"`
	Version struct {
		Epoch string `xml:"epoch,attr"`
		Ver   string `xml:"ver,attr"`
		Rel   string `xml:"rel,attr"`
	} `xml:"version"`
	Checksum xmlChecksum `xml:"checksum"`
	Location xmlLocation `xml:"location"`
	Format   struct {
		Provides []xmlEntry `xml:"provides>entry"`
		Requires []xmlEntry `xml:"requires>entry"`
		Files    []string   `xml:"file"`
	} `xml:"format"`
}

type xmlEntry struct {
	Name  string `xml:"name,attr"`
	Flags string `xml:"flags,attr"`
	Epoch string `xml:"epoch,attr"`
	Ver   string `xml:"ver,attr"`
	Rel   string `xml:"rel,attr"`
	Pre   string `xml:"pre,attr"`
}

// dep is one provides or requires entry.
type dep struct {
	name  string
	flags int
	evr   EVR
}

func (d dep) String() string {
	if d.flags&senseMask == 0 || d.evr.Version == "" {
		return d.name
	}
	return d.name + " " + flagsString(d.flags) + " " + d.evr.String()
}

// pkg is one package of the repository for the chosen arch (or noarch).
type pkg struct {
	name, arch string
	evr        EVR
	url        string
	sumType    string
	sum        string
	provides   []dep
	requires   []dep
	files      []string
}

func (p *pkg) String() string { return p.name + " " + p.evr.String() }

// provide reports whether p satisfies d: by a provides entry whose range
// overlaps d's, its own name and EVR, or (for a path) a file it holds.
func (p *pkg) provide(d dep) bool {
	if p.name == d.name && overlap(p.evr, senseEqual, d.evr, d.flags) {
		return true
	}
	for _, pr := range p.provides {
		if pr.name == d.name && overlap(pr.evr, pr.flags, d.evr, d.flags) {
			return true
		}
	}
	if strings.HasPrefix(d.name, "/") {
		for _, f := range p.files {
			if f == d.name {
				return true
			}
		}
	}
	return false
}

// repo is one repository's primary metadata for one arch.
type repo struct {
	url       string // as the caller gave it, for messages
	byName    map[string][]*pkg
	provides  map[string][]*pkg // provide name or file path -> packages
	otherArch map[string][]string
}

// baseURL returns the repository's base URL: repo itself, or the first
// URL line of a mirror list.
func baseURL(ctx context.Context, o resolve.Options, repoURL string) (string, error) {
	if !strings.HasSuffix(repoURL, "mirror.list") {
		return strings.TrimSuffix(repoURL, "/"), nil
	}
	b, err := o.Get(ctx, repoURL)
	if err != nil {
		return "", fmt.Errorf("reading the mirror list: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !strings.Contains(line, "://") {
			return "", fmt.Errorf("mirror list %s: first line %q is not a URL", repoURL, line)
		}
		return strings.TrimSuffix(line, "/"), nil
	}
	return "", fmt.Errorf("mirror list %s names no repository", repoURL)
}

// loadRepo fetches repomd.xml and the primary metadata it points to,
// verifies the primary's checksums and indexes the packages for arch.
func loadRepo(ctx context.Context, o resolve.Options, repoURL, arch string) (*repo, error) {
	base, err := baseURL(ctx, o, repoURL)
	if err != nil {
		return nil, err
	}
	mdURL := base + "/repodata/repomd.xml"
	b, err := o.Get(ctx, mdURL)
	if err != nil {
		return nil, err
	}
	var md repomd
	if err := xml.Unmarshal(b, &md); err != nil {
		return nil, fmt.Errorf("%s: %w", mdURL, err)
	}
	i := -1
	for j, d := range md.Data {
		if d.Type == "primary" {
			i = j
			break
		}
	}
	if i < 0 || md.Data[i].Location.Href == "" {
		return nil, fmt.Errorf("%s: no primary metadata listed", mdURL)
	}
	d := md.Data[i]
	if d.Checksum.Value == "" && d.OpenChecksum.Value == "" {
		return nil, fmt.Errorf("%s: the primary metadata has no checksum", mdURL)
	}
	primURL := joinURL(base, d.Location)
	raw, err := o.Get(ctx, primURL)
	if err != nil {
		return nil, err
	}
	if d.Checksum.Value != "" {
		if err := checkDigest(raw, d.Checksum, primURL); err != nil {
			return nil, err
		}
	}
	zr, closeZ, err := openCompressed(primURL, raw)
	if err != nil {
		return nil, err
	}
	defer closeZ()
	var open *resolve.Digester
	r := io.LimitReader(zr, maxPrimaryBytes)
	if d.OpenChecksum.Value != "" {
		open, err = resolve.ParseDigest(digestString(d.OpenChecksum))
		if err != nil {
			return nil, fmt.Errorf("%s: open-checksum: %w", mdURL, err)
		}
		r = io.TeeReader(r, open)
	}
	rp := &repo{url: repoURL, byName: map[string][]*pkg{}, provides: map[string][]*pkg{}, otherArch: map[string][]string{}}
	if err := rp.parse(r, base, arch); err != nil {
		return nil, fmt.Errorf("%s: %w", primURL, err)
	}
	if open != nil {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, fmt.Errorf("%s: %w", primURL, err)
		}
		if err := open.Check(primURL + " (decompressed)"); err != nil {
			return nil, err
		}
	}
	return rp, nil
}

// joinURL resolves a location against the repository base (or its own xml:base).
func joinURL(base string, l xmlLocation) string {
	if l.Base != "" {
		base = strings.TrimSuffix(l.Base, "/")
	}
	return base + "/" + strings.TrimPrefix(l.Href, "/")
}

// digestString turns a repodata checksum into resolve's digest form.
func digestString(c xmlChecksum) string {
	t := strings.ToLower(c.Type)
	if t == "sha" {
		t = "sha1"
	}
	return t + ":" + strings.TrimSpace(c.Value)
}

func checkDigest(b []byte, c xmlChecksum, url string) error {
	g, err := resolve.ParseDigest(digestString(c))
	if err != nil {
		return fmt.Errorf("%s: %w", url, err)
	}
	g.Write(b)
	return g.Check(url)
}

// openCompressed opens metadata by its file name's compression suffix.
func openCompressed(url string, b []byte) (io.Reader, func(), error) {
	nop := func() {}
	r := bytes.NewReader(b)
	var (
		zr  io.Reader
		err error
	)
	switch {
	case strings.HasSuffix(url, ".gz"):
		zr, err = gzip.NewReader(r)
	case strings.HasSuffix(url, ".xz"):
		zr, err = xz.NewReader(r)
	case strings.HasSuffix(url, ".zst"), strings.HasSuffix(url, ".zstd"):
		var d *zstd.Decoder
		d, err = zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err == nil {
			return d, d.Close, nil
		}
	case strings.HasSuffix(url, ".bz2"):
		zr = bzip2.NewReader(r)
	case strings.HasSuffix(url, ".xml"):
		zr = r
	default:
		return nil, nop, fmt.Errorf("%s: unknown metadata compression (want .gz, .xz, .zst, .bz2 or .xml)", url)
	}
	if err != nil {
		return nil, nop, fmt.Errorf("%s: %w", url, err)
	}
	return zr, nop, nil
}

// parse reads primary.xml, keeping rpm packages of arch and noarch.
func (rp *repo) parse(r io.Reader, base, arch string) error {
	dec := xml.NewDecoder(r)
	n := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("parsing primary metadata: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Local != "package" {
			continue
		}
		var xp xmlPackage
		if err := dec.DecodeElement(&xp, &se); err != nil {
			return fmt.Errorf("parsing primary metadata (package %d): %w", n+1, err)
		}
		n++
		if xp.Type != "" && xp.Type != "rpm" {
			continue
		}
		if xp.Arch != arch && xp.Arch != "noarch" {
			if xp.Arch != "src" && xp.Arch != "nosrc" {
				rp.otherArch[xp.Name] = append(rp.otherArch[xp.Name], xp.Arch)
			}
			continue
		}
		p := &pkg{
			name:    xp.Name,
			arch:    xp.Arch,
			evr:     EVR{Epoch: xp.Version.Epoch, Version: xp.Version.Ver, Release: xp.Version.Rel},
			url:     joinURL(base, xp.Location),
			sumType: strings.ToLower(xp.Checksum.Type),
			sum:     strings.ToLower(strings.TrimSpace(xp.Checksum.Value)),
			files:   xp.Format.Files,
		}
		if p.name == "" || xp.Location.Href == "" {
			return fmt.Errorf("package %d has no name or location", n)
		}
		for _, e := range xp.Format.Provides {
			p.provides = append(p.provides, xmlDep(e))
		}
		for _, e := range xp.Format.Requires {
			p.requires = append(p.requires, xmlDep(e))
		}
		rp.byName[p.name] = append(rp.byName[p.name], p)
		seen := map[string]bool{p.name: true}
		rp.provides[p.name] = append(rp.provides[p.name], p)
		for _, d := range p.provides {
			if !seen[d.name] {
				seen[d.name] = true
				rp.provides[d.name] = append(rp.provides[d.name], p)
			}
		}
		for _, f := range p.files {
			if !seen[f] {
				seen[f] = true
				rp.provides[f] = append(rp.provides[f], p)
			}
		}
	}
	if n == 0 {
		return errors.New("no packages in the primary metadata")
	}
	return nil
}

func xmlDep(e xmlEntry) dep {
	return dep{name: e.Name, flags: parseFlags(e.Flags), evr: EVR{Epoch: e.Epoch, Version: e.Ver, Release: e.Rel}}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

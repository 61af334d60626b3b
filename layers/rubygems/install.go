package rubygems

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/gzip"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

// Limits on what a .gem's small members expand to.
const (
	maxMetadata  = 64 << 20 // metadata.gz, decompressed
	maxChecksums = 1 << 20  // checksums.yaml.gz, decompressed
)

// Install installs the .gem at gemPath (downloaded from artifactURL, which
// names it in messages) into the GEM_HOME gemHome (an absolute directory
// in the image, "/var/runtime") through w, as `gem install` lays it out:
//
//	gems/NAME-VERSION/...             the files of the gem's data.tar.gz
//	specifications/NAME-VERSION.gemspec  a Ruby gemspec made from metadata.gz
//	bin/EXECUTABLE                    a bin stub (0755) per executable
//
// (NAME-VERSION-PLATFORM for a gem of another platform than "ruby"). The
// gem's checksums.yaml.gz, when present, is verified first (its SHA256 and
// SHA512 of metadata.gz and data.tar.gz): a mismatch is a
// *resolve.MismatchError for artifactURL#member and nothing is written. A
// gem with native extensions to compile is refused. The files go through
// w.AddArchive (format gem: unpack's path rules and decompression-bomb
// limits), the gemspec and bin stubs through w.AddEntry.
func Install(w *unpack.Writer, gemPath, artifactURL, gemHome string) error {
	if artifactURL == "" {
		artifactURL = gemPath
	}
	fail := func(err error) error { return fmt.Errorf("rubygems: installing %s: %w", artifactURL, err) }
	if !strings.HasPrefix(gemHome, "/") || strings.Contains("/"+gemHome+"/", "/../") {
		return fail(fmt.Errorf("GEM_HOME %q must be an absolute directory in the image", gemHome))
	}
	gemHome = path.Clean(gemHome)

	g, err := readGem(gemPath, artifactURL)
	if err != nil {
		var me *resolve.MismatchError
		if errors.As(err, &me) {
			return fail(fmt.Errorf("the gem does not match its checksums.yaml.gz: %w", err))
		}
		return fail(err)
	}
	spec, err := parseSpec(g.metadata)
	if err != nil {
		return fail(fmt.Errorf("metadata.gz: %w", err))
	}
	if err := spec.check(artifactURL); err != nil {
		return fail(err)
	}
	full := spec.fullName()
	if err := w.AddArchive(gemPath, unpack.Options{Format: unpack.FormatGem, Dest: gemHome + "/gems/" + full, Name: artifactURL}); err != nil {
		return err
	}
	gemspec := spec.ruby()
	if err := w.AddEntry(artifactURL, unpack.Entry{
		Path: gemHome + "/specifications/" + full + ".gemspec", Type: tar.TypeReg, Mode: 0o644,
		Size: int64(len(gemspec)), Body: strings.NewReader(gemspec),
	}); err != nil {
		return err
	}
	for _, exe := range spec.Executables {
		stub := binStub(spec.Name, exe)
		if err := w.AddEntry(artifactURL, unpack.Entry{
			Path: gemHome + "/bin/" + exe, Type: tar.TypeReg, Mode: 0o755,
			Size: int64(len(stub)), Body: strings.NewReader(stub),
		}); err != nil {
			return err
		}
	}
	return nil
}

// gemFile is what Install reads of a .gem before writing anything.
type gemFile struct {
	metadata []byte // metadata.gz, decompressed
}

// readGem reads the outer tar of a .gem: metadata.gz (decompressed),
// checksums.yaml.gz, and the digests of metadata.gz and data.tar.gz, which
// it checks against the checksums.
func readGem(gemPath, artifactURL string) (*gemFile, error) {
	f, err := os.Open(gemPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	sums := map[string]map[string]string{} // member -> algorithm -> hex
	seen := map[string]bool{}
	var metaGz, checksumsGz []byte
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("not a gem (a tar of metadata.gz, data.tar.gz, checksums.yaml.gz): %w", err)
		}
		name := path.Clean(hdr.Name)
		switch name {
		case "metadata.gz", "data.tar.gz", "checksums.yaml.gz":
		default:
			continue // signatures (*.sig) and the like
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s in the gem is not a regular file", name)
		}
		if seen[name] {
			return nil, fmt.Errorf("%s is twice in the gem", name)
		}
		seen[name] = true
		h256, h512 := sha256.New(), sha512.New()
		var keep bytes.Buffer
		dst := io.MultiWriter(h256, h512)
		if name != "data.tar.gz" {
			if hdr.Size > maxMetadata {
				return nil, fmt.Errorf("%s is %d bytes: too large", name, hdr.Size)
			}
			dst = io.MultiWriter(h256, h512, &keep)
		}
		if _, err := io.Copy(dst, tr); err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		sums[name] = map[string]string{"SHA256": hex.EncodeToString(h256.Sum(nil)), "SHA512": hex.EncodeToString(h512.Sum(nil))}
		switch name {
		case "metadata.gz":
			metaGz = keep.Bytes()
		case "checksums.yaml.gz":
			checksumsGz = keep.Bytes()
		}
	}
	for _, m := range []string{"metadata.gz", "data.tar.gz"} {
		if !seen[m] {
			return nil, fmt.Errorf("not a gem: no %s in it", m)
		}
	}
	if checksumsGz != nil {
		b, err := gunzip(checksumsGz, maxChecksums)
		if err != nil {
			return nil, fmt.Errorf("checksums.yaml.gz: %w", err)
		}
		var stated map[string]map[string]string
		if err := yaml.Unmarshal(b, &stated); err != nil {
			return nil, fmt.Errorf("checksums.yaml.gz: %w", err)
		}
		for _, algo := range []string{"SHA256", "SHA512"} {
			for _, m := range []string{"metadata.gz", "data.tar.gz"} {
				want, ok := stated[algo][m]
				if !ok {
					continue
				}
				if got := sums[m][algo]; !strings.EqualFold(strings.TrimSpace(want), got) {
					a := strings.ToLower(algo)
					return nil, &resolve.MismatchError{URL: artifactURL + "#" + m, Want: a + ":" + want, Got: a + ":" + got}
				}
			}
		}
	}
	meta, err := gunzip(metaGz, maxMetadata)
	if err != nil {
		return nil, fmt.Errorf("metadata.gz: %w", err)
	}
	return &gemFile{metadata: meta}, nil
}

// gunzip decompresses b, refusing more than limit bytes.
func gunzip(b []byte, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(out)) > limit {
		return nil, fmt.Errorf("expands to more than %d bytes", limit)
	}
	return out, nil
}

// spec is the part of a gem's Gem::Specification that Install uses.
type spec struct {
	Name                    string            `yaml:"name"`
	Version                 versionNode       `yaml:"version"`
	Platform                string            `yaml:"platform"`
	Authors                 stringList        `yaml:"authors"`
	Bindir                  string            `yaml:"bindir"`
	Date                    string            `yaml:"date"`
	Dependencies            []dependency      `yaml:"dependencies"`
	Description             string            `yaml:"description"`
	Executables             []string          `yaml:"executables"`
	Extensions              []string          `yaml:"extensions"`
	Files                   []string          `yaml:"files"`
	Homepage                string            `yaml:"homepage"`
	Licenses                stringList        `yaml:"licenses"`
	Metadata                map[string]string `yaml:"metadata"`
	RequirePaths            []string          `yaml:"require_paths"`
	RequiredRubyVersion     requirementNode   `yaml:"required_ruby_version"`
	RequiredRubygemsVersion requirementNode   `yaml:"required_rubygems_version"`
	RubygemsVersion         string            `yaml:"rubygems_version"`
	SpecificationVersion    int               `yaml:"specification_version"`
	Summary                 string            `yaml:"summary"`

	version Version
}

// versionNode is a !ruby/object:Gem::Version ("version: 1.2.3" inside) or
// a plain scalar.
type versionNode struct{ s string }

func (v *versionNode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		v.s = n.Value
		return nil
	}
	var m struct {
		Version string `yaml:"version"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	v.s = m.Version
	return nil
}

// requirementNode is a !ruby/object:Gem::Requirement: a list of
// [operator, !ruby/object:Gem::Version] pairs.
type requirementNode struct{ r Requirement }

func (r *requirementNode) UnmarshalYAML(n *yaml.Node) error {
	var m struct {
		Requirements [][]yaml.Node `yaml:"requirements"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for _, pair := range m.Requirements {
		if len(pair) != 2 || pair[0].Kind != yaml.ScalarNode {
			return fmt.Errorf("line %d: a requirement is not an [operator, version] pair", n.Line)
		}
		var v versionNode
		if err := v.UnmarshalYAML(&pair[1]); err != nil {
			return err
		}
		c, err := ParseRequirement(pair[0].Value + " " + v.s)
		if err != nil || len(c) != 1 {
			return fmt.Errorf("line %d: requirement %q %q: %v", n.Line, pair[0].Value, v.s, err)
		}
		r.r = append(r.r, c...)
	}
	return nil
}

// dependency is a !ruby/object:Gem::Dependency.
type dependency struct {
	Name                string          `yaml:"name"`
	Requirement         requirementNode `yaml:"requirement"`
	VersionRequirements requirementNode `yaml:"version_requirements"` // what old gems have instead
	Type                string          `yaml:"type"`                 // ":runtime" or ":development"
}

func (d dependency) requirement() Requirement {
	if len(d.Requirement.r) > 0 {
		return d.Requirement.r
	}
	return d.VersionRequirements.r
}

func (d dependency) runtime() bool { return d.Type == "" || d.Type == ":runtime" }

// stringList is a list of strings, or one string.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "" && n.ShortTag() != "!!null" {
			*l = []string{n.Value}
		}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return err
	}
	*l = s
	return nil
}

// parseSpec decodes a gem's metadata: YAML of a Gem::Specification with
// !ruby/object tags (ignored: the fields say enough) and, in old gems,
// !binary (base64) strings.
func parseSpec(b []byte) (*spec, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if err := unbinary(&doc); err != nil {
		return nil, err
	}
	s := &spec{}
	if err := doc.Decode(s); err != nil {
		return nil, err
	}
	return s, nil
}

// unbinary decodes !binary scalars in place.
func unbinary(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && (n.Tag == "!binary" || n.ShortTag() == "!!binary") {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err != nil {
			return fmt.Errorf("line %d: !binary value: %w", n.Line, err)
		}
		n.Value, n.Tag, n.Style = string(b), "!!str", 0
	}
	for _, c := range n.Content {
		if err := unbinary(c); err != nil {
			return err
		}
	}
	return nil
}

// check validates what becomes paths and Ruby code, and fills defaults.
func (s *spec) check(artifactURL string) error {
	if !namePattern.MatchString(s.Name) {
		return fmt.Errorf("metadata.gz: gem name %q is not valid", s.Name)
	}
	v, err := ParseVersion(s.Version.s)
	if err != nil {
		return fmt.Errorf("metadata.gz: %s: %w", s.Name, err)
	}
	s.version = v
	if s.Platform == "" {
		s.Platform = Platform
	}
	if !namePattern.MatchString(s.Platform) {
		return fmt.Errorf("metadata.gz: %s: platform %q is not valid", s.Name, s.Platform)
	}
	if len(s.Extensions) > 0 {
		return fmt.Errorf("%s has native extensions to compile (%s): rtbuild compiles nothing; use a pure-Ruby gem or one built for the platform",
			s.fullName(), strings.Join(s.Extensions, ", "))
	}
	if u, err := url.Parse(artifactURL); err == nil {
		if base := path.Base(u.Path); strings.HasSuffix(base, ".gem") && base != s.fullName()+".gem" {
			return fmt.Errorf("the gem's metadata names %s, not %s", s.fullName(), strings.TrimSuffix(base, ".gem"))
		}
	}
	if s.Bindir == "" {
		s.Bindir = "bin"
	}
	if err := relPath(s.Bindir); err != nil {
		return fmt.Errorf("metadata.gz: bindir: %w", err)
	}
	if len(s.RequirePaths) == 0 {
		s.RequirePaths = []string{"lib"}
	}
	for _, p := range s.RequirePaths {
		if err := relPath(p); err != nil {
			return fmt.Errorf("metadata.gz: require_paths: %w", err)
		}
	}
	for _, e := range s.Executables {
		if e == "" || e == "." || e == ".." || strings.ContainsRune(e, '/') || hasControl(e) {
			return fmt.Errorf("metadata.gz: executable %q is not a file name", e)
		}
	}
	for _, d := range s.Dependencies {
		if !namePattern.MatchString(d.Name) {
			return fmt.Errorf("metadata.gz: dependency name %q is not valid", d.Name)
		}
	}
	return nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

// relPath accepts a clean relative path without "..".
func relPath(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || hasControl(p) {
		return fmt.Errorf("%q is not a relative path", p)
	}
	for _, c := range strings.Split(p, "/") {
		if c == ".." {
			return fmt.Errorf("%q leaves the gem's directory", p)
		}
	}
	return nil
}

// fullName is NAME-VERSION, or NAME-VERSION-PLATFORM for a platform gem.
func (s *spec) fullName() string {
	if s.Platform == Platform {
		return s.Name + "-" + s.version.String()
	}
	return s.Name + "-" + s.version.String() + "-" + s.Platform
}

// ruby writes the gemspec `gem install` writes in specifications/: its
// first two lines are the stub line RubyGems reads without evaluating the
// file (name, version, platform, require paths joined by NUL).
func (s *spec) ruby() string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	w("# -*- encoding: utf-8 -*-\n")
	w("# stub: %s %s %s %s\n", s.Name, s.version, s.Platform, strings.Join(s.RequirePaths, "\x00"))
	w("#\n# Generated by rtbuild from the gem's metadata.gz, as `gem install` writes it.\n\n")
	w("Gem::Specification.new do |s|\n")
	w("  s.name = %s.freeze\n", rubyString(s.Name))
	w("  s.version = %s\n", rubyString(s.version.String()))
	if s.Platform != Platform {
		w("  s.platform = %s.freeze\n", rubyString(s.Platform))
	}
	w("\n")
	if len(s.RequiredRubygemsVersion.r) > 0 {
		w("  s.required_rubygems_version = %s if s.respond_to? :required_rubygems_version=\n", rubyRequirement(s.RequiredRubygemsVersion.r))
	}
	if len(s.Metadata) > 0 {
		keys := make([]string, 0, len(s.Metadata))
		for k := range s.Metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var pairs []string
		for _, k := range keys {
			pairs = append(pairs, rubyString(k)+" => "+rubyString(s.Metadata[k]))
		}
		w("  s.metadata = { %s } if s.respond_to? :metadata=\n", strings.Join(pairs, ", "))
	}
	w("  s.require_paths = %s\n", rubyStrings(s.RequirePaths))
	if len(s.Authors) > 0 {
		w("  s.authors = %s\n", rubyStrings(s.Authors))
	}
	w("  s.bindir = %s.freeze\n", rubyString(s.Bindir))
	if len(s.Date) >= 10 && isDate(s.Date[:10]) {
		w("  s.date = %s\n", rubyString(s.Date[:10]))
	}
	if s.Description != "" {
		w("  s.description = %s.freeze\n", rubyString(s.Description))
	}
	if len(s.Executables) > 0 {
		w("  s.executables = %s\n", rubyStrings(s.Executables))
	}
	w("  s.files = %s\n", rubyStrings(s.Files))
	if s.Homepage != "" {
		w("  s.homepage = %s.freeze\n", rubyString(s.Homepage))
	}
	if len(s.Licenses) > 0 {
		w("  s.licenses = %s\n", rubyStrings(s.Licenses))
	}
	if len(s.RequiredRubyVersion.r) > 0 {
		w("  s.required_ruby_version = %s\n", rubyRequirement(s.RequiredRubyVersion.r))
	}
	if s.RubygemsVersion != "" {
		w("  s.rubygems_version = %s.freeze\n", rubyString(s.RubygemsVersion))
	}
	w("  s.summary = %s.freeze\n", rubyString(s.Summary))
	if s.SpecificationVersion > 0 {
		w("\n  s.specification_version = %d if s.respond_to? :specification_version\n", s.SpecificationVersion)
	}
	var deps []string
	for _, d := range s.Dependencies {
		if d.runtime() {
			deps = append(deps, fmt.Sprintf("  s.add_dependency(%s.freeze, %s)\n", rubyString(d.Name), rubyConstraints(d.requirement())))
		}
	}
	if len(deps) > 0 {
		w("\n%s", strings.Join(deps, ""))
	}
	w("end\n")
	return b.String()
}

func isDate(s string) bool {
	for i, c := range []byte(s) {
		if (i == 4 || i == 7) != (c == '-') || (c != '-' && (c < '0' || c > '9')) {
			return false
		}
	}
	return true
}

// rubyString is s as a double-quoted Ruby literal: no interpolation, no
// raw control characters.
func rubyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '\\' || r == '"' || r == '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02X`, r)
		case r == 0xFFFD:
			b.WriteString(`\u{FFFD}`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func rubyStrings(l []string) string {
	parts := make([]string, len(l))
	for i, s := range l {
		parts[i] = rubyString(s) + ".freeze"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// rubyConstraints is a requirement as add_dependency takes it: [">= 1.0".freeze].
func rubyConstraints(r Requirement) string {
	if len(r) == 0 {
		r = Requirement{{Op: ">=", Version: Version{s: "0"}}}
	}
	parts := make([]string, len(r))
	for i, c := range r {
		parts[i] = rubyString(c.String()) + ".freeze"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func rubyRequirement(r Requirement) string {
	return "Gem::Requirement.new(" + rubyConstraints(r) + ")"
}

// binStub is the script `gem install` puts in GEM_HOME/bin for a gem's
// executable: it activates the gem (a version may be given as the first
// argument, "_1.2.3_") and loads the executable from the gem's bindir.
func binStub(gem, exe string) string {
	g, e := rubyString(gem), rubyString(exe)
	return `#!/usr/bin/env ruby
#
# Generated by rtbuild, as RubyGems does: the executable ` + exe + ` of the
# gem ` + gem + `, run with that gem activated.

require 'rubygems'

version = ">= 0.a"

str = ARGV.first
if str
  str = str.b[/\A_(.*)_\z/, 1]
  if str and Gem::Version.correct?(str)
    version = str
    ARGV.shift
  end
end

if Gem.respond_to?(:activate_bin_path)
  load Gem.activate_bin_path(` + g + `, ` + e + `, version)
else
  gem ` + g + `, version
  load Gem.bin_path(` + g + `, ` + e + `, version)
end
`
}

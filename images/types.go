// Package images holds rtbuild's runtime catalog: the embedded catalog file,
// its Go types, overlay and validation, lookup, the deprecation policy, and
// what each runtime family's image contains (environment, entrypoint and
// bootstrap scripts).
package images

import (
	"fmt"
	"strings"
	"time"
)

// Arch is an architecture in Lambda's spelling: "x86_64" or "arm64".
type Arch string

// The architectures Lambda supports.
const (
	X86_64 Arch = "x86_64"
	Arm64  Arch = "arm64"
	// AnyArch keys a component source that is the same for every architecture.
	AnyArch Arch = "any"
)

// ParseArch accepts Lambda names (x86_64, arm64) and OCI/Go names (amd64,
// arm64, aarch64) and returns the Lambda name.
func ParseArch(s string) (Arch, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "x86_64", "amd64", "x86-64", "x64":
		return X86_64, nil
	case "arm64", "aarch64":
		return Arm64, nil
	}
	return "", fmt.Errorf("unknown architecture %q: use x86_64 (amd64) or arm64", s)
}

// OCI returns the architecture as an OCI platform spells it (amd64, arm64).
func (a Arch) OCI() string {
	switch a {
	case X86_64:
		return "amd64"
	case Arm64:
		return "arm64"
	}
	return string(a)
}

// Date is a calendar day (YYYY-MM-DD) in the catalog.
type Date struct{ time.Time }

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return Date{t}, nil
}

// String formats the date as YYYY-MM-DD.
func (d Date) String() string { return d.Format(time.DateOnly) }

// Catalog is the whole runtime catalog: bases, components and runtimes.
// Its YAML schema is documented in docs/catalog.md.
type Catalog struct {
	// Version names this catalog revision (e.g. "2026.11.27"); it is part of
	// `rtbuild version` and of image annotations.
	Version string `yaml:"version" json:"version"`
	// Bases are the operating system images runtimes build on, by key ("al1", "al2").
	Bases map[string]*Base `yaml:"bases" json:"bases"`
	// Components are the parts images are made of, by key ("nodejs14", "rie", ...).
	Components map[string]*Component `yaml:"components" json:"components"`
	// Runtimes are the rows of Lambda's runtime table, in the table's order.
	Runtimes []*Runtime `yaml:"runtimes" json:"runtimes"`

	// StaleLocks are the components whose lock entries no longer match them
	// (set by LoadWith; run `rtbuild lock` again).
	StaleLocks []string `yaml:"-" json:"-"`
}

// Base is an operating system base image.
type Base struct {
	// Name is the human name ("Amazon Linux 2").
	Name string `yaml:"name" json:"name"`
	// OS is the table's OS column ("Amazon Linux" or "Amazon Linux 2").
	OS string `yaml:"os" json:"os"`
	// Image is the upstream reference, pinned by digest where known:
	// "public.ecr.aws/amazonlinux/amazonlinux:2@sha256:...". It may also be
	// "oci:DIR[:REF]" (an OCI layout) or "docker:FILE" (a docker-archive tar).
	Image string `yaml:"image" json:"image"`
	// Architectures the base image is published for.
	Architectures []Arch `yaml:"architectures" json:"architectures"`
	// AMI and Kernel are the facts Lambda publishes about the execution environment.
	AMI    string `yaml:"ami,omitempty" json:"ami,omitempty"`
	Kernel string `yaml:"kernel,omitempty" json:"kernel,omitempty"`
}

// Deprecation holds the runtime support policy dates; nil means not scheduled.
type Deprecation struct {
	Phase1 *Date `yaml:"phase1" json:"phase1"`
	Phase2 *Date `yaml:"phase2" json:"phase2"`
}

// Runtime is one row of Lambda's runtime table and what its image is made of.
type Runtime struct {
	Identifier    string      `yaml:"identifier" json:"identifier"`
	Name          string      `yaml:"name" json:"name"`
	Family        string      `yaml:"family" json:"family"` // nodejs, python, ruby, java, go, dotnet, provided
	Base          string      `yaml:"base" json:"base"`     // key into Catalog.Bases
	Architectures []Arch      `yaml:"architectures" json:"architectures"`
	SDK           string      `yaml:"sdk" json:"sdk"` // the table's text, "" where none
	Deprecation   Deprecation `yaml:"deprecation" json:"deprecation"`
	// Alternative is the runtime to suggest when an architecture is not supported
	// (for AL1 runtimes: their AL2 sibling, or provided.al2).
	Alternative string `yaml:"alternative,omitempty" json:"alternative,omitempty"`
	// Env are the runtime's additions to the image contract's environment.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// Components are keys into Catalog.Components, in layer order (bottom first).
	Components []string `yaml:"components" json:"components"`
	// Notes say what is known to be missing or approximate in this runtime's
	// image (a toolchain not yet available, an unverified client); builders
	// show them when they build the runtime.
	Notes string `yaml:"notes,omitempty" json:"notes,omitempty"`
}

// Component kinds.
const (
	// KindArchive unpacks a downloaded tar, tar.gz, tar.xz or zip under Dest.
	KindArchive = "archive"
	// KindFile places one file at Path: downloaded (Sources), inline (Content)
	// or shipped inside rtbuild (Builtin).
	KindFile = "file"
)

// Component is one part of an image; it becomes exactly one layer.
type Component struct {
	Kind    string `yaml:"kind" json:"kind"`
	Version string `yaml:"version" json:"version"`
	// Description says what the component is, for people and the SBOM.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	License     string `yaml:"license,omitempty" json:"license,omitempty"`

	// Archive: destination directory (absolute), leading path components to
	// drop, an optional subdirectory of the (stripped) archive to take alone,
	// and the format: tar, tar.gz, tar.xz, zip, gem (a RubyGems .gem: its
	// data.tar.gz), raw (the artifact itself, placed as Dest/<URL basename>,
	// mode 0644); empty: detected from the URL.
	Dest   string `yaml:"dest,omitempty" json:"dest,omitempty"`
	Strip  int    `yaml:"strip,omitempty" json:"strip,omitempty"`
	Subdir string `yaml:"subdir,omitempty" json:"subdir,omitempty"`
	Format string `yaml:"format,omitempty" json:"format,omitempty"`

	// File: absolute path in the image and octal mode ("0755"; default "0644").
	Path string `yaml:"path,omitempty" json:"path,omitempty"`
	Mode string `yaml:"mode,omitempty" json:"mode,omitempty"`
	// Builtin names content shipped inside rtbuild ("entrypoint", "bootstrap");
	// it is rendered for the runtime being built (see Builtin).
	Builtin string `yaml:"builtin,omitempty" json:"builtin,omitempty"`
	// Content is inline file content.
	Content string `yaml:"content,omitempty" json:"content,omitempty"`

	// Sources say where the artifacts come from, per architecture; the key
	// "any" serves every architecture. An archive component may have several
	// artifacts (an SDK and its dependencies): they are unpacked in order
	// into the one layer. A file component has exactly one.
	Sources map[Arch][]*Source `yaml:"sources,omitempty" json:"sources,omitempty"`

	// Resolve says how `rtbuild lock` pins this component from its
	// publisher's metadata (see Resolve). For a package registry
	// (npm, pypi, rubygems, maven, nuget, rpm) the lock produces the
	// sources; for checksums and github-release it pins the listed ones.
	Resolve *Resolve `yaml:"resolve,omitempty" json:"resolve,omitempty"`
}

// Registries a component can be resolved from (Resolve.Registry).
const (
	RegistryNpm           = "npm"            // an npm registry: packages "name@range", a node_modules tree under Dest
	RegistryPyPI          = "pypi"           // a PyPI JSON API: PEP 508 requirements, wheels for Python and arch
	RegistryRubyGems      = "rubygems"       // a RubyGems API: "name=version" requirements, gems for Ruby
	RegistryMaven         = "maven"          // a Maven 2 repository: "group:artifact:version" with its pom's closure
	RegistryNuGet         = "nuget"          // a NuGet v3 source: "Id@version" for Framework
	RegistryRPM           = "rpm"            // a yum repository (repodata): package names for the arch
	RegistryChecksums     = "checksums"      // a publisher checksum file (SHASUMS256.txt, releases.json) pinning the sources
	RegistryGitHubRelease = "github-release" // a GitHub release's asset digests pinning the sources
)

// Registries lists the Resolve.Registry values.
var Registries = []string{RegistryNpm, RegistryPyPI, RegistryRubyGems, RegistryMaven, RegistryNuGet, RegistryRPM, RegistryChecksums, RegistryGitHubRelease}

// Resolve is where a component's artifacts and their digests come from, for
// `rtbuild lock`. Builds never resolve: they use the locked sources.
type Resolve struct {
	// Registry is one of Registries.
	Registry string `yaml:"registry" json:"registry"`
	// URL is the registry's root (npm, rubygems, maven), the PyPI JSON API
	// root (".../pypi"), the NuGet service index, the yum repository or its
	// mirror list ("$basearch" is replaced by x86_64 or aarch64), the
	// checksum file, or the GitHub API root.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// URLs replace URL for an arch whose repository or checksum file is
	// elsewhere.
	URLs map[Arch]string `yaml:"urls,omitempty" json:"urls,omitempty"`
	// Packages are what to install, in the registry's own syntax.
	Packages []string `yaml:"packages,omitempty" json:"packages,omitempty"`
	// Python ("3.9"), Ruby ("2.7.0") and Framework ("netstandard2.0") select
	// wheels, gems and NuGet dependency groups.
	Python    string `yaml:"python,omitempty" json:"python,omitempty"`
	Ruby      string `yaml:"ruby,omitempty" json:"ruby,omitempty"`
	Framework string `yaml:"framework,omitempty" json:"framework,omitempty"`
	// Exclude are RPM package names the base image already provides.
	Exclude []string `yaml:"exclude,omitempty" json:"exclude,omitempty"`
	// Repo ("owner/name") and Tag name a GitHub release.
	Repo string `yaml:"repo,omitempty" json:"repo,omitempty"`
	Tag  string `yaml:"tag,omitempty" json:"tag,omitempty"`
}

// URLFor is the URL to resolve from for arch.
func (r *Resolve) URLFor(arch Arch) string {
	if u, ok := r.URLs[arch]; ok {
		return u
	}
	return r.URL
}

// Produces says whether the lock produces the component's sources (a
// package registry) rather than pinning the listed ones.
func (r *Resolve) Produces() bool {
	if r == nil {
		return false
	}
	switch r.Registry {
	case RegistryChecksums, RegistryGitHubRelease:
		return false
	}
	return true
}

// Source is a downloadable artifact.
type Source struct {
	URL string `yaml:"url" json:"url"`
	// SHA256 is the artifact's hex digest; empty means not yet pinned.
	SHA256 string `yaml:"sha256,omitempty" json:"sha256,omitempty"`
	// Dest, for an archive component, installs this artifact there instead
	// of the component's Dest (an npm package's place in its tree).
	Dest string `yaml:"dest,omitempty" json:"dest,omitempty"`
	// Package ("name@version") and Digest (the publisher's own digest, e.g.
	// an npm SRI sha512) record what the lock resolved, for people, the SBOM
	// and the lock's verification.
	Package string `yaml:"package,omitempty" json:"package,omitempty"`
	Digest  string `yaml:"digest,omitempty" json:"digest,omitempty"`
}

package images

import (
	"fmt"
	"net/url"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Families are the runtime families rtbuild knows how to start.
var Families = []string{"nodejs", "python", "ruby", "java", "go", "dotnet", "provided"}

// Formats are the archive formats a component may name ("" = from the URL).
var Formats = []string{"tar", "tar.gz", "tar.xz", "zip", "gem", "raw", "wheel", "gem-install", "rpm"}

// Builtins are the names a file component's builtin may take.
var Builtins = []string{"entrypoint", "bootstrap"}

// ArchiveBuiltins are the names an archive component's builtin may take:
// file trees shipped inside rtbuild (see BuiltinArchive).
var ArchiveBuiltins = []string{"nodejs-ric"}

// MinPhase2Gap is the shortest time between the two deprecation phases
// (Lambda's runtime support policy: phase 2 at least 30 days after phase 1).
const MinPhase2Gap = 30 * 24 * time.Hour

// Error is a catalog problem: which file, which entry, which field, what.
type Error struct {
	File string // the catalog file the entry came from
	Line int    // 0 when not known (after merging)
	Kind string // "runtime", "component", "base", or "" for the top level
	Name string // the entry's identifier or key
	// Field is the path inside the entry: "base", "sources.arm64[0].sha256".
	Field string
	Msg   string
	More  int // further problems found after this one
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("catalog ")
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Kind != "" {
		fmt.Fprintf(&b, "%s %q: ", e.Kind, e.Name)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	if e.More > 0 {
		fmt.Fprintf(&b, " (and %d more problem%s)", e.More, plural(e.More))
	}
	return b.String()
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// problems collects validation errors in a stable order.
type problems struct {
	prov provenance
	list []*Error
}

func (p *problems) add(kind, name, field, format string, args ...any) {
	p.list = append(p.list, &Error{File: p.prov.file(kind, name, field), Kind: kind, Name: name,
		Field: field, Msg: fmt.Sprintf(format, args...)})
}

// addMissing reports a reference to an entry (refKind "component" or
// "base", named ref) that the merged catalog lacks. When a file deleted the
// entry, or cleared the whole mapping, that file is the one to look at, not
// the file of the entry that refers to it.
func (p *problems) addMissing(kind, name, field, refKind, ref, format string, args ...any) {
	p.add(kind, name, field, format, args...)
	if f, ok := p.prov.deletedBy(refKind, ref); ok {
		p.list[len(p.list)-1].File = f
	}
}

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	e := *p.list[0]
	e.More = len(p.list) - 1
	return &e
}

// Validate checks the whole catalog; see docs/catalog.md for the rules.
func (c *Catalog) Validate() error { return c.validate(provenance{}) }

func (c *Catalog) validate(prov provenance) error {
	p := &problems{prov: prov}
	if strings.TrimSpace(c.Version) == "" {
		p.add("", "", "version", "required")
	}
	if len(c.Runtimes) == 0 {
		p.add("", "", "runtimes", "required: at least one runtime")
	}
	for _, key := range sortedKeys(c.Bases) {
		c.validateBase(p, key, c.Bases[key])
	}
	for _, key := range sortedKeys(c.Components) {
		validateComponent(p, key, c.Components[key])
	}
	seen := map[string]bool{}
	for i, r := range c.Runtimes {
		if r == nil {
			p.add("", "", fmt.Sprintf("runtimes[%d]", i), "empty entry")
			continue
		}
		if r.Identifier != "" && seen[r.Identifier] {
			p.add("runtime", r.Identifier, "identifier", "duplicate identifier %q", r.Identifier)
			continue
		}
		seen[r.Identifier] = true
		c.validateRuntime(p, i, r)
	}
	return p.err()
}

func (c *Catalog) validateBase(p *problems, key string, b *Base) {
	if b == nil {
		p.add("base", key, "", "empty entry")
		return
	}
	for _, f := range []struct{ name, value string }{{"name", b.Name}, {"os", b.OS}, {"image", b.Image}} {
		if strings.TrimSpace(f.value) == "" {
			p.add("base", key, f.name, "required")
		}
	}
	if len(b.Architectures) == 0 {
		p.add("base", key, "architectures", "required: x86_64, arm64 or both")
	}
	checkArchList(p, "base", key, b.Architectures)
}

func checkArchList(p *problems, kind, name string, archs []Arch) {
	seen := map[Arch]bool{}
	for i, a := range archs {
		field := fmt.Sprintf("architectures[%d]", i)
		switch {
		case a != X86_64 && a != Arm64:
			p.add(kind, name, field, "unknown architecture %q: use x86_64 or arm64", a)
		case seen[a]:
			p.add(kind, name, field, "%s listed twice", a)
		}
		seen[a] = true
	}
}

var (
	hex64   = regexp.MustCompile(`^[0-9a-f]{64}$`)
	octal   = regexp.MustCompile(`^0?[0-7]{3,4}$`)
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

func validateComponent(p *problems, key string, c *Component) {
	const kind = "component"
	if c == nil {
		p.add(kind, key, "", "empty entry")
		return
	}
	if strings.TrimSpace(c.Version) == "" {
		p.add(kind, key, "version", "required")
	}
	if strings.TrimSpace(c.Description) == "" {
		p.add(kind, key, "description", "required: say what the component is and where it comes from")
	}
	for _, arch := range sortedKeys(c.Sources) {
		if arch != X86_64 && arch != Arm64 && arch != AnyArch {
			p.add(kind, key, "sources."+string(arch), "unknown architecture %q: use x86_64, arm64 or any", arch)
		}
		list := c.Sources[arch]
		if len(list) == 0 {
			p.add(kind, key, "sources."+string(arch), "empty list: give at least one url or delete the key")
		}
		seen := map[string]bool{}
		for i, s := range list {
			field := fmt.Sprintf("sources.%s[%d]", arch, i)
			if s == nil {
				p.add(kind, key, field, "empty entry")
				continue
			}
			checkSource(p, key, field, s, c)
			if seen[s.URL] {
				p.add(kind, key, field+".url", "%s listed twice", s.URL)
			}
			seen[s.URL] = true
		}
	}
	validateResolve(p, key, c)
	switch c.Kind {
	case KindArchive:
		checkAbs(p, key, "dest", c.Dest)
		if c.Strip < 0 {
			p.add(kind, key, "strip", "must not be negative")
		}
		if c.Subdir != "" && (path.IsAbs(c.Subdir) || path.Clean(c.Subdir) != c.Subdir || strings.HasPrefix(c.Subdir, "..")) {
			p.add(kind, key, "subdir", "%q must be a clean relative path inside the archive", c.Subdir)
		}
		if c.Format != "" && !slices.Contains(Formats, c.Format) {
			p.add(kind, key, "format", "unknown format %q (have %s)", c.Format, strings.Join(Formats, ", "))
		}
		switch {
		case len(c.Sources) == 0 && c.Builtin == "" && !c.Resolve.Produces():
			p.add(kind, key, "sources", "required for kind archive (or builtin, for trees shipped inside rtbuild, or resolve, for sources `rtbuild lock` produces)")
		case len(c.Sources) > 0 && c.Builtin != "":
			p.add(kind, key, "builtin", "an archive component takes sources or builtin, not both")
		case c.Builtin != "" && !slices.Contains(ArchiveBuiltins, c.Builtin):
			p.add(kind, key, "builtin", "unknown archive builtin %q (have %s)", c.Builtin, strings.Join(ArchiveBuiltins, ", "))
		}
		for _, f := range []struct{ name, value string }{{"path", c.Path}, {"mode", c.Mode}, {"content", c.Content}} {
			if f.value != "" {
				p.add(kind, key, f.name, "not used by kind archive (it is for kind file)")
			}
		}
	case KindFile:
		checkAbs(p, key, "path", c.Path)
		if c.Mode != "" && !octal.MatchString(c.Mode) {
			p.add(kind, key, "mode", "%q is not an octal file mode like \"0755\"", c.Mode)
		}
		n := 0
		for _, set := range []bool{len(c.Sources) > 0, c.Content != "", c.Builtin != ""} {
			if set {
				n++
			}
		}
		if n != 1 {
			p.add(kind, key, "sources", "a file component needs exactly one of sources, content or builtin")
		}
		if c.Builtin != "" && !slices.Contains(Builtins, c.Builtin) {
			p.add(kind, key, "builtin", "unknown builtin %q (have %s)", c.Builtin, strings.Join(Builtins, ", "))
		}
		for _, arch := range sortedKeys(c.Sources) {
			if len(c.Sources[arch]) > 1 {
				p.add(kind, key, "sources."+string(arch), "a file component takes one source per architecture, not %d", len(c.Sources[arch]))
			}
		}
		for _, f := range []struct{ name, value string }{{"dest", c.Dest}, {"subdir", c.Subdir}, {"format", c.Format}} {
			if f.value != "" {
				p.add(kind, key, f.name, "not used by kind file (it is for kind archive)")
			}
		}
		if c.Strip != 0 {
			p.add(kind, key, "strip", "not used by kind file (it is for kind archive)")
		}
	case "":
		p.add(kind, key, "kind", "required: archive or file")
	default:
		p.add(kind, key, "kind", "unknown kind %q (have archive, file)", c.Kind)
	}
}

func checkSource(p *problems, key, field string, s *Source, c *Component) {
	u, err := url.Parse(s.URL)
	switch {
	case s.URL == "":
		p.add("component", key, field+".url", "required")
	case err != nil || u.Host == "" && u.Scheme != "file":
		p.add("component", key, field+".url", "%q is not an absolute URL", s.URL)
	case u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "file":
		p.add("component", key, field+".url", "unsupported scheme %q: use https (http and file for local mirrors)", u.Scheme)
	case c.Kind == KindArchive && c.Format == "" && detectFormat(u.Path) == "":
		p.add("component", key, "format", "cannot tell the format of %s from its name: set format (%s)", s.URL, strings.Join(Formats, ", "))
	}
	if s.Dest != "" {
		if c.Kind != KindArchive {
			p.add("component", key, field+".dest", "only archive components install a source elsewhere")
		} else {
			checkAbs(p, key, field+".dest", s.Dest)
		}
	}
	if s.SHA256 != "" && !hex64.MatchString(s.SHA256) {
		p.add("component", key, field+".sha256", "%q is not a sha256 digest (64 lowercase hex digits)", s.SHA256)
	}
}

// detectFormat guesses an archive format from a file name, as the unpacker
// does when a component names none.
func detectFormat(name string) string {
	name = strings.ToLower(name)
	for _, s := range []struct{ suffix, format string }{
		{".tar.gz", "tar.gz"}, {".tgz", "tar.gz"}, {".tar.xz", "tar.xz"}, {".txz", "tar.xz"},
		{".tar", "tar"}, {".zip", "zip"}, {".whl", "zip"}, {".nupkg", "zip"}, {".jar", "raw"}, {".gem", "gem"},
	} {
		if strings.HasSuffix(name, s.suffix) {
			return s.format
		}
	}
	return ""
}

func checkAbs(p *problems, key, field, value string) {
	switch {
	case value == "":
		p.add("component", key, field, "required")
	case !path.IsAbs(value) || path.Clean(value) != value:
		p.add("component", key, field, "%q must be a clean absolute path", value)
	}
}

func (c *Catalog) validateRuntime(p *problems, i int, r *Runtime) {
	const kind = "runtime"
	id := r.Identifier
	if strings.TrimSpace(id) == "" {
		id = fmt.Sprintf("#%d", i+1)
		p.add(kind, id, "identifier", "required")
	}
	if strings.TrimSpace(r.Name) == "" {
		p.add(kind, id, "name", "required")
	}
	if !slices.Contains(Families, r.Family) {
		p.add(kind, id, "family", "unknown family %q (have %s)", r.Family, strings.Join(Families, ", "))
	}
	base, ok := c.Bases[r.Base]
	if !ok || base == nil {
		p.addMissing(kind, id, "base", "base", r.Base, "unknown base %q (have %s)", r.Base, listOrNone(sortedKeys(c.Bases)))
	}
	if len(r.Architectures) == 0 {
		p.add(kind, id, "architectures", "required: x86_64, arm64 or both")
	}
	checkArchList(p, kind, id, r.Architectures)
	if base != nil {
		for j, a := range r.Architectures {
			if (a == X86_64 || a == Arm64) && !slices.Contains(base.Architectures, a) {
				p.add(kind, id, fmt.Sprintf("architectures[%d]", j), "base %q (%s) is not published for %s", r.Base, base.OS, a)
			}
		}
	}
	d := r.Deprecation
	switch {
	case d.Phase2 != nil && d.Phase1 == nil:
		p.add(kind, id, "deprecation.phase2", "set without deprecation.phase1")
	case d.Phase2 != nil && d.Phase2.Sub(d.Phase1.Time) < MinPhase2Gap:
		p.add(kind, id, "deprecation.phase2", "%s is less than 30 days after phase1 %s", d.Phase2, d.Phase1)
	}
	if r.Alternative != "" {
		switch {
		case r.Alternative == r.Identifier:
			p.add(kind, id, "alternative", "a runtime cannot be its own alternative")
		case c.lookup(r.Alternative) == nil:
			p.add(kind, id, "alternative", "unknown runtime %q", r.Alternative)
		}
	}
	for _, k := range sortedKeys(r.Env) {
		if !envName.MatchString(k) {
			p.add(kind, id, "env."+k, "%q is not an environment variable name", k)
		}
	}
	if len(r.Components) == 0 {
		p.add(kind, id, "components", "required: the image's layers, bottom first")
	}
	seen := map[string]bool{}
	for j, key := range r.Components {
		field := fmt.Sprintf("components[%d]", j)
		comp, ok := c.Components[key]
		switch {
		case seen[key]:
			p.add(kind, id, field, "component %q listed twice", key)
			continue
		case !ok || comp == nil:
			p.addMissing(kind, id, field, "component", key, "unknown component %q", key)
			continue
		}
		seen[key] = true
		if len(comp.Sources) == 0 {
			continue // inline or builtin
		}
		for _, a := range r.Architectures {
			if (a == X86_64 || a == Arm64) && len(ComponentFor(comp, a)) == 0 {
				p.add(kind, id, field, "component %q has no source for %s (it has %s)", key, a, archKeys(comp))
			}
		}
	}
}

func archKeys(c *Component) string {
	var s []string
	for _, a := range sortedKeys(c.Sources) {
		s = append(s, string(a))
	}
	return strings.Join(s, ", ")
}

// listOrNone joins names with commas, or says "none".
func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

func sortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// FileMode returns the component's mode as a number (default 0644).
func (c *Component) FileMode() (os.FileMode, error) {
	if c.Mode == "" {
		return 0o644, nil
	}
	m, err := strconv.ParseUint(c.Mode, 8, 32)
	if err != nil || !octal.MatchString(c.Mode) {
		return 0, fmt.Errorf("invalid file mode %q: want octal like \"0755\"", c.Mode)
	}
	return os.FileMode(m), nil
}

// validateResolve checks a component's resolve block.
func validateResolve(p *problems, key string, c *Component) {
	r := c.Resolve
	if r == nil {
		return
	}
	const kind = "component"
	if !slices.Contains(Registries, r.Registry) {
		p.add(kind, key, "resolve.registry", "unknown registry %q (have %s)", r.Registry, strings.Join(Registries, ", "))
		return
	}
	if r.URL == "" && len(r.URLs) == 0 {
		p.add(kind, key, "resolve.url", "required")
	}
	for _, u := range append([]string{r.URL}, mapValues(r.URLs)...) {
		if u == "" {
			continue
		}
		if pu, err := url.Parse(u); err != nil || pu.Host == "" || (pu.Scheme != "https" && pu.Scheme != "http") {
			p.add(kind, key, "resolve.url", "%q is not an absolute http(s) URL", u)
		}
	}
	switch r.Registry {
	case RegistryChecksums:
	case RegistryGitHubRelease:
		if !strings.Contains(r.Repo, "/") || r.Tag == "" {
			p.add(kind, key, "resolve.repo", "a github-release needs repo (owner/name) and tag")
		}
	default:
		if len(r.Packages) == 0 {
			p.add(kind, key, "resolve.packages", "required for registry %s", r.Registry)
		}
		if c.Kind != KindArchive {
			p.add(kind, key, "resolve.registry", "registry %s produces archive components' sources; kind is %s", r.Registry, c.Kind)
		}
	}
	if r.Registry == RegistryPyPI && r.Python == "" {
		p.add(kind, key, "resolve.python", "required for pypi (the Python version wheels are chosen for, e.g. \"3.9\")")
	}
	if r.Registry == RegistryNuGet && r.Framework == "" {
		p.add(kind, key, "resolve.framework", "required for nuget (e.g. netstandard2.0)")
	}
}

func mapValues[K comparable, V any](m map[K]V) []V {
	var out []V
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

package pypi

// PEP 440 versions and version specifiers, hand-written: the one Go module
// served for this (github.com/aquasecurity/go-pep440-version, a single
// v0.0.1 release) mis-pads release segments when comparing, so this file
// follows the reference implementation (pypa's packaging: Version._key,
// Specifier._compare_*, SpecifierSet.contains and filter) directly.

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// versionRE is PEP 440's canonical regular expression (Appendix B).
var versionRE = regexp.MustCompile(`(?i)^\s*v?` +
	`(?:(?P<epoch>[0-9]+)!)?` +
	`(?P<release>[0-9]+(?:\.[0-9]+)*)` +
	`(?P<pre>[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?` +
	`(?P<post>(?:-(?P<post_n1>[0-9]+))|(?:[-_.]?(?P<post_l>post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?))?` +
	`(?P<dev>[-_.]?(?P<dev_l>dev)[-_.]?(?P<dev_n>[0-9]+)?)?` +
	`(?:\+(?P<local>[a-z0-9]+(?:[-_.][a-z0-9]+)*))?\s*$`)

// Version is a parsed PEP 440 version.
type Version struct {
	Epoch   int64
	Release []int64
	PreL    string // "", "a", "b" or "rc"
	PreN    int64
	Post    int64    // -1: none
	Dev     int64    // -1: none
	Local   []string // lower-case segments; nil: none
	raw     string
}

// ParseVersion parses a PEP 440 version ("1.21.55", "2.0a1", "1!2.post3").
func ParseVersion(s string) (Version, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return Version{}, fmt.Errorf("invalid PEP 440 version %q", s)
	}
	g := func(name string) string { return m[versionRE.SubexpIndex(name)] }
	num := func(s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid PEP 440 version %q: %w", s, err)
		}
		return n, nil
	}
	v := Version{Post: -1, Dev: -1, raw: strings.TrimSpace(s)}
	var err error
	if v.Epoch, err = num(g("epoch")); err != nil {
		return Version{}, err
	}
	for _, r := range strings.Split(g("release"), ".") {
		n, err := num(r)
		if err != nil {
			return Version{}, err
		}
		v.Release = append(v.Release, n)
	}
	if g("pre") != "" {
		switch strings.ToLower(g("pre_l")) {
		case "a", "alpha":
			v.PreL = "a"
		case "b", "beta":
			v.PreL = "b"
		default: // c, rc, pre, preview
			v.PreL = "rc"
		}
		if v.PreN, err = num(g("pre_n")); err != nil {
			return Version{}, err
		}
	}
	if g("post") != "" {
		n := g("post_n1")
		if n == "" {
			n = g("post_n2")
		}
		if v.Post, err = num(n); err != nil {
			return Version{}, err
		}
	}
	if g("dev") != "" {
		if v.Dev, err = num(g("dev_n")); err != nil {
			return Version{}, err
		}
	}
	if l := g("local"); l != "" {
		v.Local = strings.FieldsFunc(strings.ToLower(l), func(r rune) bool { return r == '.' || r == '-' || r == '_' })
	}
	return v, nil
}

// String is the normalised form ("1.0rc1.post2.dev3+local.1").
func (v Version) String() string {
	var b strings.Builder
	if v.Epoch != 0 {
		fmt.Fprintf(&b, "%d!", v.Epoch)
	}
	b.WriteString(v.base())
	if v.PreL != "" {
		fmt.Fprintf(&b, "%s%d", v.PreL, v.PreN)
	}
	if v.Post >= 0 {
		fmt.Fprintf(&b, ".post%d", v.Post)
	}
	if v.Dev >= 0 {
		fmt.Fprintf(&b, ".dev%d", v.Dev)
	}
	if v.Local != nil {
		b.WriteString("+" + strings.Join(v.Local, "."))
	}
	return b.String()
}

func (v Version) base() string {
	parts := make([]string, len(v.Release))
	for i, r := range v.Release {
		parts[i] = strconv.FormatInt(r, 10)
	}
	return strings.Join(parts, ".")
}

// IsPrerelease reports a pre-release or development release.
func (v Version) IsPrerelease() bool { return v.PreL != "" || v.Dev >= 0 }

// public is v without its local segment.
func (v Version) public() Version { v.Local = nil; return v }

// baseVersion is the epoch and release only.
func (v Version) baseVersion() Version {
	return Version{Epoch: v.Epoch, Release: v.Release, Post: -1, Dev: -1}
}

// Compare orders versions as PEP 440 does: -1, 0 or +1.
func (v Version) Compare(o Version) int {
	if c := cmpInt(v.Epoch, o.Epoch); c != 0 {
		return c
	}
	a, b := trimZeros(v.Release), trimZeros(o.Release)
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int64
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if c := cmpInt(x, y); c != 0 {
			return c
		}
	}
	if c := cmpPre(v, o); c != 0 {
		return c
	}
	// No post release sorts before any post release.
	if c := cmpInt(v.Post, o.Post); c != 0 {
		return c
	}
	// No dev release sorts after any dev release.
	if c := cmpInt(devKey(v.Dev), devKey(o.Dev)); c != 0 {
		return c
	}
	return cmpLocal(v.Local, o.Local)
}

func trimZeros(r []int64) []int64 {
	for len(r) > 0 && r[len(r)-1] == 0 {
		r = r[:len(r)-1]
	}
	return r
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func devKey(d int64) int64 {
	if d < 0 {
		return 1 << 62
	}
	return d
}

// preRank is packaging's pre-release key: a dev release without pre or
// post release sorts before every pre-release; no pre-release sorts after.
func preRank(v Version) (int, int64) {
	switch {
	case v.PreL == "" && v.Post < 0 && v.Dev >= 0:
		return -1, 0
	case v.PreL == "":
		return 9, 0
	}
	return map[string]int{"a": 0, "b": 1, "rc": 2}[v.PreL], v.PreN
}

func cmpPre(v, o Version) int {
	r1, n1 := preRank(v)
	r2, n2 := preRank(o)
	if c := cmpInt(int64(r1), int64(r2)); c != 0 {
		return c
	}
	return cmpInt(n1, n2)
}

// cmpLocal: no local sorts first; numeric segments sort after alphanumeric
// ones; a longer local wins when the common segments are equal.
func cmpLocal(a, b []string) int {
	if a == nil || b == nil {
		switch {
		case a == nil && b == nil:
			return 0
		case a == nil:
			return -1
		}
		return 1
	}
	for i := 0; i < len(a) && i < len(b); i++ {
		x, xerr := strconv.ParseInt(a[i], 10, 64)
		y, yerr := strconv.ParseInt(b[i], 10, 64)
		switch {
		case xerr == nil && yerr == nil:
			if c := cmpInt(x, y); c != 0 {
				return c
			}
		case xerr == nil:
			return 1
		case yerr == nil:
			return -1
		default:
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
	}
	return cmpInt(int64(len(a)), int64(len(b)))
}

// Specifier is one PEP 440 clause: an operator and a version.
type Specifier struct {
	Op       string // ~=, ==, !=, <=, >=, <, >, ===
	Version  string // as written (without ".*" for a wildcard)
	Wildcard bool   // ==X.* or !=X.*
	v        Version
}

func (s Specifier) String() string {
	if s.Wildcard {
		return s.Op + s.Version + ".*"
	}
	return s.Op + s.Version
}

var specOpRE = regexp.MustCompile(`^\s*(~=|===|==|!=|<=|>=|<|>)\s*(\S+)\s*$`)

// ParseSpecifier parses one clause (">=1.21.55", "==1.*", "~=2.2").
func ParseSpecifier(s string) (Specifier, error) {
	m := specOpRE.FindStringSubmatch(s)
	if m == nil {
		return Specifier{}, fmt.Errorf("invalid version specifier %q", s)
	}
	sp := Specifier{Op: m[1], Version: m[2]}
	if sp.Op == "===" {
		return sp, nil
	}
	if (sp.Op == "==" || sp.Op == "!=") && strings.HasSuffix(sp.Version, ".*") {
		sp.Wildcard = true
		sp.Version = strings.TrimSuffix(sp.Version, ".*")
	}
	v, err := ParseVersion(sp.Version)
	if err != nil {
		return Specifier{}, fmt.Errorf("invalid version specifier %q: %w", s, err)
	}
	sp.v = v
	switch {
	case sp.Wildcard && (v.PreL != "" || v.Post >= 0 || v.Dev >= 0 || v.Local != nil):
		return Specifier{}, fmt.Errorf("invalid version specifier %q: a wildcard follows release segments only", s)
	case sp.Op == "~=" && len(v.Release) < 2:
		return Specifier{}, fmt.Errorf("invalid version specifier %q: ~= needs at least two release segments", s)
	case v.Local != nil && sp.Op != "==" && sp.Op != "!=":
		return Specifier{}, fmt.Errorf("invalid version specifier %q: only == and != take a local version", s)
	}
	return sp, nil
}

// admitsPrereleases is packaging's Specifier.prereleases: an inclusive
// clause naming a pre-release opts in to pre-releases.
func (s Specifier) admitsPrereleases() bool {
	switch s.Op {
	case "===":
		v, err := ParseVersion(s.Version)
		return err == nil && v.IsPrerelease()
	case "==", ">=", "<=", "~=":
		return s.v.IsPrerelease()
	}
	return false
}

// Contains reports whether v matches the clause, pre-releases included.
func (s Specifier) Contains(v Version) bool {
	switch s.Op {
	case "===":
		return strings.EqualFold(v.String(), s.Version) || strings.EqualFold(v.raw, s.Version)
	case "==":
		return s.equal(v)
	case "!=":
		return !s.equal(v)
	case "~=":
		prefix := Specifier{Op: "==", Wildcard: true, v: Version{Epoch: s.v.Epoch, Release: s.v.Release[:len(s.v.Release)-1]}}
		return v.public().Compare(s.v) >= 0 && prefix.equal(v)
	case "<=":
		return v.public().Compare(s.v) <= 0
	case ">=":
		return v.public().Compare(s.v) >= 0
	case "<":
		if v.Compare(s.v) >= 0 {
			return false
		}
		// <3.1 does not match 3.1.dev0 (unless the clause is a pre-release).
		return s.v.IsPrerelease() || !v.IsPrerelease() || v.baseVersion().Compare(s.v.baseVersion()) != 0
	case ">":
		if v.Compare(s.v) <= 0 {
			return false
		}
		sameBase := v.baseVersion().Compare(s.v.baseVersion()) == 0
		// >3.1 matches neither 3.1.post1 (unless the clause is a post
		// release) nor 3.1+local.
		if sameBase && ((s.v.Post < 0 && v.Post >= 0) || v.Local != nil) {
			return false
		}
		return true
	}
	return false
}

func (s Specifier) equal(v Version) bool {
	if s.Wildcard {
		if v.Epoch != s.v.Epoch {
			return false
		}
		for i, want := range s.v.Release {
			var got int64
			if i < len(v.Release) {
				got = v.Release[i]
			}
			if got != want {
				return false
			}
		}
		return true
	}
	if s.v.Local == nil {
		v = v.public()
	}
	return v.Compare(s.v) == 0
}

// Specifiers is a comma-separated set of clauses, all of which must match.
type Specifiers []Specifier

// ParseSpecifiers parses "<1.22.0,>=1.21.55"; "" is the empty set.
func ParseSpecifiers(s string) (Specifiers, error) {
	var ss Specifiers
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			if strings.TrimSpace(s) == "" {
				continue
			}
			return nil, fmt.Errorf("invalid version specifiers %q: empty clause", s)
		}
		sp, err := ParseSpecifier(part)
		if err != nil {
			return nil, err
		}
		ss = append(ss, sp)
	}
	return ss, nil
}

func (ss Specifiers) String() string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = s.String()
	}
	return strings.Join(parts, ",")
}

// admitsPrereleases: some clause names a pre-release.
func (ss Specifiers) admitsPrereleases() bool {
	return slices.ContainsFunc(ss, Specifier.admitsPrereleases)
}

// Contains reports whether v matches every clause; pre-releases match only
// when prereleases is set or a clause names a pre-release.
func (ss Specifiers) Contains(v Version, prereleases bool) bool {
	if v.IsPrerelease() && !prereleases && !ss.admitsPrereleases() {
		return false
	}
	for _, s := range ss {
		if !s.Contains(v) {
			return false
		}
	}
	return true
}

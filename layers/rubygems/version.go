package rubygems

import (
	"fmt"
	"regexp"
	"strings"
)

// Version is a RubyGems version (Gem::Version): dot-separated segments of
// digits or letters; a letter makes it a prerelease, which sorts before the
// release ("1.0.a" < "1.0"). A "-" reads as ".pre." as RubyGems reads it.
type Version struct {
	s    string // as written, trimmed
	segs []segment
}

// segment is one version segment: a number (digits, leading zeros dropped)
// or a string of letters.
type segment struct {
	v   string
	num bool
}

var (
	versionPattern = regexp.MustCompile(`^[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	segmentPattern = regexp.MustCompile(`[0-9]+|[a-zA-Z]+`)
)

// ParseVersion parses a RubyGems version number; "" is "0", as in RubyGems.
func ParseVersion(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "0"
	}
	if !versionPattern.MatchString(s) {
		return Version{}, fmt.Errorf("malformed version number %q", s)
	}
	v := Version{s: s}
	for _, p := range segmentPattern.FindAllString(strings.ReplaceAll(s, "-", ".pre."), -1) {
		if p[0] >= '0' && p[0] <= '9' {
			p = strings.TrimLeft(p, "0")
			if p == "" {
				p = "0"
			}
			v.segs = append(v.segs, segment{v: p, num: true})
		} else {
			v.segs = append(v.segs, segment{v: p})
		}
	}
	return v, nil
}

func (v Version) String() string { return v.s }

// Prerelease says whether the version holds a letter.
func (v Version) Prerelease() bool {
	for _, s := range v.segs {
		if !s.num {
			return true
		}
	}
	return false
}

// numeric is the segments before the first letter segment.
func (v Version) numeric() []segment {
	for i, s := range v.segs {
		if !s.num {
			return v.segs[:i]
		}
	}
	return v.segs
}

// canonical drops trailing zeros of the numeric part and of the rest, as
// Gem::Version#canonical_segments does ("1.0.0" == "1", "1.0.a" == "1.a").
func (v Version) canonical() []segment {
	trim := func(s []segment) []segment {
		for len(s) > 0 && s[len(s)-1].num && s[len(s)-1].v == "0" {
			s = s[:len(s)-1]
		}
		return s
	}
	num := v.numeric()
	rest := v.segs[len(num):]
	return append(append([]segment{}, trim(append([]segment{}, num...))...), trim(append([]segment{}, rest...))...)
}

// Compare returns -1, 0 or 1 as v sorts before, with or after w.
func (v Version) Compare(w Version) int {
	a, b := v.canonical(), w.canonical()
	zero := segment{v: "0", num: true}
	for i := 0; i < max(len(a), len(b)); i++ {
		l, r := zero, zero
		if i < len(a) {
			l = a[i]
		}
		if i < len(b) {
			r = b[i]
		}
		switch {
		case l == r:
			continue
		case !l.num && r.num:
			return -1
		case l.num && !r.num:
			return 1
		case l.num: // both numbers, no leading zeros
			if len(l.v) != len(r.v) {
				return cmp(len(l.v), len(r.v))
			}
			return strings.Compare(l.v, r.v)
		default:
			return strings.Compare(l.v, r.v)
		}
	}
	return 0
}

func cmp(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// release is the version without its prerelease part ("1.2.b3" -> "1.2").
func (v Version) release() Version {
	num := v.numeric()
	if len(num) == len(v.segs) {
		return v
	}
	return fromSegments(num)
}

// bump is the upper bound of "~> v": the numeric part without its last
// segment (unless it is the only one), the new last segment incremented
// ("1.2.3" -> "1.3", "1.2" -> "2", "1" -> "2").
func (v Version) bump() Version {
	num := append([]segment{}, v.numeric()...)
	if len(num) > 1 {
		num = num[:len(num)-1]
	}
	last := []byte(num[len(num)-1].v)
	i := len(last) - 1
	for ; i >= 0 && last[i] == '9'; i-- {
		last[i] = '0'
	}
	if i < 0 {
		last = append([]byte{'1'}, last...)
	} else {
		last[i]++
	}
	num[len(num)-1] = segment{v: string(last), num: true}
	return fromSegments(num)
}

func fromSegments(segs []segment) Version {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.v
	}
	return Version{s: strings.Join(parts, "."), segs: segs}
}

// Requirement is a RubyGems requirement (Gem::Requirement): constraints
// that must all hold. The zero Requirement allows every version.
type Requirement []Constraint

// Constraint is one operator and version: =, !=, >, <, >=, <= or ~>
// (pessimistic: "~> 1.2" is ">= 1.2, < 2", "~> 1.2.3" is ">= 1.2.3, < 1.3").
type Constraint struct {
	Op      string
	Version Version
}

var constraintPattern = regexp.MustCompile(`^\s*(=|!=|>=|<=|>|<|~>)?\s*([0-9][0-9A-Za-z.-]*)\s*$`)

// ParseRequirement parses comma-separated constraints (">= 1.0.2, ~> 1");
// a version alone means "=", and "" or ">= 0" allow every version.
func ParseRequirement(s string) (Requirement, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var r Requirement
	for _, part := range strings.Split(s, ",") {
		m := constraintPattern.FindStringSubmatch(part)
		if m == nil {
			return nil, fmt.Errorf("malformed requirement %q", strings.TrimSpace(part))
		}
		v, err := ParseVersion(m[2])
		if err != nil {
			return nil, fmt.Errorf("malformed requirement %q: %w", strings.TrimSpace(part), err)
		}
		op := m[1]
		if op == "" {
			op = "="
		}
		r = append(r, Constraint{Op: op, Version: v})
	}
	return r, nil
}

// Satisfied says whether v meets every constraint.
func (r Requirement) Satisfied(v Version) bool {
	for _, c := range r {
		if !c.Satisfied(v) {
			return false
		}
	}
	return true
}

// Satisfied says whether v meets the constraint.
func (c Constraint) Satisfied(v Version) bool {
	d := v.Compare(c.Version)
	switch c.Op {
	case "=":
		return d == 0
	case "!=":
		return d != 0
	case ">":
		return d > 0
	case "<":
		return d < 0
	case ">=":
		return d >= 0
	case "<=":
		return d <= 0
	case "~>":
		return d >= 0 && v.release().Compare(c.Version.bump()) < 0
	}
	return false
}

// Prerelease says whether a constraint names a prerelease, which lets
// prereleases be chosen (as RubyGems does).
func (r Requirement) Prerelease() bool {
	for _, c := range r {
		if c.Version.Prerelease() {
			return true
		}
	}
	return false
}

func (r Requirement) String() string {
	if len(r) == 0 {
		return ">= 0"
	}
	parts := make([]string, len(r))
	for i, c := range r {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

func (c Constraint) String() string { return c.Op + " " + c.Version.String() }

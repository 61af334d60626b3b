package nuget

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is a NuGet package version: up to four numeric parts and an
// optional SemVer 2 release label; build metadata is ignored. (NuGet's
// versioning rules are small and specific, so they are written out here.)
type Version struct {
	nums [4]int
	pre  []string
}

// ParseVersion parses "1.2", "1.2.3", "1.2.3.4", "1.2.3-beta.1+meta".
func ParseVersion(s string) (Version, error) {
	var v Version
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if core == "" || len(parts) > 4 {
		return v, fmt.Errorf("version %q: want 1 to 4 numeric parts", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return v, fmt.Errorf("version %q: %q is not a number", s, p)
		}
		v.nums[i] = n
	}
	if hasPre {
		if pre == "" {
			return v, fmt.Errorf("version %q: empty release label", s)
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, nil
}

// Prerelease says whether v has a release label.
func (v Version) Prerelease() bool { return len(v.pre) > 0 }

// String is the normalized form: three parts, a fourth when non-zero, and
// the release label ("1.0.0", "1.2.3.4", "2.0.0-beta.1").
func (v Version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.nums[0], v.nums[1], v.nums[2])
	if v.nums[3] != 0 {
		s += fmt.Sprintf(".%d", v.nums[3])
	}
	if len(v.pre) > 0 {
		s += "-" + strings.Join(v.pre, ".")
	}
	return s
}

// Compare orders versions as NuGet does: numerically, then a release
// (no label) after its prereleases, labels compared part by part
// (numeric parts numerically and before alphanumeric ones, those
// case-insensitively).
func (v Version) Compare(w Version) int {
	for i := range v.nums {
		if v.nums[i] != w.nums[i] {
			if v.nums[i] < w.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(v.pre) == 0 && len(w.pre) == 0:
		return 0
	case len(v.pre) == 0:
		return 1
	case len(w.pre) == 0:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(w.pre); i++ {
		a, b := v.pre[i], w.pre[i]
		an, aerr := strconv.Atoi(a)
		bn, berr := strconv.Atoi(b)
		switch {
		case aerr == nil && berr == nil:
			if an != bn {
				if an < bn {
					return -1
				}
				return 1
			}
		case aerr == nil:
			return -1
		case berr == nil:
			return 1
		default:
			if c := strings.Compare(strings.ToLower(a), strings.ToLower(b)); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(v.pre) < len(w.pre):
		return -1
	case len(v.pre) > len(w.pre):
		return 1
	}
	return 0
}

// Range is a NuGet version range: "1.0" (>= 1.0), "[1.0]" (exactly),
// "[1.0, )", "(1.0,2.0]", "(, 2.0)".
type Range struct {
	Min, Max                   *Version
	MinInclusive, MaxInclusive bool
	text                       string
}

// ParseRange parses a NuGet version range.
func ParseRange(s string) (Range, error) {
	s = strings.TrimSpace(s)
	r := Range{text: s}
	if s == "" {
		return r, nil // any version
	}
	if s[0] != '[' && s[0] != '(' {
		v, err := ParseVersion(s)
		if err != nil {
			return r, fmt.Errorf("version range %q: %w", s, err)
		}
		r.Min, r.MinInclusive = &v, true
		return r, nil
	}
	last := s[len(s)-1]
	if len(s) < 2 || (last != ']' && last != ')') {
		return r, fmt.Errorf("version range %q: want [min, max) style brackets", s)
	}
	r.MinInclusive, r.MaxInclusive = s[0] == '[', last == ']'
	inner := s[1 : len(s)-1]
	lo, hi, comma := strings.Cut(inner, ",")
	if !comma {
		// "[1.0]": exactly.
		if !r.MinInclusive || !r.MaxInclusive {
			return r, fmt.Errorf("version range %q: an exact version needs [ ]", s)
		}
		v, err := ParseVersion(lo)
		if err != nil {
			return r, fmt.Errorf("version range %q: %w", s, err)
		}
		r.Min, r.Max = &v, &v
		return r, nil
	}
	if lo = strings.TrimSpace(lo); lo != "" {
		v, err := ParseVersion(lo)
		if err != nil {
			return r, fmt.Errorf("version range %q: %w", s, err)
		}
		r.Min = &v
	}
	if hi = strings.TrimSpace(hi); hi != "" {
		v, err := ParseVersion(hi)
		if err != nil {
			return r, fmt.Errorf("version range %q: %w", s, err)
		}
		r.Max = &v
	}
	return r, nil
}

// String is the range as written.
func (r Range) String() string {
	if r.text == "" {
		return "(any)"
	}
	return r.text
}

// Contains says whether v is in r. Prereleases are in a range only when
// one of its bounds is a prerelease, as in NuGet.
func (r Range) Contains(v Version) bool {
	if v.Prerelease() && !((r.Min != nil && r.Min.Prerelease()) || (r.Max != nil && r.Max.Prerelease())) {
		return false
	}
	if r.Min != nil {
		c := v.Compare(*r.Min)
		if c < 0 || (c == 0 && !r.MinInclusive) {
			return false
		}
	}
	if r.Max != nil {
		c := v.Compare(*r.Max)
		if c > 0 || (c == 0 && !r.MaxInclusive) {
			return false
		}
	}
	return true
}

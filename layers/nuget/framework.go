package nuget

import (
	"fmt"
	"strconv"
	"strings"
)

// Framework is a target framework: a family and a version. Families:
// "netstandard", "netcoreapp" (which net5.0 and later continue) and
// "netframework"; anything else is kept as written and matches only itself.
type Framework struct {
	Family   string
	Version  []int
	Platform string // "windows" in net6.0-windows; only equal platforms match
	raw      string
}

// ParseFramework accepts short folder names ("netstandard2.0",
// "netcoreapp3.1", "net6.0", "net48", "net461") and the long names
// registrations use (".NETStandard2.0", ".NETCoreApp3.1",
// ".NETFramework4.6.1").
func ParseFramework(s string) (Framework, error) {
	raw := strings.TrimSpace(s)
	l := strings.ToLower(strings.TrimPrefix(raw, "."))
	f := Framework{raw: raw}
	if l == "" {
		return f, fmt.Errorf("target framework is empty")
	}
	if base, platform, ok := strings.Cut(l, "-"); ok {
		l, f.Platform = base, platform
		if i := strings.IndexFunc(f.Platform, func(r rune) bool { return r >= '0' && r <= '9' }); i >= 0 {
			f.Platform = f.Platform[:i]
		}
	}
	var ver string
	switch {
	case strings.HasPrefix(l, "netstandard"):
		f.Family, ver = "netstandard", strings.TrimPrefix(l, "netstandard")
	case strings.HasPrefix(l, "netcoreapp"):
		f.Family, ver = "netcoreapp", strings.TrimPrefix(l, "netcoreapp")
	case strings.HasPrefix(l, "netframework"):
		f.Family, ver = "netframework", strings.TrimPrefix(l, "netframework")
	case strings.HasPrefix(l, "net") && len(l) > 3 && l[3] >= '0' && l[3] <= '9':
		ver = l[3:]
		if strings.Contains(ver, ".") {
			f.Family = "netcoreapp" // net5.0, net6.0, ...
		} else {
			f.Family = "netframework" // net461 -> 4.6.1, net48 -> 4.8
			ver = strings.Join(strings.Split(ver, ""), ".")
		}
	default:
		f.Family = l
		return f, nil
	}
	for _, p := range strings.Split(ver, ".") {
		n, err := strconv.Atoi(p)
		if err != nil {
			return f, fmt.Errorf("target framework %q: bad version %q", s, ver)
		}
		f.Version = append(f.Version, n)
	}
	return f, nil
}

// String is the name as given.
func (f Framework) String() string { return f.raw }

func cmpVersion(a, b []int) int {
	for i := 0; i < len(a) || i < len(b); i++ {
		var x, y int
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}

// at says whether f's version is at least v.
func (f Framework) at(v ...int) bool { return cmpVersion(f.Version, v) >= 0 }

// standardSupported is the highest .NET Standard version f implements
// (nil: none).
func (f Framework) standardSupported() []int {
	switch f.Family {
	case "netcoreapp":
		switch {
		case f.at(3, 0):
			return []int{2, 1}
		case f.at(2, 0):
			return []int{2, 0}
		case f.at(1, 0):
			return []int{1, 6}
		}
	case "netframework":
		switch {
		case f.at(4, 6, 1):
			return []int{2, 0}
		case f.at(4, 6):
			return []int{1, 3}
		case f.at(4, 5, 1):
			return []int{1, 2}
		case f.at(4, 5):
			return []int{1, 1}
		}
	}
	return nil
}

// compatibility ranks how well a group for g serves target f: 0 means it
// cannot; a group for f's own family beats a .NET Standard one, and within
// a rank the higher version is nearer.
func (f Framework) compatibility(g Framework) int {
	if g.Platform != "" && g.Platform != f.Platform {
		return 0
	}
	switch {
	case g.Family == f.Family && g.Version == nil && f.Version == nil:
		return 2
	case g.Family == f.Family:
		if cmpVersion(g.Version, f.Version) <= 0 {
			return 2
		}
	case g.Family == "netstandard":
		if std := f.standardSupported(); std != nil && cmpVersion(g.Version, std) <= 0 {
			return 1
		}
	}
	return 0
}

// nearest returns the index of the group framework nearest to f among
// groups ("" is a group for any framework), or -1 when none applies.
func (f Framework) nearest(groups []string) (int, error) {
	best, bestRank := -1, 0
	var bestFW Framework
	for i, name := range groups {
		if strings.TrimSpace(name) == "" {
			if best < 0 {
				best = i // the framework-agnostic group: applies when nothing nearer does
			}
			continue
		}
		g, err := ParseFramework(name)
		if err != nil {
			return -1, err
		}
		rank := f.compatibility(g)
		if rank == 0 {
			continue
		}
		if rank > bestRank || (rank == bestRank && cmpVersion(g.Version, bestFW.Version) > 0) {
			best, bestRank, bestFW = i, rank, g
		}
	}
	return best, nil
}

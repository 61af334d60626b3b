package rpm

import (
	"strconv"
	"strings"
)

// Vercmp compares two version (or release) strings as rpm's rpmvercmp does:
// it returns -1, 0 or 1. Strings are split into alphabetic and numeric
// segments (ASCII only), other characters only separate them; numeric
// segments compare as numbers (leading zeros ignored) and are newer than
// alphabetic ones; "~" sorts before anything, even the end of the string,
// and "^" after the end but before anything else.
func Vercmp(a, b string) int {
	if a == b {
		return 0
	}
	one, two := a, b
	for len(one) > 0 || len(two) > 0 {
		one = strings.TrimLeftFunc(one, isSeparator)
		two = strings.TrimLeftFunc(two, isSeparator)

		// A tilde sorts before everything else, even the end.
		if strings.HasPrefix(one, "~") || strings.HasPrefix(two, "~") {
			if !strings.HasPrefix(one, "~") {
				return 1
			}
			if !strings.HasPrefix(two, "~") {
				return -1
			}
			one, two = one[1:], two[1:]
			continue
		}
		// A caret sorts after the end, before everything else.
		if strings.HasPrefix(one, "^") || strings.HasPrefix(two, "^") {
			if one == "" {
				return -1
			}
			if two == "" {
				return 1
			}
			if !strings.HasPrefix(one, "^") {
				return 1
			}
			if !strings.HasPrefix(two, "^") {
				return -1
			}
			one, two = one[1:], two[1:]
			continue
		}
		if one == "" || two == "" {
			break
		}

		var seg1, seg2 string
		isnum := isDigit(rune(one[0]))
		if isnum {
			seg1, one = span(one, isDigit)
			seg2, two = span(two, isDigit)
		} else {
			seg1, one = span(one, isAlpha)
			seg2, two = span(two, isAlpha)
		}
		// Segments of different types: numeric is newer.
		if seg2 == "" {
			if isnum {
				return 1
			}
			return -1
		}
		if isnum {
			seg1 = strings.TrimLeft(seg1, "0")
			seg2 = strings.TrimLeft(seg2, "0")
			if len(seg1) != len(seg2) {
				if len(seg1) > len(seg2) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(seg1, seg2); c != 0 {
			return c
		}
	}
	switch {
	case one == "" && two == "":
		return 0
	case one == "":
		return -1
	}
	return 1
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }
func isAlpha(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' }
func isSeparator(r rune) bool {
	return !isDigit(r) && !isAlpha(r) && r != '~' && r != '^'
}

// span splits s after its longest prefix of characters satisfying f.
func span(s string, f func(rune) bool) (string, string) {
	i := 0
	for i < len(s) && f(rune(s[i])) {
		i++
	}
	return s[:i], s[i:]
}

// EVR is an epoch, version and release; an empty epoch is epoch 0 and an
// empty release (in a dependency) matches any release.
type EVR struct {
	Epoch, Version, Release string
}

// ParseEVR parses "[epoch:]version[-release]".
func ParseEVR(s string) EVR {
	var e EVR
	if i := strings.IndexByte(s, ':'); i >= 0 {
		if _, err := strconv.ParseUint(s[:i], 10, 32); err == nil {
			e.Epoch, s = s[:i], s[i+1:]
		}
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		e.Version, e.Release = s[:i], s[i+1:]
	} else {
		e.Version = s
	}
	return e
}

// String is "[epoch:]version[-release]", the epoch shown only when not 0.
func (e EVR) String() string {
	s := e.Version
	if e.Release != "" {
		s += "-" + e.Release
	}
	if e.Epoch != "" && strings.TrimLeft(e.Epoch, "0") != "" {
		s = e.Epoch + ":" + s
	}
	return s
}

func (e EVR) epoch() string {
	if e.Epoch == "" {
		return "0"
	}
	return e.Epoch
}

// CompareEVR orders two packages' EVRs: epoch (missing = 0), then version,
// then release, each with Vercmp.
func CompareEVR(a, b EVR) int {
	if c := Vercmp(a.epoch(), b.epoch()); c != 0 {
		return c
	}
	if c := Vercmp(a.Version, b.Version); c != 0 {
		return c
	}
	return Vercmp(a.Release, b.Release)
}

// Dependency sense flags, as rpm's RPMSENSE_LESS, _GREATER and _EQUAL.
const (
	senseLess    = 1 << 1
	senseGreater = 1 << 2
	senseEqual   = 1 << 3
	senseMask    = senseLess | senseGreater | senseEqual
)

// parseFlags maps primary.xml's flags attribute to sense bits.
func parseFlags(s string) int {
	switch s {
	case "EQ":
		return senseEqual
	case "LT":
		return senseLess
	case "GT":
		return senseGreater
	case "LE":
		return senseLess | senseEqual
	case "GE":
		return senseGreater | senseEqual
	}
	return 0
}

func flagsString(f int) string {
	switch f & senseMask {
	case senseEqual:
		return "="
	case senseLess:
		return "<"
	case senseGreater:
		return ">"
	case senseLess | senseEqual:
		return "<="
	case senseGreater | senseEqual:
		return ">="
	}
	return ""
}

// overlap reports whether the ranges (a, af) and (b, bf) intersect, as
// rpm's rpmdsCompare/rpmverOverlap: an unversioned side always overlaps; a
// missing epoch counts as 0 only against a positive one; a release is
// compared only when both sides state one.
func overlap(a EVR, af int, b EVR, bf int) bool {
	if af&senseMask == 0 || bf&senseMask == 0 || a.Version == "" || b.Version == "" {
		return true
	}
	sense := 0
	switch {
	case a.Epoch != "" && b.Epoch != "":
		sense = Vercmp(a.Epoch, b.Epoch)
	case a.Epoch != "" && atoi(a.Epoch) > 0:
		sense = 1
	case b.Epoch != "" && atoi(b.Epoch) > 0:
		sense = -1
	}
	if sense == 0 {
		sense = Vercmp(a.Version, b.Version)
		if sense == 0 {
			if a.Release != "" && b.Release != "" {
				sense = Vercmp(a.Release, b.Release)
			} else if a.Release != "" && bf&senseEqual != 0 || b.Release != "" && af&senseEqual != 0 {
				// The side without a release matches when it includes equality.
				return true
			}
		}
	}
	switch {
	case sense < 0:
		return af&senseGreater != 0 || bf&senseLess != 0
	case sense > 0:
		return af&senseLess != 0 || bf&senseGreater != 0
	}
	return af&bf&senseMask != 0
}

func atoi(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

package npm

// npm's semver dialect (node-semver in loose mode, without
// includePrerelease), hand-written because general Go semver libraries
// differ from it where npm trees depend on it: a prerelease satisfies a range
// only when a comparator of the same set has a prerelease on the same
// major.minor.patch; "^0.0.3" means ">=0.0.3 <0.0.4-0"; loose input ("v1.2",
// "=1.2.3", ">= 1.2.3", "1.2.3beta") is accepted; comparators that do not
// parse are dropped from a set the way node-semver drops them; and "*"
// excludes prereleases. The desugaring below follows node-semver's
// classes/range.js rule by rule.

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// version is a parsed semantic version (build metadata dropped).
type version struct {
	major, minor, patch uint64
	pre                 []string // prerelease identifiers
	raw                 string
}

func (v version) String() string {
	s := fmt.Sprintf("%d.%d.%d", v.major, v.minor, v.patch)
	if len(v.pre) > 0 {
		s += "-" + strings.Join(v.pre, ".")
	}
	return s
}

const (
	reNum     = `[0-9]+`
	reXR      = `[0-9]+|x|X|\*`
	rePreID   = `(?:[0-9]+|[0-9]*[a-zA-Z-][a-zA-Z0-9-]*)`
	rePre     = `(?:-?(` + rePreID + `(?:\.` + rePreID + `)*))`
	reBuild   = `(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))`
	reLoose   = `[v=\s]*(` + reNum + `)\.(` + reNum + `)\.(` + reNum + `)` + rePre + `?` + reBuild + `?`
	reXPlain  = `[v=\s]*(` + reXR + `)(?:\.(` + reXR + `)(?:\.(` + reXR + `)(?:` + rePre + `)?` + reBuild + `?)?)?`
	reGTLT    = `((?:<|>)?=?)`
	reXPlainN = `[v=\s]*(?:` + reXR + `)(?:\.(?:` + reXR + `)(?:\.(?:` + reXR + `)(?:-?(?:` + rePreID + `(?:\.` + rePreID + `)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?`
)

var (
	looseVersionRE = regexp.MustCompile(`^` + reLoose + `$`)
	hyphenRE       = regexp.MustCompile(`^\s*(` + reXPlainN + `)\s+-\s+(` + reXPlainN + `)\s*$`)
	comparatorTrim = regexp.MustCompile(`(\s*)` + reGTLT + `\s*(` + reXPlainN + `)`)
	tildeTrim      = regexp.MustCompile(`(\s*)~>?\s+`)
	caretTrim      = regexp.MustCompile(`(\s*)\^\s+`)
	tildeRE        = regexp.MustCompile(`^~>?` + reXPlain + `$`)
	caretRE        = regexp.MustCompile(`^\^` + reXPlain + `$`)
	xRangeRE       = regexp.MustCompile(`^` + reGTLT + `\s*` + reXPlain + `$`)
	starRE         = regexp.MustCompile(`(<|>)?=?\s*\*`)
	gte0RE         = regexp.MustCompile(`^\s*>=\s*0\.0\.0\s*$`)
	comparatorRE   = regexp.MustCompile(`^` + reGTLT + `\s*(` + `[v=\s]*` + reNum + `\.` + reNum + `\.` + reNum + `(?:-?` + rePreID + `(?:\.` + rePreID + `)*)?` + `(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?` + `)$|^$`)
	buildRE        = regexp.MustCompile(reBuild)
	spaceRE        = regexp.MustCompile(`\s+`)
	orRE           = regexp.MustCompile(`\s*\|\|\s*`)
)

// parseVersion parses a version loosely ("v1.2.3", "=1.2.3", "1.2.3-beta.1+b").
func parseVersion(s string) (version, error) {
	m := looseVersionRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return version{}, fmt.Errorf("invalid version %q", s)
	}
	v := version{raw: s}
	var err error
	nums := []*uint64{&v.major, &v.minor, &v.patch}
	for i, p := range nums {
		if *p, err = strconv.ParseUint(m[i+1], 10, 64); err != nil {
			return version{}, fmt.Errorf("invalid version %q: %w", s, err)
		}
	}
	if m[4] != "" {
		v.pre = strings.Split(m[4], ".")
	}
	return v, nil
}

func isNumeric(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func compareIdent(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		ai, _ := strconv.ParseUint(a, 10, 64)
		bi, _ := strconv.ParseUint(b, 10, 64)
		return cmpU(ai, bi)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compare orders versions by semver precedence.
func (v version) compare(o version) int {
	if c := cmpU(v.major, o.major); c != 0 {
		return c
	}
	if c := cmpU(v.minor, o.minor); c != 0 {
		return c
	}
	if c := cmpU(v.patch, o.patch); c != 0 {
		return c
	}
	switch {
	case len(v.pre) == 0 && len(o.pre) == 0:
		return 0
	case len(v.pre) == 0:
		return 1
	case len(o.pre) == 0:
		return -1
	}
	for i := 0; i < len(v.pre) && i < len(o.pre); i++ {
		if c := compareIdent(v.pre[i], o.pre[i]); c != 0 {
			return c
		}
	}
	return cmpU(uint64(len(v.pre)), uint64(len(o.pre)))
}

// comparator is one "op version" test; any matches everything.
type comparator struct {
	op  string // "", "<", "<=", ">", ">="
	v   version
	any bool
}

func (c comparator) test(v version) bool {
	if c.any {
		return true
	}
	r := v.compare(c.v)
	switch c.op {
	case "":
		return r == 0
	case "<":
		return r < 0
	case "<=":
		return r <= 0
	case ">":
		return r > 0
	case ">=":
		return r >= 0
	}
	return false
}

// semverRange is a union of comparator sets (an npm range).
type semverRange struct {
	raw  string
	sets [][]comparator
}

var errInvalidRange = errors.New("invalid semver range")

// parseRange parses an npm range loosely; a range with no valid comparator
// set (a dist-tag such as "latest") is an error.
func parseRange(s string) (*semverRange, error) {
	raw := strings.Join(strings.Fields(s), " ")
	r := &semverRange{raw: raw}
	for _, part := range orRE.Split(raw, -1) {
		set := parseComparatorSet(strings.TrimSpace(part))
		if len(set) > 0 {
			r.sets = append(r.sets, set)
		}
	}
	if len(r.sets) == 0 {
		return nil, fmt.Errorf("%w %q", errInvalidRange, s)
	}
	if len(r.sets) > 1 {
		// Drop null sets; a set matching anything makes the range "*".
		var kept [][]comparator
		for _, set := range r.sets {
			if isNullSet(set) {
				continue
			}
			if len(set) == 1 && set[0].any {
				r.sets = [][]comparator{set}
				return r, nil
			}
			kept = append(kept, set)
		}
		if len(kept) > 0 {
			r.sets = kept
		}
	}
	return r, nil
}

func isNullSet(set []comparator) bool {
	return len(set) == 1 && !set[0].any && set[0].op == "<" && set[0].v.String() == "0.0.0-0"
}

func parseComparatorSet(rng string) []comparator {
	rng = hyphenRE.ReplaceAllStringFunc(rng, func(m string) string {
		sm := hyphenRE.FindStringSubmatch(m)
		return hyphenReplace(sm[1], sm[2])
	})
	rng = comparatorTrim.ReplaceAllString(rng, "${1}${2}${3}")
	rng = tildeTrim.ReplaceAllString(rng, "${1}~")
	rng = caretTrim.ReplaceAllString(rng, "${1}^")
	var comps []string
	for _, c := range strings.Split(rng, " ") {
		comps = append(comps, parseComparator(c))
	}
	var list []string
	for _, c := range spaceRE.Split(strings.Join(comps, " "), -1) {
		c = gte0RE.ReplaceAllString(strings.TrimSpace(c), "")
		if comparatorRE.MatchString(c) { // loose mode drops the rest
			list = append(list, c)
		}
	}
	var set []comparator
	seen := map[string]bool{}
	for _, c := range list {
		m := comparatorRE.FindStringSubmatch(c)
		cmp := comparator{any: true}
		if m[2] != "" {
			v, err := parseVersion(m[2])
			if err != nil {
				continue
			}
			op := m[1]
			if op == "=" {
				op = ""
			}
			cmp = comparator{op: op, v: v}
		}
		if isNullSet([]comparator{cmp}) {
			return []comparator{cmp}
		}
		key := "*"
		if !cmp.any {
			key = cmp.op + cmp.v.String()
		}
		if !seen[key] {
			seen[key] = true
			set = append(set, cmp)
		}
	}
	if len(set) > 1 {
		var kept []comparator
		for _, c := range set {
			if !c.any {
				kept = append(kept, c)
			}
		}
		set = kept
	}
	return set
}

func isX(s string) bool { return s == "" || s == "x" || s == "X" || s == "*" }

func atoiPlus(s string, n uint64) string {
	i, _ := strconv.ParseUint(s, 10, 64)
	return strconv.FormatUint(i+n, 10)
}

func hyphenReplace(from, to string) string {
	fm := regexp.MustCompile(`^` + reXPlain + `$`).FindStringSubmatch(strings.TrimSpace(from))
	tm := regexp.MustCompile(`^` + reXPlain + `$`).FindStringSubmatch(strings.TrimSpace(to))
	if fm == nil || tm == nil {
		return from + " - " + to
	}
	fM, fmi, fp, fpr := fm[1], fm[2], fm[3], fm[4]
	tM, tmi, tp, tpr := tm[1], tm[2], tm[3], tm[4]
	switch {
	case isX(fM):
		from = ""
	case isX(fmi):
		from = ">=" + fM + ".0.0"
	case isX(fp):
		from = ">=" + fM + "." + fmi + ".0"
	default:
		from = ">=" + strings.TrimSpace(from)
	}
	_ = fpr
	switch {
	case isX(tM):
		to = ""
	case isX(tmi):
		to = "<" + atoiPlus(tM, 1) + ".0.0-0"
	case isX(tp):
		to = "<" + tM + "." + atoiPlus(tmi, 1) + ".0-0"
	case tpr != "":
		to = "<=" + tM + "." + tmi + "." + tp + "-" + tpr
	default:
		to = "<=" + strings.TrimSpace(to)
	}
	return strings.TrimSpace(from + " " + to)
}

func parseComparator(comp string) string {
	comp = buildRE.ReplaceAllString(comp, "")
	comp = mapFields(comp, replaceCaret)
	comp = mapFields(comp, replaceTilde)
	comp = mapFields(comp, replaceXRange)
	return starRE.ReplaceAllString(strings.TrimSpace(comp), "")
}

func mapFields(comp string, f func(string) string) string {
	fs := strings.Fields(comp)
	for i, c := range fs {
		fs[i] = f(c)
	}
	return strings.Join(fs, " ")
}

func replaceTilde(comp string) string {
	m := tildeRE.FindStringSubmatch(comp)
	if m == nil {
		return comp
	}
	M, mi, p, pr := m[1], m[2], m[3], m[4]
	switch {
	case isX(M):
		return ""
	case isX(mi):
		return ">=" + M + ".0.0 <" + atoiPlus(M, 1) + ".0.0-0"
	case isX(p):
		return ">=" + M + "." + mi + ".0 <" + M + "." + atoiPlus(mi, 1) + ".0-0"
	case pr != "":
		return ">=" + M + "." + mi + "." + p + "-" + pr + " <" + M + "." + atoiPlus(mi, 1) + ".0-0"
	}
	return ">=" + M + "." + mi + "." + p + " <" + M + "." + atoiPlus(mi, 1) + ".0-0"
}

func replaceCaret(comp string) string {
	m := caretRE.FindStringSubmatch(comp)
	if m == nil {
		return comp
	}
	M, mi, p, pr := m[1], m[2], m[3], m[4]
	zero := func(s string) bool { i, err := strconv.ParseUint(s, 10, 64); return err == nil && i == 0 }
	switch {
	case isX(M):
		return ""
	case isX(mi):
		return ">=" + M + ".0.0 <" + atoiPlus(M, 1) + ".0.0-0"
	case isX(p):
		if zero(M) {
			return ">=" + M + "." + mi + ".0 <" + M + "." + atoiPlus(mi, 1) + ".0-0"
		}
		return ">=" + M + "." + mi + ".0 <" + atoiPlus(M, 1) + ".0.0-0"
	}
	lo := ">=" + M + "." + mi + "." + p
	if pr != "" {
		lo += "-" + pr
	}
	switch {
	case zero(M) && zero(mi):
		return lo + " <" + M + "." + mi + "." + atoiPlus(p, 1) + "-0"
	case zero(M):
		return lo + " <" + M + "." + atoiPlus(mi, 1) + ".0-0"
	}
	return lo + " <" + atoiPlus(M, 1) + ".0.0-0"
}

func replaceXRange(comp string) string {
	m := xRangeRE.FindStringSubmatch(strings.TrimSpace(comp))
	if m == nil {
		return comp
	}
	gtlt, M, mi, p := m[1], m[2], m[3], m[4]
	xM := isX(M)
	xm := xM || isX(mi)
	xp := xm || isX(p)
	if gtlt == "=" && xp {
		gtlt = ""
	}
	pr := ""
	switch {
	case xM:
		if gtlt == ">" || gtlt == "<" {
			return "<0.0.0-0"
		}
		return "*"
	case gtlt != "" && xp:
		if xm {
			mi = "0"
		}
		p = "0"
		switch gtlt {
		case ">":
			gtlt = ">="
			if xm {
				M, mi = atoiPlus(M, 1), "0"
			} else {
				mi = atoiPlus(mi, 1)
			}
		case "<=":
			gtlt = "<"
			if xm {
				M = atoiPlus(M, 1)
			} else {
				mi = atoiPlus(mi, 1)
			}
		}
		if gtlt == "<" {
			pr = "-0"
		}
		return gtlt + M + "." + mi + "." + p + pr
	case xm:
		return ">=" + M + ".0.0 <" + atoiPlus(M, 1) + ".0.0-0"
	case xp:
		return ">=" + M + "." + mi + ".0 <" + M + "." + atoiPlus(mi, 1) + ".0-0"
	}
	return comp
}

// test says whether v satisfies the range, with npm's prerelease rule.
func (r *semverRange) test(v version) bool {
	for _, set := range r.sets {
		if testSet(set, v) {
			return true
		}
	}
	return false
}

func testSet(set []comparator, v version) bool {
	for _, c := range set {
		if !c.test(v) {
			return false
		}
	}
	if len(v.pre) == 0 {
		return true
	}
	// A prerelease only satisfies when a comparator of this set names a
	// prerelease of the same major.minor.patch.
	for _, c := range set {
		if c.any || len(c.v.pre) == 0 {
			continue
		}
		if c.v.major == v.major && c.v.minor == v.minor && c.v.patch == v.patch {
			return true
		}
	}
	return false
}

// satisfies is node-semver's satisfies(version, range, {loose: true}):
// false for an unparsable version or range.
func satisfies(ver, rng string) bool {
	v, err := parseVersion(ver)
	if err != nil {
		return false
	}
	r, err := parseRange(rng)
	if err != nil {
		return false
	}
	return r.test(v)
}

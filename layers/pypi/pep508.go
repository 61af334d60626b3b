package pypi

// PEP 508 dependency specifications and environment markers, hand-written
// (no Go module for them is served): a small recursive-descent parser
// following the PEP's grammar and packaging's evaluation rules.

import (
	"fmt"
	"regexp"
	"strings"
)

// Requirement is a parsed PEP 508 dependency specification.
type Requirement struct {
	Name      string // as written
	Extras    []string
	Specs     Specifiers
	URL       string  // a "name @ url" requirement (not supported by Resolve)
	Marker    *Marker // nil: always
	Raw       string
	specsText string
}

// Normalize is PEP 503's name normalisation ("Python_Dateutil" -> "python-dateutil").
func Normalize(name string) string {
	return strings.ToLower(nameSepRE.ReplaceAllString(strings.TrimSpace(name), "-"))
}

var (
	nameSepRE = regexp.MustCompile(`[-_.]+`)
	reqNameRE = regexp.MustCompile(`^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*`)
)

// ParseRequirement parses a requirement such as
// `botocore (<1.22.0,>=1.21.55)` or `six>=1.5; python_version >= "3"`.
func ParseRequirement(s string) (Requirement, error) {
	r := Requirement{Raw: strings.TrimSpace(s)}
	fail := func(format string, a ...any) (Requirement, error) {
		return Requirement{}, fmt.Errorf("invalid requirement %q: %s", r.Raw, fmt.Sprintf(format, a...))
	}
	m := reqNameRE.FindStringSubmatch(s)
	if m == nil {
		return fail("no project name")
	}
	r.Name = m[1]
	rest := s[len(m[0]):]
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return fail("unclosed extras")
		}
		for _, e := range strings.Split(rest[1:end], ",") {
			if e = strings.TrimSpace(e); e != "" {
				if !reqNameRE.MatchString(e) {
					return fail("invalid extra %q", e)
				}
				r.Extras = append(r.Extras, Normalize(e))
			}
		}
		rest = strings.TrimSpace(rest[end+1:])
	}
	var marker string
	if strings.HasPrefix(rest, "@") {
		// name @ url [ ; marker]: a marker after a URL needs a space before ';'.
		u := strings.TrimSpace(rest[1:])
		if i := strings.Index(u, " ;"); i >= 0 {
			u, marker = strings.TrimSpace(u[:i]), u[i+2:]
		}
		r.URL = u
		if r.URL == "" {
			return fail("empty URL")
		}
	} else {
		spec, mk, hasMarker := strings.Cut(rest, ";")
		if hasMarker {
			marker = mk
			if strings.TrimSpace(marker) == "" {
				return fail("empty marker")
			}
		}
		spec = strings.TrimSpace(spec)
		if strings.HasPrefix(spec, "(") {
			if !strings.HasSuffix(spec, ")") {
				return fail("unclosed parenthesis")
			}
			spec = strings.TrimSpace(spec[1 : len(spec)-1])
		}
		specs, err := ParseSpecifiers(spec)
		if err != nil {
			return fail("%v", err)
		}
		r.Specs, r.specsText = specs, strings.Join(strings.Fields(spec), "")
	}
	if strings.TrimSpace(marker) != "" {
		mk, err := ParseMarker(marker)
		if err != nil {
			return fail("%v", err)
		}
		r.Marker = mk
	}
	return r, nil
}

// String is the requirement without its marker, as in messages:
// "botocore<1.22.0,>=1.21.55".
func (r Requirement) String() string {
	s := r.Name
	if len(r.Extras) > 0 {
		s += "[" + strings.Join(r.Extras, ",") + "]"
	}
	if r.URL != "" {
		return s + " @ " + r.URL
	}
	return s + r.specsText
}

// Marker is a parsed PEP 508 environment marker.
type Marker struct{ root markerNode }

type markerNode interface {
	eval(env map[string]string) (bool, error)
}

type markerBool struct {
	and         bool
	left, right markerNode
}

func (n markerBool) eval(env map[string]string) (bool, error) {
	l, err := n.left.eval(env)
	if err != nil {
		return false, err
	}
	if n.and && !l || !n.and && l {
		return l, nil
	}
	return n.right.eval(env)
}

// markerValue is a variable (name set) or a quoted string.
type markerValue struct{ name, lit string }

type markerCmp struct {
	op          string
	left, right markerValue
}

// Marker variables (PEP 508 and the legacy dotted names).
var markerVars = map[string]string{
	"python_version": "python_version", "python_full_version": "python_full_version",
	"os_name": "os_name", "os.name": "os_name", "sys_platform": "sys_platform", "sys.platform": "sys_platform",
	"platform_release": "platform_release", "platform_system": "platform_system",
	"platform_version": "platform_version", "platform.version": "platform_version",
	"platform_machine": "platform_machine", "platform.machine": "platform_machine",
	"platform_python_implementation": "platform_python_implementation",
	"platform.python_implementation": "platform_python_implementation",
	"python_implementation":          "platform_python_implementation",
	"implementation_name":            "implementation_name", "implementation_version": "implementation_version",
	"extra": "extra",
}

func (v markerValue) value(env map[string]string) string {
	if v.name != "" {
		return env[v.name]
	}
	return v.lit
}

func (n markerCmp) eval(env map[string]string) (bool, error) {
	l, r := n.left.value(env), n.right.value(env)
	if n.left.name == "extra" || n.right.name == "extra" {
		l, r = Normalize(l), Normalize(r)
	}
	if n.op != "in" && n.op != "not in" {
		if sp, err := ParseSpecifier(n.op + r); err == nil {
			if v, err := ParseVersion(l); err == nil {
				return sp.Contains(v), nil
			}
		}
	}
	switch n.op {
	case "==":
		return l == r, nil
	case "!=":
		return l != r, nil
	case "in":
		return strings.Contains(r, l), nil
	case "not in":
		return !strings.Contains(r, l), nil
	case "<":
		return l < r, nil
	case "<=":
		return l <= r, nil
	case ">":
		return l > r, nil
	case ">=":
		return l >= r, nil
	}
	return false, fmt.Errorf("marker: cannot compare %q %s %q", l, n.op, r)
}

// Evaluate evaluates the marker in env (variable name -> value).
func (m *Marker) Evaluate(env map[string]string) (bool, error) {
	if m == nil {
		return true, nil
	}
	return m.root.eval(env)
}

// ParseMarker parses a marker expression.
func ParseMarker(s string) (*Marker, error) {
	p := &markerParser{s: s}
	n, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("invalid marker %q: %w", strings.TrimSpace(s), err)
	}
	if p.skip(); p.i != len(p.s) {
		return nil, fmt.Errorf("invalid marker %q: unexpected %q", strings.TrimSpace(s), p.s[p.i:])
	}
	return &Marker{root: n}, nil
}

type markerParser struct {
	s string
	i int
}

func (p *markerParser) skip() {
	for p.i < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.i])) {
		p.i++
	}
}

// keyword consumes word if it comes next as a whole word.
func (p *markerParser) keyword(word string) bool {
	p.skip()
	if !strings.HasPrefix(p.s[p.i:], word) {
		return false
	}
	end := p.i + len(word)
	if end < len(p.s) && isIdent(p.s[end]) {
		return false
	}
	p.i = end
	return true
}

func isIdent(c byte) bool {
	return c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func (p *markerParser) or() (markerNode, error) {
	left, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("or") {
		right, err := p.and()
		if err != nil {
			return nil, err
		}
		left = markerBool{left: left, right: right}
	}
	return left, nil
}

func (p *markerParser) and() (markerNode, error) {
	left, err := p.expr()
	if err != nil {
		return nil, err
	}
	for p.keyword("and") {
		right, err := p.expr()
		if err != nil {
			return nil, err
		}
		left = markerBool{and: true, left: left, right: right}
	}
	return left, nil
}

func (p *markerParser) expr() (markerNode, error) {
	p.skip()
	if p.i < len(p.s) && p.s[p.i] == '(' {
		p.i++
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.skip(); p.i >= len(p.s) || p.s[p.i] != ')' {
			return nil, fmt.Errorf("missing ')'")
		}
		p.i++
		return n, nil
	}
	l, err := p.value()
	if err != nil {
		return nil, err
	}
	op, err := p.op()
	if err != nil {
		return nil, err
	}
	r, err := p.value()
	if err != nil {
		return nil, err
	}
	return markerCmp{op: op, left: l, right: r}, nil
}

func (p *markerParser) value() (markerValue, error) {
	p.skip()
	if p.i >= len(p.s) {
		return markerValue{}, fmt.Errorf("unexpected end")
	}
	if q := p.s[p.i]; q == '"' || q == '\'' {
		end := strings.IndexByte(p.s[p.i+1:], q)
		if end < 0 {
			return markerValue{}, fmt.Errorf("unclosed string")
		}
		v := markerValue{lit: p.s[p.i+1 : p.i+1+end]}
		p.i += end + 2
		return v, nil
	}
	start := p.i
	for p.i < len(p.s) && isIdent(p.s[p.i]) {
		p.i++
	}
	word := p.s[start:p.i]
	name, ok := markerVars[word]
	if !ok {
		return markerValue{}, fmt.Errorf("unknown marker variable %q", word)
	}
	return markerValue{name: name}, nil
}

func (p *markerParser) op() (string, error) {
	p.skip()
	for _, op := range []string{"===", "==", "!=", "~=", "<=", ">=", "<", ">"} {
		if strings.HasPrefix(p.s[p.i:], op) {
			p.i += len(op)
			return op, nil
		}
	}
	if p.keyword("in") {
		return "in", nil
	}
	save := p.i
	if p.keyword("not") && p.keyword("in") {
		return "not in", nil
	}
	p.i = save
	return "", fmt.Errorf("expected a comparison operator at %q", p.s[p.i:])
}

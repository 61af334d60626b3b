package rpm

import (
	"errors"
	"fmt"
	"strings"
)

// rich is a parsed rich (boolean) dependency: "(A or (B and C >= 1))".
type rich struct {
	op   string // "" for a leaf; and, or, if, unless, with, without
	args []*rich
	elze *rich // the "else" operand of if/unless
	leaf dep
}

var richOps = map[string]bool{"and": true, "or": true, "if": true, "unless": true, "with": true, "without": true}

// parseRich parses a rich dependency as rpm writes it.
func parseRich(s string) (*rich, error) {
	toks := tokenizeRich(s)
	r, rest, err := parseRichExpr(toks)
	if err != nil {
		return nil, fmt.Errorf("rich dependency %q: %w", s, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("rich dependency %q: unexpected %q", s, rest[0])
	}
	return r, nil
}

func tokenizeRich(s string) []string {
	var toks []string
	cur := strings.Builder{}
	depth := 0 // parentheses inside a name, as in "libfoo.so.1()(64bit)"
	flush := func() {
		if cur.Len() > 0 {
			toks = append(toks, cur.String())
			cur.Reset()
		}
		depth = 0
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '(' && cur.Len() > 0:
			depth++
			cur.WriteByte(c)
		case c == ')' && depth > 0:
			depth--
			cur.WriteByte(c)
		case c == '(' || c == ')':
			flush()
			toks = append(toks, string(c))
		case c == ' ' || c == '\t':
			flush()
		default:
			cur.WriteByte(c)
		}
	}
	flush()
	return toks
}

// parseRichExpr parses "(" operand [op operand]... ")" from toks.
func parseRichExpr(toks []string) (*rich, []string, error) {
	if len(toks) == 0 || toks[0] != "(" {
		return nil, toks, errors.New("missing (")
	}
	toks = toks[1:]
	first, toks, err := parseRichOperand(toks)
	if err != nil {
		return nil, toks, err
	}
	r := first
	for len(toks) > 0 && toks[0] != ")" {
		op := toks[0]
		if !richOps[op] && op != "else" {
			return nil, toks, fmt.Errorf("unknown operator %q", op)
		}
		next, rest, err := parseRichOperand(toks[1:])
		if err != nil {
			return nil, rest, err
		}
		toks = rest
		switch {
		case op == "else":
			if r.op != "if" && r.op != "unless" || r.elze != nil {
				return nil, toks, errors.New("else without if or unless")
			}
			r.elze = next
		case r == first || r.op != op || op == "if" || op == "unless":
			r = &rich{op: op, args: []*rich{r, next}}
		default:
			r.args = append(r.args, next)
		}
	}
	if len(toks) == 0 {
		return nil, toks, errors.New("missing )")
	}
	return r, toks[1:], nil
}

// parseRichOperand parses a nested expression or "name [op evr]".
func parseRichOperand(toks []string) (*rich, []string, error) {
	if len(toks) == 0 {
		return nil, toks, errors.New("missing operand")
	}
	if toks[0] == "(" {
		return parseRichExpr(toks)
	}
	if toks[0] == ")" || richOps[toks[0]] || toks[0] == "else" {
		return nil, toks, fmt.Errorf("unexpected %q", toks[0])
	}
	d := dep{name: toks[0]}
	toks = toks[1:]
	if len(toks) >= 2 {
		if f, ok := map[string]int{"=": senseEqual, "<": senseLess, ">": senseGreater, "<=": senseLess | senseEqual, ">=": senseGreater | senseEqual}[toks[0]]; ok {
			d.flags, d.evr = f, ParseEVR(toks[1])
			toks = toks[2:]
		}
	}
	return &rich{leaf: d}, toks, nil
}

// holds reports whether r is met by what is chosen or excluded.
func (s *solver) richHolds(r *rich) bool {
	switch r.op {
	case "":
		return s.holds(r.leaf)
	case "and", "with":
		for _, a := range r.args {
			if !s.richHolds(a) {
				return false
			}
		}
		return true
	case "or":
		for _, a := range r.args {
			if s.richHolds(a) {
				return true
			}
		}
		return false
	case "if", "unless":
		if s.richHolds(r.args[1]) == (r.op == "if") {
			return s.richHolds(r.args[0])
		}
		return r.elze == nil || s.richHolds(r.elze)
	case "without":
		return s.richHolds(r.args[0])
	}
	return false
}

// satisfyRich meets p's rich requirement text, returning what it chose.
func (s *solver) satisfyRich(p *pkg, text string) ([]*pkg, error) {
	r, err := parseRich(text)
	if err != nil {
		return nil, fmt.Errorf("rpm: %s: %w", s.chain(p), err)
	}
	return s.meet(p, r, text)
}

func (s *solver) meet(p *pkg, r *rich, text string) ([]*pkg, error) {
	switch r.op {
	case "":
		q, err := s.satisfy(p, r.leaf, text)
		if q == nil {
			return nil, err
		}
		return []*pkg{q}, err
	case "and", "with":
		var out []*pkg
		for _, a := range r.args {
			added, err := s.meet(p, a, text)
			out = append(out, added...)
			if err != nil {
				return out, err
			}
		}
		return out, nil
	case "or":
		if s.richHolds(r) {
			return nil, nil
		}
		var first error
		for _, a := range r.args {
			added, err := s.meet(p, a, text)
			if err == nil {
				return added, nil
			}
			if len(added) > 0 {
				return added, err // partly chosen: cannot try another
			}
			if first == nil {
				first = err
			}
		}
		return nil, first
	case "if", "unless":
		if s.richHolds(r.args[1]) == (r.op == "if") {
			return s.meet(p, r.args[0], text)
		}
		if r.elze != nil {
			return s.meet(p, r.elze, text)
		}
		return nil, nil
	case "without":
		return s.meet(p, r.args[0], text)
	}
	return nil, fmt.Errorf("rpm: %s: unknown operator %q in %s", s.chain(p), r.op, text)
}

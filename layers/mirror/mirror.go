// Package mirror rewrites URL and registry-reference prefixes, as given by
// --mirror FROM=TO and RTBUILD_MIRRORS.
package mirror

import (
	"fmt"
	"strings"
)

// Rule rewrites a prefix From to To.
type Rule struct{ From, To string }

// String returns the rule as FROM=TO.
func (r Rule) String() string { return r.From + "=" + r.To }

// Rules is an ordered set of rules; the longest matching From wins.
type Rules []Rule

// Parse parses FROM=TO specs; each spec may itself hold several
// comma-separated rules (the RTBUILD_MIRRORS form). Blank specs and blank
// items between commas are ignored, so an unset RTBUILD_MIRRORS is no rule.
// A rule without "=", or with an empty FROM or TO, is an error.
//
// Matching is a plain string prefix: "https://nodejs.org/dist=http://m/dist"
// rewrites https://nodejs.org/dist/v14.21.3/x.tar.xz to
// http://m/dist/v14.21.3/x.tar.xz, and "public.ecr.aws=127.0.0.1:5000"
// rewrites public.ecr.aws/lambda/python:3.9 to 127.0.0.1:5000/lambda/python:3.9.
func Parse(specs ...string) (Rules, error) {
	var rules Rules
	for _, spec := range specs {
		for _, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			from, to, ok := strings.Cut(item, "=")
			from, to = strings.TrimSpace(from), strings.TrimSpace(to)
			switch {
			case !ok:
				return nil, fmt.Errorf("invalid mirror %q: want FROM=TO (e.g. https://nodejs.org/dist=https://mirror.example/nodejs)", item)
			case from == "":
				return nil, fmt.Errorf("invalid mirror %q: FROM is empty: want FROM=TO", item)
			case to == "":
				return nil, fmt.Errorf("invalid mirror %q: TO is empty: want FROM=TO", item)
			}
			rules = append(rules, Rule{From: from, To: to})
		}
	}
	return rules, nil
}

// Rewrite returns s with the longest matching prefix replaced; s unchanged
// when no rule matches. Among rules with equally long prefixes the first wins.
func (r Rules) Rewrite(s string) string {
	best := -1
	for i, rule := range r {
		if strings.HasPrefix(s, rule.From) && (best < 0 || len(rule.From) > len(r[best].From)) {
			best = i
		}
	}
	if best < 0 {
		return s
	}
	return r[best].To + s[len(r[best].From):]
}

// String returns the rules in the comma-separated RTBUILD_MIRRORS form.
func (r Rules) String() string {
	parts := make([]string, len(r))
	for i, rule := range r {
		parts[i] = rule.String()
	}
	return strings.Join(parts, ",")
}

// Package mirror rewrites URL and registry-reference prefixes, as given by
// --mirror FROM=TO and RTBUILD_MIRRORS.
package mirror

// Rule rewrites a prefix From to To.
type Rule struct{ From, To string }

// Rules is an ordered set of rules; the longest matching From wins.
type Rules []Rule

// Parse parses FROM=TO specs; each spec may itself hold several
// comma-separated rules (the RTBUILD_MIRRORS form).
//   func Parse(specs ...string) (Rules, error)

// Rewrite returns s with the longest matching prefix replaced; s unchanged
// when no rule matches.
//   func (r Rules) Rewrite(s string) string

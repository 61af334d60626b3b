package images

import (
	"fmt"
	"slices"
	"strings"

	"github.com/agnivade/levenshtein"
)

// Runtime returns the runtime with identifier id. An unknown id gets an
// error naming the nearest identifiers: `unknown runtime "pyhton3.9" (did
// you mean python3.9?)`.
func (c *Catalog) Runtime(id string) (*Runtime, error) {
	if r := c.lookup(id); r != nil {
		return r, nil
	}
	if near := c.Suggest(id); len(near) > 0 {
		return nil, fmt.Errorf("unknown runtime %q (did you mean %s?)", id, orList(near))
	}
	return nil, fmt.Errorf("unknown runtime %q (have %s)", id, strings.Join(c.Identifiers(), ", "))
}

func (c *Catalog) lookup(id string) *Runtime {
	for _, r := range c.Runtimes {
		if r != nil && r.Identifier == id {
			return r
		}
	}
	return nil
}

// Identifiers lists the runtimes' identifiers in catalog order.
func (c *Catalog) Identifiers() []string {
	ids := make([]string, 0, len(c.Runtimes))
	for _, r := range c.Runtimes {
		ids = append(ids, r.Identifier)
	}
	return ids
}

// Suggest returns up to three identifiers nearest to id by edit distance
// (ignoring case), those at the smallest distance found, in catalog order;
// none when even the nearest is too far to be a typo.
func (c *Catalog) Suggest(id string) []string {
	want := strings.ToLower(id)
	best := -1
	var near []string
	for _, r := range c.Runtimes {
		d := levenshtein.ComputeDistance(want, strings.ToLower(r.Identifier))
		switch {
		case best < 0 || d < best:
			best, near = d, []string{r.Identifier}
		case d == best:
			near = append(near, r.Identifier)
		}
	}
	if best < 0 || best > max(3, len(id)*2/3) {
		return nil
	}
	return near[:min(3, len(near))]
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Base returns the runtime's base image entry (nil if the catalog lacks it).
func (c *Catalog) Base(r *Runtime) *Base { return c.Bases[r.Base] }

// OS returns the operating system the runtime's image is built on ("Amazon
// Linux 2"), the OS column of Lambda's runtime table.
func (r *Runtime) OS(c *Catalog) string {
	if b := c.Base(r); b != nil {
		return b.OS
	}
	return ""
}

// Supports reports whether the runtime is built for arch.
func (r *Runtime) Supports(arch Arch) bool { return slices.Contains(r.Architectures, arch) }

// CheckArch returns nil if the runtime is built for arch, and otherwise an
// error that names the runtime to use instead: `runtime "go1.x" does not
// support arm64 (Amazon Linux images are x86_64 only): use provided.al2`.
func (c *Catalog) CheckArch(r *Runtime, arch Arch) error {
	if r.Supports(arch) {
		return nil
	}
	var have []string
	for _, a := range r.Architectures {
		have = append(have, string(a))
	}
	msg := fmt.Sprintf("runtime %q does not support %s (%s images are %s only)", r.Identifier, arch, r.OS(c), strings.Join(have, ", "))
	if alt := c.lookup(r.Alternative); alt != nil && alt.Supports(arch) {
		msg += ": use " + alt.Identifier
	}
	return fmt.Errorf("%s", msg)
}

// ComponentFor returns the sources of c for arch: those listed under arch,
// else those under "any", else none.
func ComponentFor(c *Component, arch Arch) []*Source {
	if s, ok := c.Sources[arch]; ok {
		return s
	}
	return c.Sources[AnyArch]
}

// ComponentSources is ComponentFor under the name the builder uses.
func ComponentSources(c *Component, arch Arch) []*Source { return ComponentFor(c, arch) }

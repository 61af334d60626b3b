package images

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The lock file shipped with the embedded catalog: what `rtbuild lock`
// resolved from the publishers' metadata.
//
//go:embed catalog.lock.yaml
var embeddedLock []byte

const embeddedLockName = "(embedded) catalog.lock.yaml"

// Lock is a lock file: per component, the sources `rtbuild lock` resolved
// and the spec they were resolved for. Its schema is in docs/sources.md.
type Lock struct {
	// Catalog is the catalog version the lock was made with (for people).
	Catalog string `yaml:"catalog" json:"catalog"`
	// Components are the locked components by key.
	Components map[string]*LockedComponent `yaml:"components" json:"components"`
}

// LockedComponent is one component's lock entry.
type LockedComponent struct {
	// Spec is SpecHash of the component when it was locked; a component
	// whose spec changed since is not locked by this entry.
	Spec string `yaml:"spec" json:"spec"`
	// Sources per arch ("any" when every arch resolved the same).
	Sources map[Arch][]*Source `yaml:"sources" json:"sources"`
}

// SpecHash identifies what a lock entry was resolved from: the component's
// kind, version and resolve block, and, where the lock pins listed sources
// (checksums, github-release), their URLs.
func SpecHash(c *Component) string {
	type spec struct {
		Kind    string            `json:"kind"`
		Version string            `json:"version"`
		Resolve *Resolve          `json:"resolve"`
		URLs    map[Arch][]string `json:"urls,omitempty"`
	}
	s := spec{Kind: c.Kind, Version: c.Version, Resolve: c.Resolve}
	if !c.Resolve.Produces() {
		s.URLs = map[Arch][]string{}
		for arch, list := range c.Sources {
			for _, src := range list {
				s.URLs[arch] = append(s.URLs[arch], src.URL)
			}
		}
	}
	b, _ := json.Marshal(s) // maps are sorted by encoding/json
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ParseLock decodes a lock file strictly; name is used in errors.
func ParseLock(name string, data []byte) (*Lock, error) {
	var l Lock
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&l); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("lock file %s: %s", name, yamlMessage(err))
	}
	for key, lc := range l.Components {
		if lc == nil {
			return nil, fmt.Errorf("lock file %s: component %q: empty entry", name, key)
		}
		for arch, list := range lc.Sources {
			for i, s := range list {
				if s == nil || s.URL == "" || !hex64.MatchString(s.SHA256) {
					return nil, fmt.Errorf("lock file %s: component %q: sources.%s[%d]: want url and a sha256 (64 lowercase hex digits)", name, key, arch, i)
				}
			}
		}
	}
	return &l, nil
}

// ReadLock reads and parses a lock file.
func ReadLock(path string) (*Lock, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	return ParseLock(path, data)
}

// EmbeddedLock returns the lock file shipped inside rtbuild.
func EmbeddedLock() (*Lock, error) { return ParseLock(embeddedLockName, embeddedLock) }

// Marshal encodes the lock file with a header comment.
func (l *Lock) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# rtbuild lock file: written by `rtbuild lock`; do not edit by hand.\n")
	buf.WriteString("# Each component's sources were resolved from its publisher's metadata\n")
	buf.WriteString("# (docs/sources.md); spec identifies the catalog entry they were resolved for.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(l); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// ApplyLock applies a lock to the catalog: a component resolved from a
// package registry takes the locked sources when its spec still matches;
// any other component's sources take the locked sha256 of the same URL
// where the catalog has none. It returns the keys of lock entries that no
// longer match their component (stale: run `rtbuild lock` again).
func (c *Catalog) ApplyLock(l *Lock) (stale []string) {
	for _, key := range sortedKeys(l.Components) {
		lc := l.Components[key]
		comp := c.Components[key]
		if comp == nil {
			continue
		}
		if lc.Spec != SpecHash(comp) {
			stale = append(stale, key)
			continue
		}
		if comp.Resolve.Produces() {
			comp.Sources = map[Arch][]*Source{}
			for arch, list := range lc.Sources {
				for _, s := range list {
					cp := *s
					comp.Sources[arch] = append(comp.Sources[arch], &cp)
				}
			}
			continue
		}
		for arch, list := range comp.Sources {
			for _, s := range list {
				if s.SHA256 != "" {
					continue
				}
				for _, ls := range lc.Sources[arch] {
					if ls.URL == s.URL {
						s.SHA256, s.Digest = ls.SHA256, ls.Digest
					}
				}
			}
		}
	}
	return stale
}

// PinState says whether a component is pinned for an arch.
type PinState struct {
	Component string `json:"component"`
	Pinned    bool   `json:"pinned"`
	// Reason says, when not pinned, what is missing and how to pin it.
	Reason string `json:"reason,omitempty"`
	// Sources is how many artifacts the component has for the arch.
	Sources int `json:"sources"`
}

// PinStateOf reports whether every artifact of component key for arch has
// a sha256. Builtins and inline content are pinned by rtbuild itself.
func (c *Catalog) PinStateOf(key string, arch Arch) PinState {
	comp := c.Components[key]
	st := PinState{Component: key, Pinned: true}
	if comp == nil {
		return PinState{Component: key, Reason: "not in the catalog"}
	}
	srcs := ComponentFor(comp, arch)
	st.Sources = len(srcs)
	if comp.Resolve.Produces() && len(srcs) == 0 {
		st.Pinned = false
		st.Reason = fmt.Sprintf("not locked: `rtbuild lock` resolves it from %s (%s) on a machine that reaches it", comp.Resolve.Registry, comp.Resolve.URL)
		return st
	}
	var missing []string
	for _, s := range srcs {
		if s.SHA256 == "" {
			missing = append(missing, s.URL)
		}
	}
	if len(missing) > 0 {
		st.Pinned = false
		how := "no publisher metadata is named: pin it with sha256 in a --catalog overlay"
		if comp.Resolve != nil {
			how = fmt.Sprintf("`rtbuild lock` pins it from %s (%s) on a machine that reaches it", comp.Resolve.Registry, resolveWhere(comp.Resolve, arch))
		}
		st.Reason = fmt.Sprintf("%d of %d artifacts unpinned (%s); %s", len(missing), len(srcs), strings.Join(missing, ", "), how)
	}
	return st
}

func resolveWhere(r *Resolve, arch Arch) string {
	if r.Repo != "" {
		return r.Repo + "@" + r.Tag
	}
	return r.URLFor(arch)
}

// LockKeys returns the components the runtimes use, sorted, each once.
func (c *Catalog) LockKeys(runtimes ...*Runtime) []string {
	var keys []string
	for _, r := range runtimes {
		for _, k := range r.Components {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.Sort(keys)
	return keys
}

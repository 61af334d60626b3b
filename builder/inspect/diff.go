package inspect

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
)

// Diff: what changed between two images, or between two catalogs.
//
// Both operands are first reduced to a Side: per platform (a runtime and an
// architecture for a catalog; an architecture for an image, whose runtime
// label is compared as config), the base, the components in layer order
// with their versions and digests, and the config rtbuild sets. An image's
// components come from rtbuild's history entries (as Inspect reads them)
// and their digests are layer digests; a catalog's come from its plan for
// each runtime and their digests are the artifacts' sha256 (or the URL of
// an unpinned one, or the sha256 of content rtbuild writes itself). An
// image and a catalog are not compared: their digests mean different things.

// Side is one operand of a diff, reduced to what is compared.
type Side struct {
	Ref       string         `json:"ref"`
	Kind      string         `json:"kind"`             // "image" or "catalog"
	Digest    string         `json:"digest,omitempty"` // of the image's index or manifest
	Version   string         `json:"version,omitempty"`
	Platforms []SidePlatform `json:"-"`
}

// SidePlatform is one platform of a Side.
type SidePlatform struct {
	Runtime    string // catalog: the runtime identifier; image: ""
	Arch       string // Lambda's name (x86_64, arm64)
	Digest     string // image: the platform manifest's digest
	Base       string
	Components []SideComponent
	Env        []string
	Entrypoint []string
	Cmd        []string
	WorkingDir string
	Labels     map[string]string
}

// SideComponent is one component of a platform.
type SideComponent struct {
	Name, Version, Digest string
}

// ImageSide reduces an Inspect report to a Side.
func ImageSide(rep *Report) *Side {
	s := &Side{Ref: rep.Ref, Kind: "image", Digest: rep.Digest}
	for _, p := range rep.Platforms {
		sp := SidePlatform{
			Arch: lambdaArch(p.Platform), Digest: p.Digest,
			Env: p.Config.Env, Entrypoint: p.Config.Entrypoint, Cmd: p.Config.Cmd,
			WorkingDir: p.Config.WorkingDir, Labels: p.Config.Labels,
		}
		var baseLayers []string
		for _, l := range p.Layers {
			if l.Component == BaseComponent {
				baseLayers = append(baseLayers, l.Digest)
				continue
			}
			sp.Components = append(sp.Components, SideComponent{Name: l.Component, Version: l.Version, Digest: l.Digest})
		}
		name, dgst := p.Annotations["org.opencontainers.image.base.name"], p.Annotations["org.opencontainers.image.base.digest"]
		switch {
		case name != "" && dgst != "" && !strings.Contains(name, "@"):
			sp.Base = name + "@" + dgst
		case name != "":
			sp.Base = name
		case len(baseLayers) > 0:
			sp.Base = fmt.Sprintf("%d layer(s) ending in %s", len(baseLayers), baseLayers[len(baseLayers)-1])
		}
		if s.Version == "" {
			s.Version = p.Annotations["org.opencontainers.image.version"]
		}
		s.Platforms = append(s.Platforms, sp)
	}
	return s
}

// CatalogSide reduces a catalog to a Side: every runtime (or those named),
// for every architecture it supports, with the components and config
// `rtbuild image` would build it from. A component a package registry
// produces that is not locked yet has the digest "not locked".
func CatalogSide(ref string, cat *images.Catalog, runtimes []string) (*Side, error) {
	if len(runtimes) == 0 {
		runtimes = cat.Identifiers()
	}
	s := &Side{Ref: ref, Kind: "catalog", Version: cat.Version}
	for _, id := range runtimes {
		rt, err := cat.Runtime(id)
		if err != nil {
			return nil, &builder.UsageError{Msg: ref + ": " + err.Error()}
		}
		cfg := cat.ImageConfig(rt)
		for _, arch := range rt.Architectures {
			sp := SidePlatform{
				Runtime: rt.Identifier, Arch: string(arch), Base: cat.Bases[rt.Base].Image,
				Env: cfg.Env, Entrypoint: cfg.Entrypoint, WorkingDir: cfg.WorkingDir, Labels: cfg.Labels,
			}
			for _, key := range rt.Components {
				comp := cat.Components[key]
				d, err := componentDigest(cat, rt, comp, images.ComponentSources(comp, arch))
				if err != nil {
					return nil, fmt.Errorf("%s: runtime %s: component %s: %w", ref, rt.Identifier, key, err)
				}
				sp.Components = append(sp.Components, SideComponent{Name: key, Version: comp.Version, Digest: d})
			}
			s.Platforms = append(s.Platforms, sp)
		}
	}
	return s, nil
}

// componentDigest names what a component is made of for one arch: its
// artifacts' sha256 (the URL of an unpinned one), or the sha256 of the
// content rtbuild writes (builtins, inline files).
func componentDigest(cat *images.Catalog, rt *images.Runtime, comp *images.Component, srcs []*images.Source) (string, error) {
	if len(srcs) > 0 {
		parts := make([]string, len(srcs))
		for i, s := range srcs {
			if s.SHA256 != "" {
				parts[i] = "sha256:" + strings.ToLower(s.SHA256)
			} else {
				parts[i] = s.URL
			}
		}
		return strings.Join(parts, ","), nil
	}
	var content []byte
	var err error
	switch {
	case comp.Resolve.Produces():
		return "not locked", nil
	case comp.Kind == images.KindArchive && comp.Builtin != "":
		content, err = images.BuiltinArchive(comp.Builtin)
	case comp.Builtin != "":
		content, err = images.Builtin(comp.Builtin, cat, rt)
	default:
		content = []byte(comp.Content)
	}
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(content)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// DiffReport is what changed from A to B.
type DiffReport struct {
	A *Side `json:"a"`
	B *Side `json:"b"`
	// Equal is true when nothing below differs.
	Equal bool `json:"equal"`
	// Version is set when the catalog version differs.
	Version   *Change        `json:"version,omitempty"`
	Platforms []PlatformDiff `json:"platforms"`
}

// Change is a value in A and in B; "" where absent.
type Change struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Platform statuses.
const (
	Added     = "added"     // only in B
	Removed   = "removed"   // only in A
	Changed   = "changed"   // in both, different
	Unchanged = "unchanged" // in both, the same
)

// PlatformDiff is one platform's changes.
type PlatformDiff struct {
	Runtime    string            `json:"runtime,omitempty"`
	Arch       string            `json:"arch"`
	Status     string            `json:"status"`
	Digest     *Change           `json:"digest,omitempty"` // images: the platform manifests
	Base       *Change           `json:"base,omitempty"`
	Components []ComponentChange `json:"components,omitempty"`
	Config     []ConfigChange    `json:"config,omitempty"`
}

// Component changes.
const (
	ComponentAdded     = "added"
	ComponentRemoved   = "removed"
	ComponentVersion   = "version"   // From and To are versions
	ComponentDigest    = "digest"    // same version, different content; From and To are digests
	ComponentReordered = "reordered" // the same components in another layer order
)

// ComponentChange is one component's change.
type ComponentChange struct {
	Component string `json:"component"`
	Change    string `json:"change"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
}

// ConfigChange is one change of the image config: Field is env, label,
// entrypoint, cmd or workingDir; Key the variable or label name.
type ConfigChange struct {
	Field string `json:"field"`
	Key   string `json:"key,omitempty"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Diff compares a with b. Both must be of the same kind.
func Diff(a, b *Side) (*DiffReport, error) {
	if a.Kind != b.Kind {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("cannot compare %s %s with %s %s: give two images or two catalogs", article(a.Kind), a.Ref, article(b.Kind), b.Ref)}
	}
	r := &DiffReport{A: a, B: b, Equal: true}
	if a.Version != b.Version {
		r.Version = &Change{From: a.Version, To: b.Version}
		r.Equal = false
	}
	key := func(p SidePlatform) string { return p.Runtime + "\x00" + p.Arch }
	inB := map[string]SidePlatform{}
	for _, p := range b.Platforms {
		inB[key(p)] = p
	}
	seen := map[string]bool{}
	for _, pa := range a.Platforms {
		seen[key(pa)] = true
		pb, ok := inB[key(pa)]
		if !ok {
			r.Platforms = append(r.Platforms, PlatformDiff{Runtime: pa.Runtime, Arch: pa.Arch, Status: Removed})
			r.Equal = false
			continue
		}
		d := diffPlatform(pa, pb)
		if d.Status != Unchanged {
			r.Equal = false
		}
		r.Platforms = append(r.Platforms, d)
	}
	for _, pb := range b.Platforms {
		if !seen[key(pb)] {
			r.Platforms = append(r.Platforms, PlatformDiff{Runtime: pb.Runtime, Arch: pb.Arch, Status: Added})
			r.Equal = false
		}
	}
	return r, nil
}

func diffPlatform(a, b SidePlatform) PlatformDiff {
	d := PlatformDiff{Runtime: a.Runtime, Arch: a.Arch, Status: Unchanged}
	if a.Digest != b.Digest {
		d.Digest = &Change{From: a.Digest, To: b.Digest}
	}
	if a.Base != b.Base {
		d.Base = &Change{From: a.Base, To: b.Base}
	}
	// Components, by name, in A's order then B's new ones.
	ca, cb := map[string]SideComponent{}, map[string]SideComponent{}
	for _, c := range a.Components {
		ca[c.Name] = c
	}
	for _, c := range b.Components {
		cb[c.Name] = c
	}
	for _, c := range a.Components {
		o, ok := cb[c.Name]
		switch {
		case !ok:
			d.Components = append(d.Components, ComponentChange{Component: c.Name, Change: ComponentRemoved, From: c.Version})
		case o.Version != c.Version:
			d.Components = append(d.Components, ComponentChange{Component: c.Name, Change: ComponentVersion, From: c.Version, To: o.Version})
		case o.Digest != c.Digest:
			d.Components = append(d.Components, ComponentChange{Component: c.Name, Change: ComponentDigest, From: c.Digest, To: o.Digest})
		}
	}
	for _, c := range b.Components {
		if _, ok := ca[c.Name]; !ok {
			d.Components = append(d.Components, ComponentChange{Component: c.Name, Change: ComponentAdded, To: c.Version})
		}
	}
	if len(d.Components) == 0 && !sameOrder(a.Components, b.Components) {
		d.Components = append(d.Components, ComponentChange{Component: "*", Change: ComponentReordered, From: names(a.Components), To: names(b.Components)})
	}
	// Config.
	d.Config = append(d.Config, diffEnv(a.Env, b.Env)...)
	for _, f := range []struct {
		field    string
		from, to string
	}{
		{"entrypoint", argv(a.Entrypoint), argv(b.Entrypoint)},
		{"cmd", argv(a.Cmd), argv(b.Cmd)},
		{"workingDir", a.WorkingDir, b.WorkingDir},
	} {
		if f.from != f.to {
			d.Config = append(d.Config, ConfigChange{Field: f.field, From: f.from, To: f.to})
		}
	}
	d.Config = append(d.Config, diffMap("label", a.Labels, b.Labels)...)
	if d.Digest != nil || d.Base != nil || len(d.Components) > 0 || len(d.Config) > 0 {
		d.Status = Changed
	}
	return d
}

func diffEnv(a, b []string) []ConfigChange {
	toMap := func(env []string) map[string]string {
		m := map[string]string{}
		for _, kv := range env {
			k, v, _ := strings.Cut(kv, "=")
			m[k] = v
		}
		return m
	}
	return diffMap("env", toMap(a), toMap(b))
}

// diffMap lists the keys whose values differ, sorted; a missing key is "".
func diffMap(field string, a, b map[string]string) []ConfigChange {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	var out []ConfigChange
	for _, k := range sorted {
		va, oka := a[k]
		vb, okb := b[k]
		if va != vb || oka != okb {
			out = append(out, ConfigChange{Field: field, Key: k, From: va, To: vb})
		}
	}
	return out
}

func sameOrder(a, b []SideComponent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
	}
	return true
}

func names(cs []SideComponent) string {
	n := make([]string, len(cs))
	for i, c := range cs {
		n[i] = c.Name
	}
	return strings.Join(n, ",")
}

func argv(a []string) string {
	if a == nil {
		return ""
	}
	return `["` + strings.Join(a, `", "`) + `"]`
}

// lambdaArch maps an os/arch[/variant] platform to Lambda's arch name.
func lambdaArch(platform string) string {
	parts := strings.Split(platform, "/")
	if len(parts) < 2 {
		return platform
	}
	if a, err := images.ParseArch(parts[1]); err == nil {
		return string(a)
	}
	return parts[1]
}

func article(kind string) string {
	if kind == "image" {
		return "an image"
	}
	return "a catalog"
}

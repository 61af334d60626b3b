// Package nuget resolves NuGet packages from a NuGet v3 source to a pinned
// closure of .nupkg files for one target framework.
//
// The service index names the flat container (PackageBaseAddress/3.0.0),
// which lists a package's versions and serves its .nupkg, and the
// registration hive (RegistrationsBaseUrl), whose catalog entries carry the
// dependency groups and, in the entry itself or in the catalog leaf it
// links to, the packageHash (base64 sha512) the publisher computed. The
// dependency group nearest to the target framework is followed; each range
// takes the lowest available version it admits, as NuGet does; a package
// met at several depths takes the nearest one's version (it must satisfy
// the farther ranges, else the resolution is a downgrade and an error), and
// cousins at one depth take the lowest version satisfying all their ranges.
// Every .nupkg is downloaded and verified against the packageHash.
package nuget

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// Resolve resolves packages ("Id@Version", an exact version) and their
// dependencies for framework (e.g. "netstandard2.0", "net6.0") from the v3
// source (its service index URL, or a base URL holding index.json). It
// returns the pinned packages, requested ones first, then breadth-first.
// Artifact.Digest is the SRI form "sha512-<base64>".
func Resolve(ctx context.Context, o resolve.Options, source, framework string, packages []string) ([]resolve.Artifact, error) {
	fw, err := ParseFramework(framework)
	if err != nil {
		return nil, fmt.Errorf("nuget: %w", err)
	}
	c, err := newClient(ctx, o, source)
	if err != nil {
		return nil, err
	}

	type node struct {
		id      string // as the registration spells it
		version Version
		entry   *catalogEntry
		chain   []string // "Id Version" from a requested package down to this one
	}
	type need struct {
		id    string
		rng   Range
		chain []string // parent chain
	}
	var level []*node
	resolved := map[string]*node{} // lower id -> node
	var order []*node
	for _, p := range packages {
		id, vs, ok := strings.Cut(strings.TrimSpace(p), "@")
		if !ok || id == "" || vs == "" {
			return nil, fmt.Errorf("nuget: package %q: want Id@Version", p)
		}
		v, err := ParseVersion(vs)
		if err != nil {
			return nil, fmt.Errorf("nuget: package %q: %w", p, err)
		}
		if prev, ok := resolved[strings.ToLower(id)]; ok {
			if prev.version.Compare(v) != 0 {
				return nil, fmt.Errorf("nuget: %s requested at both %s and %s", id, prev.version, v)
			}
			continue
		}
		e, err := c.entry(ctx, id, v)
		if err != nil {
			return nil, fmt.Errorf("nuget: %s %s: %w", id, v, err)
		}
		if e.PackageID != "" {
			id = e.PackageID // the registration's spelling
		}
		n := &node{id: id, version: v, entry: e, chain: []string{id + " " + v.String()}}
		resolved[strings.ToLower(id)] = n
		level = append(level, n)
	}
	for len(level) > 0 {
		order = append(order, level...)
		var needs []need
		for _, n := range level {
			deps, err := n.entry.dependencies(fw)
			if err != nil {
				return nil, fmt.Errorf("nuget: %s: %w", strings.Join(n.chain, " -> "), err)
			}
			for _, d := range deps {
				r, err := ParseRange(d.Range)
				if err != nil {
					return nil, fmt.Errorf("nuget: %s -> %s: %w", strings.Join(n.chain, " -> "), d.ID, err)
				}
				needs = append(needs, need{id: d.ID, rng: r, chain: n.chain})
			}
		}
		// Group this depth's requirements by package, in first-seen order.
		var ids []string
		byID := map[string][]need{}
		for _, nd := range needs {
			k := strings.ToLower(nd.id)
			if _, ok := byID[k]; !ok {
				ids = append(ids, k)
			}
			byID[k] = append(byID[k], nd)
		}
		var next []*node
		for _, k := range ids {
			group := byID[k]
			if have, ok := resolved[k]; ok {
				// Nearest wins; a farther range it does not satisfy is a downgrade.
				for _, nd := range group {
					if !nd.rng.Contains(have.version) {
						nearer := "the request"
						if len(have.chain) > 1 {
							nearer = strings.Join(have.chain[:len(have.chain)-1], " -> ")
						}
						return nil, fmt.Errorf("nuget: detected package downgrade: %s -> %s %s, but %s (nearer) resolved %s %s",
							strings.Join(nd.chain, " -> "), nd.id, nd.rng, nearer, have.id, have.version)
					}
				}
				continue
			}
			versions, err := c.versions(ctx, group[0].id)
			if err != nil {
				return nil, fmt.Errorf("nuget: %s -> %s %s: %w", strings.Join(group[0].chain, " -> "), group[0].id, group[0].rng, err)
			}
			var pick *Version
			for i := range versions { // ascending: the lowest applicable version
				if !c.listed(ctx, group[0].id, versions[i]) {
					continue // unlisted versions are used only when asked for exactly
				}
				ok := true
				for _, nd := range group {
					ok = ok && nd.rng.Contains(versions[i])
				}
				if ok {
					pick = &versions[i]
					break
				}
			}
			if pick == nil {
				var wants []string
				for _, nd := range group {
					wants = append(wants, strings.Join(nd.chain, " -> ")+" -> "+nd.id+" "+nd.rng.String())
				}
				return nil, fmt.Errorf("nuget: no version of %s satisfies %s (available: %s)",
					group[0].id, strings.Join(wants, " and "), listVersions(versions))
			}
			chain := append(append([]string(nil), group[0].chain...), group[0].id+" "+pick.String())
			e, err := c.entry(ctx, group[0].id, *pick)
			if err != nil {
				return nil, fmt.Errorf("nuget: %s: %w", strings.Join(chain, " -> "), err)
			}
			n := &node{id: e.PackageID, version: *pick, entry: e, chain: chain}
			if n.id == "" {
				n.id = group[0].id
			}
			resolved[k] = n
			next = append(next, n)
		}
		level = next
	}

	out := make([]resolve.Artifact, len(order))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, n := range order {
		g.Go(func() error {
			chain := strings.Join(n.chain, " -> ")
			d, err := c.digest(gctx, n.entry)
			if err != nil {
				return fmt.Errorf("nuget: %s: %w", chain, err)
			}
			u := c.nupkgURL(n.id, n.version)
			sum, err := o.Pin(gctx, u, d)
			if err != nil {
				return fmt.Errorf("nuget: %s: %w", chain, err)
			}
			a := resolve.Artifact{Name: n.id, Version: n.version.String(), URL: u, SHA256: sum, Digest: d}
			if len(n.chain) > 1 {
				a.RequiredBy = strings.Join(n.chain[:len(n.chain)-1], " -> ") + " -> " + n.id
			}
			out[i] = a
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

func listVersions(vs []Version) string {
	if len(vs) == 0 {
		return "none"
	}
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = v.String()
	}
	return strings.Join(s, ", ")
}

// client talks to one v3 source within one resolution.
type client struct {
	o             resolve.Options
	flat          string                              // PackageBaseAddress, ending in "/"
	registrations string                              // RegistrationsBaseUrl, ending in "/"
	regs          map[string]map[string]*catalogEntry // lower id -> normalized version -> entry
	vers          map[string][]Version
}

// Service index resource types, most preferred first.
var registrationTypes = []string{
	"RegistrationsBaseUrl/3.6.0", "RegistrationsBaseUrl/3.4.0", "RegistrationsBaseUrl/Versioned",
	"RegistrationsBaseUrl/3.0.0-rc", "RegistrationsBaseUrl/3.0.0-beta", "RegistrationsBaseUrl",
}

func newClient(ctx context.Context, o resolve.Options, source string) (*client, error) {
	index := strings.TrimRight(source, "/")
	if !strings.HasSuffix(strings.ToLower(index), ".json") {
		index += "/index.json"
	}
	var doc struct {
		Resources []struct {
			ID   string `json:"@id"`
			Type any    `json:"@type"` // a string (sometimes a list)
		} `json:"resources"`
	}
	if err := o.GetJSON(ctx, index, &doc); err != nil {
		return nil, fmt.Errorf("nuget: service index: %w", err)
	}
	byType := map[string]string{}
	for _, r := range doc.Resources {
		switch t := r.Type.(type) {
		case string:
			if _, ok := byType[t]; !ok {
				byType[t] = r.ID
			}
		case []any:
			for _, x := range t {
				if s, ok := x.(string); ok {
					if _, ok := byType[s]; !ok {
						byType[s] = r.ID
					}
				}
			}
		}
	}
	c := &client{o: o, regs: map[string]map[string]*catalogEntry{}, vers: map[string][]Version{}}
	c.flat = byType["PackageBaseAddress/3.0.0"]
	for _, t := range registrationTypes {
		if c.registrations = byType[t]; c.registrations != "" {
			break
		}
	}
	if c.flat == "" || c.registrations == "" {
		return nil, fmt.Errorf("nuget: service index %s lacks PackageBaseAddress/3.0.0 or RegistrationsBaseUrl", index)
	}
	c.flat = strings.TrimRight(c.flat, "/") + "/"
	c.registrations = strings.TrimRight(c.registrations, "/") + "/"
	return c, nil
}

func (c *client) nupkgURL(id string, v Version) string {
	lid, lv := url.PathEscape(strings.ToLower(id)), url.PathEscape(strings.ToLower(v.String()))
	return c.flat + lid + "/" + lv + "/" + lid + "." + lv + ".nupkg"
}

// versions lists id's versions from the flat container, ascending.
func (c *client) versions(ctx context.Context, id string) ([]Version, error) {
	k := strings.ToLower(id)
	if vs, ok := c.vers[k]; ok {
		return vs, nil
	}
	var doc struct {
		Versions []string `json:"versions"`
	}
	u := c.flat + url.PathEscape(k) + "/index.json"
	if err := c.o.GetJSON(ctx, u, &doc); err != nil {
		if resolve.NotFound(err) {
			return nil, fmt.Errorf("package %s is not in the source: %w", id, err)
		}
		return nil, err
	}
	var vs []Version
	for _, s := range doc.Versions {
		v, err := ParseVersion(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", u, err)
		}
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].Compare(vs[j]) < 0 })
	c.vers[k] = vs
	return vs, nil
}

type catalogEntry struct {
	CatalogID            string            `json:"@id"`
	PackageID            string            `json:"id"`
	Version              string            `json:"version"`
	DependencyGroups     []dependencyGroup `json:"dependencyGroups"`
	Listed               *bool             `json:"listed"`
	PackageHash          string            `json:"packageHash"`
	PackageHashAlgorithm string            `json:"packageHashAlgorithm"`
}

type dependencyGroup struct {
	TargetFramework string `json:"targetFramework"`
	Dependencies    []struct {
		ID    string `json:"id"`
		Range string `json:"range"`
	} `json:"dependencies"`
}

type dependency struct{ ID, Range string }

// dependencies returns the dependencies of the group nearest to fw.
func (e *catalogEntry) dependencies(fw Framework) ([]dependency, error) {
	if len(e.DependencyGroups) == 0 {
		return nil, nil
	}
	names := make([]string, len(e.DependencyGroups))
	for i, g := range e.DependencyGroups {
		names[i] = g.TargetFramework
	}
	i, err := fw.nearest(names)
	if err != nil || i < 0 {
		return nil, err
	}
	var out []dependency
	for _, d := range e.DependencyGroups[i].Dependencies {
		out = append(out, dependency{ID: d.ID, Range: d.Range})
	}
	return out, nil
}

type registrationPage struct {
	ID    string `json:"@id"`
	Items []struct {
		CatalogEntry catalogEntry `json:"catalogEntry"`
	} `json:"items"`
}

// entry returns id v's catalog entry from the registration hive.
func (c *client) entry(ctx context.Context, id string, v Version) (*catalogEntry, error) {
	k := strings.ToLower(id)
	entries, ok := c.regs[k]
	if !ok {
		var index struct {
			Items []registrationPage `json:"items"`
		}
		u := c.registrations + url.PathEscape(k) + "/index.json"
		if err := c.o.GetJSON(ctx, u, &index); err != nil {
			if resolve.NotFound(err) {
				return nil, fmt.Errorf("package %s is not in the source: %w", id, err)
			}
			return nil, err
		}
		entries = map[string]*catalogEntry{}
		for _, page := range index.Items {
			if page.Items == nil && page.ID != "" {
				// Large registrations link their pages instead of inlining them.
				if err := c.o.GetJSON(ctx, page.ID, &page); err != nil {
					return nil, err
				}
			}
			for i := range page.Items {
				e := &page.Items[i].CatalogEntry
				ev, err := ParseVersion(e.Version)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", u, err)
				}
				entries[ev.String()] = e
			}
		}
		c.regs[k] = entries
	}
	e, ok := entries[v.String()]
	if !ok {
		var have []Version
		for s := range entries {
			hv, _ := ParseVersion(s)
			have = append(have, hv)
		}
		sort.Slice(have, func(i, j int) bool { return have[i].Compare(have[j]) < 0 })
		return nil, fmt.Errorf("%s %s is not in the source (it has: %s)", id, v, listVersions(have))
	}
	return e, nil
}

// listed says whether id v is listed; a version the registration does not
// describe, or a registration that cannot be read here, counts as listed
// (reading the entry again later reports the error).
func (c *client) listed(ctx context.Context, id string, v Version) bool {
	e, err := c.entry(ctx, id, v)
	return err != nil || e.Listed == nil || *e.Listed
}

// digest returns the publisher's "sha512-<base64>" for e, reading the
// catalog leaf when the registration does not inline packageHash.
func (c *client) digest(ctx context.Context, e *catalogEntry) (string, error) {
	hash, algo := e.PackageHash, e.PackageHashAlgorithm
	if hash == "" && e.CatalogID != "" {
		var leaf catalogEntry
		if err := c.o.GetJSON(ctx, e.CatalogID, &leaf); err != nil {
			return "", fmt.Errorf("catalog leaf: %w", err)
		}
		hash, algo = leaf.PackageHash, leaf.PackageHashAlgorithm
	}
	if hash == "" {
		return "", fmt.Errorf("no packageHash in the registration or catalog: it cannot be pinned from publisher metadata")
	}
	if algo != "" && !strings.EqualFold(algo, "SHA512") {
		return "", fmt.Errorf("packageHashAlgorithm %q: only SHA512 is supported", algo)
	}
	d := "sha512-" + hash
	if _, err := resolve.ParseDigest(d); err != nil {
		return "", err
	}
	return d, nil
}

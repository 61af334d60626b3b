// Package maven resolves Maven coordinates against a repository in the
// Maven 2 layout to a pinned closure of jars. For each coordinate it reads
// the POM (with its <parent> chain, <properties> and ${...} interpolation,
// and <dependencyManagement> including import-scoped BOMs), follows the
// compile and runtime <dependencies> (test, provided, system and
// optional=true are skipped; <exclusions> are honoured) and settles version
// conflicts as Maven does: the declaration nearest to the requested
// coordinates wins, the first declared at equal depth. Every POM and jar is
// verified against the checksum the repository publishes beside it
// (.sha256, else .sha512, else .sha1) and the jar's sha256 is pinned.
//
// Version ranges and SNAPSHOT versions are not supported: they are reported
// as errors naming the dependency chain.
package maven

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// Coordinate names one artifact: group:artifact:version, optionally with a
// classifier and the type (packaging of the file, "jar" when empty).
type Coordinate struct {
	Group, Artifact, Version, Classifier, Type string
}

// ParseCoordinate parses "group:artifact:version" or
// "group:artifact:version:classifier".
func ParseCoordinate(s string) (Coordinate, error) {
	parts := strings.Split(strings.TrimSpace(s), ":")
	if len(parts) < 3 || len(parts) > 4 {
		return Coordinate{}, fmt.Errorf("maven coordinate %q: want group:artifact:version[:classifier]", s)
	}
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "/\\ ") {
			return Coordinate{}, fmt.Errorf("maven coordinate %q: want group:artifact:version[:classifier] with non-empty parts", s)
		}
	}
	c := Coordinate{Group: parts[0], Artifact: parts[1], Version: parts[2]}
	if len(parts) == 4 {
		c.Classifier = parts[3]
	}
	return c, nil
}

// String is group:artifact:version[:classifier].
func (c Coordinate) String() string {
	s := c.Group + ":" + c.Artifact + ":" + c.Version
	if c.Classifier != "" {
		s += ":" + c.Classifier
	}
	return s
}

// key identifies an artifact regardless of version, for conflict resolution.
func (c Coordinate) key() string {
	return c.Group + ":" + c.Artifact + ":" + c.ext() + ":" + c.Classifier
}

// ext is the file extension of the type.
func (c Coordinate) ext() string {
	switch c.Type {
	case "", "jar", "bundle", "maven-plugin", "test-jar", "ejb":
		return "jar"
	}
	return c.Type
}

// path is the repository path of the file with extension ext.
func (c Coordinate) path(ext string, classifier string) string {
	name := c.Artifact + "-" + c.Version
	if classifier != "" {
		name += "-" + classifier
	}
	return strings.ReplaceAll(c.Group, ".", "/") + "/" + c.Artifact + "/" + c.Version + "/" + name + "." + ext
}

// Resolve resolves coords ("group:artifact:version[:classifier]") and their
// dependencies against repo (a Maven 2 layout base URL) and returns the
// pinned jars, requested coordinates first, then dependencies breadth-first.
// Artifact.Name is "group:artifact", Artifact.URL the jar and
// Artifact.Digest the published checksum used ("sha256:<hex>", ...).
func Resolve(ctx context.Context, o resolve.Options, repo string, coords []string) ([]resolve.Artifact, error) {
	r := &resolver{o: o, repo: strings.TrimRight(repo, "/"), raw: map[string]*pom{}, models: map[string]*model{}}
	type node struct {
		c     Coordinate
		chain []string // coordinates from a requested one down to this one
		excl  []string // "group:artifact" patterns ("*" wildcards) excluded below
	}
	var queue []node
	chosen := map[string]string{} // key -> version
	for _, s := range coords {
		c, err := ParseCoordinate(s)
		if err != nil {
			return nil, err
		}
		if v, ok := chosen[c.key()]; ok {
			if v != c.Version {
				return nil, fmt.Errorf("maven: %s and %s:%s:%s both requested", c, c.Group, c.Artifact, v)
			}
			continue
		}
		chosen[c.key()] = c.Version
		queue = append(queue, node{c: c, chain: []string{c.String()}})
	}

	type pick struct {
		c          Coordinate
		requiredBy string
		chain      string
	}
	var picks []pick
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		chain := strings.Join(n.chain, " -> ")
		m, err := r.model(ctx, n.c.Group, n.c.Artifact, n.c.Version, 0)
		if err != nil {
			return nil, fmt.Errorf("maven: %s: %w", chain, err)
		}
		root := len(n.chain) == 1
		if !(n.c.Type == "pom" || (root && n.c.Type == "" && m.Packaging == "pom")) {
			p := pick{c: n.c, chain: chain}
			if !root {
				var by []string
				for _, s := range n.chain[:len(n.chain)-1] {
					c, _ := ParseCoordinate(s)
					by = append(by, c.Group+":"+c.Artifact+" "+c.Version)
				}
				p.requiredBy = strings.Join(by, " -> ") + " -> " + n.c.Group + ":" + n.c.Artifact
			}
			picks = append(picks, p)
		}
		for _, d := range m.Dependencies {
			switch d.Scope {
			case "", "compile", "runtime":
			default: // test, provided, system, import
				continue
			}
			if d.Optional == "true" || excluded(n.excl, d.GroupID, d.ArtifactID) {
				continue
			}
			dc := Coordinate{Group: d.GroupID, Artifact: d.ArtifactID, Version: d.Version, Classifier: d.Classifier, Type: d.Type}
			if _, ok := chosen[dc.key()]; ok {
				continue // nearest (or first at equal depth) wins
			}
			if err := concrete(dc); err != nil {
				return nil, fmt.Errorf("maven: %s -> %s:%s: %w", chain, d.GroupID, d.ArtifactID, err)
			}
			chosen[dc.key()] = dc.Version
			excl := append([]string(nil), n.excl...)
			for _, e := range d.Exclusions {
				excl = append(excl, strings.TrimSpace(e.GroupID)+":"+strings.TrimSpace(e.ArtifactID))
			}
			queue = append(queue, node{c: dc, chain: append(append([]string(nil), n.chain...), dc.String()), excl: excl})
		}
	}

	out := make([]resolve.Artifact, len(picks))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for i, p := range picks {
		g.Go(func() error {
			u := r.repo + "/" + p.c.path(p.c.ext(), p.c.Classifier)
			d, err := r.publishedDigest(gctx, u)
			if err != nil {
				return fmt.Errorf("maven: %s: %w", p.chain, err)
			}
			sum, err := r.o.Pin(gctx, u, d)
			if err != nil {
				return fmt.Errorf("maven: %s: %w", p.chain, err)
			}
			out[i] = resolve.Artifact{
				Name: p.c.Group + ":" + p.c.Artifact, Version: p.c.Version,
				URL: u, SHA256: sum, Digest: d, RequiredBy: p.requiredBy,
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

// concrete reports versions the resolver cannot fetch as they stand.
func concrete(c Coordinate) error {
	switch {
	case c.Group == "" || c.Artifact == "":
		return fmt.Errorf("dependency without groupId or artifactId")
	case c.Version == "":
		return fmt.Errorf("no version (neither declared nor managed)")
	case strings.Contains(c.Version, "${"):
		return fmt.Errorf("version %q refers to an undefined property", c.Version)
	case strings.ContainsAny(c.Version, "[]()"):
		return fmt.Errorf("version range %q is not supported: pin an exact version", c.Version)
	case strings.HasSuffix(c.Version, "-SNAPSHOT"):
		return fmt.Errorf("SNAPSHOT version %q is not supported", c.Version)
	}
	return nil
}

func excluded(patterns []string, group, artifact string) bool {
	for _, p := range patterns {
		g, a, _ := strings.Cut(p, ":")
		if (g == "*" || g == group) && (a == "*" || a == artifact) {
			return true
		}
	}
	return false
}

type resolver struct {
	o      resolve.Options
	repo   string
	raw    map[string]*pom   // g:a:v -> parsed POM
	models map[string]*model // g:a:v -> effective model
}

// inherited is a POM merged with its parents, not yet interpolated.
type inherited struct {
	group, version string
	props          map[string]string
	deps, managed  []dependency
	parentGroup    string
	parentVersion  string
}

// pomFile fetches and verifies a POM.
func (r *resolver) pomFile(ctx context.Context, g, a, v string) (*pom, error) {
	id := g + ":" + a + ":" + v
	if p, ok := r.raw[id]; ok {
		return p, nil
	}
	c := Coordinate{Group: g, Artifact: a, Version: v}
	if err := concrete(c); err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	u := r.repo + "/" + c.path("pom", "")
	data, err := r.o.Get(ctx, u)
	if err != nil {
		if resolve.NotFound(err) {
			return nil, fmt.Errorf("%s is not in the repository: %w", id, err)
		}
		return nil, err
	}
	d, err := r.publishedDigest(ctx, u)
	if err != nil {
		return nil, err
	}
	dg, err := resolve.ParseDigest(d)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	dg.Write(data)
	if err := dg.Check(u); err != nil {
		return nil, err
	}
	p, err := parsePOM(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	r.raw[id] = p
	return p, nil
}

func (r *resolver) inherit(ctx context.Context, g, a, v string, depth int) (*inherited, *pom, error) {
	if depth > 16 {
		return nil, nil, fmt.Errorf("%s:%s:%s: <parent> chain deeper than 16 (a cycle?)", g, a, v)
	}
	p, err := r.pomFile(ctx, g, a, v)
	if err != nil {
		return nil, nil, err
	}
	in := &inherited{group: p.GroupID, version: p.Version, props: map[string]string{}}
	if p.Parent != nil {
		pin, _, err := r.inherit(ctx, p.Parent.GroupID, p.Parent.ArtifactID, p.Parent.Version, depth+1)
		if err != nil {
			return nil, nil, fmt.Errorf("parent of %s:%s:%s: %w", g, a, v, err)
		}
		for k, val := range pin.props {
			in.props[k] = val
		}
		in.deps = append(in.deps, pin.deps...)
		in.managed = append(in.managed, pin.managed...)
		in.parentGroup, in.parentVersion = p.Parent.GroupID, p.Parent.Version
		if in.group == "" {
			in.group = p.Parent.GroupID
		}
		if in.version == "" {
			in.version = p.Parent.Version
		}
	}
	for k, val := range p.Properties {
		in.props[k] = val
	}
	in.deps = append(in.deps, p.Dependencies...)
	in.managed = append(in.managed, p.DependencyManagement...) // later (child) entries win
	return in, p, nil
}

// model returns the effective model of g:a:v.
func (r *resolver) model(ctx context.Context, g, a, v string, depth int) (*model, error) {
	id := g + ":" + a + ":" + v
	if m, ok := r.models[id]; ok {
		return m, nil
	}
	if depth > 8 {
		return nil, fmt.Errorf("%s: BOM imports nested deeper than 8 (a cycle?)", id)
	}
	in, p, err := r.inherit(ctx, g, a, v, 0)
	if err != nil {
		return nil, err
	}
	props := in.props
	for _, prefix := range []string{"project.", "pom.", ""} {
		props[prefix+"groupId"] = in.group
		props[prefix+"artifactId"] = p.ArtifactID
		props[prefix+"version"] = in.version
	}
	props["project.parent.groupId"] = in.parentGroup
	props["project.parent.version"] = in.parentVersion
	props["parent.version"] = in.parentVersion
	ip := func(d dependency) dependency {
		for _, s := range []*string{&d.GroupID, &d.ArtifactID, &d.Version, &d.Type, &d.Classifier, &d.Scope, &d.Optional} {
			*s = interpolate(*s, props)
		}
		return d
	}
	m := &model{GroupID: in.group, ArtifactID: p.ArtifactID, Version: in.version, Packaging: p.Packaging, Managed: map[string]dependency{}}
	var imports []dependency
	for _, d := range in.managed {
		d = ip(d)
		if d.Scope == "import" && d.Type == "pom" {
			imports = append(imports, d)
			continue
		}
		m.Managed[mgmtKey(d)] = d
	}
	for _, d := range imports {
		if err := concrete(Coordinate{Group: d.GroupID, Artifact: d.ArtifactID, Version: d.Version}); err != nil {
			return nil, fmt.Errorf("%s imports BOM %s:%s: %w", id, d.GroupID, d.ArtifactID, err)
		}
		bom, err := r.model(ctx, d.GroupID, d.ArtifactID, d.Version, depth+1)
		if err != nil {
			return nil, fmt.Errorf("%s imports BOM: %w", id, err)
		}
		for k, md := range bom.Managed {
			if _, ok := m.Managed[k]; !ok {
				m.Managed[k] = md
			}
		}
	}
	// A dependency the child declares again replaces the parent's, in place.
	var deps []dependency
	at := map[string]int{}
	for _, d := range in.deps {
		d = ip(d)
		if i, ok := at[mgmtKey(d)]; ok {
			deps[i] = d
			continue
		}
		at[mgmtKey(d)] = len(deps)
		deps = append(deps, d)
	}
	for _, d := range deps {
		if md, ok := m.Managed[mgmtKey(d)]; ok {
			if d.Version == "" {
				d.Version = md.Version
			}
			if d.Scope == "" {
				d.Scope = md.Scope
			}
			if d.Optional == "" {
				d.Optional = md.Optional
			}
			d.Exclusions = append(d.Exclusions, md.Exclusions...)
		}
		m.Dependencies = append(m.Dependencies, d)
	}
	r.models[id] = m
	return m, nil
}

// publishedDigest reads the checksum the repository publishes for the file
// at u: u.sha256, else u.sha512, else u.sha1.
func (r *resolver) publishedDigest(ctx context.Context, u string) (string, error) {
	for _, algo := range []struct {
		ext  string
		size int
	}{{"sha256", 32}, {"sha512", 64}, {"sha1", 20}} {
		data, err := r.o.Get(ctx, u+"."+algo.ext)
		if resolve.NotFound(err) {
			continue
		}
		if err != nil {
			return "", err
		}
		// The file holds the hex digest, sometimes followed by the file name.
		fields := strings.Fields(string(data))
		if len(fields) == 0 {
			return "", fmt.Errorf("%s.%s is empty", u, algo.ext)
		}
		sum := strings.ToLower(fields[0])
		if b, err := hex.DecodeString(sum); err != nil || len(b) != algo.size {
			return "", fmt.Errorf("%s.%s: %q is not a %s digest", u, algo.ext, fields[0], algo.ext)
		}
		return algo.ext + ":" + sum, nil
	}
	return "", fmt.Errorf("no published checksum for %s (looked for .sha256, .sha512 and .sha1): it cannot be pinned from publisher metadata", u)
}

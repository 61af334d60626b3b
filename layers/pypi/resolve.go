// Package pypi is rtbuild's Python package adapter: it resolves PEP 508
// requirements and their dependency closure against a package index's JSON
// API into pinned wheels for one interpreter and platform (Resolve), and
// installs a downloaded wheel into an image directory the way
// `pip install --target` lays it out (Install).
//
// Resolution is pip's, without backtracking and binary-only: for each
// project, the highest version satisfying every constraint seen that has a
// compatible wheel (not yanked, Requires-Python admitting the interpreter),
// repeated until the choices settle. rtbuild never builds a source
// distribution: a project with only an sdist is an error that says so.
package pypi

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// projectJSON is the shape of GET {index}/{name}/json (the fields used).
type projectJSON struct {
	Info struct {
		Name         string   `json:"name"`
		Version      string   `json:"version"`
		RequiresDist []string `json:"requires_dist"`
	} `json:"info"`
	Releases map[string][]fileJSON `json:"releases"`
	URLs     []fileJSON            `json:"urls"`
}

// fileJSON is one distribution file of a release.
type fileJSON struct {
	Filename string `json:"filename"`
	URL      string `json:"url"`
	Digests  struct {
		SHA256 string `json:"sha256"`
	} `json:"digests"`
	PackageType    string `json:"packagetype"`
	RequiresPython string `json:"requires_python"`
	Yanked         bool   `json:"yanked"`
}

// release is one parseable version of a project.
type release struct {
	key   string // as the index spells it
	v     Version
	files []fileJSON
}

type project struct {
	name     string // the index's display name
	norm     string
	releases []release // newest first
}

// choice is the version picked for a project and its wheel.
type choice struct {
	rel   release
	wheel fileJSON
	deps  []Requirement
}

// constraint is a requirement on a project and who stated it.
type constraint struct {
	req   Requirement
	chain string // "boto3 1.18.55" or "boto3 1.18.55 -> s3transfer 0.5.0"; "" for a requested one
}

func (c constraint) String() string {
	if c.chain == "" {
		return "requested " + c.req.String()
	}
	return c.chain + " requires " + c.req.String()
}

type resolver struct {
	ctx      context.Context
	o        resolve.Options
	index    string
	env      *env
	projects map[string]*project
	deps     map[string][]Requirement // "name==version" -> requires_dist
}

// Resolve resolves requirements (PEP 508 strings, e.g. "boto3==1.18.55")
// and their whole dependency closure from a PyPI JSON API at index (its
// root, e.g. "https://pypi.org/pypi"), choosing for each project the
// highest version satisfying every constraint seen and for each the best
// wheel for env. Artifacts are sorted by name.
func Resolve(ctx context.Context, o resolve.Options, index string, env Env, requirements []string) ([]resolve.Artifact, error) {
	e, err := env.expand()
	if err != nil {
		return nil, fmt.Errorf("pypi: %w", err)
	}
	r := &resolver{ctx: ctx, o: o, index: strings.TrimRight(index, "/"), env: e,
		projects: map[string]*project{}, deps: map[string][]Requirement{}}
	var roots []Requirement
	for _, s := range requirements {
		req, err := ParseRequirement(s)
		if err != nil {
			return nil, fmt.Errorf("pypi: %w", err)
		}
		ok, err := req.Marker.Evaluate(e.markers(""))
		if err != nil {
			return nil, fmt.Errorf("pypi: requirement %q: %w", s, err)
		}
		if !ok {
			continue
		}
		if req.URL != "" {
			return nil, fmt.Errorf("pypi: requirement %q: direct URL requirements are not supported: name a version from the index", s)
		}
		roots = append(roots, req)
	}
	chosen := map[string]*choice{}
	const maxRounds = 50
	for round := 0; round < maxRounds; round++ {
		changed, order, why, firstErr := r.round(roots, chosen)
		if firstErr != nil && !changed {
			return nil, firstErr
		}
		if changed {
			continue
		}
		var arts []resolve.Artifact
		for _, n := range order {
			c := chosen[n]
			arts = append(arts, resolve.Artifact{
				Name:       r.projects[n].name,
				Version:    c.rel.key,
				URL:        c.wheel.URL,
				SHA256:     strings.ToLower(c.wheel.Digests.SHA256),
				Digest:     "sha256:" + strings.ToLower(c.wheel.Digests.SHA256),
				RequiredBy: why[n],
			})
		}
		sort.Slice(arts, func(i, j int) bool { return Normalize(arts[i].Name) < Normalize(arts[j].Name) })
		return arts, nil
	}
	return nil, fmt.Errorf("pypi: resolving %s: the choices did not settle after %d rounds (conflicting requirements without a common solution)", strings.Join(requirements, ", "), maxRounds)
}

// round walks the graph from the roots breadth first with the current
// choices, picking a version for projects that have none or whose choice
// no longer satisfies what is known, then rechecks every choice against
// all constraints. It reports whether any choice changed, the projects
// reached (in walk order), what first required each ("boto3 1.18.55 ->
// botocore"; "" for a requested one) and the first error met.
func (r *resolver) round(roots []Requirement, chosen map[string]*choice) (changed bool, order []string, why map[string]string, firstErr error) {
	cons := map[string][]constraint{}
	extras := map[string][]string{}
	expandedExtras := map[string][]string{}
	chainOf := map[string]string{} // the chain of the constraint that first reached a project
	failed := map[string]bool{}
	var queue []string
	push := func(c constraint) {
		n := Normalize(c.req.Name)
		if r.env.exclude[n] {
			return
		}
		cons[n] = append(cons[n], c)
		for _, x := range c.req.Extras {
			if !slices.Contains(extras[n], x) {
				extras[n] = append(extras[n], x)
			}
		}
		if _, seen := chainOf[n]; !seen {
			chainOf[n] = c.chain
			queue = append(queue, n)
		}
	}
	fail := func(n string, err error) {
		failed[n] = true
		if firstErr == nil {
			firstErr = err
		}
	}
	// repick chooses again for n when its choice does not meet cons[n].
	repick := func(n string) bool {
		c := chosen[n]
		if c != nil && satisfies(c.rel, cons[n]) {
			return true
		}
		nc, err := r.pick(n, cons[n])
		if err != nil {
			fail(n, err)
			return false
		}
		if c == nil || nc.rel.key != c.rel.key {
			changed = true
		}
		chosen[n] = nc
		return true
	}
	for _, req := range roots {
		push(constraint{req: req})
	}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		order = append(order, n)
		if !repick(n) {
			continue
		}
		c := chosen[n]
		sorted := slices.Clone(extras[n])
		slices.Sort(sorted)
		expandedExtras[n] = sorted
		parent := r.projects[n].name + " " + c.rel.key
		if chainOf[n] != "" {
			parent = chainOf[n] + " -> " + parent
		}
		for _, d := range c.deps {
			ok, err := r.wanted(d, sorted)
			if err != nil {
				fail(n, fmt.Errorf("pypi: %s %s: requirement %q: %w", r.projects[n].name, c.rel.key, d.Raw, err))
				break
			}
			if ok {
				push(constraint{req: d, chain: parent})
			}
		}
	}
	// Recheck with every constraint: some arrived after their project was visited.
	why = map[string]string{}
	for _, n := range order {
		if chainOf[n] != "" {
			why[n] = chainOf[n] + " -> " + r.displayName(n, n)
		}
		if failed[n] {
			continue
		}
		now := slices.Clone(extras[n])
		slices.Sort(now)
		if !slices.Equal(now, expandedExtras[n]) {
			changed = true
		}
		repick(n)
	}
	return changed, order, why, firstErr
}

// displayName is the name used in chains: the index's, else as written.
func (r *resolver) displayName(norm, written string) string {
	if p := r.projects[norm]; p != nil {
		return p.name
	}
	return written
}

// wanted evaluates d's marker for the requested extras (none: extra == "").
func (r *resolver) wanted(d Requirement, extras []string) (bool, error) {
	for _, x := range append([]string{""}, extras...) {
		ok, err := d.Marker.Evaluate(r.env.markers(x))
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func satisfies(rel release, cons []constraint) bool {
	ok, _ := matchAll(rel, cons, allowPre(cons))
	return ok
}

// allowPre: some constraint names a pre-release.
func allowPre(cons []constraint) bool {
	for _, c := range cons {
		if c.req.Specs.admitsPrereleases() {
			return true
		}
	}
	return false
}

// matchAll reports whether rel satisfies every constraint, else the first it fails.
func matchAll(rel release, cons []constraint, pre bool) (bool, *constraint) {
	for i := range cons {
		if !cons[i].req.Specs.Contains(rel.v, pre) {
			return false, &cons[i]
		}
	}
	return true, nil
}

// pick chooses the highest release satisfying cons that has a usable
// wheel (finals first, pre-releases when no final matches), or explains
// why there is none.
func (r *resolver) pick(n string, cons []constraint) (*choice, error) {
	p, err := r.project(n, cons)
	if err != nil {
		return nil, err
	}
	pre := allowPre(cons)
	var matching []release
	for _, passPre := range []bool{pre, true} {
		for _, rel := range p.releases {
			if ok, _ := matchAll(rel, cons, passPre); ok {
				matching = append(matching, rel)
			}
		}
		if len(matching) > 0 || pre {
			break
		}
	}
	if len(matching) == 0 {
		return nil, r.unsatisfiable(p, cons)
	}
	for _, rel := range matching {
		if w, ok := r.bestWheel(rel); ok {
			deps, err := r.requiresDist(p, rel)
			if err != nil {
				return nil, err
			}
			return &choice{rel: rel, wheel: w, deps: deps}, nil
		}
	}
	return nil, r.noWheel(p, matching[0], cons)
}

// unsatisfiable names the chain of each constraint that no release meets.
func (r *resolver) unsatisfiable(p *project, cons []constraint) error {
	var have []string
	for i := len(p.releases) - 1; i >= 0; i-- {
		have = append(have, p.releases[i].key)
	}
	if len(have) > 20 {
		have = append([]string{fmt.Sprintf("%d older", len(have)-20)}, have[len(have)-20:]...)
	}
	haveText := strings.Join(have, ", ")
	if haveText == "" {
		haveText = "no releases"
	}
	// A constraint no release meets on its own is the one to name.
	for _, c := range cons {
		met := false
		for _, rel := range p.releases {
			if ok, _ := matchAll(rel, []constraint{c}, true); ok {
				met = true
				break
			}
		}
		if !met {
			return fmt.Errorf("pypi: %s; no release satisfies it (have: %s)", c, haveText)
		}
	}
	parts := make([]string, len(cons))
	for i, c := range cons {
		parts[i] = c.String()
	}
	return fmt.Errorf("pypi: %s; no release satisfies them all (have: %s)", strings.Join(parts, " and "), haveText)
}

// noWheel explains why the highest matching release cannot be installed.
func (r *resolver) noWheel(p *project, rel release, cons []constraint) error {
	who := "requested"
	if len(cons) > 0 && cons[0].chain != "" {
		who = "required by " + cons[0].chain
	}
	var sdists, wheels, yanked, pyExcluded []string
	for _, f := range rel.files {
		switch {
		case f.Yanked:
			yanked = append(yanked, f.Filename)
		case !strings.HasSuffix(f.Filename, ".whl"):
			sdists = append(sdists, f.Filename)
		case !r.pythonOK(f):
			pyExcluded = append(pyExcluded, fmt.Sprintf("%s (requires_python %s)", f.Filename, f.RequiresPython))
		default:
			wheels = append(wheels, f.Filename)
		}
	}
	name := p.name + " " + rel.key
	switch {
	case len(wheels) > 0:
		return fmt.Errorf("pypi: no wheel of %s (%s) is compatible with %s; its wheels: %s", name, who, r.env, strings.Join(wheels, ", "))
	case len(pyExcluded) > 0:
		return fmt.Errorf("pypi: no wheel of %s (%s) supports Python %s: %s", name, who, r.env.full, strings.Join(pyExcluded, ", "))
	case len(sdists) > 0:
		return fmt.Errorf("pypi: %s (%s) has only a source distribution (%s): rtbuild installs wheels and does not build sdists; pin a version that publishes wheels", name, who, strings.Join(sdists, ", "))
	case len(yanked) > 0:
		return fmt.Errorf("pypi: every file of %s (%s) is yanked: %s", name, who, strings.Join(yanked, ", "))
	}
	return fmt.Errorf("pypi: %s (%s) has no files", name, who)
}

func (r *resolver) pythonOK(f fileJSON) bool {
	if strings.TrimSpace(f.RequiresPython) == "" {
		return true
	}
	specs, err := ParseSpecifiers(f.RequiresPython)
	if err != nil {
		return false // an unreadable Requires-Python is not a promise to run here
	}
	v, err := ParseVersion(r.env.full)
	return err == nil && specs.Contains(v, true)
}

// bestWheel is the release's most specific compatible wheel.
func (r *resolver) bestWheel(rel release) (fileJSON, bool) {
	var best fileJSON
	bestPrio, bestBuild := -1, ""
	for _, f := range rel.files {
		if f.Yanked || !strings.HasSuffix(f.Filename, ".whl") || !r.pythonOK(f) {
			continue
		}
		w, err := parseWheelName(f.Filename)
		if err != nil {
			continue
		}
		prio := r.env.priority(w)
		if prio < 0 {
			continue
		}
		if bestPrio < 0 || prio < bestPrio || prio == bestPrio && buildLess(bestBuild, w.build) ||
			prio == bestPrio && w.build == bestBuild && f.Filename < best.Filename {
			best, bestPrio, bestBuild = f, prio, w.build
		}
	}
	return best, bestPrio >= 0
}

// buildLess orders optional wheel build tags ("", "1", "2abc"): by number, then text.
func buildLess(a, b string) bool {
	num := func(s string) (int, string) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		n := 0
		fmt.Sscan(s[:i], &n)
		return n, s[i:]
	}
	if a == "" || b == "" {
		return a == "" && b != ""
	}
	na, sa := num(a)
	nb, sb := num(b)
	if na != nb {
		return na < nb
	}
	return sa < sb
}

// project fetches (once) a project's release list.
func (r *resolver) project(n string, cons []constraint) (*project, error) {
	if p := r.projects[n]; p != nil {
		return p, nil
	}
	u := r.index + "/" + url.PathEscape(n) + "/json"
	var pj projectJSON
	if err := r.o.GetJSON(r.ctx, u, &pj); err != nil {
		if resolve.NotFound(err) {
			who := "requested"
			if len(cons) > 0 && cons[0].chain != "" {
				who = "required by " + cons[0].chain
			}
			return nil, fmt.Errorf("pypi: project %q (%s) is not on the index %s: %w", n, who, r.index, err)
		}
		return nil, fmt.Errorf("pypi: project %s: %w", n, err)
	}
	p := &project{name: pj.Info.Name, norm: n}
	if p.name == "" {
		p.name = n
	}
	for key, files := range pj.Releases {
		v, err := ParseVersion(key)
		if err != nil {
			continue // a legacy, non-PEP 440 version: pip ignores it too
		}
		p.releases = append(p.releases, release{key: key, v: v, files: files})
	}
	sort.SliceStable(p.releases, func(i, j int) bool {
		if c := p.releases[i].v.Compare(p.releases[j].v); c != 0 {
			return c > 0
		}
		return p.releases[i].key < p.releases[j].key
	})
	r.projects[n] = p
	return p, nil
}

// requiresDist fetches (once) a release's dependencies.
func (r *resolver) requiresDist(p *project, rel release) ([]Requirement, error) {
	key := p.norm + "==" + rel.key
	if d, ok := r.deps[key]; ok {
		return d, nil
	}
	u := r.index + "/" + url.PathEscape(p.norm) + "/" + url.PathEscape(rel.key) + "/json"
	var vj projectJSON
	if err := r.o.GetJSON(r.ctx, u, &vj); err != nil {
		return nil, fmt.Errorf("pypi: %s %s: %w", p.name, rel.key, err)
	}
	var deps []Requirement
	for _, s := range vj.Info.RequiresDist {
		req, err := ParseRequirement(s)
		if err != nil {
			return nil, fmt.Errorf("pypi: %s %s (%s): %w", p.name, rel.key, u, err)
		}
		if req.URL != "" {
			return nil, fmt.Errorf("pypi: %s %s requires %q, a direct URL, which is not supported", p.name, rel.key, s)
		}
		deps = append(deps, req)
	}
	r.deps[key] = deps
	return deps, nil
}

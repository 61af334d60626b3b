// Package rubygems is rtbuild's RubyGems adapter: Resolve pins a set of gems
// and their runtime dependency closure from a RubyGems server's JSON API
// (pure-Ruby gems, platform "ruby", for one Ruby version), and Install lays
// one downloaded .gem out in a GEM_HOME as `gem install` does: the gem's
// files, a Ruby gemspec generated from its metadata, and bin stubs.
//
// The server API used (the public RubyGems server's, which its mirrors serve too):
//
//	GET {server}/api/v1/versions/{name}.json
//	    [{"number", "platform", "prerelease", "ruby_version", "sha", ...}, ...]
//	GET {server}/api/v2/rubygems/{name}/versions/{version}.json?platform=ruby
//	    {"name", "version", "platform", "sha", "ruby_version",
//	     "dependencies": {"runtime": [{"name", "requirements"}], "development": [...]}, ...}
//	GET {server}/downloads/{name}-{version}.gem
//
// "sha" is the hex sha256 of the .gem; it is the pin.
//
// The resolver is greedy, not a backtracking search (what a catalog pins,
// an SDK and its dependencies, does not need one): gems are taken breadth
// first, each at the highest non-prerelease version that meets every
// requirement seen so far and the Ruby version. When a later requirement
// excludes a version already taken, resolution starts over with that
// requirement known from the start (a few times at most). Decisions are
// sequential and deterministic; metadata is fetched ahead in parallel.
//
// Gems Ruby ships as default gems (json, bigdecimal, ...) are resolved and
// installed like any other when something requires them: `gem install`
// would skip one whose default version satisfies the requirement, but which
// versions the image's Ruby ships is not known here.
package rubygems

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// listedVersion is one entry of /api/v1/versions/{name}.json.
type listedVersion struct {
	Number      string  `json:"number"`
	Platform    string  `json:"platform"`
	Prerelease  bool    `json:"prerelease"`
	RubyVersion *string `json:"ruby_version"`
	SHA         *string `json:"sha"`
}

// versionDetail is /api/v2/rubygems/{name}/versions/{version}.json.
type versionDetail struct {
	Name         string  `json:"name"`
	Number       string  `json:"number"`
	Platform     string  `json:"platform"`
	SHA          *string `json:"sha"`
	RubyVersion  *string `json:"ruby_version"`
	Dependencies struct {
		Runtime []struct {
			Name         string `json:"name"`
			Requirements string `json:"requirements"`
		} `json:"runtime"`
	} `json:"dependencies"`
}

// candidate is a listed version, parsed.
type candidate struct {
	v    Version
	ruby Requirement // required_ruby_version
	sha  string
	pre  bool
}

// gemInfo is what the versions list says of one gem.
type gemInfo struct {
	pure  []candidate         // platform "ruby", highest first
	other map[string][]string // version -> its other platforms
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// Platform is the only gem platform Resolve picks: pure-Ruby gems.
const Platform = "ruby"

// Resolve resolves gems ("aws-sdk-core=3.113.0", "aws-sigv4~>1.1",
// "jmespath >= 1.0, < 2" or plain names) and their runtime dependency
// closure from the RubyGems server at server (its root URL), for Ruby
// version ruby ("2.7.0"; versions whose required_ruby_version excludes it
// are skipped; "" skips no version) and platform "ruby". A gem published
// only for other platforms is an error naming it; so is a requirement no
// version meets, naming who requires it. The artifacts are sorted by name.
func Resolve(ctx context.Context, o resolve.Options, server string, ruby string, gems []string) ([]resolve.Artifact, error) {
	server = strings.TrimRight(server, "/")
	if u, err := url.Parse(server); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rubygems: server %q is not an http(s) URL", server)
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &resolver{o: o, server: server, ctx: ctx, sem: make(chan struct{}, fetchers),
		infos: map[string]*result[*gemInfo]{}, details: map[string]*result[*versionDetail]{}}
	defer r.wg.Wait()
	defer cancel()
	if ruby != "" {
		v, err := ParseVersion(ruby)
		if err != nil {
			return nil, fmt.Errorf("rubygems: ruby version: %w", err)
		}
		r.ruby = &v
	}
	var roots []want
	for _, g := range gems {
		name, req, err := parseGem(g)
		if err != nil {
			return nil, err
		}
		roots = append(roots, want{name: name, req: req, from: "requested"})
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("rubygems: no gems to resolve")
	}
	extra := map[string][]want{}
	const rounds = 5
	for round := 1; ; round++ {
		picks, conflict, err := r.round(ctx, roots, extra)
		if err != nil {
			return nil, err
		}
		if conflict == nil {
			return r.artifacts(picks), nil
		}
		if round == rounds {
			return nil, fmt.Errorf("rubygems: %s requires %s %s, but %s %s was taken before it; no resolution found in %d rounds",
				conflict.from, conflict.name, conflict.req, conflict.name, picks[conflict.name].v, rounds)
		}
		extra[conflict.name] = append(extra[conflict.name], *conflict)
	}
}

// parseGem splits "name", "name=1.0", "name~>1.1" or "name >= 1, < 2".
func parseGem(s string) (string, Requirement, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, " \t=!<>~")
	name, rest := s, ""
	if i >= 0 {
		name, rest = s[:i], s[i:]
	}
	if !namePattern.MatchString(name) {
		return "", nil, fmt.Errorf("rubygems: %q: want a gem name with an optional requirement (\"aws-sdk-core=3.113.0\", \"aws-sigv4~>1.1\")", s)
	}
	req, err := ParseRequirement(rest)
	if err != nil {
		return "", nil, fmt.Errorf("rubygems: %q: %w", s, err)
	}
	return name, req, nil
}

type resolver struct {
	o      resolve.Options
	server string
	ruby   *Version

	// Metadata fetches, in the background (see start). ctx ends them when
	// Resolve returns; wg waits for them.
	ctx     context.Context
	sem     chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	infos   map[string]*result[*gemInfo]
	details map[string]*result[*versionDetail] // "name-version"
}

// want is a requirement on a gem and who states it: "requested" or the
// chain of the gem requiring it ("aws-sdk-core 3.113.0 -> aws-sigv4 1.2.2").
type want struct {
	name string
	req  Requirement
	from string
}

// pick is a gem version taken in a round.
type pick struct {
	name     string
	v        Version
	chain    string // "aws-sdk-core 3.113.0 -> aws-sigv4 1.2.2"
	required string // "aws-sdk-core 3.113.0 -> aws-sigv4" ("" for a requested gem)
}

// round resolves once, breadth first, with extra requirements known from
// the start. It returns the first requirement that excludes a version
// already taken, if any. Decisions are sequential (so the result is
// deterministic); metadata is fetched ahead, in parallel: a gem's versions
// list as soon as it is queued, and the document of the version it would
// get with the requirements known then.
func (r *resolver) round(ctx context.Context, roots []want, extra map[string][]want) (map[string]*pick, *want, error) {
	wants := map[string][]want{}
	for name, ws := range extra {
		wants[name] = append(wants[name], ws...)
	}
	picks := map[string]*pick{}
	type queued struct{ name, parent string }
	var queue []queued
	inQueue := map[string]bool{}
	add := func(w want, parent string) *want {
		wants[w.name] = append(wants[w.name], w)
		if p, ok := picks[w.name]; ok {
			if !w.req.Satisfied(p.v) {
				return &w
			}
			return nil
		}
		if !inQueue[w.name] {
			inQueue[w.name] = true
			queue = append(queue, queued{name: w.name, parent: parent})
		}
		return nil
	}
	for _, w := range roots {
		add(w, "")
	}
	prefetched := map[string]bool{}
	for len(queue) > 0 {
		for _, q := range queue {
			if !prefetched[q.name] {
				prefetched[q.name] = true
				r.prefetch(q.name, slices.Clone(wants[q.name]))
			}
		}
		q := queue[0]
		queue = queue[1:]
		info, err := r.info(ctx, q.name)
		if err != nil {
			return nil, nil, err
		}
		c, err := r.choose(info, q.name, wants[q.name])
		if err != nil {
			return nil, nil, err
		}
		p := &pick{name: q.name, v: c.v, chain: q.name + " " + c.v.String()}
		if q.parent != "" {
			p.chain = q.parent + " -> " + p.chain
			p.required = q.parent + " -> " + q.name
		}
		picks[q.name] = p
		d, err := r.detail(ctx, q.name, c)
		if err != nil {
			return nil, nil, err
		}
		for _, dep := range d.Dependencies.Runtime {
			if !namePattern.MatchString(dep.Name) {
				return nil, nil, fmt.Errorf("rubygems: %s requires a gem named %q, which is not a valid gem name", p.chain, dep.Name)
			}
			req, err := ParseRequirement(dep.Requirements)
			if err != nil {
				return nil, nil, fmt.Errorf("rubygems: %s requires %s: %w", p.chain, dep.Name, err)
			}
			if conflict := add(want{name: dep.Name, req: req, from: p.chain}, p.chain); conflict != nil {
				return picks, conflict, nil
			}
		}
	}
	return picks, nil, nil
}

// fetchers bounds the metadata requests in flight.
const fetchers = 8

// result is a metadata fetch, done when done is closed.
type result[T any] struct {
	done chan struct{}
	v    T
	err  error
}

// start runs fetch in the background once per key of m.
func start[T any](r *resolver, m map[string]*result[T], key string, fetch func() (T, error)) *result[T] {
	r.mu.Lock()
	defer r.mu.Unlock()
	if f, ok := m[key]; ok {
		return f
	}
	f := &result[T]{done: make(chan struct{})}
	m[key] = f
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(f.done)
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			f.err = r.ctx.Err()
			return
		}
		defer func() { <-r.sem }()
		f.v, f.err = fetch()
	}()
	return f
}

func wait[T any](ctx context.Context, f *result[T]) (T, error) {
	select {
	case <-f.done:
		return f.v, f.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// prefetch starts fetching name's versions list and then the document of
// the version wants would choose (a guess: wants may still grow).
func (r *resolver) prefetch(name string, wants []want) {
	start(r, r.infos, name, func() (*gemInfo, error) {
		info, err := r.fetchInfo(r.ctx, name)
		if err == nil {
			if c, err := r.choose(info, name, wants); err == nil {
				start(r, r.details, name+"-"+c.v.String(), func() (*versionDetail, error) { return r.fetchDetail(r.ctx, name, c) })
			}
		}
		return info, err
	})
}

// info returns name's versions list, fetched once per Resolve.
func (r *resolver) info(ctx context.Context, name string) (*gemInfo, error) {
	return wait(ctx, start(r, r.infos, name, func() (*gemInfo, error) { return r.fetchInfo(r.ctx, name) }))
}

// detail returns the document of name's version c, fetched once per Resolve.
func (r *resolver) detail(ctx context.Context, name string, c candidate) (*versionDetail, error) {
	return wait(ctx, start(r, r.details, name+"-"+c.v.String(), func() (*versionDetail, error) { return r.fetchDetail(r.ctx, name, c) }))
}

// choose picks the highest version of name meeting every want and the Ruby
// version: a release, unless a want names a prerelease.
func (r *resolver) choose(info *gemInfo, name string, wants []want) (candidate, error) {
	pre := false
	for _, w := range wants {
		pre = pre || w.req.Prerelease()
	}
	meets := func(v Version) bool {
		for _, w := range wants {
			if !w.req.Satisfied(v) {
				return false
			}
		}
		return true
	}
	var rubyExcluded []string
	for _, c := range info.pure {
		if !meets(c.v) || (c.pre && !pre) {
			continue
		}
		if r.ruby != nil && !c.ruby.Satisfied(*r.ruby) {
			rubyExcluded = append(rubyExcluded, c.v.String()+" needs ruby "+c.ruby.String())
			continue
		}
		return c, nil
	}
	// Nothing fits: say why, as precisely as the metadata allows.
	var others []string
	for num, plats := range info.other {
		v, err := ParseVersion(num)
		if err == nil && meets(v) && (pre || !v.Prerelease()) {
			others = append(others, plats...)
		}
	}
	stated := describeWants(name, wants)
	if len(others) > 0 && len(rubyExcluded) == 0 {
		slices.Sort(others)
		others = slices.Compact(others)
		return candidate{}, fmt.Errorf("rubygems: %s: gem %s is published only for platform %s, not %q: rtbuild installs pure-Ruby gems only",
			stated, name, strings.Join(others, ", "), Platform)
	}
	if len(rubyExcluded) > 0 {
		return candidate{}, fmt.Errorf("rubygems: %s; no version is for ruby %s (%s)", stated, r.ruby, strings.Join(limit(rubyExcluded, 5), "; "))
	}
	var have []string
	for i := len(info.pure) - 1; i >= 0; i-- {
		if !info.pure[i].pre || pre {
			have = append(have, info.pure[i].v.String())
		}
	}
	if len(have) == 0 {
		return candidate{}, fmt.Errorf("rubygems: %s; no version is published for platform %q", stated, Platform)
	}
	if len(have) > 12 {
		have = append([]string{fmt.Sprintf("%d older, ...", len(have)-12)}, have[len(have)-12:]...)
	}
	return candidate{}, fmt.Errorf("rubygems: %s; no version satisfies (have: %s)", stated, strings.Join(have, ", "))
}

// describeWants says who requires what of name: "aws-sdk-core 3.113.0
// requires aws-sigv4 ~> 1.1 and requested aws-sigv4 = 1.0.3".
func describeWants(name string, wants []want) string {
	var parts []string
	for _, w := range wants {
		req := w.req.String()
		if w.from == "requested" {
			if len(w.req) == 0 {
				parts = append(parts, "requested "+name)
			} else {
				parts = append(parts, "requested "+name+" "+req)
			}
			continue
		}
		parts = append(parts, w.from+" requires "+name+" "+req)
	}
	return strings.Join(slices.Compact(parts), " and ")
}

func limit(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], fmt.Sprintf("%d more", len(s)-n))
	}
	return s
}

// fetchInfo fetches and parses a gem's versions list.
func (r *resolver) fetchInfo(ctx context.Context, name string) (*gemInfo, error) {
	u := r.server + "/api/v1/versions/" + name + ".json"
	var list []listedVersion
	if err := r.o.GetJSON(ctx, u, &list); err != nil {
		if resolve.NotFound(err) {
			return nil, fmt.Errorf("rubygems: gem %s: not found on %s: %w", name, r.server, err)
		}
		return nil, fmt.Errorf("rubygems: gem %s: %w", name, err)
	}
	info := &gemInfo{other: map[string][]string{}}
	for _, l := range list {
		v, err := ParseVersion(l.Number)
		if err != nil {
			continue // unparseable numbers are skipped, as RubyGems does not index them
		}
		if l.Platform != Platform && l.Platform != "" {
			info.other[l.Number] = append(info.other[l.Number], l.Platform)
			continue
		}
		c := candidate{v: v, pre: l.Prerelease || v.Prerelease()}
		if l.RubyVersion != nil {
			if c.ruby, err = ParseRequirement(*l.RubyVersion); err != nil {
				return nil, fmt.Errorf("rubygems: %s %s: required ruby version: %w (in %s)", name, l.Number, err, u)
			}
		}
		if l.SHA != nil {
			c.sha = *l.SHA
		}
		info.pure = append(info.pure, c)
	}
	sort.SliceStable(info.pure, func(i, j int) bool { return info.pure[i].v.Compare(info.pure[j].v) > 0 })
	return info, nil
}

// fetchDetail fetches a version's document (its runtime dependencies and
// sha) and checks it against the versions list.
func (r *resolver) fetchDetail(ctx context.Context, name string, c candidate) (*versionDetail, error) {
	u := r.server + "/api/v2/rubygems/" + name + "/versions/" + c.v.String() + ".json?platform=" + Platform
	d := &versionDetail{}
	if err := r.o.GetJSON(ctx, u, d); err != nil {
		return nil, fmt.Errorf("rubygems: %s %s: %w", name, c.v, err)
	}
	if d.Number != "" && d.Number != c.v.String() {
		return nil, fmt.Errorf("rubygems: %s %s: %s describes version %s", name, c.v, u, d.Number)
	}
	if d.Platform != "" && d.Platform != Platform {
		return nil, fmt.Errorf("rubygems: %s %s: %s describes platform %s, not %s", name, c.v, u, d.Platform, Platform)
	}
	sha := ""
	if d.SHA != nil {
		sha = strings.ToLower(*d.SHA)
	}
	switch {
	case sha == "" && c.sha == "":
		return nil, fmt.Errorf("rubygems: %s %s: the server states no sha256 for the gem (%s): it cannot be pinned", name, c.v, u)
	case sha == "":
		sha = strings.ToLower(c.sha)
	case c.sha != "" && !strings.EqualFold(c.sha, sha):
		return nil, fmt.Errorf("rubygems: %s %s: the server states two sha256 for the gem: %s in its versions list, %s in %s", name, c.v, c.sha, sha, u)
	}
	if _, err := resolve.ParseDigest("sha256:" + sha); err != nil {
		return nil, fmt.Errorf("rubygems: %s %s: %w", name, c.v, err)
	}
	d.SHA = &sha
	return d, nil
}

// artifacts turns the picks into pinned artifacts, sorted by name.
func (r *resolver) artifacts(picks map[string]*pick) []resolve.Artifact {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []resolve.Artifact
	for name, p := range picks {
		sha := *r.details[name+"-"+p.v.String()].v.SHA
		out = append(out, resolve.Artifact{
			Name:       name,
			Version:    p.v.String(),
			URL:        r.server + "/downloads/" + name + "-" + p.v.String() + ".gem",
			SHA256:     sha,
			Digest:     "sha256:" + sha,
			RequiredBy: p.required,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

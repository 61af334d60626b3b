package rpm

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// ResolveOptions tune a resolution.
type ResolveOptions struct {
	// Exclude names packages already in the base image: whatever they
	// provide counts as satisfied and they are not returned.
	Exclude []string
}

// Resolve reads a yum repository's repodata (repo is the base URL holding
// repodata/repomd.xml, or a mirror-list URL ending in "mirror.list" whose
// first line is the base URL) and resolves packages (names, or
// name-version-release) with their Requires closure for one arch
// ("x86_64" or "aarch64", also "amd64"/"arm64"; noarch is accepted),
// preferring the highest EVR. The artifacts are sorted by name: Version is
// the EVR, URL the base URL + location href, SHA256 and Digest
// ("sha256:<hex>") from primary.xml's checksum; another checksum type
// gives Digest "sha1:" or "sha512:" and an empty SHA256, to be filled by
// resolve.Options.Pin. RequiredBy says which package and requirement pulled
// an artifact in.
func Resolve(ctx context.Context, o resolve.Options, repo, arch string, packages []string, ro ResolveOptions) ([]resolve.Artifact, error) {
	switch arch {
	case "amd64":
		arch = "x86_64"
	case "arm64":
		arch = "aarch64"
	case "x86_64", "aarch64":
	default:
		return nil, fmt.Errorf("rpm: arch %q is not supported (want x86_64 or aarch64)", arch)
	}
	if len(packages) == 0 {
		return nil, nil
	}
	rp, err := loadRepo(ctx, o, repo, arch)
	if err != nil {
		return nil, fmt.Errorf("rpm repository %s: %w", repo, err)
	}
	s := &solver{rp: rp, arch: arch, exclude: map[string]bool{}, chosen: map[string]*pkg{}, why: map[*pkg]string{}, parent: map[*pkg]*pkg{}}
	for _, e := range ro.Exclude {
		s.exclude[e] = true
	}
	var queue []*pkg
	for _, req := range packages {
		p, err := s.request(req)
		if err != nil {
			return nil, err
		}
		if p == nil || s.chosen[p.name] == p {
			continue
		}
		if q := s.chosen[p.name]; q != nil {
			return nil, fmt.Errorf("rpm: %s is requested at %s and %s", p.name, q.evr, p.evr)
		}
		s.chosen[p.name] = p
		queue = append(queue, p)
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, d := range p.requires {
			var added []*pkg
			var err error
			if strings.HasPrefix(d.name, "(") {
				added, err = s.satisfyRich(p, d.name)
			} else {
				var q *pkg
				q, err = s.satisfy(p, d, d.String())
				if q != nil {
					added = []*pkg{q}
				}
			}
			if err != nil {
				return nil, err
			}
			queue = append(queue, added...)
		}
	}
	names := make([]string, 0, len(s.chosen))
	for n := range s.chosen {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]resolve.Artifact, 0, len(names))
	for _, n := range names {
		p := s.chosen[n]
		a := resolve.Artifact{Name: p.name, Version: p.evr.String(), URL: p.url, RequiredBy: s.why[p]}
		switch p.sumType {
		case "sha256":
			a.SHA256, a.Digest = p.sum, "sha256:"+p.sum
		case "sha", "sha1":
			a.Digest = "sha1:" + p.sum
		case "sha512":
			a.Digest = "sha512:" + p.sum
		default:
			return nil, fmt.Errorf("rpm: %s in %s has checksum type %q, which rtbuild cannot verify", p, repo, p.sumType)
		}
		out = append(out, a)
	}
	return out, nil
}

type solver struct {
	rp      *repo
	arch    string
	exclude map[string]bool
	chosen  map[string]*pkg // by name
	why     map[*pkg]string // RequiredBy
	parent  map[*pkg]*pkg
}

// request finds the package a request names (nil: excluded). A request
// is a name, else name-version-release, else name-version; of the readings
// whose name exists the first that names a package wins.
func (s *solver) request(req string) (*pkg, error) {
	type reading struct {
		name string
		want EVR
	}
	var readings []reading
	if _, ok := s.rp.byName[req]; ok {
		readings = append(readings, reading{name: req})
	} else if i := strings.LastIndexByte(req, '-'); i > 0 {
		if j := strings.LastIndexByte(req[:i], '-'); j > 0 {
			readings = append(readings, reading{req[:j], ParseEVR(req[j+1:])})
		}
		readings = append(readings, reading{req[:i], ParseEVR(req[i+1:])})
	}
	var firstErr error
	for _, r := range readings {
		if _, ok := s.rp.byName[r.name]; !ok {
			continue
		}
		if s.exclude[r.name] {
			return nil, nil
		}
		p, err := s.pick(r.name, r.want)
		if err == nil {
			return p, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	if s.exclude[req] {
		return nil, nil
	}
	if archs := s.rp.otherArch[req]; len(archs) > 0 {
		return nil, fmt.Errorf("rpm: %s has no %s build in %s (only %s)", req, s.arch, s.rp.url, strings.Join(uniq(archs), ", "))
	}
	return nil, fmt.Errorf("rpm: no package %q in %s for %s", req, s.rp.url, s.arch)
}

// pick returns the best package named name at EVR want (any when empty).
func (s *solver) pick(name string, want EVR) (*pkg, error) {
	var best *pkg
	for _, p := range s.rp.byName[name] {
		have := p.evr
		if want.Epoch == "" {
			have.Epoch = "" // "foo-2.0-1" names foo-1:2.0-1 too, as yum reads it
		}
		if want.Version != "" && !overlap(have, senseEqual, want, senseEqual) {
			continue
		}
		if better(p, best) {
			best = p
		}
	}
	if best == nil {
		var have []string
		for _, p := range s.rp.byName[name] {
			have = append(have, p.evr.String())
		}
		return nil, fmt.Errorf("rpm: no %s at %s in %s for %s (it has %s)", name, want, s.rp.url, s.arch, strings.Join(uniq(have), ", "))
	}
	return best, nil
}

// better reports whether p is preferred over q (nil): higher EVR, then
// arch over noarch, then the lower URL.
func better(p, q *pkg) bool {
	if q == nil {
		return true
	}
	if c := CompareEVR(p.evr, q.evr); c != 0 {
		return c > 0
	}
	if (p.arch == "noarch") != (q.arch == "noarch") {
		return q.arch == "noarch"
	}
	return p.url < q.url
}

// satisfy meets p's requirement d: nothing to do when ignored, excluded
// or met by a chosen package; else it chooses a provider and returns it.
// why is the requirement as written, for RequiredBy.
func (s *solver) satisfy(p *pkg, d dep, why string) (*pkg, error) {
	if strings.HasPrefix(d.name, "rpmlib(") || s.exclude[d.name] {
		return nil, nil
	}
	providers := s.rp.provides[d.name]
	var cands []*pkg
	for _, q := range providers {
		if !q.provide(d) {
			continue
		}
		if s.exclude[q.name] || s.chosen[q.name] == q {
			return nil, nil // in the base image, or already chosen
		}
		cands = append(cands, q)
	}
	if len(cands) == 0 {
		return nil, s.unsatisfied(p, d, providers)
	}
	// One name: the requirement's own, else the shortest, else the lowest.
	slices.SortFunc(cands, func(a, b *pkg) int {
		if (a.name == d.name) != (b.name == d.name) {
			if a.name == d.name {
				return -1
			}
			return 1
		}
		if len(a.name) != len(b.name) {
			return len(a.name) - len(b.name)
		}
		return strings.Compare(a.name, b.name)
	})
	// A name already chosen (at another EVR) cannot be chosen again.
	var best, clash *pkg
	for _, q := range cands {
		if c := s.chosen[q.name]; c != nil {
			clash = c
			continue
		}
		if best == nil || q.name == best.name && better(q, best) {
			best = q
		}
	}
	if best == nil {
		return nil, fmt.Errorf("rpm: %s requires %s; %s is chosen at %s, which does not provide it (in %s)", s.chain(p), d, clash.name, clash.evr, s.rp.url)
	}
	s.chosen[best.name] = best
	s.parent[best] = p
	s.why[best] = p.String() + " -> " + why
	return best, nil
}

// holds reports whether d is met without choosing anything: ignored,
// excluded, or provided by a chosen package.
func (s *solver) holds(d dep) bool {
	if strings.HasPrefix(d.name, "rpmlib(") || s.exclude[d.name] {
		return true
	}
	for _, q := range s.rp.provides[d.name] {
		if (s.exclude[q.name] || s.chosen[q.name] == q) && q.provide(d) {
			return true
		}
	}
	return false
}

// chain names how p was pulled in: "a 1-1 -> b 2-1".
func (s *solver) chain(p *pkg) string {
	var names []string
	seen := map[*pkg]bool{}
	for q := p; q != nil && !seen[q]; q = s.parent[q] {
		seen[q] = true
		names = append(names, q.String())
	}
	slices.Reverse(names)
	return strings.Join(names, " -> ")
}

func (s *solver) unsatisfied(p *pkg, d dep, providers []*pkg) error {
	msg := fmt.Sprintf("rpm: %s requires %s; nothing in %s provides it", s.chain(p), d, s.rp.url)
	if len(providers) > 0 {
		var have []string
		for _, q := range providers {
			have = append(have, q.String())
		}
		msg += fmt.Sprintf(" at that version (%s do, at other versions)", strings.Join(uniq(have), ", "))
	} else if archs := s.rp.otherArch[d.name]; len(archs) > 0 {
		msg += fmt.Sprintf(" for %s (only %s)", s.arch, strings.Join(uniq(archs), ", "))
	}
	return fmt.Errorf("%s", msg)
}

func uniq(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

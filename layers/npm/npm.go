// Package npm resolves npm packages and their whole dependency tree from an
// npm registry and lays the tree out the way npm (v7 and later) installs it
// into node_modules: hoisted as high as possible, nested where versions
// conflict. It returns one pinned resolve.Artifact per installed package
// (its tarball, the registry's integrity value and its place in the tree).
//
// What it follows:
//   - Metadata: the abbreviated packument, GET {registry}/{name} (scoped
//     names as @scope%2fname) with npm's Accept header.
//   - Versions: npm's pick-manifest rules: an exact version or a dist-tag
//     as named; for a range, dist-tags.latest when it satisfies and is not
//     deprecated, otherwise the highest satisfying version, non-deprecated
//     versions first. Ranges are node-semver's (see semver.go). The
//     "engines" field is not consulted (the image's Node.js is not the
//     host's).
//   - Dependencies: "dependencies" and "optionalDependencies" (never
//     devDependencies). An optional package whose os, cpu or libc fields
//     exclude the target Platform, or that cannot be resolved, is left out
//     together with what only it needs (npm's optional set); a required one
//     is an error. Aliases ("npm:pkg@range") are supported; git, URL, file
//     and link specs are refused with the dependency chain named.
//   - Peer dependencies: as npm 7+, a missing non-optional peer is
//     installed, next to (or above) the package that wants it; optional
//     peers are only checked, never installed. npm's resolution of whole
//     peer sets together is not reproduced (see tree.go).
//   - Layout: a port of npm's Arborist placement rules (tree.go).
//
// Not done: .bin links (package "bin" entries) and install scripts are not
// run or created; bundled dependencies come from the package's own tarball;
// npm-shrinkwrap.json files inside packages are ignored.
//
// Installing: every artifact is a tar.gz whose files sit below one top
// directory ("package/"): unpack it with format tar.gz, strip 1, at
// Artifact.Dest.
package npm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"
	"sync"

	"github.com/rtbuild/rtbuild/layers/resolve"
)

// Accept is the header npm sends for abbreviated packuments.
const Accept = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"

// Platform is what optional dependencies' os, cpu and libc fields are
// matched against, in Node.js's names: OS "linux", CPU "x64" or "arm64",
// Libc "glibc" or "musl". An empty field matches every value.
type Platform struct {
	OS, CPU, Libc string
}

// CPU maps an architecture name (Lambda's x86_64, OCI's amd64, arm64,
// aarch64) to Node.js's process.arch ("x64", "arm64"); others pass through.
func CPU(arch string) string {
	switch arch {
	case "x86_64", "amd64", "x64":
		return "x64"
	case "arm64", "aarch64":
		return "arm64"
	}
	return arch
}

// Resolve resolves packages ("aws-sdk@2.1001.0", ranges and dist-tags
// allowed, a bare name meaning @latest) and their whole dependency tree from
// an npm registry (its root URL, e.g. the output of `npm config get
// registry`) and lays the tree out the way npm (v7+) does, below
// nodeModules. Optional dependencies are matched against Linux, any CPU:
// use ResolveFor to name one.
//
// Each Artifact has Name, Version, URL (dist.tarball), Digest
// (dist.integrity, the SRI sha512 when it lists several; "sha1:"+dist.shasum
// only when there is no integrity), Dest = nodeModules + "/" + its install
// path ("/var/runtime/node_modules/xml2js/node_modules/sax") and RequiredBy
// (empty for what packages named); SHA256 is left empty for
// resolve.Options.Pin to fill. Artifacts are sorted by Dest.
func Resolve(ctx context.Context, o resolve.Options, registry, nodeModules string, packages []string) ([]resolve.Artifact, error) {
	return ResolveFor(ctx, o, registry, nodeModules, Platform{OS: "linux"}, packages)
}

// ResolveFor is Resolve with optional dependencies matched against p.
func ResolveFor(ctx context.Context, o resolve.Options, registry, nodeModules string, p Platform, packages []string) ([]resolve.Artifact, error) {
	if registry == "" {
		return nil, errors.New("npm: no registry URL")
	}
	if !strings.HasPrefix(nodeModules, "/") {
		return nil, fmt.Errorf("npm: node_modules directory %q is not absolute", nodeModules)
	}
	nodeModules = path.Clean(nodeModules)
	// Prefetches still running when the tree is done are cancelled and
	// waited for: nothing outlives the call.
	ctx, cancel := context.WithCancel(ctx)
	reg := newRegistry(ctx, o, registry)
	defer func() {
		cancel()
		reg.wg.Wait()
	}()
	root := &node{root: true, children: map[string]*node{}, edgesOut: map[string]*edge{}, edgesIn: map[*edge]struct{}{}}
	b := &builder{
		reg:      reg,
		platform: p,
		root:     root,
		seen:     map[*node]bool{},
		explicit: map[*edge]bool{},
	}
	for _, pkg := range packages {
		name, spec := splitPackage(pkg)
		if name == "" {
			return nil, fmt.Errorf("npm: %q: no package name", pkg)
		}
		if _, dup := root.edgesOut[name]; dup {
			return nil, fmt.Errorf("npm: %s is asked for twice", name)
		}
		e := &edge{from: root, name: name, typ: depProd, spec: spec}
		e.req, e.specErr = parseSpec(name, spec)
		root.edgesOut[name] = e
		b.explicit[e] = true
	}
	if err := b.build(); err != nil {
		return nil, fmt.Errorf("npm: %w", err)
	}
	if err := b.finish(); err != nil {
		return nil, fmt.Errorf("npm: %w", err)
	}
	var arts []resolve.Artifact
	for _, n := range b.nodes() {
		if n.root || n.inert {
			continue
		}
		digest, err := n.m.digest()
		if err != nil {
			return nil, fmt.Errorf("npm: %s: %w", n.chain(), err)
		}
		if n.m.Dist.Tarball == "" {
			return nil, fmt.Errorf("npm: %s: the registry gives no dist.tarball", n.chain())
		}
		arts = append(arts, resolve.Artifact{
			Name:       n.pkgName,
			Version:    n.version,
			URL:        n.m.Dist.Tarball,
			Digest:     digest,
			Dest:       nodeModules + "/" + n.installPath(),
			RequiredBy: requiredBy(n),
		})
	}
	sort.Slice(arts, func(i, j int) bool { return arts[i].Dest < arts[j].Dest })
	return arts, nil
}

// requiredBy names one dependent ("xml2js 0.4.19 -> sax"), or "" when the
// caller asked for the package.
func requiredBy(n *node) string {
	var froms []*node
	for e := range n.edgesIn {
		if e.from.root {
			return ""
		}
		froms = append(froms, e.from)
	}
	if len(froms) == 0 {
		return ""
	}
	sort.Slice(froms, func(i, j int) bool { return localeCompare(froms[i].location(), froms[j].location()) < 0 })
	return froms[0].pkgName + " " + froms[0].version + " -> " + n.name
}

// splitPackage splits "name@spec" ("@scope/name@spec", "alias@npm:name@spec")
// at the first "@" after the name's first character; no spec means latest.
func splitPackage(s string) (name, spec string) {
	s = strings.TrimSpace(s)
	if len(s) < 2 {
		return s, "latest"
	}
	at := strings.IndexByte(s[1:], '@')
	if at < 0 {
		return s, "latest"
	}
	return s[:at+1], s[at+2:]
}

// manifest is one version of an abbreviated packument.
type manifest struct {
	Name                 string              `json:"name"`
	Version              string              `json:"version"`
	Dependencies         depMap              `json:"dependencies"`
	OptionalDependencies depMap              `json:"optionalDependencies"`
	PeerDependencies     depMap              `json:"peerDependencies"`
	PeerDependenciesMeta map[string]peerMeta `json:"peerDependenciesMeta"`
	BundleDependencies   json.RawMessage     `json:"bundleDependencies"`
	BundledDependencies  json.RawMessage     `json:"bundledDependencies"`
	Deprecated           json.RawMessage     `json:"deprecated"`
	OS                   strList             `json:"os"`
	CPU                  strList             `json:"cpu"`
	Libc                 strList             `json:"libc"`
	Dist                 dist                `json:"dist"`
}

type peerMeta struct {
	Optional bool `json:"optional"`
}

type dist struct {
	Tarball   string `json:"tarball"`
	Integrity string `json:"integrity"`
	Shasum    string `json:"shasum"`
}

// depMap is a dependency object; anything else (some ancient packages
// publish arrays) reads as empty, as npm treats it.
type depMap map[string]string

func (d *depMap) UnmarshalJSON(b []byte) error {
	var m map[string]any
	if json.Unmarshal(b, &m) != nil {
		*d = nil
		return nil
	}
	*d = depMap{}
	for k, v := range m {
		if s, ok := v.(string); ok {
			(*d)[k] = s
		}
	}
	return nil
}

// strList is a string or an array of strings.
type strList []string

func (s *strList) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*s = strList{one}
		return nil
	}
	var many []string
	if json.Unmarshal(b, &many) == nil {
		*s = many
		return nil
	}
	*s = nil
	return nil
}

func (m *manifest) deprecated() bool {
	var s string
	if json.Unmarshal(m.Deprecated, &s) == nil {
		return s != ""
	}
	var b bool
	return json.Unmarshal(m.Deprecated, &b) == nil && b
}

// bundled lists bundleDependencies (true meaning every dependency).
func (m *manifest) bundled() []string {
	for _, raw := range []json.RawMessage{m.BundleDependencies, m.BundledDependencies} {
		var list []string
		if json.Unmarshal(raw, &list) == nil && len(list) > 0 {
			return list
		}
		var all bool
		if json.Unmarshal(raw, &all) == nil && all {
			for k := range m.Dependencies {
				list = append(list, k)
			}
			return list
		}
	}
	return nil
}

// digest picks the publisher digest: the strongest SRI value of
// dist.integrity, else the sha1 shasum.
func (m *manifest) digest() (string, error) {
	best, rank := "", 0
	for _, f := range strings.Fields(m.Dist.Integrity) {
		r := 0
		switch {
		case strings.HasPrefix(f, "sha512-"):
			r = 3
		case strings.HasPrefix(f, "sha256-"):
			r = 2
		case strings.HasPrefix(f, "sha1-"):
			r = 1
		}
		if r > rank {
			best, rank = f, r
		}
	}
	if best != "" {
		if i := strings.IndexByte(best, '?'); i >= 0 { // SRI options
			best = best[:i]
		}
		return best, nil
	}
	if m.Dist.Integrity == "" && m.Dist.Shasum != "" {
		return "sha1:" + strings.ToLower(m.Dist.Shasum), nil
	}
	if m.Dist.Integrity != "" {
		return "", fmt.Errorf("unsupported dist.integrity %q", m.Dist.Integrity)
	}
	return "", errors.New("the registry gives neither dist.integrity nor dist.shasum")
}

type packument struct {
	Name     string               `json:"name"`
	DistTags map[string]string    `json:"dist-tags"`
	Versions map[string]*manifest `json:"versions"`
}

// check is npm-install-checks' checkPlatform.
func (p Platform) check(m *manifest) error {
	ok := func(value string, list strList) bool {
		if value == "" || len(list) == 0 || len(list) == 1 && list[0] == "any" {
			return true
		}
		match, negated := false, 0
		for _, entry := range list {
			if strings.HasPrefix(entry, "!") {
				negated++
				if value == entry[1:] {
					return false
				}
			} else if value == entry {
				match = true
			}
		}
		return match || negated == len(list)
	}
	if !ok(p.OS, m.OS) || !ok(p.CPU, m.CPU) || (p.OS == "linux" && !ok(p.Libc, m.Libc)) {
		return fmt.Errorf("unsupported platform: wants os %v cpu %v libc %v, the target is %s/%s/%s",
			[]string(m.OS), []string(m.CPU), []string(m.Libc), p.OS, p.CPU, p.Libc)
	}
	return nil
}

// request is a parsed dependency spec (the registry subset of
// npm-package-arg).
type request struct {
	pkgName string // what to fetch (an alias's target)
	kind    int
	raw     string
	rng     *semverRange
}

const (
	specRange = iota
	specVersion
	specTag
)

func parseSpec(name, spec string) (request, error) {
	spec = strings.TrimSpace(spec)
	pkgName := name
	if rest, ok := strings.CutPrefix(spec, "npm:"); ok {
		n, s := splitPackage(rest)
		if strings.HasPrefix(s, "npm:") || n == "" {
			return request{}, fmt.Errorf("invalid alias %q", spec)
		}
		pkgName, spec = n, s
	}
	if spec == "" {
		spec = "*"
	}
	r := request{pkgName: pkgName, raw: spec}
	if strings.ContainsAny(spec, "/:\\#") || strings.HasPrefix(spec, ".") {
		return r, fmt.Errorf("unsupported dependency spec %q (only registry versions, ranges and tags)", spec)
	}
	if _, err := parseVersion(spec); err == nil {
		r.kind = specVersion
		r.rng, _ = parseRange(spec)
		if r.rng != nil {
			return r, nil
		}
	}
	if rng, err := parseRange(spec); err == nil {
		r.kind, r.rng = specRange, rng
		return r, nil
	}
	if url.PathEscape(spec) != spec {
		return r, fmt.Errorf("invalid dependency spec %q", spec)
	}
	r.kind = specTag
	return r, nil
}

// satisfiedBy is Arborist's dep-valid for registry specs.
func (r request) satisfiedBy(v version) bool {
	switch r.kind {
	case specTag:
		return true
	case specRange:
		if r.raw == "*" {
			return true
		}
	}
	return r.rng != nil && v.raw != "" && r.rng.test(v)
}

// pick is npm-pick-manifest (without engines, staging and policy).
func pick(pk *packument, r request) (*manifest, error) {
	switch r.kind {
	case specTag:
		v, ok := pk.DistTags[r.raw]
		if !ok {
			return nil, fmt.Errorf("no dist-tag %q (have %s)", r.raw, tagList(pk.DistTags))
		}
		if m := pk.Versions[v]; m != nil {
			return m, nil
		}
		return nil, fmt.Errorf("dist-tag %q names %s, which is not in the packument", r.raw, v)
	case specVersion:
		v, err := parseVersion(r.raw)
		if err == nil {
			if m := pk.Versions[v.String()]; m != nil {
				return m, nil
			}
		}
		return nil, fmt.Errorf("no version %s (have %s)", r.raw, versionList(pk))
	}
	if latest := pk.DistTags["latest"]; latest != "" && (r.raw == "*" || satisfies(latest, r.raw)) {
		if m := pk.Versions[latest]; m != nil && !m.deprecated() {
			return m, nil
		}
	}
	var best *manifest
	var bestV version
	for ver, m := range pk.Versions {
		v, err := parseVersion(ver)
		if err != nil || m == nil || !r.rng.test(v) {
			continue
		}
		if best == nil {
			best, bestV = m, v
			continue
		}
		bd, md := best.deprecated(), m.deprecated()
		if bd != md {
			if bd {
				best, bestV = m, v
			}
			continue
		}
		if v.compare(bestV) > 0 {
			best, bestV = m, v
		}
	}
	if best == nil {
		return nil, fmt.Errorf("no version satisfies (have %s)", versionList(pk))
	}
	return best, nil
}

func tagList(tags map[string]string) string {
	var l []string
	for k, v := range tags {
		l = append(l, k+"="+v)
	}
	sort.Strings(l)
	if len(l) == 0 {
		return "none"
	}
	return strings.Join(l, ", ")
}

// versionList names the highest published versions, for messages.
func versionList(pk *packument) string {
	var vs []version
	for ver := range pk.Versions {
		if v, err := parseVersion(ver); err == nil {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return "no versions"
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].compare(vs[j]) > 0 })
	const show = 8
	var names []string
	for i, v := range vs {
		if i == show {
			names = append(names, fmt.Sprintf("and %d older", len(vs)-show))
			break
		}
		names = append(names, v.raw)
	}
	return strings.Join(names, ", ")
}

// registry fetches packuments once each, several at a time.
type registry struct {
	ctx  context.Context
	o    resolve.Options
	base string
	sem  chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	pks  map[string]*fetchEntry
}

type fetchEntry struct {
	done chan struct{}
	pk   *packument
	err  error
}

func newRegistry(ctx context.Context, o resolve.Options, base string) *registry {
	return &registry{ctx: ctx, o: o, base: strings.TrimRight(base, "/"), sem: make(chan struct{}, 8), pks: map[string]*fetchEntry{}}
}

// packumentURL is {registry}/{name}, a scoped name as @scope%2fname.
func (r *registry) packumentURL(name string) string {
	if scope, rest, ok := strings.Cut(name, "/"); ok && strings.HasPrefix(scope, "@") {
		return r.base + "/@" + url.PathEscape(scope[1:]) + "%2f" + url.PathEscape(rest)
	}
	return r.base + "/" + url.PathEscape(name)
}

func (r *registry) start(name string) *fetchEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.pks[name]; e != nil {
		return e
	}
	e := &fetchEntry{done: make(chan struct{})}
	r.pks[name] = e
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		defer close(e.done)
		select {
		case r.sem <- struct{}{}:
		case <-r.ctx.Done():
			e.err = r.ctx.Err()
			return
		}
		defer func() { <-r.sem }()
		e.pk, e.err = r.fetch(name)
	}()
	return e
}

func (r *registry) prefetch(names []string) {
	for _, n := range names {
		r.start(n)
	}
}

func (r *registry) packument(name string) (*packument, error) {
	e := r.start(name)
	select {
	case <-e.done:
	case <-r.ctx.Done():
		return nil, r.ctx.Err()
	}
	return e.pk, e.err
}

func (r *registry) fetch(name string) (*packument, error) {
	if name == "" || strings.HasPrefix(name, ".") || strings.ContainsAny(name, " \\%") {
		return nil, fmt.Errorf("invalid package name %q", name)
	}
	u := r.packumentURL(name)
	body, err := r.o.Open(r.ctx, u, Accept)
	if err != nil {
		if resolve.NotFound(err) {
			return nil, fmt.Errorf("package %q not found in the registry %s (%w)", name, r.base+"/", err)
		}
		return nil, fmt.Errorf("package %q: %w", name, err)
	}
	defer body.Close()
	pk := &packument{}
	if err := json.NewDecoder(io.LimitReader(body, 512<<20)).Decode(pk); err != nil {
		return nil, fmt.Errorf("package %q: GET %s: decoding the packument: %w", name, u, err)
	}
	if pk.Name != "" && pk.Name != name {
		return nil, fmt.Errorf("package %q: GET %s: the registry answered for %q", name, u, pk.Name)
	}
	for v, m := range pk.Versions {
		if m == nil {
			continue
		}
		if m.Version == "" {
			m.Version = v
		}
		if m.Name == "" {
			m.Name = name
		}
	}
	return pk, nil
}

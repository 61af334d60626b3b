package npm

// The ideal-tree builder: a port of the placement rules of npm's Arborist
// (lib/arborist/build-ideal-tree.js, place-dep.js, can-place-dep.js,
// node.js), so that the node_modules layout is the one `npm install` lays
// down. Nodes are visited shallowest first, then by path; each node's
// missing or invalid dependencies are resolved in name order and placed as
// high in the tree as they can go without conflicting with what is there
// (a conflicting version is nested under the package that needs it),
// replacing a shallower copy when the newer version satisfies everyone, and
// deduplicating deeper copies a placement makes redundant.
//
// Not ported: Arborist's peer-set machinery (virtual roots that resolve a
// package together with its peers, replacing whole peer groups). Here a
// package's missing non-optional peer dependencies are placed right after
// it, at its level or above (never inside it), resolved from the peer
// range alone. A peer that cannot be placed anywhere is left unmet (npm
// warns "overriding peer dependency" and does the same), unless the request
// itself brought it in, which is an error (npm's ERESOLVE). Links,
// workspaces, bundled dependencies (the package's tarball brings them),
// shrinkwraps and engines are not modelled.

import (
	"fmt"
	"sort"
	"strings"
)

type depType int

const (
	depProd depType = iota
	depOptional
	depPeer
	depPeerOptional
)

type edge struct {
	from    *node
	name    string // the folder name it resolves (an alias's own name)
	typ     depType
	spec    string
	req     request
	specErr error
	to      *node
}

func (e *edge) peer() bool     { return e.typ == depPeer || e.typ == depPeerOptional }
func (e *edge) optional() bool { return e.typ == depOptional || e.typ == depPeerOptional }

// errState is Arborist's Edge.error: "" when valid.
func (e *edge) errState() string {
	switch {
	case e.to == nil:
		if e.optional() {
			return ""
		}
		return "MISSING"
	case e.peer() && e.from == e.to.parent && !e.from.isTop():
		return "PEER LOCAL"
	case !e.satisfiedBy(e.to):
		return "INVALID"
	}
	return ""
}

func (e *edge) valid() bool { return e.errState() == "" }

func (e *edge) satisfiedBy(n *node) bool {
	return n.name == e.name && e.specErr == nil && e.req.satisfiedBy(n.ver)
}

type node struct {
	name     string // folder name under node_modules
	pkgName  string // registry name (differs for an alias)
	version  string
	ver      version
	m        *manifest
	parent   *node
	children map[string]*node
	edgesOut map[string]*edge
	edgesIn  map[*edge]struct{}
	root     bool
	via      *edge // what this node was fetched for, for messages
	inert    bool  // an optional package not installed (platform, failure)
}

func (n *node) isTop() bool { return n.parent == nil }

func (n *node) resolve(name string) *node {
	for p := n; p != nil; p = p.parent {
		if c := p.children[name]; c != nil {
			return c
		}
	}
	return nil
}

func (n *node) isDescendantOf(t *node) bool {
	for p := n; p != nil; p = p.parent {
		if p == t {
			return true
		}
	}
	return false
}

func (n *node) depth() int {
	d := 0
	for p := n; p.parent != nil; p = p.parent {
		d++
	}
	return d
}

// location is the node's path below the project, "node_modules/a/node_modules/b".
func (n *node) location() string {
	if n.parent == nil {
		return ""
	}
	if n.parent.parent == nil {
		return "node_modules/" + n.name
	}
	return n.parent.location() + "/node_modules/" + n.name
}

// installPath is the node's path below the top node_modules, "a/node_modules/b".
func (n *node) installPath() string { return strings.TrimPrefix(n.location(), "node_modules/") }

func (n *node) matches(o *node) bool {
	return n == o || (n.name == o.name && n.pkgName == o.pkgName && n.version == o.version && !n.root && !o.root)
}

func (n *node) satisfies(e *edge) bool { return n.name == e.name && e.satisfiedBy(n) }

func (n *node) id() string {
	if n.root {
		return "(root)"
	}
	return n.pkgName + "@" + n.version
}

// chain names how n was reached: "aws-sdk@2.1001.0 > xml2js@0.4.19".
func (n *node) chain() string {
	var parts []string
	seen := map[*node]bool{}
	for p := n; p != nil && !p.root && !seen[p]; {
		seen[p] = true
		parts = append(parts, p.id())
		if p.via == nil {
			break
		}
		p = p.via.from
	}
	for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
		parts[i], parts[j] = parts[j], parts[i]
	}
	return strings.Join(parts, " > ")
}

// edgeChain names an edge for messages: "aws-sdk@2.1001.0 > sax@>=9".
func (e *edge) chain() string {
	s := e.name + "@" + e.spec
	if c := e.from.chain(); c != "" {
		return c + " > " + s
	}
	return s
}

func newNode(name string, m *manifest, via *edge) *node {
	n := &node{
		name: name, pkgName: m.Name, version: m.Version, m: m, via: via,
		children: map[string]*node{}, edgesOut: map[string]*edge{}, edgesIn: map[*edge]struct{}{},
	}
	n.ver, _ = parseVersion(m.Version)
	// Arborist loads peer, peerOptional, prod and optional edges in that
	// order, a later type replacing an earlier one of the same name.
	peers, peerOpt := map[string]string{}, map[string]string{}
	for k, v := range m.PeerDependencies {
		if m.PeerDependenciesMeta[k].Optional {
			peerOpt[k] = v
		} else {
			peers[k] = v
		}
	}
	n.addEdges(peers, depPeer)
	n.addEdges(peerOpt, depPeerOptional)
	n.addEdges(m.Dependencies, depProd)
	n.addEdges(m.OptionalDependencies, depOptional)
	return n
}

func (n *node) addEdges(deps map[string]string, typ depType) {
	for name, spec := range deps {
		e := &edge{from: n, name: name, typ: typ, spec: spec}
		e.req, e.specErr = parseSpec(name, spec)
		n.edgesOut[name] = e
	}
}

// builder builds the ideal tree.
type builder struct {
	reg      *registry
	platform Platform
	root     *node
	queue    []*node
	seen     map[*node]bool
	explicit map[*edge]bool
	failures []failure
}

type failure struct {
	e   *edge
	err error
}

type placeKind int

const (
	kindConflict placeKind = iota
	kindOK
	kindReplace
	kindKeep
)

type placement struct {
	placed   *node
	e        *edge
	kind     placeKind
	needEval []*node
}

// inTree says whether n is attached below the root.
func (b *builder) inTree(n *node) bool {
	p := n
	for ; p.parent != nil; p = p.parent {
		if p.parent.children[p.name] != p {
			return false
		}
	}
	return p == b.root
}

// nodes lists the tree's nodes, parents before children, siblings by name.
func (b *builder) nodes() []*node {
	var out []*node
	var walk func(*node)
	walk = func(n *node) {
		out = append(out, n)
		for _, k := range sortedKids(n) {
			walk(k)
		}
	}
	walk(b.root)
	return out
}

func sortedKids(n *node) []*node {
	kids := make([]*node, 0, len(n.children))
	for _, k := range n.children {
		kids = append(kids, k)
	}
	sort.Slice(kids, func(i, j int) bool { return localeCompare(kids[i].name, kids[j].name) < 0 })
	return kids
}

// reload re-resolves every edge of the tree (Arborist does it
// incrementally as nodes move; the trees here are small).
func (b *builder) reload() {
	all := []*node{b.root}
	for i := 0; i < len(all); i++ {
		for _, k := range all[i].children {
			all = append(all, k)
		}
	}
	for _, n := range all {
		n.edgesIn = map[*edge]struct{}{}
	}
	for _, n := range all {
		for _, e := range n.edgesOut {
			e.to = n.resolve(e.name)
			if e.to != nil {
				e.to.edgesIn[e] = struct{}{}
			}
		}
	}
}

func (b *builder) attach(n, parent *node) {
	n.parent = parent
	parent.children[n.name] = n
	b.reload()
}

func (b *builder) remove(set []*node) {
	for _, n := range set {
		if n.parent != nil && n.parent.children[n.name] == n {
			delete(n.parent.children, n.name)
		}
		n.parent = nil
		for _, e := range n.edgesOut {
			e.to = nil
		}
	}
	b.reload()
}

func (b *builder) push(n *node) {
	for _, q := range b.queue {
		if q == n {
			return
		}
	}
	b.queue = append(b.queue, n)
}

func (b *builder) pop() *node {
	sort.SliceStable(b.queue, func(i, j int) bool {
		di, dj := b.queue[i].depth(), b.queue[j].depth()
		if di != dj {
			return di < dj
		}
		return localeCompare(b.queue[i].location(), b.queue[j].location()) < 0
	})
	n := b.queue[0]
	b.queue = b.queue[1:]
	return n
}

// gatherDepSet is Arborist's gather-dep-set: set plus everything reachable
// through edges passing filter, minus what is depended upon (through such
// edges) from outside the set.
func gatherDepSet(set []*node, filter func(*edge) bool) []*node {
	in := map[*node]bool{}
	var deps []*node
	for _, n := range set {
		if !in[n] {
			in[n] = true
			deps = append(deps, n)
		}
	}
	for i := 0; i < len(deps); i++ {
		for _, name := range sortedEdgeNames(deps[i]) {
			e := deps[i].edgesOut[name]
			if e.to != nil && filter(e) && !in[e.to] {
				in[e.to] = true
				deps = append(deps, e.to)
			}
		}
	}
	for changed := true; changed && len(in) > 0; {
		changed = false
		for _, d := range deps {
			if !in[d] {
				continue
			}
			for e := range d.edgesIn {
				if !in[e.from] && filter(e) {
					delete(in, d)
					changed = true
					break
				}
			}
		}
	}
	var out []*node
	for _, d := range deps {
		if in[d] {
			out = append(out, d)
		}
	}
	return out
}

func sortedEdgeNames(n *node) []string {
	names := make([]string, 0, len(n.edgesOut))
	for k := range n.edgesOut {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return localeCompare(names[i], names[j]) < 0 })
	return names
}

func deepestNestingTarget(start *node, name string) *node {
	for t := start; t != nil; t = t.parent {
		if t.root || t.parent == nil {
			return t
		}
		if te := t.edgesOut[name]; te == nil || !te.peer() {
			return t
		}
	}
	return nil
}

// canReplaceWith: every edge into n from outside n's own dependency set is
// satisfied by o.
func (n *node) canReplaceWith(o *node) bool {
	if n.name != o.name || n.pkgName != o.pkgName {
		return false
	}
	depSet := map[*node]bool{}
	for _, d := range gatherDepSet([]*node{n}, func(e *edge) bool { return e.to != n && e.valid() }) {
		depSet[d] = true
	}
	for e := range n.edgesIn {
		if !depSet[e.from] && !e.satisfiedBy(o) {
			return false
		}
	}
	return true
}

func (n *node) canDedupe(preferDedupe, explicit bool) bool {
	if n.parent == nil || n.parent.parent == nil {
		return false
	}
	if len(n.edgesIn) == 0 {
		return true
	}
	other := n.parent.parent.resolve(n.name)
	if other == nil {
		return false
	}
	if other.matches(n) {
		return true
	}
	if !n.canReplaceWith(other) {
		return false
	}
	c := other.ver.compare(n.ver)
	return preferDedupe || c >= 0 || explicit
}

func (b *builder) pruneDedupable(n *node, descend, explicit bool) {
	if !b.inTree(n) {
		return
	}
	if n.canDedupe(false, explicit) {
		b.remove(gatherDepSet([]*node{n}, func(e *edge) bool { return e.to != n && e.valid() }))
		return
	}
	if descend {
		kids := sortedKids(n)
		sort.SliceStable(kids, func(i, j int) bool { return localeCompare(kids[i].location(), kids[j].location()) < 0 })
		for _, k := range kids {
			b.pruneDedupable(k, true, explicit)
		}
	}
}

// canPlaceDep is Arborist's CanPlaceDep for one target (peer groups aside).
func (b *builder) canPlaceDep(dep, target *node, e *edge, explicit bool) placeKind {
	preferDedupe := e.peer()
	current := target.children[e.name]
	targetEdge := target.edgesOut[e.name]
	edgeOverride := !dep.satisfies(e)
	if targetEdge != nil && targetEdge.peer() && !target.isTop() {
		return kindConflict
	}
	if current == nil && targetEdge != nil && !dep.satisfies(targetEdge) && targetEdge != e {
		return kindConflict
	}
	if current == nil {
		if target != e.from {
			if cur := target.resolve(e.name); cur != nil {
				for in := range cur.edgesIn {
					if in.from.isDescendantOf(target) && in.valid() && !dep.satisfies(in) {
						return kindConflict
					}
				}
			}
		}
		return kindOK
	}
	if dep.matches(current) && (current.satisfies(e) || edgeOverride) {
		if explicit {
			return kindReplace
		}
		return kindKeep
	}
	tryReplace := dep.ver.compare(current.ver) >= 0
	if tryReplace && current.canReplaceWith(dep) {
		return kindReplace
	}
	if current.satisfies(e) && (!explicit || preferDedupe) {
		return kindKeep
	}
	if preferDedupe && !tryReplace && current.canReplaceWith(dep) {
		return kindReplace
	}
	if target != deepestNestingTarget(e.from, e.name) {
		return kindConflict
	}
	if !e.peer() && target == e.from {
		return kindReplace
	}
	return kindConflict
}

// placeDep places dep for edge e (and then its unmet peers), returning what
// was placed.
func (b *builder) placeDep(e *edge, dep *node, explicit bool) ([]placement, error) {
	if e.to != nil && e.valid() && !explicit {
		return nil, nil
	}
	var target *node
	kind := kindConflict
	for t := deepestNestingTarget(e.from, e.name); t != nil; t = t.parent {
		if te := t.edgesOut[e.name]; !t.isTop() && te != nil && te.peer() {
			continue
		}
		k := b.canPlaceDep(dep, t, e, explicit)
		if k == kindConflict {
			break
		}
		target, kind = t, k
	}
	if target == nil {
		if e.from.root {
			return nil, fmt.Errorf("%s: cannot place %s in the tree (conflicting peer dependency)", e.chain(), dep.id())
		}
		return nil, nil // npm warns and leaves the peer unmet
	}
	if kind == kindKeep {
		b.pruneDedupable(target, true, explicit)
		return nil, nil
	}
	for p := target; p != nil; p = p.parent {
		if !p.isTop() && p.matches(dep) {
			return nil, fmt.Errorf("%s: dependency loop through %s needs a symbolic link, which is not supported", e.chain(), dep.id())
		}
	}
	pl := placement{placed: dep, e: e, kind: kind}
	if old := target.children[e.name]; old != nil {
		b.replaceOldDep(dep, old)
	} else {
		b.attach(dep, target)
	}
	if e.to != nil && e.valid() && e.to != dep {
		b.pruneDedupable(e.to, false, explicit)
	}
	for _, n := range b.nodes() {
		if n.name != e.name || !n.isDescendantOf(target) || n.isTop() || !b.inTree(n) {
			continue
		}
		b.pruneDedupable(n, false, explicit)
		if b.inTree(n) {
			for _, k := range sortedKids(n) {
				b.pruneDedupable(k, false, explicit)
			}
		}
	}
	// A placement may leave a shallower same-name node with no dependents
	// (npm/cli#9135): remove it and re-evaluate what pointed into it.
	if b.inTree(dep) {
		for p := dep.parent; p != nil; p = p.parent {
			if sh := p.children[e.name]; sh != nil && sh != dep {
				pl.needEval = append(pl.needEval, b.pruneOrphan(sh)...)
			}
		}
	}
	out := []placement{pl}
	if !b.inTree(dep) {
		return out, nil
	}
	for _, name := range sortedEdgeNames(dep) {
		pe := dep.edgesOut[name]
		if pe.typ != depPeer || pe.valid() {
			continue
		}
		peer, err := b.nodeFromEdge(pe)
		if err != nil {
			b.failures = append(b.failures, failure{pe, err})
			continue
		}
		sub, err := b.placeDep(pe, peer, explicit)
		if err != nil {
			return nil, err
		}
		out = append(out, sub...)
	}
	return out, nil
}

func (b *builder) replaceOldDep(placed, old *node) {
	var oldDeps []*node
	for _, name := range sortedEdgeNames(old) {
		e := old.edgesOut[name]
		if _, ok := placed.edgesOut[name]; !ok && e.to != nil {
			to := e.to
			oldDeps = append(oldDeps, gatherDepSet([]*node{to}, func(x *edge) bool { return x.to != to })...)
		}
	}
	target := old.parent
	for name, k := range old.children {
		k.parent = placed
		placed.children[name] = k
	}
	old.children = map[string]*node{}
	old.parent = nil
	placed.parent = target
	target.children[placed.name] = placed
	b.reload()

	invalid := map[*node]bool{}
	var list []*node
	add := func(n *node) {
		if !invalid[n] {
			invalid[n] = true
			list = append(list, n)
		}
	}
	for _, name := range sortedEdgeNames(placed) {
		if e := placed.edgesOut[name]; e.to != nil && !e.valid() {
			add(e.to)
		}
	}
	for _, d := range oldDeps {
		for _, x := range gatherDepSet([]*node{d}, func(e *edge) bool { return e.to != d && e.valid() }) {
			add(x)
		}
	}
	if len(list) > 0 {
		b.remove(gatherDepSet(list, func(e *edge) bool { return e.from != placed && e.to != placed && e.valid() }))
	}
}

func (b *builder) pruneOrphan(n *node) []*node {
	if len(n.edgesIn) != 0 {
		return nil
	}
	members := map[*node]bool{n: true}
	list := []*node{n}
	for i := 0; i < len(list); i++ {
		for _, k := range list[i].children {
			if !members[k] {
				members[k] = true
				list = append(list, k)
			}
		}
	}
	var outside []*edge
	for _, m := range list {
		for e := range m.edgesIn {
			if !members[e.from] {
				outside = append(outside, e)
			}
		}
	}
	b.remove([]*node{n})
	var need []*node
	for _, e := range outside {
		need = append(need, e.from)
	}
	return need
}

// problemEdges are n's edges to resolve: missing (except optional peers),
// invalid, or explicitly requested; bundled dependencies come with the
// package's tarball.
func (b *builder) problemEdges(n *node) []*edge {
	bundled := map[string]bool{}
	if !n.root {
		for _, name := range n.m.bundled() {
			bundled[name] = true
		}
	}
	var out []*edge
	for _, name := range sortedEdgeNames(n) {
		e := n.edgesOut[name]
		switch {
		case bundled[name]:
		case e.to == nil:
			if e.typ != depPeerOptional || b.explicit[e] {
				out = append(out, e)
			}
		case !e.valid(), b.explicit[e]:
			out = append(out, e)
		}
	}
	return out
}

// The build loop gives up after visitsPerNode visits per node in the tree
// (and at least minVisits): npm visits each node about once.
const (
	minVisits     = 1000
	visitsPerNode = 20
)

// build runs Arborist's buildDepStep loop to completion.
func (b *builder) build() error {
	b.push(b.root)
	visits := 0
	for len(b.queue) > 0 {
		n := b.pop()
		if b.seen[n] || !b.inTree(n) {
			continue
		}
		b.seen[n] = true
		// Each node is visited about once; a placement that undoes
		// another without end would otherwise never stop.
		if visits++; visits > minVisits && visits > visitsPerNode*len(b.nodes()) {
			return fmt.Errorf("the dependency tree does not settle after %d steps (last at %s)", visits, n.chain())
		}
		edges := b.problemEdges(n)
		names := make([]string, 0, len(edges))
		for _, e := range edges {
			if e.specErr == nil {
				names = append(names, e.req.pkgName)
			}
		}
		b.reg.prefetch(names)
		type task struct {
			e   *edge
			dep *node
		}
		var tasks []task
		for _, e := range edges {
			dep, err := b.nodeFromEdge(e)
			if err != nil {
				b.failures = append(b.failures, failure{e, err})
				continue
			}
			tasks = append(tasks, task{e, dep})
		}
		sort.SliceStable(tasks, func(i, j int) bool { return localeCompare(tasks[i].e.name, tasks[j].e.name) < 0 })
		for _, t := range tasks {
			pls, err := b.placeDep(t.e, t.dep, b.explicit[t.e])
			if err != nil {
				return err
			}
			for _, pl := range pls {
				b.afterPlace(pl)
			}
		}
	}
	return nil
}

func (b *builder) afterPlace(pl placement) {
	for in := range pl.placed.edgesIn {
		if in == pl.e || in.valid() {
			continue
		}
		if pl.kind == kindReplace {
			delete(b.seen, in.from)
			b.push(in.from)
		} else if !b.seen[in.from] {
			b.push(in.from)
		}
	}
	b.push(pl.placed)
	// Fetch what the new node will need while the queue drains, as npm does.
	var names []string
	for _, e := range b.problemEdges(pl.placed) {
		if e.specErr == nil {
			names = append(names, e.req.pkgName)
		}
	}
	b.reg.prefetch(names)
	for _, d := range pl.needEval {
		delete(b.seen, d)
		b.push(d)
	}
}

// nodeFromEdge fetches the package e asks for and picks its version.
func (b *builder) nodeFromEdge(e *edge) (*node, error) {
	if e.specErr != nil {
		return nil, fmt.Errorf("%s: %w", e.chain(), e.specErr)
	}
	pk, err := b.reg.packument(e.req.pkgName)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.chain(), err)
	}
	m, err := pick(pk, e.req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.chain(), err)
	}
	return newNode(e.name, m, e), nil
}

// finish marks optional packages that cannot be installed (unsupported
// platform, failed to resolve) inert, like Arborist's
// pruneFailedOptional and checkEngineAndPlatform, and reports failures of
// required ones.
func (b *builder) finish() error {
	required := map[*node]bool{b.root: true}
	list := []*node{b.root}
	for i := 0; i < len(list); i++ {
		for _, name := range sortedEdgeNames(list[i]) {
			e := list[i].edgesOut[name]
			if e.to != nil && !e.optional() && !required[e.to] {
				required[e.to] = true
				list = append(list, e.to)
			}
		}
	}
	for _, f := range b.failures {
		switch {
		case !b.inTree(f.e.from) || f.e.to != nil && f.e.valid():
		case f.e.optional():
		case !required[f.e.from]:
			b.makeInert(f.e.from)
		default:
			return f.err
		}
	}
	for _, n := range b.nodes() {
		if n.root || n.inert {
			continue
		}
		if err := b.platform.check(n.m); err != nil {
			if required[n] {
				return fmt.Errorf("%s: %w", n.chain(), err)
			}
			b.makeInert(n)
		}
	}
	return nil
}

// makeInert marks n's optional set (Arborist's optional-set.js) inert.
func (b *builder) makeInert(n *node) {
	set := map[*node]bool{n: true}
	list := []*node{n}
	for i := 0; i < len(list); i++ {
		for e := range list[i].edgesIn {
			if !e.optional() && !set[e.from] {
				set[e.from] = true
				list = append(list, e.from)
			}
		}
	}
	for _, x := range gatherDepSet(list, func(e *edge) bool { return !set[e.to] }) {
		x.inert = true
	}
}

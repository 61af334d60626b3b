package buildkit

import (
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/buildkit/client"
	digest "github.com/opencontainers/go-digest"

	"github.com/rtbuild/rtbuild/builder"
)

// tracker follows one solve's status stream: it turns vertex changes into
// rtbuild's progress events and keeps each vertex's final state, from which
// the build's cache counts are taken.
type tracker struct {
	runtime  string
	reporter builder.Reporter
	// digests and names map the vertices rtbuild made (by digest) and
	// named (by custom name) to what they stand for.
	digests map[digest.Digest]VertexInfo
	names   map[string]VertexInfo

	mu       sync.Mutex
	vertices map[digest.Digest]*vertexState
}

type vertexState struct {
	name      string
	info      *VertexInfo
	started   bool
	completed bool
	cached    bool
	err       string
	bytes     int64
}

func newTracker(runtime string, rep builder.Reporter) *tracker {
	return &tracker{runtime: runtime, reporter: rep, digests: map[digest.Digest]VertexInfo{}, names: map[string]VertexInfo{}, vertices: map[digest.Digest]*vertexState{}}
}

// addNames registers the vertices of a lowered platform.
func (t *tracker) addNames(m map[string]VertexInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range m {
		t.names[k] = v
	}
}

// addDigests registers vertices by digest.
func (t *tracker) addDigests(m map[digest.Digest]VertexInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range m {
		t.digests[k] = v
	}
}

// run consumes the status stream until it is closed.
func (t *tracker) run(ch <-chan *client.SolveStatus) {
	for s := range ch {
		t.update(s)
	}
}

func (t *tracker) update(s *client.SolveStatus) {
	t.mu.Lock()
	var events []builder.Event
	for _, v := range s.Vertexes {
		st := t.vertices[v.Digest]
		if st == nil {
			st = &vertexState{name: v.Name}
			if info, ok := t.digests[v.Digest]; ok {
				st.info = &info
			} else if info, ok := t.names[v.Name]; ok {
				st.info = &info
			}
			t.vertices[v.Digest] = st
		}
		if v.Started != nil && !st.started {
			st.started = true
			if e, ok := t.event(st, "start"); ok && !v.Cached {
				events = append(events, e)
			}
		}
		if v.Cached {
			st.cached = true
		}
		if v.Error != "" && st.err == "" {
			st.err = v.Error
			if !strings.Contains(v.Error, "context canceled") {
				if e, ok := t.event(st, "failed"); ok {
					events = append(events, e)
				}
			}
		}
		if v.Completed != nil && !st.completed && v.Error == "" {
			st.completed = true
			if e, ok := t.event(st, "done"); ok {
				events = append(events, e)
			}
		}
	}
	for _, vs := range s.Statuses {
		if st := t.vertices[vs.Vertex]; st != nil && vs.Current > st.bytes {
			st.bytes = vs.Current
		}
	}
	t.mu.Unlock()
	for _, e := range events {
		t.reporter.Report(e)
	}
}

// event maps a vertex change (start, done, failed) to a progress event;
// ok is false for changes not worth a line.
func (t *tracker) event(st *vertexState, change string) (builder.Event, bool) {
	e := builder.Event{Time: time.Now(), Runtime: t.runtime}
	if st.info == nil {
		// BuildKit's own vertices: exporting, pushing, cache import/export.
		if strings.HasPrefix(st.name, "[internal]") {
			return e, false
		}
		e.Message = st.name
		switch change {
		case "start":
			e.Status = "running"
		case "done":
			e.Status = "finished"
			if st.cached {
				e.Status = "cached"
			}
		default:
			e.Status, e.Message = "failed", st.name+": "+st.err
		}
		return e, true
	}
	info := st.info
	e.Arch, e.Component, e.Version = string(info.Arch), info.Component, info.Version
	if change == "failed" {
		e.Status, e.Message = "failed", st.err
		return e, true
	}
	switch info.Role {
	case RoleComponent:
		switch {
		case change == "start":
			e.Status = "building"
		case st.cached:
			e.Status = "cached"
		default:
			e.Status = "built"
		}
	case RoleDownload:
		// A source vertex also "runs" to compute its cache key (for a
		// pinned download, without fetching anything): only bytes
		// transferred make a download.
		if change == "start" || st.bytes == 0 {
			return e, false
		}
		e.Status, e.Bytes, e.Message = "downloaded", st.bytes, st.name
	case RoleContent:
		return e, false
	case RoleBase:
		e.Component = "base"
		switch {
		case change == "start":
			e.Status, e.Message = "resolving", st.name
		case st.cached:
			e.Status, e.Message = "cached", st.name
		default:
			e.Status, e.Bytes, e.Message = "finished", st.bytes, st.name
		}
	default: // layers sent, merge
		e.Message = st.name
		switch {
		case change == "start":
			e.Status = "running"
		case st.cached:
			e.Status = "cached"
		default:
			e.Status, e.Bytes = "finished", st.bytes
		}
	}
	return e, true
}

// Counts are what a solve's status stream said about its vertices.
type Counts struct {
	// Vertices and VerticesCached count every vertex of the solve.
	Vertices       int `json:"vertices"`
	VerticesCached int `json:"verticesCached"`
	// Components counts the component vertices, ComponentsCached those
	// BuildKit answered from its cache (local state or an imported cache).
	Components       int `json:"components"`
	ComponentsCached int `json:"componentsCached"`
}

// counts returns the counts of the solve so far.
func (t *tracker) counts() Counts {
	t.mu.Lock()
	defer t.mu.Unlock()
	var c Counts
	for _, st := range t.vertices {
		c.Vertices++
		if st.cached {
			c.VerticesCached++
		}
		if st.info != nil && st.info.Role == RoleComponent {
			c.Components++
			if st.cached {
				c.ComponentsCached++
			}
		}
	}
	return c
}

// cached says whether the vertex d was cached, and whether the status
// stream reported it at all.
func (t *tracker) cached(d digest.Digest) (cached, seen bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st := t.vertices[d]; st != nil {
		return st.cached, true
	}
	return false, false
}

// failed returns the first vertex rtbuild named (a component first) that
// reported an error other than a cancellation, or nil.
func (t *tracker) failed() *vertexState {
	t.mu.Lock()
	defer t.mu.Unlock()
	var list []*vertexState
	for _, st := range t.vertices {
		if st.err != "" && !strings.Contains(st.err, "context canceled") {
			list = append(list, st)
		}
	}
	rank := func(st *vertexState) int {
		switch {
		case st.info == nil:
			return 3
		case st.info.Role == RoleComponent || st.info.Role == RoleDownload:
			return 0
		case st.info.Role == RoleBase:
			return 1
		}
		return 2
	}
	sort.SliceStable(list, func(i, j int) bool {
		if rank(list[i]) != rank(list[j]) {
			return rank(list[i]) < rank(list[j])
		}
		return list[i].name < list[j].name
	})
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

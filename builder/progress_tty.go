package builder

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Cursor visibility: hidden while the live view redraws itself (as buildx
// does), shown again when the reporter is closed, on success, failure and
// interruption alike. These two sequences are the only escape codes
// rtbuild writes itself; the view is drawn by mpb.
const (
	hideCursor = "\x1b[?25l"
	showCursor = "\x1b[?25h"
)

// TTYReporter draws a live view of the build on a terminal with mpb: per
// image and architecture a header line (its state, how many of its
// components are ready, the time spent), and under it a line per component
// with its state: resolving, cached, downloading (a bar, bytes of the total
// and the rate), building, built (the layer's size), pushing and so on. An
// image's component lines fold into its header once it is done. Warnings
// are printed above the view. Close stops the view, shows the cursor again
// and prints the summary line.
type TTYReporter struct {
	// mu guards the structure (groups, lines, closed). It is never held
	// by mpb's render goroutines, which take only a line's own lock.
	mu     sync.Mutex
	w      io.Writer
	p      *mpb.Progress
	groups map[string]*ttyGroup
	// runtimes numbers the images in the order they were first seen, and
	// counts each one's groups: an image's architectures, then its
	// outputs, are kept together.
	runtimes map[string][2]int
	closed   bool
}

// ttyGroup is one image and architecture: a header and component lines.
type ttyGroup struct {
	hdr   *ttyLine
	rows  map[string]*ttyLine
	index int // its bars' priorities are index*1000 and up
}

// ttyLine is the state one line of the view shows.
type ttyLine struct {
	mu       sync.Mutex
	header   bool
	label    string
	state    string
	detail   string
	bytes    int64
	total    int64
	dlStart  time.Time
	start    time.Time
	end      time.Time
	children []*ttyLine // of a header
	bar      *mpb.Bar
	dropped  bool
}

// NewTTYReporter starts a live view on w, a terminal. force draws it even
// when w is not one (--progress tty), at a width of 100 columns.
func NewTTYReporter(w io.Writer, force bool) *TTYReporter {
	_, _ = io.WriteString(w, hideCursor)
	p := mpb.NewWithContext(context.Background(),
		mpb.WithOutput(w),
		mpb.WithWidth(100),
		mpb.WithRefreshRate(120*time.Millisecond),
		mpb.ContainerOptional(mpb.WithAutoRefresh(), force),
		mpb.ContainerOptional(mpb.ForceTTY(), force),
	)
	return &TTYReporter{w: w, p: p, groups: map[string]*ttyGroup{}, runtimes: map[string][2]int{}}
}

// Report implements Reporter.
func (r *TTYReporter) Report(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	if e.Status == "warning" {
		_, _ = fmt.Fprintf(r.p, "WARNING: %s\n", e.Message)
		return
	}
	g := r.group(e)
	now := time.Now()
	rowKey := e.Component
	if rowKey == "" && buildkitVertexStatus(e.Status) {
		rowKey = e.Message
	}
	if rowKey == "" {
		// An event of the image itself: done, writing, pushing, pushed.
		h := g.hdr
		h.mu.Lock()
		h.state, h.detail = e.Status, ""
		switch e.Status {
		case "done":
			h.end = now
			h.detail = summarizeChildren(h.children) + "  " + shortDigest(e.Message)
		case "pushed":
			h.end = now
			h.detail = e.Message
		default:
			h.detail = e.Message
		}
		h.mu.Unlock()
		if e.Status == "done" {
			for _, l := range g.rows {
				l.mu.Lock()
				l.dropped = true
				l.mu.Unlock()
				l.bar.Abort(true)
			}
			g.hdr.bar.SetTotal(-1, true)
		}
		return
	}
	l := g.rows[rowKey]
	if l == nil {
		label := rowKey
		if e.Version != "" {
			label += "@" + e.Version
		}
		l = &ttyLine{label: label, start: now}
		l.bar = r.addBar(l, g.index*1000+1+len(g.rows))
		g.rows[rowKey] = l
		g.hdr.mu.Lock()
		g.hdr.children = append(g.hdr.children, l)
		g.hdr.mu.Unlock()
	}
	l.mu.Lock()
	prev := l.state
	l.state = e.Status
	l.detail = ""
	switch e.Status {
	case "downloading":
		if prev != "downloading" {
			l.dlStart, l.bytes, l.total = now, 0, 0
		}
		if e.Bytes > 0 || e.Total != 0 {
			l.bytes, l.total = e.Bytes, e.Total
		}
	case "downloaded":
		l.bytes = e.Bytes
		l.detail = HumanBytes(e.Bytes)
	case "built":
		l.end = now
		l.detail = HumanBytes(e.Bytes)
	case "cached", "finished", "prepared", "failed":
		l.end = now
		if e.Status == "failed" {
			l.detail = e.Message
		}
	case "resolving", "running", "preparing":
		l.detail = e.Message
	}
	downloading, bytes, total := l.state == "downloading", l.bytes, l.total
	l.mu.Unlock()
	if downloading && total > 0 {
		l.bar.SetTotal(total, false)
		l.bar.SetCurrent(bytes)
	}
}

// group returns the group of e's image and architecture, creating it and
// its header line.
func (r *TTYReporter) group(e Event) *ttyGroup {
	key := e.Runtime
	if e.Arch != "" {
		key += "/" + e.Arch
	}
	if g := r.groups[key]; g != nil {
		return g
	}
	label := key
	if label == "" {
		label = "outputs"
	}
	rt, ok := r.runtimes[e.Runtime]
	if !ok {
		rt = [2]int{len(r.runtimes), 0}
	}
	g := &ttyGroup{rows: map[string]*ttyLine{}, index: rt[0]*100 + rt[1]}
	rt[1]++
	r.runtimes[e.Runtime] = rt
	g.hdr = &ttyLine{header: true, label: label, state: "building", start: time.Now()}
	g.hdr.bar = r.addBar(g.hdr, g.index*1000)
	r.groups[key] = g
	return g
}

// addBar adds the mpb bar drawing l. Its decorators read l under l.mu;
// its bar filler draws only while l is downloading with a known size.
func (r *TTYReporter) addBar(l *ttyLine, priority int) *mpb.Bar {
	indent := "  "
	if l.header {
		indent = "=> "
	}
	filler := mpb.BarStyle().Lbound("[").Rbound("]").Filler("=").Tip(">").Padding(" ").Build()
	b, err := r.p.Add(0, filler,
		mpb.BarPriority(priority),
		mpb.BarWidth(24),
		mpb.BarFillerMiddleware(func(base mpb.BarFiller) mpb.BarFiller {
			return mpb.BarFillerFunc(func(w io.Writer, st decor.Statistics) error {
				l.mu.Lock()
				show := l.state == "downloading" && l.total > 0 && !l.header
				l.mu.Unlock()
				if !show {
					return nil
				}
				return base.Fill(w, st)
			})
		}),
		mpb.PrependDecorators(
			decor.Any(func(decor.Statistics) string { return indent + l.label + "  " }, decor.WCSyncWidthR),
			decor.Any(func(decor.Statistics) string {
				l.mu.Lock()
				defer l.mu.Unlock()
				return l.state
			}, decor.WC{W: 12, C: decor.DindentRight}),
		),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return l.text() })),
	)
	if err != nil {
		// The container is shut down only by Close, under r.mu.
		panic(err)
	}
	return b
}

// text is what follows a line's state: a download's bytes and rate, a
// header's progress and time, a detail.
func (l *ttyLine) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if l.header {
		end := l.end
		if end.IsZero() {
			end = now
		}
		detail := l.detail
		if detail == "" && len(l.children) > 0 {
			detail = readyCount(l.children)
		}
		return strings.TrimSpace(fmt.Sprintf("%5.1fs  %s", end.Sub(l.start).Seconds(), detail))
	}
	if l.state == "downloading" {
		s := HumanBytes(l.bytes)
		if l.total > 0 {
			s += " / " + HumanBytes(l.total)
		}
		if d := now.Sub(l.dlStart).Seconds(); d > 0.2 && l.bytes > 0 {
			s += "  " + HumanBytes(int64(float64(l.bytes)/d)) + "/s"
		}
		return s
	}
	return l.detail
}

// readyCount is "k/n ready": the components of a header in a final state.
func readyCount(children []*ttyLine) string {
	ready := 0
	for _, c := range children {
		c.mu.Lock()
		switch c.state {
		case "cached", "built", "resolved", "finished", "prepared", "done":
			ready++
		}
		c.mu.Unlock()
	}
	return fmt.Sprintf("%d/%d ready", ready, len(children))
}

// summarizeChildren is "b built, c cached": an image's layers when it is done.
func summarizeChildren(children []*ttyLine) string {
	var built, cached int
	for _, c := range children {
		c.mu.Lock()
		switch c.state {
		case "built":
			built++
		case "cached":
			cached++
		}
		c.mu.Unlock()
	}
	return fmt.Sprintf("%d built, %d cached", built, cached)
}

func shortDigest(d string) string {
	if i := strings.Index(d, ":"); i >= 0 && len(d) > i+13 {
		return d[:i+13]
	}
	return d
}

// buildkitVertexStatus says whether status is a BuildKit vertex's, whose
// Message names the vertex.
func buildkitVertexStatus(status string) bool {
	switch status {
	case "running", "finished", "failed", "preparing", "prepared":
		return true
	}
	return false
}

// finalState is what a line still in an active state shows once the build
// is over: its completed form when the build succeeded, "stopped" when it
// failed or was interrupted.
func finalState(state string, ok bool) (string, bool) {
	switch state {
	case "resolving", "downloading", "downloaded", "building", "writing", "pushing", "running", "preparing":
		if !ok {
			return "stopped", true
		}
		switch state {
		case "resolving":
			return "resolved", true
		case "writing":
			return "written", true
		case "pushing":
			return "pushed", true
		}
		return "done", true
	}
	return state, false
}

// Close implements Closer: it settles every line, stops the view, shows
// the cursor and prints the summary line.
func (r *TTYReporter) Close(s *Summary) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	now := time.Now()
	var bars []*mpb.Bar
	for _, g := range r.groups {
		lines := append([]*ttyLine{g.hdr}, g.hdr.children...)
		for _, l := range lines {
			l.mu.Lock()
			if l.dropped {
				l.mu.Unlock()
				continue
			}
			if st, changed := finalState(l.state, s != nil); changed {
				l.state = st
				if l.end.IsZero() {
					l.end = now
				}
			}
			l.mu.Unlock()
			bars = append(bars, l.bar)
		}
	}
	r.mu.Unlock()
	for _, b := range bars {
		b.SetTotal(-1, true)
	}
	r.p.Wait()
	_, _ = io.WriteString(r.w, showCursor)
	if s != nil {
		_, _ = fmt.Fprintln(r.w, s.String())
	}
}

package builder

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/rtbuild/rtbuild/layers/fetch"
)

// Event is one step of progress: a component of an image changing state.
type Event struct {
	Time      time.Time `json:"time"`
	Runtime   string    `json:"runtime,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	Component string    `json:"component,omitempty"`
	Version   string    `json:"version,omitempty"`
	// Status is one of: resolving and resolved (the base), cached,
	// downloading (first without Bytes, then repeated with the download's
	// progress), downloaded, building, built, failed (a component's error,
	// in Message), writing, pushing, pushed, done, warning, and summary
	// (the last event, with Summary set); the BuildKit executor
	// adds running and finished (a BuildKit vertex other than a component's:
	// the base, the layers sent, exporting, cache import and export; Message
	// names it), failed (a vertex's error), and preparing and prepared (a
	// layer rtbuild builds, or finds in its layer cache, to send to
	// buildkitd).
	Status string `json:"status"`
	// Bytes and Total are a download's progress (Status downloading: bytes
	// so far of Total, -1 when unknown) or a layer's size (built).
	Bytes   int64  `json:"bytes,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Message string `json:"message,omitempty"`
	// Summary is set on the last event of a build (Status summary), sent
	// by the JSON reporter when it is closed.
	Summary *Summary `json:"summary,omitempty"`
}

// Summary is what a build did, reported once at its end.
type Summary struct {
	Images    int `json:"images"`
	Platforms int `json:"platforms"`
	// Seconds is the wall time of the build.
	Seconds         float64 `json:"seconds"`
	LayersBuilt     int64   `json:"layersBuilt"`
	LayersCached    int64   `json:"layersCached"`
	BytesDownloaded int64   `json:"bytesDownloaded"`
	// BytesUploaded counts the blob bytes sent to registries; Pushed says
	// whether anything was pushed by rtbuild itself.
	BytesUploaded int64 `json:"bytesUploaded"`
	Pushed        bool  `json:"pushed,omitempty"`
	// Where names the executor when it is not this process, e.g.
	// "buildkitd tcp://host:1234".
	Where string `json:"where,omitempty"`
}

// String is the summary line: "built 2 image(s) (4 platform(s)) in 3.1s:
// 10 layer(s) built, 6 cached, 12.0 MiB downloaded, 3.0 MiB uploaded".
func (s Summary) String() string {
	line := fmt.Sprintf("built %d image(s) (%d platform(s)) in %.1fs", s.Images, s.Platforms, s.Seconds)
	if s.Where != "" {
		line += " on " + s.Where
	}
	line += fmt.Sprintf(": %d layer(s) built, %d cached, %s downloaded", s.LayersBuilt, s.LayersCached, HumanBytes(s.BytesDownloaded))
	if s.Pushed {
		line += ", " + HumanBytes(s.BytesUploaded) + " uploaded"
	}
	return line
}

// Closer is a Reporter that must be closed when the build ends: with its
// summary when it succeeded, nil when it failed. Close returns once the
// reporter's output is complete (a live view stopped, the terminal
// restored); events reported after it are dropped. Closing twice is a no-op.
type Closer interface {
	Reporter
	Close(*Summary)
}

// CloseReporter closes r if it is a Closer.
func CloseReporter(r Reporter, s *Summary) {
	if c, ok := r.(Closer); ok {
		c.Close(s)
	}
}

// Reporter receives progress events; it must be safe for concurrent use.
type Reporter interface{ Report(Event) }

// NopReporter discards events.
type NopReporter struct{}

// Report implements Reporter.
func (NopReporter) Report(Event) {}

// PlainReporter prints one line per state change, as buildx's plain
// progress does; download ticks are not printed, only their start and end.
// Closed with a summary, it prints the summary line.
type PlainReporter struct {
	mu     sync.Mutex
	w      io.Writer
	start  time.Time
	closed bool
}

// NewPlainReporter writes plain progress lines to w.
func NewPlainReporter(w io.Writer) *PlainReporter {
	return &PlainReporter{w: w, start: time.Now()}
}

// Report implements Reporter.
func (p *PlainReporter) Report(e Event) {
	if e.Status == "downloading" && (e.Bytes > 0 || e.Total != 0) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	elapsed := time.Since(p.start).Seconds()
	subject := e.Runtime
	if e.Arch != "" {
		subject += "/" + e.Arch
	}
	if e.Component != "" {
		subject += " " + e.Component
		if e.Version != "" {
			subject += "@" + e.Version
		}
	}
	line := fmt.Sprintf("#%6.1fs %-10s %s", elapsed, e.Status, subject)
	if e.Bytes > 0 {
		line += " " + HumanBytes(e.Bytes)
	}
	if e.Message != "" {
		line += " " + e.Message
	}
	fmt.Fprintln(p.w, line)
}

// Close implements Closer: it prints the summary line, if any.
func (p *PlainReporter) Close(s *Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if s != nil {
		fmt.Fprintln(p.w, s.String())
	}
}

// JSONReporter prints one JSON object per event. Closed with a summary,
// it prints a last event with Status "summary".
type JSONReporter struct {
	mu     sync.Mutex
	enc    *json.Encoder
	closed bool
}

// NewJSONReporter writes JSON progress events to w.
func NewJSONReporter(w io.Writer) *JSONReporter { return &JSONReporter{enc: json.NewEncoder(w)} }

// Report implements Reporter.
func (j *JSONReporter) Report(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.closed {
		_ = j.enc.Encode(e)
	}
}

// Close implements Closer: it prints the summary event, if any.
func (j *JSONReporter) Close(s *Summary) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return
	}
	j.closed = true
	if s != nil {
		_ = j.enc.Encode(Event{Time: time.Now(), Status: "summary", Summary: s})
	}
}

// HumanBytes formats n as B, KiB, MiB or GiB.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 2; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMG"[exp])
}

// downloadWatch turns the download store's progress callbacks into
// "downloading" events (Bytes of Total) of the components fetching each URL.
type downloadWatch struct {
	mu       sync.Mutex
	next     int
	watchers map[string]map[int]func(Event)
}

// watch sends the progress of url's download to ev until the returned
// function is called.
func (d *downloadWatch) watch(url string, ev func(Event)) (unwatch func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	id := d.next
	d.next++
	if d.watchers[url] == nil {
		d.watchers[url] = map[int]func(Event){}
	}
	d.watchers[url][id] = ev
	return func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		delete(d.watchers[url], id)
		if len(d.watchers[url]) == 0 {
			delete(d.watchers, url)
		}
	}
}

// progress is the download store's Progress callback.
func (d *downloadWatch) progress(p fetch.Progress) {
	d.mu.Lock()
	evs := make([]func(Event), 0, len(d.watchers[p.URL]))
	for _, ev := range d.watchers[p.URL] {
		evs = append(evs, ev)
	}
	d.mu.Unlock()
	total := p.Total
	if total == 0 {
		total = -1
	}
	for _, ev := range evs {
		ev(Event{Status: "downloading", Bytes: p.Done, Total: total, Message: p.URL})
	}
}

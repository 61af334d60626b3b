package builder

import (
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"
)

// Event is one step of progress: a component of an image changing state.
type Event struct {
	Time      time.Time `json:"time"`
	Runtime   string    `json:"runtime,omitempty"`
	Arch      string    `json:"arch,omitempty"`
	Component string    `json:"component,omitempty"`
	Version   string    `json:"version,omitempty"`
	// Status is one of: resolving, cached, downloading, downloaded, building,
	// built, writing, pushing, pushed, done, warning; the BuildKit executor
	// adds running and finished (a BuildKit vertex other than a component's:
	// the base, the layers sent, exporting, cache import and export; Message
	// names it), failed (a vertex's error), and preparing and prepared (a
	// layer rtbuild builds, or finds in its layer cache, to send to
	// buildkitd).
	Status  string `json:"status"`
	Bytes   int64  `json:"bytes,omitempty"`
	Total   int64  `json:"total,omitempty"`
	Message string `json:"message,omitempty"`
}

// Reporter receives progress events; it must be safe for concurrent use.
type Reporter interface{ Report(Event) }

// NopReporter discards events.
type NopReporter struct{}

// Report implements Reporter.
func (NopReporter) Report(Event) {}

// PlainReporter prints one line per state change, as buildx's plain
// progress does; download ticks are not printed, only their end.
type PlainReporter struct {
	mu    sync.Mutex
	w     io.Writer
	start time.Time
}

// NewPlainReporter writes plain progress lines to w.
func NewPlainReporter(w io.Writer) *PlainReporter {
	return &PlainReporter{w: w, start: time.Now()}
}

// Report implements Reporter.
func (p *PlainReporter) Report(e Event) {
	if e.Status == "downloading" && e.Bytes > 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
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

// JSONReporter prints one JSON object per event.
type JSONReporter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

// NewJSONReporter writes JSON progress events to w.
func NewJSONReporter(w io.Writer) *JSONReporter { return &JSONReporter{enc: json.NewEncoder(w)} }

// Report implements Reporter.
func (j *JSONReporter) Report(e Event) {
	j.mu.Lock()
	defer j.mu.Unlock()
	_ = j.enc.Encode(e)
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

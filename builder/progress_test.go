package builder

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/fetch"
)

// syncBuffer is a bytes.Buffer safe for mpb's goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var sum = &Summary{Images: 1, Platforms: 2, Seconds: 1.25, LayersBuilt: 3, LayersCached: 4, BytesDownloaded: 2048, BytesUploaded: 1 << 20, Pushed: true}

func TestSummaryString(t *testing.T) {
	want := "built 1 image(s) (2 platform(s)) in 1.2s: 3 layer(s) built, 4 cached, 2.0 KiB downloaded, 1.0 MiB uploaded"
	if got := sum.String(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	s := *sum
	s.Pushed, s.Where = false, "buildkitd tcp://h:1"
	if got := s.String(); !strings.HasPrefix(got, "built 1 image(s) (2 platform(s)) in 1.2s on buildkitd tcp://h:1: ") || strings.Contains(got, "uploaded") {
		t.Errorf("got %q", got)
	}
}

func TestPlainReporter(t *testing.T) {
	var b bytes.Buffer
	p := NewPlainReporter(&b)
	p.Report(Event{Runtime: "python3.9", Arch: "arm64", Component: "python", Version: "3.9.18", Status: "downloading", Message: "https://x/y"})
	p.Report(Event{Runtime: "python3.9", Arch: "arm64", Component: "python", Status: "downloading", Bytes: 0, Total: 100})
	p.Report(Event{Runtime: "python3.9", Arch: "arm64", Component: "python", Status: "downloading", Bytes: 50, Total: 100})
	p.Report(Event{Runtime: "python3.9", Arch: "arm64", Component: "python", Version: "3.9.18", Status: "built", Bytes: 4096})
	p.Close(sum)
	p.Close(sum)
	p.Report(Event{Runtime: "late", Status: "done"})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want the download start, built and the summary, got:\n%s", b.String())
	}
	if !strings.Contains(lines[0], "downloading python3.9/arm64 python@3.9.18 https://x/y") ||
		!strings.Contains(lines[1], "built      python3.9/arm64 python@3.9.18 4.0 KiB") || lines[2] != sum.String() {
		t.Errorf("got:\n%s", b.String())
	}
}

func TestJSONReporterSummary(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONReporter(&b)
	j.Report(Event{Runtime: "x", Status: "done"})
	j.Close(sum)
	j.Close(sum)
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got:\n%s", b.String())
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &last); err != nil {
		t.Fatal(err)
	}
	s, _ := last["summary"].(map[string]any)
	if last["status"] != "summary" || s["layersBuilt"] != 3.0 || s["bytesUploaded"] != float64(1<<20) || s["images"] != 1.0 {
		t.Errorf("summary event: %s", lines[1])
	}
	// A failed build closes without a summary: nothing more is printed.
	b.Reset()
	j = NewJSONReporter(&b)
	j.Close(nil)
	if b.Len() != 0 {
		t.Errorf("closing without a summary printed %q", b.String())
	}
}

var ansiSeq = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

func TestTTYReporter(t *testing.T) {
	var out syncBuffer
	r := NewTTYReporter(&out, true)
	ev := func(e Event) { e.Runtime, e.Arch = "python3.9", "arm64"; r.Report(e) }
	ev(Event{Component: "base", Status: "resolving", Message: "public.ecr.aws/lambda/provided:al2"})
	ev(Event{Component: "python", Version: "3.9.18", Status: "downloading", Message: "https://x/python.tgz"})
	ev(Event{Component: "python", Version: "3.9.18", Status: "downloading", Bytes: 512, Total: 2048, Message: "https://x/python.tgz"})
	ev(Event{Component: "boto3", Version: "1.18.55", Status: "cached"})
	r.Report(Event{Status: "warning", Message: "something to know"})
	other := Event{Runtime: "nodejs14.x", Arch: "x86_64", Component: "node", Version: "14.18.1", Status: "building"}
	r.Report(other)
	// The view is drawn while the build runs.
	waitFor(t, &out, regexp.MustCompile(`python@3\.9\.18\s+downloading\s+\[=*>?\s*\]\s+512 B / 2\.0 KiB`))
	waitFor(t, &out, regexp.MustCompile(`WARNING: something to know`))
	ev(Event{Component: "python", Version: "3.9.18", Status: "built", Bytes: 4096})
	ev(Event{Component: "base", Status: "resolved"})
	ev(Event{Status: "done", Message: "sha256:0123456789abcdef0123"})
	r.Report(Event{Runtime: "python3.9", Status: "pushing", Message: "registry.example/python:3.9"})
	r.Close(sum)
	r.Close(sum)
	r.Report(Event{Runtime: "late", Status: "done"})

	got := out.String()
	if !strings.HasPrefix(got, hideCursor) || strings.LastIndex(got, showCursor) < strings.LastIndex(got, "\x1b[J") {
		t.Errorf("the cursor is not hidden during the view and shown after it:\n%q", got)
	}
	if !strings.HasSuffix(got, showCursor+sum.String()+"\n") {
		t.Errorf("the output does not end with the summary after the view:\n%q", got)
	}
	last := ansiSeq.ReplaceAllString(got[strings.LastIndex(got, "\x1b[J"):], "")
	for _, re := range []string{
		`=> python3\.9/arm64\s+done\s+\d+\.\ds\s+1 built, 1 cached\s+sha256:0123456789ab\n`,
		`=> nodejs14\.x/x86_64\s+done\s`, // settled as done when the build succeeded
		`  node@14\.18\.1\s+done`,
		`=> python3\.9\s+pushed\s`,
	} {
		if !regexp.MustCompile(re).MatchString(last) {
			t.Errorf("the last frame has no %s:\n%s", re, last)
		}
	}
	if strings.Contains(last, "python@3.9.18") || strings.Contains(last, "late") {
		t.Errorf("a done image's components are not folded, or a late event was drawn:\n%s", last)
	}
}

// TestTTYReporterFailure: closed without a summary, lines still running
// show as stopped and no summary line is printed.
func TestTTYReporterFailure(t *testing.T) {
	var out syncBuffer
	r := NewTTYReporter(&out, true)
	r.Report(Event{Runtime: "java11", Arch: "arm64", Component: "corretto", Version: "11", Status: "downloading", Bytes: 10, Total: 100})
	r.Report(Event{Runtime: "java11", Arch: "arm64", Component: "ric", Version: "2", Status: "failed", Message: "GET https://x: 404 Not Found"})
	r.Close(nil)
	got := out.String()
	if !strings.HasSuffix(got, showCursor) {
		t.Errorf("the output does not end by showing the cursor:\n%q", got)
	}
	last := ansiSeq.ReplaceAllString(got[strings.LastIndex(got, hideCursor):], "")
	for _, re := range []string{`=> java11/arm64\s+stopped`, `corretto@11\s+stopped`, `ric@2\s+failed\s+GET https://x: 404 Not Found`} {
		if !regexp.MustCompile(re).MatchString(last) {
			t.Errorf("no %s in:\n%s", re, last)
		}
	}
}

func waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp) {
	t.Helper()
	for i := 0; i < 2000 && !re.MatchString(ansiSeq.ReplaceAllString(out.String(), "")); i++ {
		sleepTick()
	}
	if !re.MatchString(ansiSeq.ReplaceAllString(out.String(), "")) {
		t.Fatalf("no %s in:\n%q", re, out.String())
	}
}

func TestDownloadWatch(t *testing.T) {
	d := &downloadWatch{watchers: map[string]map[int]func(Event){}}
	var got []Event
	var mu sync.Mutex
	rec := func(e Event) { mu.Lock(); got = append(got, e); mu.Unlock() }
	stop1 := d.watch("u", rec)
	stop2 := d.watch("u", rec)
	d.progress(fetch.Progress{URL: "u", Done: 5, Total: 10})
	d.progress(fetch.Progress{URL: "other", Done: 1, Total: 2})
	stop1()
	d.progress(fetch.Progress{URL: "u", Done: 10, Total: 10})
	stop2()
	d.progress(fetch.Progress{URL: "u", Done: 10, Total: 10})
	if len(got) != 3 || got[0].Status != "downloading" || got[0].Bytes != 5 || got[0].Total != 10 || got[2].Bytes != 10 {
		t.Errorf("events: %+v", got)
	}
	if len(d.watchers) != 0 {
		t.Errorf("watchers left: %v", d.watchers)
	}
}

// sleepTick lets mpb's goroutines draw; waitFor bounds it only to end a hung test.
func sleepTick() { time.Sleep(10 * time.Millisecond) }

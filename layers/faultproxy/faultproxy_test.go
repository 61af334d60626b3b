package faultproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var payload = strings.Repeat("0123456789", 1000)

func upstream(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "http://"+r.Host+"/next")
		w.Header().Set("Content-Length", "10000")
		_, _ = io.WriteString(w, payload)
	}))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, c *http.Client, url string) (*http.Response, []byte, error) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func client() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func TestFaultsDeterministic(t *testing.T) {
	up := upstream(t)
	p := Start(t, up.URL, Options{Rules: []Rule{
		{Path: regexp.MustCompile(`^/status$`), First: 2, Fault: Fault{Kind: Status, Code: 429, RetryAfter: 1500 * time.Millisecond}},
		{Path: regexp.MustCompile(`^/reset$`), Nth: []int{2}, Fault: Fault{Kind: Reset}},
		{Path: regexp.MustCompile(`^/trunc$`), Fault: Fault{Kind: Truncate, Keep: 100}},
		{Path: regexp.MustCompile(`^/stall$`), Fault: Fault{Kind: Stall}},
	}})
	c := client()

	for i := 1; i <= 3; i++ {
		resp, b, err := get(t, c, p.URL+"/status")
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i <= 2 && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2"):
			t.Fatalf("request %d: %s Retry-After %q, want 429 with Retry-After 2", i, resp.Status, resp.Header.Get("Retry-After"))
		case i == 3 && (resp.StatusCode != 200 || string(b) != payload):
			t.Fatalf("request 3: %s, %d bytes; want the upstream's answer", resp.Status, len(b))
		}
	}

	if _, _, err := get(t, c, p.URL+"/reset"); err != nil {
		t.Fatalf("first /reset should pass: %v", err)
	}
	if _, _, err := get(t, c, p.URL+"/reset"); err == nil {
		t.Fatal("second /reset answered, want a reset connection")
	} else if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "EOF") {
		t.Logf("reset shows as %v", err)
	}

	resp, b, err := get(t, c, p.URL+"/trunc")
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated body: err %v, want unexpected EOF", err)
	}
	if resp.ContentLength != 10000 || len(b) != 100 {
		t.Fatalf("truncated: Content-Length %d, got %d bytes; want 10000 promised, 100 sent", resp.ContentLength, len(b))
	}
	// The upstream's absolute URLs point back at the proxy.
	if loc := resp.Header.Get("Location"); loc != p.URL+"/next" {
		t.Errorf("Location %q, want %q", loc, p.URL+"/next")
	}

	short := client()
	short.Timeout = 300 * time.Millisecond
	if _, _, err := get(t, short, p.URL+"/stall"); err == nil {
		t.Fatal("stalled request answered")
	}

	got := p.Faults()
	want := map[Kind]int{Status: 2, Reset: 1, Truncate: 1, Stall: 1}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s faults: %d, want %d (%v)", k, got[k], n, p.Events())
		}
	}
}

func TestFaultsRandomAreSeeded(t *testing.T) {
	up := upstream(t)
	run := func(seed uint64) []string {
		p := Start(t, up.URL, Options{Rate: 0.3, Seed: seed, Pool: []Fault{{Kind: Status, Code: 500}, {Kind: Status, Code: 502}}})
		c := client()
		var out []string
		for i := 0; i < 40; i++ {
			resp, _, err := get(t, c, p.URL+"/x")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, resp.Status)
		}
		return out
	}
	a, b := run(7), run(7)
	if strings.Join(a, ",") != strings.Join(b, ",") {
		t.Fatalf("same seed, different faults:\n%v\n%v", a, b)
	}
	n := 0
	for _, s := range a {
		if !strings.HasPrefix(s, "200") {
			n++
		}
	}
	if n == 0 || n == len(a) {
		t.Fatalf("%d of %d requests faulted at rate 0.3", n, len(a))
	}
}

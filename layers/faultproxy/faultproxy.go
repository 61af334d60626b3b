// Package faultproxy is a fault-injecting HTTP reverse proxy for tests: put
// in front of a real server (the registry, the artifact server) on
// 127.0.0.1, it forwards requests and, on a deterministic schedule or at a
// seeded random rate, answers some of them with a fault instead: an error
// status (500, 502, 503, 429 with Retry-After), a reset connection, a stall,
// or a truncated body (the upstream's Content-Length promised, fewer bytes
// sent, the connection closed).
//
// Deterministic rules fault the Nth matching request or the first K
// matching requests (matching by method and path pattern); random mode
// faults each request with probability Rate, picking the fault from a pool,
// with a math/rand/v2 PCG source seeded by Seed. Rules are checked first.
//
// It is test-support code: it depends only on the standard library, so any
// package's tests may use it.
package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Kind is a kind of fault.
type Kind int

// The kinds of faults.
const (
	// Status answers with Fault.Code (default 503) and no body from upstream;
	// Fault.RetryAfter, if set, is sent as Retry-After (whole seconds).
	Status Kind = iota + 1
	// Reset closes the client's connection without answering (the request
	// is not forwarded).
	Reset
	// Stall holds the request without answering for Fault.For (0: until
	// the client gives up or the proxy closes), then closes the connection.
	// The request is not forwarded.
	Stall
	// Truncate forwards the request, sends the upstream's status and
	// headers (Content-Length included) and only part of the body
	// (Fault.Keep bytes, default half), then closes the connection. A
	// response without a body is reset instead.
	Truncate
	// StallBody forwards the request, sends the headers and part of the
	// body (like Truncate), then holds the connection for Fault.For (0:
	// until the client gives up) before closing it.
	StallBody
)

func (k Kind) String() string {
	switch k {
	case Status:
		return "status"
	case Reset:
		return "reset"
	case Stall:
		return "stall"
	case Truncate:
		return "truncate"
	case StallBody:
		return "stall-body"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Fault is what the proxy does instead of forwarding a request faithfully.
type Fault struct {
	Kind Kind
	// Code is the status of a Status fault (default 503).
	Code int
	// RetryAfter is sent as Retry-After with a Status fault when > 0
	// (rounded up to whole seconds).
	RetryAfter time.Duration
	// For is how long a Stall or StallBody holds the connection (0: until
	// the client disconnects or the proxy closes).
	For time.Duration
	// Keep is how many body bytes a Truncate or StallBody sends; <= 0
	// means half the upstream's Content-Length (at least one byte short).
	Keep int64
}

func (f Fault) String() string {
	switch f.Kind {
	case Status:
		s := strconv.Itoa(f.code())
		if f.RetryAfter > 0 {
			s += fmt.Sprintf(" (Retry-After %s)", f.RetryAfter)
		}
		return s
	case Stall, StallBody:
		if f.For > 0 {
			return fmt.Sprintf("%s %s", f.Kind, f.For)
		}
	}
	return f.Kind.String()
}

func (f Fault) code() int {
	if f.Code == 0 {
		return http.StatusServiceUnavailable
	}
	return f.Code
}

// Rule faults matching requests on a deterministic schedule. Each rule
// counts the requests it matches from 1, also those another rule faulted.
type Rule struct {
	// Method matches the request method ("" matches any).
	Method string
	// Path matches the request's URL path (nil matches any).
	Path *regexp.Regexp
	// Nth lists the matching requests (1-based) to fault.
	Nth []int
	// First faults the first First matching requests. With neither Nth
	// nor First, every matching request is faulted.
	First int
	Fault Fault
}

// fires says whether the rule faults its nth matching request.
func (rule *Rule) fires(n int) bool {
	switch {
	case len(rule.Nth) > 0:
		for _, k := range rule.Nth {
			if k == n {
				return true
			}
		}
		return false
	case rule.First > 0:
		return n <= rule.First
	}
	return true
}

// Options configure a Proxy.
type Options struct {
	// Rules are checked in order; the first one that faults a request wins.
	Rules []Rule
	// Rate is the probability with which a request that no rule faulted
	// is faulted at random (0: never).
	Rate float64
	// Seed seeds the random choices.
	Seed uint64
	// Pool is the faults random mode picks from (uniformly); nil means
	// DefaultPool.
	Pool []Fault
	// RandomPath, if set, limits random faults to requests whose path matches.
	RandomPath *regexp.Regexp
}

// DefaultPool is the random-mode pool: every status, a reset, a truncated
// body. Stalls are left out because how long they must last depends on the
// client's stall timeout; add them to Pool explicitly.
func DefaultPool() []Fault {
	return []Fault{
		{Kind: Status, Code: http.StatusInternalServerError},
		{Kind: Status, Code: http.StatusBadGateway},
		{Kind: Status, Code: http.StatusServiceUnavailable, RetryAfter: time.Second},
		{Kind: Status, Code: http.StatusTooManyRequests, RetryAfter: time.Second},
		{Kind: Reset},
		{Kind: Truncate},
	}
}

// Event records one request the proxy faulted.
type Event struct {
	Method, Path string
	Fault        Fault
}

// Proxy is a running fault-injecting reverse proxy.
type Proxy struct {
	// URL is http://127.0.0.1:PORT, Host is 127.0.0.1:PORT.
	URL, Host string

	target *url.URL
	srv    *http.Server
	ln     net.Listener
	rp     *httputil.ReverseProxy
	done   chan struct{}

	mu       sync.Mutex
	opts     Options
	rng      *rand.Rand
	counts   []int
	requests int
	events   []Event
	closed   bool
}

// New starts a proxy on a free 127.0.0.1 port forwarding to target (an
// http:// URL; its path is prefixed to every request's).
func New(target string, opts Options) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("faultproxy: invalid target %q", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	p := &Proxy{
		URL: "http://" + ln.Addr().String(), Host: ln.Addr().String(),
		target: u, ln: ln, done: make(chan struct{}),
	}
	p.setOptions(opts)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			// Keep the Host the client used, so the upstream's absolute
			// URLs (a registry's upload Location) point back at the proxy.
			r.Out.Host = r.In.Host
		},
		Transport:     tr,
		FlushInterval: -1,
		// A client giving up on a faulted exchange is expected, not news.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// Start is New for tests: it fails the test on error and closes the proxy
// when the test ends.
func Start(t interface {
	Helper()
	Fatalf(string, ...any)
	Cleanup(func())
}, target string, opts Options) *Proxy {
	t.Helper()
	p, err := New(target, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(p.Close)
	return p
}

// Close stops the proxy, releasing stalled connections.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.done)
	p.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := p.srv.Shutdown(ctx); err != nil {
		_ = p.srv.Close()
	}
}

// SetOptions replaces the rules and the random settings (the rule counters
// restart, the random source is reseeded).
func (p *Proxy) SetOptions(opts Options) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.setOptions(opts)
}

func (p *Proxy) setOptions(opts Options) {
	if opts.Pool == nil {
		opts.Pool = DefaultPool()
	}
	p.opts = opts
	p.counts = make([]int, len(opts.Rules))
	p.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
}

// Requests returns how many requests the proxy received.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests
}

// Events returns the faults injected so far, in order.
func (p *Proxy) Events() []Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Event(nil), p.events...)
}

// Faults counts the injected faults by kind.
func (p *Proxy) Faults() map[Kind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[Kind]int{}
	for _, e := range p.events {
		m[e.Fault.Kind]++
	}
	return m
}

// decide picks the fault for r, if any, and records it.
func (p *Proxy) decide(r *http.Request) (Fault, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests++
	f, ok := p.pick(r)
	if ok {
		p.events = append(p.events, Event{Method: r.Method, Path: r.URL.Path, Fault: f})
	}
	return f, ok
}

func (p *Proxy) pick(r *http.Request) (Fault, bool) {
	// Every matching rule counts the request, whichever one faults it.
	var fault *Fault
	for i := range p.opts.Rules {
		rule := &p.opts.Rules[i]
		if rule.Method != "" && !strings.EqualFold(rule.Method, r.Method) {
			continue
		}
		if rule.Path != nil && !rule.Path.MatchString(r.URL.Path) {
			continue
		}
		p.counts[i]++
		if fault == nil && rule.fires(p.counts[i]) {
			fault = &rule.Fault
		}
	}
	if fault != nil {
		return *fault, true
	}
	if p.opts.Rate > 0 && len(p.opts.Pool) > 0 {
		if p.opts.RandomPath != nil && !p.opts.RandomPath.MatchString(r.URL.Path) {
			return Fault{}, false
		}
		if p.rng.Float64() < p.opts.Rate {
			return p.opts.Pool[p.rng.IntN(len(p.opts.Pool))], true
		}
	}
	return Fault{}, false
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	f, ok := p.decide(r)
	if !ok {
		p.rp.ServeHTTP(w, r)
		return
	}
	switch f.Kind {
	case Status:
		_, _ = io.Copy(io.Discard, r.Body)
		if f.RetryAfter > 0 {
			secs := int64((f.RetryAfter + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.code())
		_, _ = fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"faultproxy: injected %d"}]}`+"\n", f.code())
	case Reset:
		p.reset(w)
	case Stall:
		p.hold(r.Context(), f.For)
		p.reset(w)
	case Truncate, StallBody:
		p.truncate(w, r, f)
	default:
		p.rp.ServeHTTP(w, r)
	}
}

// hold waits for d (0: forever), the client going away or the proxy closing.
func (p *Proxy) hold(ctx context.Context, d time.Duration) {
	var timeout <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-timeout:
	case <-ctx.Done():
	case <-p.done:
	}
}

// reset closes the client's connection abruptly (SO_LINGER 0: the client
// sees a connection reset), without an HTTP response.
func (p *Proxy) reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

// truncate forwards r and relays the response's head and part of its body,
// then (after holding it, for StallBody) closes the connection.
func (p *Proxy) truncate(w http.ResponseWriter, r *http.Request, f Fault) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = p.target.Scheme, p.target.Host
	out.URL.Path = strings.TrimSuffix(p.target.Path, "/") + r.URL.Path
	out.Host = r.Host
	if r.ContentLength == 0 {
		out.Body = nil
	}
	resp, err := p.rp.Transport.RoundTrip(out)
	if err != nil {
		p.reset(w)
		return
	}
	defer resp.Body.Close()
	if resp.ContentLength <= 0 || r.Method == http.MethodHead {
		p.reset(w)
		return
	}
	keep := f.Keep
	if keep <= 0 || keep >= resp.ContentLength {
		keep = resp.ContentLength / 2
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.Header().Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.CopyN(w, resp.Body, keep)
	if fl, ok := w.(http.Flusher); ok {
		fl.Flush()
	}
	if f.Kind == StallBody {
		p.hold(r.Context(), f.For)
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil && !errors.Is(err, http.ErrHijacked) {
		panic(http.ErrAbortHandler)
	}
	if conn != nil {
		_ = conn.Close()
	}
}

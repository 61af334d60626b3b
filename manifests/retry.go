package manifests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// How pulls and pushes survive a flaky registry. go-containerregistry
// retries a request whose response is a retryable status, or which failed
// with a transient network error, with the backoff below (pushes retry each
// blob upload and manifest PUT as a whole). Below it, faultTolerant adds
// what it lacks:
//
//   - a stall watchdog: a request that makes no progress (no request body
//     read, no response header, no response body byte) for StallTimeout is
//     abandoned with a temporary error, so it is retried instead of hanging;
//   - Retry-After: a 429 or 503 carrying it is held back that long (capped
//     at maxRetryAfter) before go-containerregistry sees it and retries;
//   - resumed GET bodies: a GET whose body breaks off (reset, truncated,
//     stalled) is resumed with a Range request from the byte it reached (or
//     restarted, skipping what was read, when the registry ignores Range),
//     at most maxResumes times. Blob and manifest digests are still
//     verified by their readers, so a wrong resume cannot go unnoticed.

// DefaultStallTimeout is how long a registry request may make no progress.
const DefaultStallTimeout = 60 * time.Second

const (
	maxRetryAfter = 30 * time.Second
	maxResumes    = 5
)

// retryBackoff: five attempts, waiting about 0.5s, 1s, 2s and 4s between them.
var retryBackoff = remote.Backoff{Duration: 500 * time.Millisecond, Factor: 2, Jitter: 0.25, Steps: 5}

// retryStatusCodes are the statuses retried (with backoff) by every request.
var retryStatusCodes = []int{
	http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
	http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout,
}

// retryOptions are the go-containerregistry options of every pull and push.
func retryOptions() []remote.Option {
	return []remote.Option{
		remote.WithRetryBackoff(retryBackoff),
		remote.WithRetryStatusCodes(retryStatusCodes...),
		remote.WithRetryPredicate(retryable),
	}
}

// retryable says whether a failed registry request is worth another try:
// temporary errors (go-containerregistry's retryable statuses, rtbuild's
// stalls), resets and cut-off connections are; a refused plain-HTTP
// request, a cancelled build and everything else are not.
func retryable(err error) bool {
	var plain *plainHTTPError
	switch {
	case err == nil, errors.As(err, &plain), errors.Is(err, context.Canceled):
		return false
	}
	// The concrete types first: errors.As stops at the first match, and a
	// failed ping joins two errors (its https attempt, then the plain-HTTP
	// one a loopback registry answers) whose first, a *url.Error, has a
	// Temporary method that says false while the second is a 503.
	var terr *transport.Error
	if errors.As(err, &terr) && terr.Temporary() {
		return true
	}
	var stall *StallError
	if errors.As(err, &stall) {
		return true
	}
	var te interface{ Temporary() bool }
	if errors.As(err, &te) && te.Temporary() {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed)
}

// StallError is a registry request abandoned because it made no progress
// for the stall timeout. It is temporary: the request is retried.
type StallError struct {
	Method, URL string
	After       time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("%s %s: no progress for %s", e.Method, e.URL, e.After)
}

// Temporary marks the error retryable.
func (e *StallError) Temporary() bool { return true }

// Timeout says it is a timeout.
func (e *StallError) Timeout() bool { return true }

var errStalled = errors.New("stalled")

// faultTolerant wraps next with the stall watchdog, Retry-After and GET
// resumption (see above); stall <= 0 means DefaultStallTimeout.
func faultTolerant(next http.RoundTripper, stall time.Duration) http.RoundTripper {
	if stall <= 0 {
		stall = DefaultStallTimeout
	}
	return &tolerantTransport{next: next, stall: stall}
}

type tolerantTransport struct {
	next  http.RoundTripper
	stall time.Duration
}

func (t *tolerantTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.once(req, "")
	if err != nil {
		return nil, err
	}
	if ra := retryAfter(resp); ra > 0 {
		if err := sleepCtx(req.Context(), ra); err != nil {
			resp.Body.Close()
			return nil, err
		}
	}
	if req.Method == http.MethodGet && resp.StatusCode == http.StatusOK && resp.Body != nil && resp.Body != http.NoBody {
		resp.Body = &resumingBody{t: t, req: req, body: resp.Body, total: resp.ContentLength}
	}
	return resp, nil
}

// once does one request under the stall watchdog; rangeHdr, if set, is sent
// as its Range header (on a clone of req).
func (t *tolerantTransport) once(req *http.Request, rangeHdr string) (*http.Response, error) {
	ctx, cancel := context.WithCancelCause(req.Context())
	w := &watchdog{stall: t.stall, cancel: cancel}
	w.timer = time.AfterFunc(t.stall, func() { cancel(errStalled) })
	out := req.WithContext(ctx)
	if rangeHdr != "" {
		out = req.Clone(ctx)
		out.Header.Set("Range", rangeHdr)
	}
	if out.Body != nil && out.Body != http.NoBody {
		out.Body = &progressBody{ReadCloser: out.Body, w: w}
		if getBody := req.GetBody; getBody != nil {
			// The transport's own replay of the body is progress too.
			out.GetBody = func() (io.ReadCloser, error) {
				rc, err := getBody()
				if err != nil {
					return nil, err
				}
				return &progressBody{ReadCloser: rc, w: w}, nil
			}
		}
	}
	resp, err := t.next.RoundTrip(out)
	if err != nil {
		w.stop()
		if context.Cause(ctx) == errStalled && req.Context().Err() == nil {
			return nil, &StallError{Method: req.Method, URL: redactURL(req), After: t.stall}
		}
		return nil, err
	}
	w.progress()
	resp.Body = &watchedBody{ReadCloser: resp.Body, w: w, ctx: ctx, parent: req.Context(), req: req}
	return resp, nil
}

// watchdog cancels a request's context when it makes no progress for stall.
type watchdog struct {
	stall  time.Duration
	timer  *time.Timer
	cancel context.CancelCauseFunc
	once   sync.Once
}

func (w *watchdog) progress() { w.timer.Reset(w.stall) }

func (w *watchdog) stop() {
	w.once.Do(func() {
		w.timer.Stop()
		w.cancel(nil)
	})
}

// progressBody counts request body reads as progress.
type progressBody struct {
	io.ReadCloser
	w *watchdog
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress()
	}
	return n, err
}

// watchedBody is a response body under the watchdog: each byte read is
// progress; a read cut off by the watchdog fails with a *StallError.
type watchedBody struct {
	io.ReadCloser
	w           *watchdog
	ctx, parent context.Context
	req         *http.Request
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.progress()
	}
	if err != nil && err != io.EOF && context.Cause(b.ctx) == errStalled && b.parent.Err() == nil {
		err = &StallError{Method: b.req.Method, URL: redactURL(b.req), After: b.w.stall}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	b.w.stop()
	return err
}

// resumingBody is a GET response body that, when it breaks off, is resumed
// from the byte reached.
type resumingBody struct {
	t       *tolerantTransport
	req     *http.Request
	body    io.ReadCloser
	total   int64 // Content-Length of the first response, -1 if unknown
	n       int64 // bytes delivered
	resumes int
}

func (b *resumingBody) Read(p []byte) (int, error) {
	for {
		n, err := b.body.Read(p)
		b.n += int64(n)
		if err == nil || err == io.EOF || !retryable(err) || b.req.Context().Err() != nil || b.resumes >= maxResumes {
			return n, err
		}
		rerr := b.resume()
		for rerr != nil && retryable(rerr) && b.resumes < maxResumes && b.req.Context().Err() == nil {
			rerr = b.resume()
		}
		if rerr != nil {
			return n, fmt.Errorf("%w (resuming the download failed: %v)", err, rerr)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// resume replaces the broken body with the rest of the content.
func (b *resumingBody) resume() error {
	b.body.Close()
	b.resumes++
	wait := retryBackoff.Duration << (b.resumes - 1)
	wait += rand.N(wait/4 + 1)
	if err := sleepCtx(b.req.Context(), wait); err != nil {
		return err
	}
	rng := fmt.Sprintf("bytes=%d-", b.n)
	if b.total > 0 {
		rng += strconv.FormatInt(b.total-1, 10) // some registries want both ends
	}
	resp, err := b.t.once(b.req, rng)
	if err != nil {
		return err
	}
	if resp.StatusCode == http.StatusRequestedRangeNotSatisfiable {
		// The registry does not take this Range: restart and skip.
		resp.Body.Close()
		if resp, err = b.t.once(b.req, ""); err != nil {
			return err
		}
	}
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != b.n || (b.total >= 0 && size >= 0 && size != b.total) {
			resp.Body.Close()
			return fmt.Errorf("unexpected Content-Range %q resuming at byte %d", resp.Header.Get("Content-Range"), b.n)
		}
	case http.StatusOK:
		if b.total >= 0 && resp.ContentLength >= 0 && resp.ContentLength != b.total {
			resp.Body.Close()
			return fmt.Errorf("content changed: %d bytes, was %d", resp.ContentLength, b.total)
		}
		if _, err := io.CopyN(io.Discard, resp.Body, b.n); err != nil {
			resp.Body.Close()
			return err
		}
	default:
		resp.Body.Close()
		return &resumeStatusError{status: resp.StatusCode, text: resp.Status}
	}
	b.body = resp.Body
	return nil
}

func (b *resumingBody) Close() error { return b.body.Close() }

// resumeStatusError is an unexpected status answering a resume; the
// statuses retried elsewhere are temporary here too.
type resumeStatusError struct {
	status int
	text   string
}

func (e *resumeStatusError) Error() string { return "resuming: " + e.text }

func (e *resumeStatusError) Temporary() bool {
	for _, c := range retryStatusCodes {
		if c == e.status {
			return true
		}
	}
	return false
}

// parseContentRange parses "bytes START-END/SIZE" (SIZE may be *: -1).
func parseContentRange(v string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(v), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	s, _, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil {
			return 0, 0, false
		}
	}
	return start, size, true
}

// retryAfter is how long a 429 or 503 asks the client to wait (capped), or 0.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.Atoi(v); err == nil && secs > 0 {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = time.Until(t)
	}
	return max(min(d, maxRetryAfter), 0)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// redactURL is the request's URL without its query (upload URLs carry state
// tokens there).
func redactURL(req *http.Request) string {
	u := *req.URL
	u.RawQuery, u.User = "", nil
	return u.String()
}

package fetch

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// fetchError is a failure on the network side of a download (as opposed to
// a local I/O error or a digest mismatch).
type fetchError struct {
	err        error
	transient  bool          // worth retrying
	retryAfter time.Duration // the server's Retry-After, if any
}

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

var errStalled = errors.New("download stalled")

func (s *Store) downloadWithRetry(ctx context.Context, url, fetched, want string) (*Artifact, error) {
	var last *fetchError
	for attempt := 0; attempt <= s.retries; attempt++ {
		if attempt > 0 {
			if err := sleep(ctx, s.wait(attempt, last)); err != nil {
				return nil, fmt.Errorf("fetching %s: %w", url, err)
			}
		}
		a, err := s.download(ctx, url, fetched, want)
		if err == nil {
			return a, nil
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fetching %s: %w", url, ctx.Err())
		}
		var fe *fetchError
		if !errors.As(err, &fe) {
			return nil, err // digest mismatch or local I/O error
		}
		last = fe
		if !fe.transient {
			break
		}
	}
	return nil, &UnreachableError{URL: url, Err: last.err}
}

// wait is the pause before retry number attempt (1-based): the server's
// Retry-After if it sent one, else exponential backoff with jitter, capped.
func (s *Store) wait(attempt int, last *fetchError) time.Duration {
	if last != nil && last.retryAfter >= 0 {
		return min(last.retryAfter, s.maxWait)
	}
	d := s.backoff << (attempt - 1)
	if d <= 0 || d > s.maxWait {
		d = s.maxWait
	}
	if d > 0 {
		d += rand.N(d/4 + 1)
	}
	return d
}

const noRetryAfter = time.Duration(-1)

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// download does one GET of fetched into the store. The body goes to a
// temporary file while being hashed; only a complete body with the expected
// digest is fsynced and renamed into place.
func (s *Store) download(ctx context.Context, url, fetched, want string) (a *Artifact, err error) {
	u, err := neturl.Parse(fetched)
	if err != nil {
		return nil, &fetchError{err: err, retryAfter: noRetryAfter}
	}
	// Messages name the URL without a password a mirror rule may carry.
	shown := u.Redacted()
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, &fetchError{err: fmt.Errorf("unsupported URL scheme %q in %s (want http or https)", u.Scheme, shown), retryAfter: noRetryAfter}
	}

	// A transfer that receives nothing for s.stall is cancelled (and retried).
	dctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := time.AfterFunc(s.stall, func() { cancel(errStalled) })
	defer stall.Stop()
	netErr := func(err error, transient bool) *fetchError {
		if context.Cause(dctx) == errStalled && ctx.Err() == nil {
			return &fetchError{err: fmt.Errorf("GET %s: no data received for %s", shown, s.stall), transient: true, retryAfter: noRetryAfter}
		}
		return &fetchError{err: err, transient: transient, retryAfter: noRetryAfter}
	}

	req, err := http.NewRequestWithContext(dctx, http.MethodGet, fetched, nil)
	if err != nil {
		return nil, &fetchError{err: err, retryAfter: noRetryAfter}
	}
	// Ask for the bytes as stored: no transparent decompression.
	req.Header.Set("Accept-Encoding", "identity")
	req.Header.Set("User-Agent", "rtbuild")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, netErr(err, isTransient(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection reusable
		fe := &fetchError{err: fmt.Errorf("GET %s: %s", shown, resp.Status), retryAfter: noRetryAfter}
		switch c := resp.StatusCode; {
		case c >= 500, c == http.StatusTooManyRequests, c == http.StatusRequestTimeout:
			fe.transient = true
			fe.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
		}
		return nil, fe
	}

	tmp, err := os.CreateTemp(s.tmpDir(), "download-*")
	if err != nil {
		return nil, fmt.Errorf("download store: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	total := resp.ContentLength
	s.report(url, 0, total)
	lastReport := time.Now()
	h := sha256.New()
	buf := make([]byte, 256<<10)
	var n int64
	for {
		nr, rerr := resp.Body.Read(buf)
		if nr > 0 {
			stall.Reset(s.stall)
			if _, werr := tmp.Write(buf[:nr]); werr != nil {
				return nil, fmt.Errorf("download store: %w", werr)
			}
			h.Write(buf[:nr])
			n += int64(nr)
			if time.Since(lastReport) >= 100*time.Millisecond {
				s.report(url, n, total)
				lastReport = time.Now()
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, netErr(fmt.Errorf("GET %s: reading the body after %d bytes: %w", shown, n, rerr), true)
		}
	}
	s.report(url, n, total)
	if total >= 0 && n != total {
		return nil, &fetchError{err: fmt.Errorf("GET %s: truncated: got %d of %d bytes", shown, n, total), transient: true, retryAfter: noRetryAfter}
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want != "" && got != want {
		return nil, &DigestMismatchError{URL: url, Expected: want, Got: got}
	}

	dst, err := s.commit(tmp, got)
	if err != nil {
		return nil, err
	}
	committed = true

	a = &Artifact{URL: url, FetchedURL: fetched, SHA256: got, Path: dst, Size: n, Downloaded: n}
	if want == "" {
		a.Warning = unpinnedWarning(url, got)
		if err := s.recordURL(url, got); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// recordURL remembers the digest of an unpinned URL (temp file + rename).
func (s *Store) recordURL(url, digest string) error {
	tmp, err := os.CreateTemp(s.tmpDir(), "url-*")
	if err != nil {
		return fmt.Errorf("download store: %w", err)
	}
	_, err = tmp.WriteString(digest + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.urlPath(url))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("download store: %w", err)
	}
	return nil
}

func (s *Store) report(url string, done, total int64) {
	if s.progress != nil {
		s.progress(Progress{URL: url, Done: done, Total: total})
	}
}

// isTransient says whether a request error is worth retrying: connection
// resets, timeouts and the like are; a refused connection, an unknown host
// and certificate errors are not.
func isTransient(err error) bool {
	var dnsErr *net.DNSError
	var unknownAuthority x509.UnknownAuthorityError
	var certInvalid x509.CertificateInvalidError
	var hostname x509.HostnameError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED),
		errors.As(err, &dnsErr) && dnsErr.IsNotFound,
		errors.As(err, &unknownAuthority),
		errors.As(err, &certInvalid),
		errors.As(err, &hostname),
		errors.As(err, &verify):
		return false
	}
	return true
}

// parseRetryAfter parses a Retry-After header (seconds or an HTTP date);
// noRetryAfter when absent or invalid.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return noRetryAfter
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return noRetryAfter
}

// syncDir fsyncs a directory so a rename in it survives a crash (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// commit makes a fully written, verified temporary file the store's blob for
// digest: read-only, fsynced, renamed into place, directory synced. The
// caller removes tmp if commit fails.
func (s *Store) commit(tmp *os.File, digest string) (string, error) {
	if err := tmp.Chmod(0o444); err != nil {
		return "", fmt.Errorf("download store: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return "", fmt.Errorf("download store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("download store: %w", err)
	}
	dst := s.blobPath(digest)
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return "", fmt.Errorf("download store: %w", err)
	}
	syncDir(filepath.Dir(dst))
	return dst, nil
}

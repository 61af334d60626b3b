// Package resolve holds what rtbuild's package-registry adapters share: the
// pinned Artifact they return, an HTTP getter for publisher metadata (mirror
// rewriting, bounded retries of transient failures), and digest
// verification of downloads against the publisher's own digest (sha1,
// sha256 or sha512, hex or SRI "sha512-<base64>"), which yields the sha256
// rtbuild pins. A pin is never trust-on-first-use: it always comes from a
// digest the publisher states.
package resolve

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

// Artifact is one download an adapter resolved, pinned.
type Artifact struct {
	// Name and Version identify the package ("botocore", "1.21.55").
	Name    string `json:"name" yaml:"name"`
	Version string `json:"version" yaml:"version"`
	// URL is where the artifact is downloaded (before mirror rewriting).
	URL string `json:"url" yaml:"url"`
	// SHA256 is the artifact's hex sha256: the publisher's, or computed from
	// bytes verified against the publisher's Digest.
	SHA256 string `json:"sha256" yaml:"sha256"`
	// Digest is the publisher's digest as it states it: "sha256:<hex>",
	// "sha512:<hex>", "sha1:<hex>" or an SRI value "sha512-<base64>".
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`
	// Dest, when set, is where this artifact is installed in the image,
	// overriding its component's (an npm package's place in the tree).
	Dest string `json:"dest,omitempty" yaml:"dest,omitempty"`
	// Requires names what pulled this artifact in ("boto3 1.18.55 -> botocore"),
	// for messages and the SBOM; empty for what the catalog asked for.
	RequiredBy string `json:"requiredBy,omitempty" yaml:"requiredBy,omitempty"`
}

// Options configure metadata requests and downloads.
type Options struct {
	// Client does the requests; nil: http.DefaultClient.
	Client *http.Client
	// Mirrors rewrite every URL before it is requested (the Artifact keeps
	// the upstream URL).
	Mirrors mirror.Rules
	// Retries of a transient failure (5xx, 429, connection error); 0 = 3, <0 = none.
	Retries int
	// Backoff is the first retry's wait (doubling); 0 = 200ms. Retry-After is honoured up to 30s.
	Backoff time.Duration
}

// HTTPError is a non-success HTTP status for URL.
type HTTPError struct {
	URL    string
	Status int
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("GET %s: HTTP %d %s", e.URL, e.Status, http.StatusText(e.Status))
}

// NotFound says whether err is an HTTP 404 or 410.
func NotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && (he.Status == http.StatusNotFound || he.Status == http.StatusGone)
}

func (o Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return http.DefaultClient
}

// Open GETs url (mirror-rewritten) and returns the body of a 200 response,
// retrying transient failures. accept, if set, is sent as Accept.
func (o Options) Open(ctx context.Context, url, accept string) (io.ReadCloser, error) {
	retries := o.Retries
	if retries == 0 {
		retries = 3
	}
	if retries < 0 {
		retries = 0
	}
	wait := o.Backoff
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	target := o.Mirrors.Rewrite(url)
	var last error
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
		if err != nil {
			return nil, fmt.Errorf("GET %s: %w", url, err)
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := o.client().Do(req)
		var retryAfter time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = fmt.Errorf("GET %s: %w", target, err)
			var dns *net.DNSError
			if errors.As(err, &dns) && dns.IsNotFound {
				return nil, last // a host that does not exist stays so
			}
		case resp.StatusCode == http.StatusOK:
			return resp.Body, nil
		default:
			resp.Body.Close()
			last = &HTTPError{URL: target, Status: resp.StatusCode}
			if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
				return nil, last
			}
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
				retryAfter = min(time.Duration(s)*time.Second, 30*time.Second)
			}
		}
		if attempt >= retries {
			return nil, fmt.Errorf("%w (after %d attempts)", last, attempt+1)
		}
		d := max(wait<<attempt, retryAfter)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

// GetJSON GETs url and decodes its JSON body into v.
func (o Options) GetJSON(ctx context.Context, url string, v any) error {
	body, err := o.Open(ctx, url, "application/json")
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(io.LimitReader(body, 256<<20)).Decode(v); err != nil {
		return fmt.Errorf("GET %s: decoding JSON: %w", url, err)
	}
	return nil
}

// Get GETs url and returns its body (at most 256 MiB).
func (o Options) Get(ctx context.Context, url string) ([]byte, error) {
	body, err := o.Open(ctx, url, "")
	if err != nil {
		return nil, err
	}
	defer body.Close()
	b, err := io.ReadAll(io.LimitReader(body, 256<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return b, nil
}

// MismatchError is a download whose bytes do not match the publisher's digest.
type MismatchError struct {
	URL, Want, Got string
}

func (e *MismatchError) Error() string {
	return fmt.Sprintf("checksum mismatch for %s: the publisher states %s, the download has %s", e.URL, e.Want, e.Got)
}

// Digester checks bytes against one publisher digest.
type Digester struct {
	want string // as given
	algo string // sha1, sha256, sha512
	sri  bool
	sum  []byte
	h    hash.Hash
}

// ParseDigest accepts "sha256:<hex>", "sha512:<hex>", "sha1:<hex>", a bare
// 64-hex (sha256) and SRI values "sha1-", "sha256-", "sha512-<base64>".
func ParseDigest(d string) (*Digester, error) {
	d = strings.TrimSpace(d)
	g := &Digester{want: d}
	var enc string
	switch {
	case strings.Contains(d, ":"):
		g.algo, enc, _ = strings.Cut(d, ":")
	case strings.HasPrefix(d, "sha1-") || strings.HasPrefix(d, "sha256-") || strings.HasPrefix(d, "sha512-"):
		g.algo, enc, _ = strings.Cut(d, "-")
		g.sri = true
	case len(d) == 64:
		g.algo, enc = "sha256", d
	default:
		return nil, fmt.Errorf("digest %q: want sha256:<hex>, sha512:<hex>, sha1:<hex> or an SRI value", d)
	}
	g.algo = strings.ToLower(g.algo)
	switch g.algo {
	case "sha1":
		g.h = sha1.New()
	case "sha256":
		g.h = sha256.New()
	case "sha512":
		g.h = sha512.New()
	default:
		return nil, fmt.Errorf("digest %q: unsupported algorithm %q", d, g.algo)
	}
	var err error
	if g.sri {
		g.sum, err = base64.StdEncoding.DecodeString(enc)
	} else {
		g.sum, err = hex.DecodeString(strings.ToLower(enc))
	}
	if err != nil || len(g.sum) != g.h.Size() {
		return nil, fmt.Errorf("digest %q: not a valid %s value", d, g.algo)
	}
	return g, nil
}

// Write feeds bytes to the digest.
func (g *Digester) Write(p []byte) (int, error) { return g.h.Write(p) }

// Check compares what was written with the publisher's digest.
func (g *Digester) Check(url string) error {
	got := g.h.Sum(nil)
	if string(got) == string(g.sum) {
		return nil
	}
	gs := g.algo + ":" + hex.EncodeToString(got)
	if g.sri {
		gs = g.algo + "-" + base64.StdEncoding.EncodeToString(got)
	}
	return &MismatchError{URL: url, Want: g.want, Got: gs}
}

// Pin downloads url, verifies it against the publisher's digest and
// returns its sha256 (hex). With a sha256 digest no second hash is needed,
// but the bytes are still downloaded and checked: a pin is what was seen.
func (o Options) Pin(ctx context.Context, url, publisherDigest string) (string, error) {
	g, err := ParseDigest(publisherDigest)
	if err != nil {
		return "", fmt.Errorf("%s: %w", url, err)
	}
	body, err := o.Open(ctx, url, "")
	if err != nil {
		return "", err
	}
	defer body.Close()
	s := sha256.New()
	if _, err := io.Copy(io.MultiWriter(s, g), body); err != nil {
		return "", fmt.Errorf("GET %s: %w", url, err)
	}
	if err := g.Check(url); err != nil {
		return "", err
	}
	return hex.EncodeToString(s.Sum(nil)), nil
}

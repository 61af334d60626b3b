package manifests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rtbuild/rtbuild/layers/mirror"
)

// RegistryOptions are the registry settings shared by pulls and pushes.
type RegistryOptions struct {
	// Mirrors rewrite registry references (--mirror FROM=TO,
	// RTBUILD_MIRRORS) before they are parsed; they apply to pulls and pushes.
	Mirrors mirror.Rules
	// Insecure lists registries that may be used over plain HTTP
	// (--insecure-registry), as HOST or HOST:PORT; HOST matches every port.
	// Loopback registries (localhost, 127.0.0.0/8, ::1) always may. Any other
	// registry is used over HTTPS with verified certificates only.
	Insecure []string
	// Keychain supplies credentials; nil means authn.DefaultKeychain (the
	// Docker config file and its credential helpers).
	Keychain authn.Keychain
	// Transport is the HTTP transport; nil means remote.DefaultTransport.
	Transport http.RoundTripper
	// Jobs is the number of concurrent blob transfers of a push; 0 means
	// go-containerregistry's default (4).
	Jobs int
	// StallTimeout is how long a registry request may make no progress
	// before it is abandoned and retried; 0 means DefaultStallTimeout.
	StallTimeout time.Duration
	// MetadataDir, when set, keeps the manifests and config blobs of pulls
	// pinned by digest (they cannot change), so that pulling the same
	// pinned base again reads no network; entries are verified on read.
	MetadataDir string
}

// plainHTTPAllowed reports whether the registry host (HOST or HOST:PORT) may
// be spoken to over plain HTTP: loopback hosts and those listed in Insecure.
func (o RegistryOptions) plainHTTPAllowed(registry string) bool {
	host := hostOnly(registry)
	if isLoopback(host) {
		return true
	}
	for _, r := range o.Insecure {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		if strings.EqualFold(r, registry) {
			return true
		}
		// An entry without a port allows every port of that host.
		if _, _, err := net.SplitHostPort(r); err != nil && strings.EqualFold(hostOnly(r), host) {
			return true
		}
	}
	return false
}

// hostOnly strips the port and IPv6 brackets from HOST[:PORT].
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

// isLoopback reports whether host is localhost or a loopback IP address.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// PlainHTTPAllowed reports whether the registry host (HOST or HOST:PORT)
// may be spoken to over plain HTTP: loopback hosts and those in Insecure.
// Executors that talk to registries through another program (BuildKit) use
// it to pass the same policy on.
func (o RegistryOptions) PlainHTTPAllowed(registry string) bool { return o.plainHTTPAllowed(registry) }

// Rewrite applies the mirror rules to a registry reference as pulls and
// pushes do (see rewrite).
func (o RegistryOptions) Rewrite(ref string) string { return o.rewrite(ref) }

// parseReference parses a (rewritten) registry reference, allowing plain
// HTTP only where plainHTTPAllowed says so.
func (o RegistryOptions) parseReference(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	if o.plainHTTPAllowed(r.Context().RegistryStr()) {
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

// rewrite applies the mirror rules to a registry reference. A Docker Hub
// reference written in short form ("amazonlinux:2", "library/amazonlinux:2")
// is also tried in its "docker.io/..." form, so that a docker.io=MIRROR rule
// applies to it.
func (o RegistryOptions) rewrite(ref string) string {
	if r := o.Mirrors.Rewrite(ref); r != ref || len(o.Mirrors) == 0 {
		return r
	}
	r, err := name.ParseReference(ref)
	if err != nil || r.Context().RegistryStr() != name.DefaultRegistry || strings.HasPrefix(ref, "docker.io/") || strings.HasPrefix(ref, name.DefaultRegistry+"/") {
		return ref
	}
	sep := ":"
	if _, ok := r.(name.Digest); ok {
		sep = "@"
	}
	full := "docker.io/" + r.Context().RepositoryStr() + sep + r.Identifier()
	if rw := o.Mirrors.Rewrite(full); rw != full {
		return rw
	}
	return ref
}

// remoteOptions returns the go-containerregistry options for o.
func (o RegistryOptions) remoteOptions(ctx context.Context) []remote.Option {
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	tr := o.Transport
	if tr == nil {
		tr = remote.DefaultTransport
	}
	tr = faultTolerant(tr, o.StallTimeout)
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithTransport(httpGuard{allowed: o.plainHTTPAllowed, next: tr}),
	}
	if o.Jobs > 0 {
		opts = append(opts, remote.WithJobs(o.Jobs))
	}
	opts = append(opts, retryOptions()...)
	return opts
}

// httpGuard refuses plain-HTTP requests to hosts that may not be used over
// plain HTTP. go-containerregistry itself falls back to HTTP for private
// (RFC 1918) addresses; this guard enforces rtbuild's stricter rule on every
// request, token servers included.
type httpGuard struct {
	allowed func(host string) bool
	next    http.RoundTripper
}

func (g httpGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !g.allowed(req.URL.Host) {
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	return g.next.RoundTrip(req)
}

// plainHTTPError is the refusal of a plain-HTTP request.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("plain HTTP to %s refused (only loopback registries and those named with --insecure-registry may use HTTP)", e.host)
}

// refError is a one-line error naming the operation, the reference as given
// and, when a mirror rewrote it, the reference actually used.
type refError struct {
	op, ref, used string
	err           error
}

func (e *refError) Error() string {
	var b strings.Builder
	b.WriteString(e.op)
	b.WriteString(" ")
	b.WriteString(e.ref)
	if e.used != "" && e.used != e.ref {
		b.WriteString(" (mirrored to ")
		b.WriteString(e.used)
		b.WriteString(")")
	}
	b.WriteString(": ")
	b.WriteString(oneLine(e.err.Error()))
	if hint := hintFor(e.err, e.used != "" && e.used != e.ref); hint != "" {
		b.WriteString("; ")
		b.WriteString(hint)
	}
	return b.String()
}

func (e *refError) Unwrap() error { return e.err }

// Unreachable says whether the registry could not be reached at all (DNS,
// connection or timeout), as opposed to refusing the request; the CLI maps
// it to its "upstream unreachable" exit code.
func (e *refError) Unreachable() bool {
	var (
		plain  *plainHTTPError
		dnsErr *net.DNSError
		opErr  *net.OpError
		netErr net.Error
	)
	if errors.As(e.err, &plain) {
		return false
	}
	return errors.As(e.err, &dnsErr) || errors.As(e.err, &opErr) || (errors.As(e.err, &netErr) && netErr.Timeout())
}

// newRefError wraps err for the reference ref (as given) and used (after
// mirror rewriting).
func newRefError(op, ref, used string, err error) error {
	return &refError{op: op, ref: ref, used: used, err: err}
}

// hintFor says what to do about err, or "" when there is nothing to add;
// mirrored says whether a mirror rule rewrote the reference.
func hintFor(err error, mirrored bool) string {
	var (
		plain   *plainHTTPError
		rec     tls.RecordHeaderError
		x509Err x509.UnknownAuthorityError
		hostErr x509.HostnameError
		certErr *tls.CertificateVerificationError
		dnsErr  *net.DNSError
		opErr   *net.OpError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &plain):
		return "" // the message says it
	case errors.Is(err, http.ErrSchemeMismatch), errors.As(err, &rec):
		return "the registry speaks plain HTTP: if it is trusted, name it with --insecure-registry, or use --mirror FROM=TO to use another registry"
	case errors.As(err, &x509Err), errors.As(err, &hostErr), errors.As(err, &certErr):
		return "its TLS certificate is not trusted: add its CA to the system trust store, or use --mirror FROM=TO to use another registry"
	case errors.As(err, &dnsErr), errors.As(err, &opErr), errors.As(err, &netErr) && netErr.Timeout():
		if mirrored {
			return "the mirror is unreachable: check it and the --mirror (or RTBUILD_MIRRORS) rule that chose it"
		}
		return "the registry is unreachable: check the network, or use --mirror FROM=TO (or RTBUILD_MIRRORS) to use a reachable mirror"
	}
	return ""
}

// oneLine folds a possibly multi-line message onto one line.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

package buildkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/moby/buildkit/client"
	// Address schemes beyond unix:// and tcp://, as buildctl has them:
	// docker-container://, kube-pod://, nerdctl-container://, npipe://,
	// podman-container:// and ssh://.
	_ "github.com/moby/buildkit/client/connhelper/dockercontainer"
	_ "github.com/moby/buildkit/client/connhelper/kubepod"
	_ "github.com/moby/buildkit/client/connhelper/nerdctlcontainer"
	_ "github.com/moby/buildkit/client/connhelper/npipe"
	_ "github.com/moby/buildkit/client/connhelper/podmancontainer"
	_ "github.com/moby/buildkit/client/connhelper/ssh"
	"github.com/moby/buildkit/util/appdefaults"
	"google.golang.org/grpc/status"

	"github.com/rtbuild/rtbuild/builder"
)

// TLS is the client side of a TLS connection to buildkitd, as buildctl's
// --tlscacert, --tlscert, --tlskey and --tlsservername take it.
type TLS struct {
	// CACert is the CA certificate (PEM) that signed buildkitd's certificate.
	CACert string
	// Cert and Key are the client certificate and key (PEM) buildkitd
	// requires when it was started with --tlscacert.
	Cert, Key string
	// ServerName is the name buildkitd's certificate must carry; empty means
	// the address's host. Without CACert it selects the system trust store.
	ServerName string
}

func (t TLS) enabled() bool {
	return t.CACert != "" || t.Cert != "" || t.Key != "" || t.ServerName != ""
}

// ResolveAddr returns the buildkitd address to use: addr when given, else
// $BUILDKIT_HOST, else BuildKit's default (unix:///run/buildkit/buildkitd.sock).
func ResolveAddr(addr string, getenv func(string) string) string {
	if addr != "" {
		return addr
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if env := getenv("BUILDKIT_HOST"); env != "" {
		return env
	}
	return appdefaults.Address
}

// ConnectError is a buildkitd that could not be used: unreachable, or a
// TLS setup that does not fit it.
type ConnectError struct {
	Addr string
	// TLS says the failure was in the TLS setup or handshake.
	TLS bool
	// NoClientCert says no client certificate was given; NoTLS, no TLS flag.
	NoClientCert, NoTLS bool
	Err                 error
}

func (e *ConnectError) Error() string {
	if e.TLS {
		cause := cleanGRPC(e.Err)
		switch {
		case e.NoTLS && expectsTLS(e.Err):
			cause += " (buildkitd seems to expect TLS: give --buildkit-tls-ca, and --buildkit-tls-cert and --buildkit-tls-key if it requires client certificates)"
		case e.NoClientCert && droppedAfterConnect(e.Err):
			cause += " (buildkitd closed the connection: it may require a client certificate, --buildkit-tls-cert and --buildkit-tls-key)"
		}
		return fmt.Sprintf("TLS connection to buildkitd at %s failed: %s; check --buildkit-tls-ca, --buildkit-tls-cert, --buildkit-tls-key and --buildkit-tls-server-name against buildkitd's --tlscacert, --tlscert and --tlskey (docs/buildkit.md)", e.Addr, cause)
	}
	return fmt.Sprintf("cannot reach buildkitd at %s: %s; start one (docs/buildkit.md) or point --buildkit-addr (or BUILDKIT_HOST) at a running buildkitd", e.Addr, cleanGRPC(e.Err))
}

func (e *ConnectError) Unwrap() error { return e.Err }

// Unreachable reports whether buildkitd could not be reached at all; the CLI
// maps it to its "upstream unreachable" exit code.
func (e *ConnectError) Unreachable() bool { return !e.TLS }

// connect opens a client to the buildkitd at addr and checks that it
// answers, so that an unreachable daemon or a wrong TLS setup is one clear
// error before any work is done.
func connect(ctx context.Context, addr string, t TLS) (*client.Client, error) {
	u, err := url.Parse(addr)
	if err != nil || u.Scheme == "" || !strings.Contains(addr, "://") {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("invalid --buildkit-addr %q: want SCHEME://ADDRESS, e.g. unix:///run/buildkit/buildkitd.sock or tcp://buildkitd:1234", addr)}
	}
	var opts []client.ClientOpt
	if t.enabled() {
		if err := checkTLSFiles(t); err != nil {
			return nil, &ConnectError{Addr: addr, TLS: true, Err: err}
		}
		serverName := t.ServerName
		if serverName == "" {
			serverName = u.Hostname()
		}
		if t.CACert != "" {
			opts = append(opts, client.WithServerConfig(serverName, t.CACert))
		} else {
			opts = append(opts, client.WithServerConfigSystem(serverName))
		}
		if t.Cert != "" || t.Key != "" {
			opts = append(opts, client.WithCredentials(t.Cert, t.Key))
		}
	}
	c, err := client.New(ctx, addr, opts...)
	if err != nil {
		return nil, &ConnectError{Addr: addr, TLS: t.enabled() && isTLSError(err), Err: err}
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if _, err := c.Info(pctx); err != nil {
		c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &ConnectError{
			Addr: addr, Err: err, NoClientCert: t.Cert == "", NoTLS: !t.enabled(),
			TLS: isTLSError(err) || (t.enabled() && droppedAfterConnect(err)) || (!t.enabled() && expectsTLS(err)),
		}
	}
	return c, nil
}

// expectsTLS says a plain-text client was answered with something that is
// not HTTP/2: a TLS server (it waits for a handshake, then closes).
func expectsTLS(err error) bool {
	return strings.Contains(err.Error(), "error reading server preface")
}

// droppedAfterConnect says the server closed a connection it had accepted:
// with TLS, how a server that requires a client certificate answers a
// client without one (TLS 1.3 reports it only on the first write).
func droppedAfterConnect(err error) bool {
	s := err.Error()
	return strings.Contains(s, "broken pipe") || strings.Contains(s, "connection reset") || strings.Contains(s, "EOF")
}

// checkTLSFiles reads the TLS files the way BuildKit's client will, so that
// a missing or malformed file is reported by its flag.
func checkTLSFiles(t TLS) error {
	if t.CACert != "" {
		b, err := os.ReadFile(t.CACert)
		if err != nil {
			return fmt.Errorf("--buildkit-tls-ca: %w", err)
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return fmt.Errorf("--buildkit-tls-ca %s holds no PEM certificate", t.CACert)
		}
	}
	if (t.Cert == "") != (t.Key == "") {
		return errors.New("--buildkit-tls-cert and --buildkit-tls-key go together: give both or neither")
	}
	if t.Cert != "" {
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			return fmt.Errorf("--buildkit-tls-cert/--buildkit-tls-key: %w", err)
		}
	}
	return nil
}

func isTLSError(err error) bool {
	s := err.Error()
	for _, m := range []string{"tls:", "x509:", "authentication handshake failed", "first record does not look like a TLS handshake", "certificate"} {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

// cleanGRPC reduces a gRPC transport error to its cause: "connection error:
// desc = \"transport: Error while dialing: dial unix /x: connect: no such
// file or directory\"" becomes "dial unix /x: connect: no such file or
// directory".
func cleanGRPC(err error) string {
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	for _, p := range []string{"failed to call info: ", "Unavailable: ", "connection error: desc = ", "\"", "transport: ", "Error while dialing: ", "error while dialing: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return strings.Join(strings.Fields(msg), " ")
}

package testworld

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

// buildkitModule is buildkitd's main package, pinned by a tool directive in
// testdata/buildkit-tools/go.mod: a module of its own, because BuildKit's
// go.mod has exclude directives that `go install pkg@version` refuses, and so
// that the daemon's dependencies stay out of rtbuild's go.mod.
const buildkitModule = "github.com/moby/buildkit/cmd/buildkitd"

// Buildkitd is a real buildkitd started for a test.
type Buildkitd struct {
	// Addr is its unix socket address (unix:///.../buildkitd.sock).
	Addr string
	// Root is its state directory.
	Root string
	// TLS is set when it was started WithTLS.
	TLS *BuildkitdTLS

	cmd      *exec.Cmd
	done     chan struct{}
	log      *testtools.SyncBuffer
	stopOnce sync.Once
	dirs     []string
}

// BuildkitdTLS is the TCP listener of a buildkitd started WithTLS: buildkitd
// requires a client certificate signed by CA (mutual TLS).
type BuildkitdTLS struct {
	// Addr is tcp://127.0.0.1:PORT.
	Addr string
	// CACert signed buildkitd's certificate (for "127.0.0.1" and
	// ServerName) and the client's; ClientCert and ClientKey are the client's.
	CACert, ClientCert, ClientKey string
	ServerName                    string
	// OtherCA is a CA that signed nothing buildkitd trusts or presents:
	// given as the client's CA it makes the handshake fail.
	OtherCA string
}

// BuildkitdOption configures StartBuildkitd.
type BuildkitdOption func(*buildkitdConfig)

type buildkitdConfig struct{ tls bool }

// WithTLS makes buildkitd listen on a loopback TCP port with mutual TLS too,
// with certificates generated for the test.
func WithTLS() BuildkitdOption { return func(c *buildkitdConfig) { c.tls = true } }

// StartBuildkitd starts buildkitd (BuildKit v0.34.2, built from
// testdata/buildkit-tools and cached, see BuildBuildkitd) as root with the
// runc OCI worker and the overlayfs snapshotter, no config file, its state
// under a fresh temporary directory and its socket at
// unix://<tempdir>/buildkitd.sock. It is stopped by its PID when the test
// ends (or by Stop), and anything it left mounted under its state directory
// is unmounted. buildkitd pulls from 127.0.0.1 registries over plain HTTP
// without configuration (BuildKit treats loopback registries so).
//
// Without root, runc or the Go toolchain the test is skipped locally and
// fails in CI (CI=true), as RequireTool does.
func StartBuildkitd(t testing.TB, opts ...BuildkitdOption) *Buildkitd {
	t.Helper()
	var cfg buildkitdConfig
	for _, o := range opts {
		o(&cfg)
	}
	if runtime.GOOS != "linux" {
		testtools.Unavailable(t, "buildkitd with the runc worker and overlayfs runs on Linux only")
	}
	if os.Geteuid() != 0 {
		testtools.Unavailable(t, "buildkitd with the runc worker and overlayfs needs root")
	}
	runc := "/usr/sbin/runc"
	if !testtools.FileExists(runc) {
		runc = RequireTool(t, "runc")
	}
	bin := BuildBuildkitd(t)

	sweepStaleBuildkitd()
	// The socket path must stay short (a unix socket path has ~108 bytes).
	dir, err := os.MkdirTemp("", "rtbuild-buildkitd-")
	if err != nil {
		t.Fatal(err)
	}
	b := &Buildkitd{
		Addr: "unix://" + filepath.Join(dir, "buildkitd.sock"),
		Root: filepath.Join(dir, "root"),
		log:  &testtools.SyncBuffer{},
		dirs: []string{dir},
	}
	args := []string{
		"--root", b.Root,
		"--addr", b.Addr,
		"--oci-worker=true", "--oci-worker-binary", runc, "--oci-worker-snapshotter", "overlayfs",
		"--containerd-worker=false",
	}
	if cfg.tls {
		b.TLS = makeTLS(t, dir)
		args = append(args, "--addr", b.TLS.Addr,
			"--tlscacert", b.TLS.CACert, "--tlscert", filepath.Join(dir, "server.pem"), "--tlskey", filepath.Join(dir, "server-key.pem"))
	}
	b.cmd = exec.Command(bin, args...)
	b.cmd.Stdout, b.cmd.Stderr = b.log, b.log
	b.cmd.Env = []string{"PATH=" + filepath.Dir(runc) + ":/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + dir, "TMPDIR=" + dir}
	b.cmd.SysProcAttr = buildkitdSysProcAttr()
	if err := b.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("starting buildkitd: %v", err)
	}
	b.done = make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	t.Cleanup(b.Stop)
	_ = os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(b.cmd.Process.Pid)), 0o644)

	sock := strings.TrimPrefix(b.Addr, "unix://")
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-b.done:
			t.Fatalf("buildkitd exited before serving %s; log:\n%s", b.Addr, b.Log())
		default:
		}
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buildkitd not serving %s after 60s; log:\n%s", b.Addr, b.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return b
}

// Log returns what buildkitd has logged so far.
func (b *Buildkitd) Log() string { return b.log.String() }

// Stop stops buildkitd (SIGTERM, then SIGKILL after 20s) by its own PID,
// unmounts whatever is still mounted under its state directory and removes
// its directories. It is safe to call more than once.
func (b *Buildkitd) Stop() {
	b.stopOnce.Do(func() {
		if b.cmd != nil && b.cmd.Process != nil {
			_ = b.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-b.done:
			case <-time.After(20 * time.Second):
				_ = b.cmd.Process.Kill()
				<-b.done
			}
		}
		for _, d := range b.dirs {
			unmountUnder(d)
			_ = os.RemoveAll(d)
		}
	})
}

// sweepStaleBuildkitd removes what a test process that died (a panic, a
// kill) left of its buildkitd: directories whose buildkitd is gone, with
// whatever is still mounted under them. Live ones, other tests', are left.
func sweepStaleBuildkitd() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), "rtbuild-buildkitd-*"))
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "pid"))
		if err != nil {
			// Not started yet, or started by a test that is starting now:
			// only old ones are stale.
			if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		} else if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && processAlive(pid) {
			continue
		}
		unmountUnder(d)
		_ = os.RemoveAll(d)
	}
}

// processAlive reports whether a process with that PID exists.
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// Mounts returns the mount points under dir, deepest first, from
// /proc/self/mountinfo.
func Mounts(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var n int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &n); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder detaches every mount under dir, deepest first.
func unmountUnder(dir string) {
	for attempt := 0; attempt < 3; attempt++ {
		mps := Mounts(dir)
		if len(mps) == 0 {
			return
		}
		for _, mp := range mps {
			_ = detach(mp)
		}
	}
}

// BuildBuildkitd returns the path of buildkitd built from the version pinned
// in testdata/buildkit-tools. It is cached in CacheDir, keyed by a hash of
// that module's go.mod and go.sum, so it is built once per machine and
// version (a few minutes); it is built to a temporary name and renamed
// into place, so concurrent test processes never see a partial binary.
func BuildBuildkitd(t testing.TB) string {
	t.Helper()
	tools := filepath.Join(filepath.Dir(ToolsDir(t)), "buildkit-tools")
	t.Logf("buildkitd comes from %s (built once per machine and version; a few minutes)", tools)
	return testtools.BuildGoTool(t, testtools.GoTool{
		What: "buildkitd", ModuleDir: tools, Pkg: buildkitModule,
		KeyFiles: []string{"go.mod", "go.sum"}, CacheDir: "buildkit", Name: "buildkitd-" + runtime.GOOS + "-" + runtime.GOARCH,
	})
}

// makeTLS writes a CA, a server certificate for 127.0.0.1 and "buildkitd",
// a client certificate and an unrelated CA into dir, and picks a port.
func makeTLS(t testing.TB, dir string) *BuildkitdTLS {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	now := time.Now()
	serial := int64(1)
	mkCA := func(cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
		k := newKey()
		serial++
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &k.PublicKey, k)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c, k, der
	}
	leaf := func(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage, name string) {
		k := newKey()
		serial++
		tpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		if usage == x509.ExtKeyUsageServerAuth {
			tpl.DNSNames = []string{"buildkitd", "localhost"}
			tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
		der, err := x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		write(name+".pem", "CERTIFICATE", der)
		write(name+"-key.pem", "EC PRIVATE KEY", kder)
	}
	ca, caKey, caDER := mkCA("rtbuild test buildkitd CA")
	_, _, otherDER := mkCA("rtbuild test unrelated CA")
	leaf(ca, caKey, "buildkitd", x509.ExtKeyUsageServerAuth, "server")
	leaf(ca, caKey, "rtbuild", x509.ExtKeyUsageClientAuth, "client")
	return &BuildkitdTLS{
		Addr:       fmt.Sprintf("tcp://127.0.0.1:%d", FreePort(t)),
		CACert:     write("ca.pem", "CERTIFICATE", caDER),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
		ServerName: "buildkitd",
		OtherCA:    write("other-ca.pem", "CERTIFICATE", otherDER),
	}
}

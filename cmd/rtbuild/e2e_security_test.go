package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"golang.org/x/crypto/bcrypt"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/layers/faultproxy"
)

// startAuthRegistry starts Debian's docker-registry on 127.0.0.1 with
// htpasswd basic auth for user:password, stopped when the test ends.
func startAuthRegistry(t *testing.T, user, password string) string {
	t.Helper()
	bin := testworld.RequireTool(t, "docker-registry")
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for attempt := 0; attempt < 5; attempt++ {
		host := fmt.Sprintf("127.0.0.1:%d", testworld.FreePort(t))
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: %s
auth:
  htpasswd:
    realm: rtbuild-test
    path: %s
http:
  addr: %s
`, filepath.Join(dir, "storage"), filepath.Join(dir, "htpasswd"), host)
		cfgPath := filepath.Join(dir, "config.yml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfgPath)
		var log bytes.Buffer
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		ready := false
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !ready; {
			select {
			case <-done:
				deadline = time.Now()
				continue
			default:
			}
			if resp, err := http.Get("http://" + host + "/v2/"); err == nil {
				resp.Body.Close()
				ready = resp.StatusCode == http.StatusUnauthorized
			}
			if !ready {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !ready {
			_ = cmd.Process.Kill()
			<-done
			continue
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
		return host
	}
	t.Fatal("docker-registry with htpasswd auth did not start")
	return ""
}

// dockerConfig writes a Docker config dir holding auths for each host.
func dockerConfig(t *testing.T, user, password string, hosts ...string) string {
	t.Helper()
	dir := t.TempDir()
	auths := map[string]any{}
	for _, h := range hosts {
		auths[h] = map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
	}
	b, err := json.Marshal(map[string]any{"auths": auths})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// leakFinder looks for any of the secret's forms in what rtbuild wrote.
type leakFinder struct {
	forms []string
}

func newLeakFinder(user, secret string) *leakFinder {
	return &leakFinder{forms: []string{
		secret,
		base64.StdEncoding.EncodeToString([]byte(user + ":" + secret)),
		base64.StdEncoding.EncodeToString([]byte(secret)),
		strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(user+":"+secret)), "="),
	}}
}

func (l *leakFinder) check(t *testing.T, what string, b []byte) {
	t.Helper()
	for _, f := range l.forms {
		if bytes.Contains(b, []byte(f)) {
			t.Errorf("the secret (as %q) leaked into %s", f, what)
		}
	}
	// Layers are gzip-compressed: look inside too.
	if zr, err := gzip.NewReader(bytes.NewReader(b)); err == nil {
		if raw, err := io.ReadAll(zr); err == nil {
			for _, f := range l.forms {
				if bytes.Contains(raw, []byte(f)) {
					t.Errorf("the secret (as %q) leaked into %s (compressed)", f, what)
				}
			}
		}
	}
}

func (l *leakFinder) checkTree(t *testing.T, root string) {
	t.Helper()
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("reading %s: %v", p, err)
			return nil
		}
		n++
		l.check(t, p, b)
		return nil
	})
	if n == 0 {
		t.Errorf("nothing written under %s", root)
	}
}

// TestSecretNeverWritten plants registry credentials in a Docker config
// (for a docker-registry with htpasswd auth) and a password in a mirror
// URL, pushes with them (successfully, through failures, and with a wrong
// password), and greps everything rtbuild wrote — stdout, stderr (plain and
// JSON progress), the metadata file, the OCI layout and the cache — for the
// secrets in every form.
func TestSecretNeverWritten(t *testing.T) {
	fw := startFaultWorld(t)
	raw := make([]byte, 12)
	_, _ = rand.Read(raw)
	secret := "s3cret-" + hex.EncodeToString(raw)
	user := "rtbuild"
	reg := startAuthRegistry(t, user, secret)
	regProxy := faultproxy.Start(t, "http://"+reg, faultproxy.Options{})
	cfg := dockerConfig(t, user, secret, reg, regProxy.Host)
	env := []string{"DOCKER_CONFIG=" + cfg}
	leaks := newLeakFinder(user, secret)

	// A mirror URL carrying a password (as for an authenticated proxy).
	mirrorArgs := proxiedArgs(fw.World.Args(), "="+fw.Artifacts.URL, "="+strings.Replace(fw.Art.URL, "http://", "http://"+user+":"+secret+"@", 1), "", "")

	work := t.TempDir()
	cacheDir := filepath.Join(work, "cache")
	var outputs [][2]string
	record := func(name string, r cliResult) {
		outputs = append(outputs, [2]string{name + " stdout", r.stdout}, [2]string{name + " stderr", r.stderr})
	}

	// 1. A successful push with the credentials, both progress formats.
	for _, progress := range []string{"plain", "json"} {
		md := filepath.Join(work, "md-"+progress+".json")
		r := mustCLI(t, work, env, append([]string{"image", "provided.al2", "--cache-dir", cacheDir, "--push", reg + "/secure/p:1", "--output", "oci:" + filepath.Join(work, "out"), "--metadata-file", md, "--progress", progress}, mirrorArgs...)...)
		record("push "+progress, r)
	}
	// The push really used the credentials: anonymous access is refused.
	if resp, err := http.Get("http://" + reg + "/v2/secure/p/manifests/1"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("registry without credentials: %v %v, want 401", resp, err)
	}

	// 2. A push failing through the proxy (every manifest PUT refused).
	regProxy.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{{Method: http.MethodPut, Path: re(`/manifests/`), Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 500}}}})
	r := cli(t, work, env, append([]string{"image", "provided.al2", "--cache-dir", cacheDir, "--push", regProxy.Host + "/secure/p:2", "--progress", "json"}, mirrorArgs...)...)
	if r.code == 0 {
		t.Error("push through refused manifests succeeded")
	}
	record("failed push", r)

	// 3. Wrong credentials: the registry refuses them.
	bad := dockerConfig(t, user, secret+"-wrong", reg)
	r = cli(t, work, []string{"DOCKER_CONFIG=" + bad}, append([]string{"image", "provided.al2", "--cache-dir", cacheDir, "--push", reg + "/secure/p:3"}, mirrorArgs...)...)
	if r.code == 0 {
		t.Error("push with a wrong password succeeded")
	}
	record("wrong password", r)

	// 4. A download failing through the mirror with a password in its URL.
	fw.Art.SetOptions(faultproxy.Options{Rules: []faultproxy.Rule{{Fault: faultproxy.Fault{Kind: faultproxy.Status, Code: 503}}}})
	r = cli(t, work, env, append([]string{"image", "java11", "--cache-dir", filepath.Join(work, "cache2"), "--output", "oci:" + filepath.Join(work, "never"), "--progress", "plain"}, mirrorArgs...)...)
	fw.Art.SetOptions(faultproxy.Options{})
	if r.code == 0 {
		t.Error("download through a failing mirror succeeded")
	}
	record("failed download", r)

	for _, o := range outputs {
		leaks.check(t, o[0], []byte(o[1]))
	}
	leaks.checkTree(t, work) // metadata files, OCI layout, caches
	for _, o := range outputs {
		if strings.Contains(o[0], "stderr") && strings.Contains(o[1], "rtbuild: ") {
			t.Logf("%s: %s", o[0], lastLine(o[1]))
		}
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestSecretSafeImageModes builds every runtime under umask 077 and walks
// every layer rtbuild built: each file and directory is readable by an
// unprivileged user (o+r, and o+x on directories), unless the upstream
// archive says otherwise, and no file is setuid or setgid (the synthetic
// upstreams have none, and rtbuild adds none).
func TestSecretSafeImageModes(t *testing.T) {
	w := testworld.Start(t)
	dir := t.TempDir()
	md := filepath.Join(dir, "md.json")
	var runtimes []string
	for id := range w.Expect {
		runtimes = append(runtimes, id)
	}
	args := append(append([]string{"image"}, runtimes...), append([]string{"--cache-dir", filepath.Join(dir, "cache"), "--output", "oci:out/{runtime}", "--metadata-file", md, "--allow-deprecated"}, w.Args()...)...)
	cliIn(t, dir, "077", nil, args...)
	checked := 0
	for _, im := range readMetadata(t, md).Images {
		p, err := layout.FromPath(filepath.Join(dir, "out", im.Runtime))
		if err != nil {
			t.Fatal(err)
		}
		for _, pm := range im.Platforms {
			for _, l := range pm.Layers {
				if l.Cache == "base" {
					continue
				}
				rc, err := p.Blob(l.Digest)
				if err != nil {
					t.Fatal(err)
				}
				zr, err := gzip.NewReader(rc)
				if err != nil {
					t.Fatal(err)
				}
				tr := tar.NewReader(zr)
				for {
					h, err := tr.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatalf("%s layer %s: %v", im.Runtime, l.Component, err)
					}
					checked++
					where := fmt.Sprintf("%s/%s layer %s: %s (%o)", im.Runtime, pm.Arch, l.Component, h.Name, h.Mode)
					switch h.Typeflag {
					case tar.TypeReg, tar.TypeDir:
						if h.Mode&0o004 == 0 {
							t.Errorf("%s is not readable by others", where)
						}
						if h.Typeflag == tar.TypeDir && h.Mode&0o001 == 0 {
							t.Errorf("%s: directory not searchable by others", where)
						}
						if h.Mode&(0o4000|0o2000) != 0 {
							t.Errorf("%s is setuid or setgid", where)
						}
						if h.Mode&0o002 != 0 {
							t.Errorf("%s is writable by others", where)
						}
					}
					if h.Uid != 0 || h.Gid != 0 {
						t.Errorf("%s is owned by %d:%d, want 0:0", where, h.Uid, h.Gid)
					}
				}
				rc.Close()
			}
		}
	}
	if checked == 0 {
		t.Fatal("no layer entry checked")
	}
	t.Logf("%d entries of %d runtimes checked", checked, len(runtimes))
}

// TestSecretTLSVerified: an artifact mirror over HTTPS with a certificate
// nobody trusts is refused (exit 4, one line naming the certificate
// problem); rtbuild never falls back to skipping verification.
func TestSecretTLSVerified(t *testing.T) {
	w := testworld.Start(t)
	target, err := url.Parse(w.Artifacts.URL)
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(tlsSrv.Close)
	args := append([]string{"image", "provided.al2", "--cache-dir", t.TempDir(), "--output", "oci:out"},
		proxiedArgs(w.Args(), w.Artifacts.URL, tlsSrv.URL, "", "")...)
	r := cli(t, "", nil, args...)
	if r.code != 4 {
		t.Fatalf("untrusted TLS mirror: exit %d, want 4:\n%s", r.code, r.stderr)
	}
	line := oneLineError(t, r)
	if !strings.Contains(line, "certificate") {
		t.Errorf("error line %q does not name the certificate problem", line)
	}
	t.Log(line)
}

// TestSecretPlainHTTPRefused: a registry at a private, non-loopback
// address (which go-containerregistry alone would fall back to plain HTTP
// for) is never spoken to over plain HTTP unless named with
// --insecure-registry. The process's HTTP(S) proxy is a local server that
// refuses every CONNECT and records what it is asked: the HTTPS attempt
// fails there at once, and no plain-HTTP request may reach it.
func TestSecretPlainHTTPRefused(t *testing.T) {
	w := testworld.Start(t)
	var mu sync.Mutex
	var asked []string
	proxy := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Method+" "+r.Host)
		mu.Unlock()
		http.Error(rw, "no", http.StatusForbidden)
	}))
	t.Cleanup(proxy.Close)
	env := []string{"HTTPS_PROXY=" + proxy.URL, "HTTP_PROXY=" + proxy.URL}
	args := append([]string{"image", "provided.al2", "--cache-dir", t.TempDir(), "--push", "10.255.255.1:5000/lambda/x:1"}, w.Args()...)
	r := cli(t, "", env, args...)
	if r.code == 0 {
		t.Fatal("push to a non-loopback plain-HTTP registry succeeded")
	}
	line := oneLineError(t, r)
	for _, want := range []string{"plain HTTP to 10.255.255.1:5000 refused", "--insecure-registry"} {
		if !strings.Contains(line, want) {
			t.Errorf("error line %q does not say %q", line, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range asked {
		if !strings.HasPrefix(a, http.MethodConnect+" ") {
			t.Errorf("plain HTTP request sent: %s", a)
		}
	}
	if len(asked) == 0 {
		t.Error("the HTTPS attempt did not go through the proxy")
	}
	t.Logf("proxy saw %v; %s", asked, line)
}

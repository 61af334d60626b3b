package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/images"
)

// fixtureHost is where the runnable-image tests' own artifacts (function
// code, stand-in toolchains) claim to come from; a --mirror rule sends it to
// the world's artifact server.
const fixtureHost = "https://fixtures.rtbuild.test/"

// runWorld is a real world plus the test's own overlay: function code and
// stand-ins, pinned, served and mirrored like everything else.
type runWorld struct {
	t          *testing.T
	art        *testworld.ArtifactServer
	base       []string // the world's --catalog and --mirror flags
	components map[string]any
	runtimes   []any
	hosts      map[string]bool
}

func newRunWorld(t *testing.T, art *testworld.ArtifactServer, args []string) *runWorld {
	return &runWorld{t: t, art: art, base: args, components: map[string]any{}, hosts: map[string]bool{}}
}

// serve pins body at url for a component's sources list.
func (r *runWorld) serve(url string, body []byte) map[string]any {
	a := r.art.Add(url, body)
	host := url[:strings.Index(url[len("https://"):], "/")+len("https://")+1]
	r.hosts[host] = true
	return map[string]any{"url": url, "sha256": a.SHA256}
}

// args returns the flags pointing rtbuild at the world and this overlay.
func (r *runWorld) args() []string {
	b, err := yaml.Marshal(map[string]any{"components": r.components, "runtimes": r.runtimes})
	if err != nil {
		r.t.Fatal(err)
	}
	p := filepath.Join(r.t.TempDir(), "run-overlay.yaml")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		r.t.Fatal(err)
	}
	out := append(append([]string{}, r.base...), "--catalog", p)
	var hosts []string
	for h := range r.hosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		out = append(out, "--mirror", h+"="+r.art.URL+"/"+strings.TrimSuffix(strings.TrimPrefix(h, "https://"), "/")+"/")
	}
	return out
}

// tarGz makes a gzip tar of regular files (name -> body, mode 0644 or 0755
// when the name ends in "*") and symlinks (name -> "->target").
func tarGz(t *testing.T, entries map[string]string) []byte {
	t.Helper()
	var names []string
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, n := range names {
		body := entries[n]
		h := &tar.Header{Name: strings.TrimSuffix(n, "*"), Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(body))}
		if strings.HasSuffix(n, "*") {
			h.Mode = 0o755
		}
		if strings.HasPrefix(body, "->") {
			h.Typeflag, h.Linkname, h.Size, h.Mode = tar.TypeSymlink, body[2:], 0, 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte(body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// dirTarGz packs a directory of function code.
func dirTarGz(t *testing.T, dir string) []byte {
	t.Helper()
	entries := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		b, err := os.ReadFile(p)
		entries[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return tarGz(t, entries)
}

// addFunction adds a component that puts function code under /var/task and
// appends it to the runtime's components.
func (r *runWorld) addFunction(cat *images.Catalog, runtime string, keep []string, comp map[string]any) {
	rt, err := cat.Runtime(runtime)
	if err != nil {
		r.t.Fatal(err)
	}
	key := "fn-" + strings.ReplaceAll(runtime, ".", "-")
	if comp["description"] == nil {
		comp["description"] = "test function for " + runtime + " (testdata/functions)"
	}
	r.components[key] = comp
	components := keep
	if components == nil {
		components = append([]string{}, rt.Components...)
	}
	r.runtimes = append(r.runtimes, map[string]any{"identifier": runtime, "components": append(components, key)})
}

// buildAndRun builds one runtime for one arch, then runs it with an event.
// extra flags go to `rtbuild image` (e.g. the BuildKit backend).
func buildAndRun(t *testing.T, args []string, runtime string, arch images.Arch, handler string, event string, extra ...string) map[string]any {
	t.Helper()
	work := t.TempDir()
	out := filepath.Join(work, "layout")
	mustCLI(t, work, nil, append(append([]string{"image", runtime, "--arch", string(arch), "--allow-deprecated",
		"--cache-dir", filepath.Join(testworld.CacheDir(t), "rtbuild-e2e-cache"), "--output", "oci:" + out}, args...), extra...)...)
	ev := filepath.Join(work, "event.json")
	os.WriteFile(ev, []byte(event), 0o644)
	r := cli(t, work, nil, "run", "oci:"+out+":"+runtime+"-"+string(arch), "--arch", string(arch),
		"--handler", handler, "--event", ev, "--timeout", "60s", "--tmp-dir", work)
	if r.code != 0 {
		t.Fatalf("rtbuild run %s (%s): exit %d\nstdout: %s\nstderr:\n%s", runtime, arch, r.code, r.stdout, r.stderr)
	}
	var resp map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &resp); err != nil {
		t.Fatalf("%s (%s): response is not a JSON object: %v\n%s\nstderr:\n%s", runtime, arch, err, r.stdout, r.stderr)
	}
	return resp
}

func requireRunc(t *testing.T) {
	testworld.RequireTool(t, "runc")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("rtbuild run needs root; CI runs as root")
		}
		t.Skip("rtbuild run needs root")
	}
}

func requireArm64Emulation(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/fs/binfmt_misc/qemu-aarch64")
	if err == nil && strings.HasPrefix(string(b), "enabled") && strings.Contains(string(b), "flags: ") && strings.Contains(strings.SplitN(string(b), "flags: ", 2)[1][:4], "F") {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("arm64 images run under QEMU: .ci/run enables Debian's qemu-aarch64 binfmt handler (update-binfmts --enable qemu-aarch64)")
	}
	t.Skip("no qemu-aarch64 binfmt_misc handler with the F flag: apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64")
}

// TestRunNodeAndProvidedBothArches: nodejs14.x (real Node.js 14.21.3 from
// npm, aws-sdk 2.1001.0, rtbuild's Node.js client) and provided.al2 (a Go
// handler built with aws-lambda-go as /var/task/bootstrap) on x86_64 and
// arm64 (arm64 under QEMU), built by `rtbuild image` and answered through
// `rtbuild run` with the real emulator. Stand-in: the base is made from
// Debian packages, not Amazon Linux.
func TestRunNodeAndProvidedBothArches(t *testing.T) {
	requireRunc(t)
	w := testworld.StartReal(t, testworld.RealOptions{})
	rw := newRunWorld(t, w.Artifacts, w.Args())
	rw.addFunction(w.Catalog, "nodejs14.x", nil, map[string]any{
		"kind": "archive", "version": "1", "description": "test function (testdata/functions/node)", "dest": "/var/task",
		"sources": map[string]any{"any": []any{rw.serve(fixtureHost+"fn-node.tar.gz", dirTarGz(t, testworld.FunctionDir("node")))}},
	})
	goSources := map[string]any{}
	for _, arch := range []images.Arch{images.X86_64, images.Arm64} {
		b, err := os.ReadFile(testworld.GoHandler(t, arch.OCI()))
		if err != nil {
			t.Fatal(err)
		}
		goSources[string(arch)] = []any{rw.serve(fixtureHost+"hello-"+arch.OCI(), b)}
	}
	rw.addFunction(w.Catalog, "provided.al2", nil, map[string]any{
		"kind": "file", "version": "1", "description": "test function: the aws-lambda-go handler as bootstrap", "path": "/var/task/bootstrap", "mode": "0755",
		"sources": goSources,
	})
	args := rw.args()
	t.Run("buildkit", func(t *testing.T) {
		// The same image built by the BuildKit executor answers too.
		bk := testworld.StartBuildkitd(t)
		resp := buildAndRun(t, args, "nodejs14.x", images.X86_64, "app.handler", `{"name":"buildkit"}`, "--backend", "buildkit", "--buildkit-addr", bk.Addr)
		if resp["hello"] != "buildkit" || resp["runtime"] != "nodejs" {
			t.Errorf("nodejs14.x built by BuildKit answered %v", resp)
		}
	})
	for _, arch := range []images.Arch{images.X86_64, images.Arm64} {
		t.Run(string(arch), func(t *testing.T) {
			if arch == images.Arm64 {
				requireArm64Emulation(t)
			}
			resp := buildAndRun(t, args, "nodejs14.x", arch, "app.handler", `{"name":"node-`+string(arch)+`"}`)
			if resp["hello"] != "node-"+string(arch) || resp["runtime"] != "nodejs" || resp["requestId"] == "" {
				t.Errorf("nodejs14.x (%s) answered %v", arch, resp)
			}
			resp = buildAndRun(t, args, "nodejs14.x", arch, "lib/deep/app.handler", `{"name":"deep"}`)
			if resp["hello"] != "deep" {
				t.Errorf("nodejs14.x (%s) handler in a subdirectory answered %v", arch, resp)
			}
			resp = buildAndRun(t, args, "provided.al2", arch, "hello.handler", `{"name":"go-`+string(arch)+`"}`)
			if resp["hello"] != "go-"+string(arch) || resp["handler"] != "hello.handler" {
				t.Errorf("provided.al2 (%s) answered %v", arch, resp)
			}
		})
	}
}

// TestRunManagedFamilies: go1.x, python3.9, ruby2.7 and java11 on x86_64.
// Stand-ins (our machines reach neither Amazon Linux, PyPI, RubyGems nor
// Maven): the toolchains are Debian's Python 3.11, Ruby 3.1 and OpenJDK 17
// in the base, linked from /var/lang/bin; the runtime interface clients are
// the minimal ones in testdata/standins packaged as the real ones are (a
// wheel, a gem, a jar) at the catalog's URLs; the SDKs are left out of these
// images. The go1.x handler is the real aws-lambda-go one.
func TestRunManagedFamilies(t *testing.T) {
	requireRunc(t)
	testworld.RequireTool(t, "javac")
	w := testworld.StartReal(t, testworld.RealOptions{Families: []string{"python", "ruby", "java"}})
	rw := newRunWorld(t, w.Artifacts, w.Args())
	cat := w.Catalog
	x86 := images.X86_64
	one := func(key string) string { return images.ComponentSources(cat.Components[key], x86)[0].URL }
	pin := func(key string, body []byte) {
		rw.components[key] = map[string]any{"sources": map[string]any{string(x86): []any{rw.serve(one(key), body)}}}
	}

	// go1.x: the handler binary in /var/task, named by the handler.
	goBin, err := os.ReadFile(testworld.GoHandler(t, "amd64"))
	if err != nil {
		t.Fatal(err)
	}
	rw.addFunction(cat, "go1.x", nil, map[string]any{"kind": "file", "version": "1", "path": "/var/task/hello", "mode": "0755",
		"sources": map[string]any{"x86_64": []any{rw.serve(fixtureHost+"go1x-hello", goBin)}}})

	// python3.9: Debian's python3.11 as /var/lang/bin/python3.9; the stand-in awslambdaric wheel.
	pin("python39", tarGz(t, map[string]string{"python/bin/python3.9": "->/usr/bin/python3.11"}))
	pin("awslambdaric-cp39", testworld.PythonWheel(t, "awslambdaric", "2.0.4", "py3-none-any"))
	rw.addFunction(cat, "python3.9", []string{"python39", "awslambdaric-cp39", "rie", "bootstrap", "entrypoint"}, map[string]any{
		"kind": "archive", "version": "1", "dest": "/var/task",
		"sources": map[string]any{"any": []any{rw.serve(fixtureHost+"fn-python.tar.gz", dirTarGz(t, testworld.FunctionDir("python")))}}})

	// ruby2.7: Debian's ruby3.1 as /var/lang/bin/ruby; the stand-in aws_lambda_ric gem.
	rw.components["ruby-standin"] = map[string]any{"kind": "archive", "version": "3.1-debian", "dest": "/var/lang",
		"description": "stand-in toolchain: a link to Debian's ruby3.1 in the base",
		"sources":     map[string]any{"any": []any{rw.serve(fixtureHost+"ruby-standin.tar.gz", tarGz(t, map[string]string{"bin/ruby": "->/usr/bin/ruby3.1"}))}}}
	rubyGem := images.ComponentSources(cat.Components["aws-lambda-ric-ruby"], x86)[0].URL
	rw.components["aws-lambda-ric-ruby"] = map[string]any{"sources": map[string]any{"any": []any{rw.serve(rubyGem, testworld.RubyGem(t, "aws_lambda_ric", cat.Components["aws-lambda-ric-ruby"].Version))}}}
	rw.addFunction(cat, "ruby2.7", []string{"ruby-standin", "aws-lambda-ric-ruby", "rie", "bootstrap", "entrypoint"}, map[string]any{
		"kind": "archive", "version": "1", "dest": "/var/task",
		"sources": map[string]any{"any": []any{rw.serve(fixtureHost+"fn-ruby.tar.gz", dirTarGz(t, testworld.FunctionDir("ruby")))}}})

	// java11: Debian's OpenJDK 17 as /var/lang/bin/java; the stand-in client jar (and
	// manifest-only jars for its two dependencies); the function as a jar in /var/task/lib.
	pin("corretto11", tarGz(t, map[string]string{"jdk/bin/java": "->/usr/lib/jvm/java-17-openjdk-amd64/bin/java"}))
	var jars []any
	for i, s := range images.ComponentSources(cat.Components["aws-lambda-java-ric"], x86) {
		src := t.TempDir() // no sources: a manifest-only jar
		if i == 0 {
			src = testworld.StandinDir("java")
		}
		jars = append(jars, rw.serve(s.URL, testworld.JavaJar(t, src, filepath.Base(s.URL))))
	}
	rw.components["aws-lambda-java-ric"] = map[string]any{"sources": map[string]any{"any": jars}}
	rw.addFunction(cat, "java11", []string{"corretto11", "aws-lambda-java-ric", "rie", "bootstrap", "entrypoint"}, map[string]any{
		"kind": "archive", "version": "1", "dest": "/var/task/lib", "format": "raw",
		"sources": map[string]any{"any": []any{rw.serve(fixtureHost+"hello.jar", testworld.JavaJar(t, testworld.FunctionDir("java"), "hello.jar"))}}})

	args := rw.args()
	cases := []struct{ runtime, handler, want string }{
		{"go1.x", "hello", "go"},
		{"python3.9", "app.handler", "python"},
		{"ruby2.7", "app.handler", "ruby"},
		{"java11", "example.Hello::handleRequest", "java"},
	}
	for _, c := range cases {
		t.Run(c.runtime, func(t *testing.T) {
			resp := buildAndRun(t, args, c.runtime, x86, c.handler, `{"name":"`+c.runtime+`"}`)
			if resp["hello"] != c.runtime {
				t.Errorf("%s answered %v", c.runtime, resp)
			}
			if rt, ok := resp["runtime"].(string); ok && !strings.Contains(rt, c.want) {
				t.Errorf("%s answered runtime %q", c.runtime, rt)
			}
		})
	}
}

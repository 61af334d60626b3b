package testworld

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

var realArchs = []images.Arch{images.X86_64, images.Arm64}

// TestRealWorld starts the real world and checks what it serves: the
// stand-in bases in the registry (loader, libc, busybox at the right paths
// for each architecture), the Node.js binaries and the emulator for the
// right machines; then builds provided.al2 and nodejs14.x for both
// architectures with the rtbuild binary against it and checks that the
// images hold working programs (natively run on an amd64 host).
func TestRealWorld(t *testing.T) {
	start := time.Now()
	w := StartReal(t, RealOptions{})
	t.Logf("real world up in %s", time.Since(start).Round(time.Millisecond))
	for _, arch := range realArchs {
		rf := w.Rootfs[arch]
		var size int64
		for _, p := range rf.Packages {
			size += p.Size
		}
		fi, err := os.Stat(rf.Layer)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s base: %d Debian packages (%.1f MB of .debs), rootfs layer %.1f MB: %s", arch, len(rf.Packages),
			float64(size)/1e6, float64(fi.Size())/1e6, packageNames(rf.Packages))
	}

	t.Run("bases", func(t *testing.T) { checkRealBases(t, w) })
	t.Run("artifacts", func(t *testing.T) { checkRealArtifacts(t, w) })
	t.Run("rtbuild", func(t *testing.T) { checkRealBuild(t, w) })
}

func packageNames(pkgs []DebPackage) string {
	var s []string
	for _, p := range pkgs {
		s = append(s, p.Name+"="+p.Version)
	}
	return strings.Join(s, " ")
}

// checkRealBases pulls the bases back from the registry and checks them.
func checkRealBases(t *testing.T, w *RealWorld) {
	for key, digest := range w.Bases {
		b := w.Catalog.Bases[key]
		ref := b.Image[:strings.Index(b.Image, "@")]
		_, repoTag, _ := strings.Cut(ref, "/")
		r, err := name.ParseReference(w.Registry.Host+"/"+repoTag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(r)
		if err != nil {
			t.Fatalf("pulling base %s: %v", key, err)
		}
		if d, _ := idx.Digest(); d != digest {
			t.Errorf("base %s: registry has %s, the overlay pins %s", key, d, digest)
		}
		if !strings.HasSuffix(b.Image, "@"+digest.String()) {
			t.Errorf("base %s: the effective catalog has %s, want it pinned at %s", key, b.Image, digest)
		}
		im, err := idx.IndexManifest()
		if err != nil {
			t.Fatal(err)
		}
		if len(im.Manifests) != len(b.Architectures) {
			t.Errorf("base %s: %d manifests for %v", key, len(im.Manifests), b.Architectures)
		}
		for _, m := range im.Manifests {
			arch, err := images.ParseArch(m.Platform.Architecture)
			if err != nil {
				t.Fatal(err)
			}
			img, err := idx.Image(m.Digest)
			if err != nil {
				t.Fatal(err)
			}
			cf, err := img.ConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			if cf.Architecture != arch.OCI() || cf.OS != "linux" {
				t.Errorf("base %s: config says %s/%s for %s", key, cf.OS, cf.Architecture, arch)
			}
			checkBaseFS(t, imageFS(t, img), arch, b.OS)
		}
	}
}

// checkBaseFS checks what a stand-in base must hold.
func checkBaseFS(t *testing.T, fs memFS, arch images.Arch, osName string) {
	t.Helper()
	if f, real, err := fs.elfOf(loaderPath[arch]); err != nil {
		t.Errorf("%s: no dynamic loader: %v", arch, err)
	} else if f.Machine != elfMachine[arch] {
		t.Errorf("%s: the loader %s is for %s", arch, real, f.Machine)
	}
	tri := debTriplet[arch]
	checkELF(t, fs, arch, "lib/"+tri+"/libc.so.6", false)
	checkELF(t, fs, arch, "usr/lib/"+tri+"/libstdc++.so.6", false)
	checkELF(t, fs, arch, "usr/lib/"+tri+"/libgcc_s.so.1", false)
	checkELF(t, fs, arch, "lib/"+tri+"/libz.so.1", false)
	checkELF(t, fs, arch, "bin/sh", true)
	for _, p := range []string{"bin", "lib", "lib64", "sbin"} {
		if e := fs[p]; e == nil || e.hdr.Typeflag != tar.TypeSymlink || e.hdr.Linkname != "usr/"+p {
			t.Errorf("%s: /%s is not a symlink to usr/%s", arch, p, p)
		}
	}
	for _, a := range append([]string{"bin/sh"}, realPrefixed("usr/bin/", BusyboxApplets)...) {
		if real, _, err := fs.resolve(a); err != nil || real != "usr/bin/busybox" {
			t.Errorf("%s: /%s resolves to %q (%v), want /usr/bin/busybox", arch, a, real, err)
		}
	}
	if e := fs["tmp"]; e == nil || e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode&0o7777 != 0o1777 {
		t.Errorf("%s: /tmp is not a directory with mode 1777", arch)
	}
	for file, want := range map[string]string{
		"etc/passwd":     "sbx_user1051:x:993:990:",
		"etc/os-release": osName + " stand-in built from Debian packages",
	} {
		if _, e, err := fs.resolve(file); err != nil || !bytes.Contains(e.body, []byte(want)) {
			t.Errorf("%s: /%s lacks %q (%v)", arch, file, want, err)
		}
	}
}

func realPrefixed(prefix string, list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = prefix + s
	}
	return out
}

// checkRealArtifacts checks the served toolchain and emulator binaries'
// machines, and (natively, on amd64) that busybox has every applet linked.
func checkRealArtifacts(t *testing.T, w *RealWorld) {
	node := w.Catalog.Components["nodejs14"]
	rie := w.Catalog.Components["rie"]
	for _, arch := range realArchs {
		for _, src := range images.ComponentSources(node, arch) {
			if src.SHA256 == "" {
				t.Errorf("nodejs14 %s: %s is not pinned", arch, src.URL)
			}
			fs := layerFS(t, w.Files[src.URL])
			if f, _, err := fs.elfOf("package/bin/node"); err != nil {
				t.Errorf("nodejs14 %s: %v", arch, err)
			} else if f.Machine != elfMachine[arch] {
				t.Errorf("nodejs14 %s: node is for %s", arch, f.Machine)
			}
		}
		for _, src := range images.ComponentSources(rie, arch) {
			b, err := os.ReadFile(w.Files[src.URL])
			if err != nil {
				t.Fatal(err)
			}
			fs := memFS{"rie": {hdr: &tar.Header{Typeflag: tar.TypeReg}, body: b}}
			checkELF(t, fs, arch, "rie", true)
		}
	}
	nodeRT, err := w.Catalog.Runtime("nodejs14.x")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range nodeRT.Components {
		c := w.Catalog.Components[key]
		for _, list := range c.Sources {
			for _, s := range list {
				if w.Files[s.URL] != "" && s.SHA256 == "" {
					t.Errorf("%s: served %s is not pinned", key, s.URL)
				}
			}
		}
	}
	for _, arch := range realArchs {
		if arch != realHostArch() && qemuFor(arch) == "" {
			t.Logf("%s: busybox --list not checked (not the host's architecture, no qemu-%s-static)", arch, qemuArch[arch])
			continue
		}
		fs := layerFS(t, w.Rootfs[arch].Layer)
		root := t.TempDir()
		_, e, err := fs.resolve("usr/bin/busybox")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "busybox"), e.body, 0o755); err != nil {
			t.Fatal(err)
		}
		var out string
		if arch == realHostArch() {
			out = realRun(t, nil, filepath.Join(root, "busybox"), "--list")
		} else if out, err = runQemu(root, arch, nil, "/busybox", "--list"); err != nil {
			t.Fatalf("%s busybox --list: %v\n%s", arch, err, out)
		}
		have := map[string]bool{}
		for _, a := range strings.Fields(out) {
			have[a] = true
		}
		for _, a := range BusyboxApplets {
			if !have[a] {
				t.Errorf("%s: busybox-static has no applet %q (BusyboxApplets lists it)", arch, a)
			}
		}
	}
}

func realHostArch() images.Arch {
	a, _ := images.ParseArch(runtime.GOARCH)
	return a
}

// checkRealBuild builds provided.al2 and nodejs14.x for both architectures
// with the rtbuild binary against the world and checks the images.
func checkRealBuild(t *testing.T, w *RealWorld) {
	bin := buildRtbuild(t)
	work := t.TempDir()
	out := filepath.Join(work, "out")
	md := filepath.Join(work, "metadata.json")
	args := append([]string{"image", "provided.al2", "nodejs14.x", "--cache-dir", filepath.Join(work, "cache"),
		"--output", "oci:" + out + "/{runtime}", "--metadata-file", md, "--progress", "plain"}, w.Args()...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = work
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("rtbuild %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	t.Logf("rtbuild image provided.al2 nodejs14.x (x86_64, arm64) in %s", time.Since(start).Round(time.Millisecond))

	var meta struct {
		Images []struct {
			Runtime   string `json:"runtime"`
			Platforms []struct {
				Arch       string `json:"arch"`
				BaseDigest string `json:"baseDigest"`
			} `json:"platforms"`
		} `json:"images"`
	}
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		t.Fatalf("metadata: %v\n%s", err, b)
	}
	if len(meta.Images) != 2 {
		t.Fatalf("metadata lists %d images, want 2:\n%s", len(meta.Images), b)
	}

	for _, rt := range []string{"provided.al2", "nodejs14.x"} {
		imgs := LayoutImages(t, filepath.Join(out, rt))
		for _, arch := range realArchs {
			img := imgs[arch]
			if img == nil {
				t.Errorf("%s: no %s image in the layout", rt, arch)
				continue
			}
			t.Run(rt+"/"+string(arch), func(t *testing.T) { checkRealImage(t, rt, arch, img) })
		}
	}
}

// checkRealImage checks one built image, and runs what it can.
func checkRealImage(t *testing.T, rt string, arch images.Arch, img v1.Image) {
	fs := imageFS(t, img)
	checkBaseFS(t, fs, arch, "Amazon Linux 2")
	checkELF(t, fs, arch, "usr/local/bin/aws-lambda-rie", true)
	for _, p := range []string{"lambda-entrypoint.sh", "var/runtime/bootstrap"} {
		_, e, err := fs.resolve(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if !bytes.HasPrefix(e.body, []byte("#!/bin/sh\n")) || e.hdr.Mode&0o755 != 0o755 {
			t.Errorf("/%s is not an executable /bin/sh script", p)
		}
	}
	if rt == "nodejs14.x" {
		checkELF(t, fs, arch, "var/lang/bin/node", false)
		_, e, err := fs.resolve("var/runtime/node_modules/aws-sdk/package.json")
		if err != nil {
			t.Fatal(err)
		}
		var pkg struct{ Version string }
		if err := json.Unmarshal(e.body, &pkg); err != nil || pkg.Version != "2.1001.0" {
			t.Errorf("aws-sdk package.json: version %q (%v), want 2.1001.0", pkg.Version, err)
		}
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	switch {
	case (arch == realHostArch() || binfmtEnabled(arch)) && os.Geteuid() == 0 && realLookPath("chroot") != "":
		realExtract(t, fs, root)
		runRealChroot(t, root, rt, arch, cf.Config.Env)
	case arch == realHostArch():
		realExtract(t, fs, root)
		if rt == "nodejs14.x" {
			tri := debTriplet[arch]
			lib := filepath.Join(root, "usr/lib", tri)
			loader := filepath.Join(lib, filepath.Base(loaderPath[arch]))
			got := realRun(t, []string{"NODE_PATH=" + filepath.Join(root, "var/runtime/node_modules")}, loader,
				"--library-path", lib, filepath.Join(root, "var/lang/bin/node"), "-e", nodeProbe)
			checkNodeProbe(t, got, arch)
		}
	case qemuFor(arch) != "":
		realExtract(t, fs, root)
		got, err := runQemu(root, arch, []string{"LANG=C.UTF-8"}, "/bin/sh", "-c", "echo sh ok")
		if err != nil || strings.TrimSpace(got) != "sh ok" {
			t.Errorf("/bin/sh under %s: %v\n%s", qemuFor(arch), err, got)
		}
		if rt == "nodejs14.x" {
			// QEMU's -L does not redirect every path (node's stat of
			// NODE_PATH escapes it), so NODE_PATH names the extracted tree.
			got, err := runQemu(root, arch, []string{"NODE_PATH=" + filepath.Join(root, "var/runtime/node_modules")}, "/var/lang/bin/node", "-e", nodeProbe)
			if err != nil {
				t.Fatalf("node under %s: %v\n%s", qemuFor(arch), err, got)
			}
			checkNodeProbe(t, got, arch)
		}
	default:
		t.Logf("%s on a %s host without qemu-%s-static: checked statically only", arch, realHostArch(), qemuArch[arch])
	}
}

const nodeProbe = `console.log(process.version, require("aws-sdk").VERSION, process.arch)`

// nodeArch is process.arch of each architecture.
var nodeArch = map[images.Arch]string{images.X86_64: "x64", images.Arm64: "arm64"}

func checkNodeProbe(t *testing.T, got string, arch images.Arch) {
	t.Helper()
	want := "v14.21.3 2.1001.0 " + nodeArch[arch]
	if strings.TrimSpace(got) != want {
		t.Errorf("node in the image printed %q, want %q", strings.TrimSpace(got), want)
	}
}

// runRealChroot runs the image's programs as a container would (see
// runInRoot) with the image's environment: the entrypoint through busybox
// sh; node with aws-sdk; and a whole invocation: the entrypoint starts the
// emulator, which starts the bootstrap, which starts the function — for
// provided.al2 its own bootstrap, a busybox shell script speaking the
// Runtime API with wget; for nodejs14.x (once the image has a runtime
// client) a handler in app.js.
func runRealChroot(t *testing.T, root, rt string, arch images.Arch, env []string) {
	t.Helper()
	// No argument: the entrypoint refuses with 142.
	out, err := runInRoot(t, root, env, time.Minute, "/lambda-entrypoint.sh")
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 142 {
		t.Errorf("/lambda-entrypoint.sh without a handler: %v, want exit 142\n%s", err, out)
	}
	want := `{"handler":"app.handler","event":{"name":"rtbuild"},"arch":"` + qemuArch[arch] + `"}`
	if rt == "nodejs14.x" {
		out, err := runInRoot(t, root, env, time.Minute, "/bin/sh", "-c", "exec node -e '"+nodeProbe+"'")
		if err != nil {
			t.Fatalf("node in the image: %v\n%s", err, out)
		}
		checkNodeProbe(t, out, arch)
		if !testtools.FileExists(filepath.Join(root, "var/runtime/index.js")) {
			t.Logf("nodejs14.x has no runtime client (/var/runtime/index.js) yet: no invocation")
			return
		}
		if err := os.MkdirAll(filepath.Join(root, "var/task"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "var/task/app.js"), []byte(nodeFunction), 0o644); err != nil {
			t.Fatal(err)
		}
		want = `{"handler":"app.handler","event":{"name":"rtbuild"},"arch":"` + nodeArch[arch] + `","sdk":"2.1001.0"}`
	} else {
		// In "Lambda" (AWS_LAMBDA_RUNTIME_API set) the entrypoint execs the
		// bootstrap directly; without a function, it stops with its message.
		out, err = runInRoot(t, root, append(append([]string(nil), env...), "AWS_LAMBDA_RUNTIME_API=127.0.0.1:1"), time.Minute,
			"/lambda-entrypoint.sh", "app.handler")
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "bootstrap:") {
			t.Errorf("/lambda-entrypoint.sh app.handler in a function-less image: %v, want the bootstrap's message and exit 1\n%s", err, out)
		}
		if err := os.MkdirAll(filepath.Join(root, "var/task"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, "var/task/bootstrap"), []byte(shellFunction), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if realLookPath("unshare") == "" {
		t.Logf("no unshare: the invocation through the emulator (which listens on port 8080) is not run")
		return
	}
	out, err = runInRoot(t, root, env, 2*time.Minute, "/bin/sh", "-c", invokeScript)
	if err != nil || !strings.Contains(out, want) {
		t.Errorf("invoking the function through the image's emulator: %v; want %s in:\n%s", err, want, out)
	} else {
		t.Logf("invoked through the image's emulator: %s", strings.TrimSpace(out))
	}
}

// shellFunction is a custom runtime function: a busybox shell script that
// speaks the Runtime API with wget and answers each event with the handler,
// the event and the machine.
const shellFunction = `#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while :; do
	wget -S -q -O /tmp/event "$API/next" 2>/tmp/headers || exit 1
	ID=$(sed -n 's/^ *[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: *//p' /tmp/headers | tr -d '\r')
	wget -q -O /dev/null --header 'Content-Type: application/json' \
		--post-data "{\"handler\":\"$_HANDLER\",\"event\":$(cat /tmp/event),\"arch\":\"$(uname -m)\"}" "$API/$ID/response" || exit 1
done
`

// nodeFunction is a Node.js function answering with the handler, the
// event, the machine and the version of the SDK it finds.
const nodeFunction = `exports.handler = async (event) => ({
	handler: process.env._HANDLER, event, arch: process.arch, sdk: require("aws-sdk").VERSION,
});
`

// invokeScript runs in the image (PID 1 of its namespace): it starts the
// entrypoint as `docker run IMAGE app.handler` would, and invokes the
// function once through the emulator.
const invokeScript = `ip link set lo up || exit 1
/lambda-entrypoint.sh app.handler >/tmp/rie.log 2>&1 &
i=0
until wget -q -O /tmp/out --post-data '{"name":"rtbuild"}' http://127.0.0.1:8080/2015-03-31/functions/function/invocations 2>/dev/null; do
	i=$((i+1))
	if [ $i -gt 200 ]; then echo "no answer from the emulator"; cat /tmp/rie.log; exit 1; fi
	usleep 100000
done
cat /tmp/out; echo
`

func realLookPath(name string) string {
	p, _ := exec.LookPath(name)
	return p
}

// buildRtbuild builds the rtbuild command from this module.
func buildRtbuild(t *testing.T) string {
	t.Helper()
	root := filepath.Dir(filepath.Dir(ToolsDir(t))) // testdata/tools -> module root
	bin := filepath.Join(t.TempDir(), "rtbuild")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/rtbuild")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/rtbuild: %v\n%s", err, out)
	}
	return bin
}

// TestRealBaseFamilies builds the bases with each family's Debian
// toolchain (python and ruby; java with RTBUILD_TEST_JAVA=1, it is about
// 45 MB per architecture) and checks the interpreters are there for each
// architecture and, natively, that they run.
func TestRealBaseFamilies(t *testing.T) {
	if testing.Short() {
		t.Skip("downloads the Debian toolchains; skipped with -short")
	}
	families := []string{"python", "ruby"}
	if os.Getenv("RTBUILD_TEST_JAVA") == "1" {
		families = append(families, "java")
	}
	programs := map[string]string{"python": "usr/bin/python3.11", "ruby": "usr/bin/ruby3.1", "java": "usr/lib/jvm/java-17-openjdk-%s/bin/java"}
	probes := map[string][]string{
		"python": {"/usr/bin/python3.11", "-c", "import json, ssl, sqlite3, ctypes, zlib; print('python ok')"},
		"ruby":   {"/usr/bin/ruby", "-e", "require 'json'; require 'openssl'; require 'zlib'; puts 'ruby ok'"},
		"java":   {"java", "-version"},
	}
	for _, fam := range families {
		t.Run(fam, func(t *testing.T) {
			for _, arch := range realArchs {
				start := time.Now()
				rf := RealRootfsFor(t, arch, append(append([]string(nil), RealBasePackages...), RealFamilies[fam]...)...)
				var size int64
				for _, p := range rf.Packages {
					size += p.Size
				}
				t.Logf("%s %s: %d packages, %.1f MB of .debs, in %s", fam, arch, len(rf.Packages), float64(size)/1e6, time.Since(start).Round(time.Millisecond))
				fs := layerFS(t, rf.Layer)
				prog := programs[fam]
				if strings.Contains(prog, "%s") {
					prog = fmt.Sprintf(prog, arch.OCI())
				}
				checkELF(t, fs, arch, prog, false)
				probe := probes[fam]
				if fam == "java" {
					probe = append([]string{fmt.Sprintf(programs["java"], arch.OCI())}, probe[1:]...)
					probe[0] = "/" + probe[0]
				}
				env := []string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8"}
				root := t.TempDir()
				var got string
				var err error
				switch {
				case arch == realHostArch() && os.Geteuid() == 0 && realLookPath("chroot") != "":
					realExtract(t, fs, root)
					got, err = runInRoot(t, root, env, time.Minute, probe...)
				case arch != realHostArch() && qemuFor(arch) != "":
					realExtract(t, fs, root)
					got, err = runQemu(root, arch, env, probe...)
				default:
					continue
				}
				if err != nil {
					t.Fatalf("%s in the %s base: %v\n%s", probes[fam][0], arch, err, got)
				}
				t.Logf("%s %s: %s", fam, arch, strings.TrimSpace(got))
			}
		})
	}
}

package testworld

// Tests of the stand-in runtime interface clients and the test functions.
//
// Stand-ins, as opposed to real upstream parts: the Python, Ruby and Java
// clients (testdata/standins) stand in for awslambdaric, aws_lambda_ric and
// the Java runtime interface client, and the machine's python3, ruby and
// JDK stand in for the images' toolchains. Real: the Runtime Interface
// Emulator (built from its module), aws-lambda-go in the Go handler, the
// catalog's components and bootstraps, and rtbuild's own unpacking
// (layers/unpack), through which every client is installed here exactly as
// into an image.
//
// No containers: the clients run natively under the emulator, one emulator
// at a time on free loopback ports, each stopped by its PID; every process
// a test starts carries a marker in its environment, and the test checks
// that none is left when it ends.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"debug/elf"
	"encoding/base64"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/images"
	nodejsric "github.com/rtbuild/rtbuild/images/ric/nodejs"
	"github.com/rtbuild/rtbuild/layers"
	layerfetch "github.com/rtbuild/rtbuild/layers/fetch"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

// ---- packaging ---------------------------------------------------------------

func TestStandinPythonWheel(t *testing.T) {
	const tag = "cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64"
	whl := PythonWheel(t, "awslambdaric", "2.0.4", tag)
	if got, want := WheelFileName("awslambdaric", "2.0.4", tag), "awslambdaric-2.0.4-"+tag+".whl"; got != want {
		t.Errorf("WheelFileName = %q, want %q", got, want)
	}
	files, order := readZip(t, whl)
	src := filepath.Join(StandinDir("python"), "awslambdaric")
	want := []string{"awslambdaric/__init__.py", "awslambdaric/__main__.py", "awslambdaric/bootstrap.py",
		"awslambdaric-2.0.4.dist-info/METADATA", "awslambdaric-2.0.4.dist-info/WHEEL", "awslambdaric-2.0.4.dist-info/RECORD"}
	if !reflect.DeepEqual(order, want) {
		t.Fatalf("wheel entries %q, want %q", order, want)
	}
	for _, n := range want[:3] {
		b, err := os.ReadFile(filepath.Join(src, strings.TrimPrefix(n, "awslambdaric/")))
		if err != nil || !bytes.Equal(b, files[n]) {
			t.Errorf("%s differs from its source (%v)", n, err)
		}
	}

	// RECORD lists every other file with its urlsafe-base64 sha256 and size.
	rows, err := csv.NewReader(bytes.NewReader(files["awslambdaric-2.0.4.dist-info/RECORD"])).ReadAll()
	if err != nil {
		t.Fatalf("RECORD: %v", err)
	}
	listed := map[string]bool{}
	for _, row := range rows {
		if len(row) != 3 {
			t.Fatalf("RECORD row %q: want 3 fields", row)
		}
		name, hash, size := row[0], row[1], row[2]
		listed[name] = true
		if name == "awslambdaric-2.0.4.dist-info/RECORD" {
			if hash != "" || size != "" {
				t.Errorf("RECORD's own row %q: want no hash and size", row)
			}
			continue
		}
		body, ok := files[name]
		if !ok {
			t.Errorf("RECORD lists %s, which is not in the wheel", name)
			continue
		}
		sum := sha256.Sum256(body)
		if hash != "sha256="+base64.RawURLEncoding.EncodeToString(sum[:]) || size != strconv.Itoa(len(body)) {
			t.Errorf("RECORD row %q does not match the file (%d bytes)", row, len(body))
		}
	}
	for _, n := range order {
		if !listed[n] {
			t.Errorf("%s is not in RECORD", n)
		}
	}
	wheel := string(files["awslambdaric-2.0.4.dist-info/WHEEL"])
	for _, s := range []string{"Wheel-Version: 1.0\n", "Root-Is-Purelib: false\n",
		"Tag: cp39-cp39-manylinux_2_17_x86_64\n", "Tag: cp39-cp39-manylinux2014_x86_64\n"} {
		if !strings.Contains(wheel, s) {
			t.Errorf("WHEEL lacks %q:\n%s", s, wheel)
		}
	}
	meta := string(files["awslambdaric-2.0.4.dist-info/METADATA"])
	if !strings.Contains(meta, "Name: awslambdaric\n") || !strings.Contains(meta, "Version: 2.0.4\n") {
		t.Errorf("METADATA:\n%s", meta)
	}
	if !bytes.Equal(whl, PythonWheel(t, "awslambdaric", "2.0.4", tag)) {
		t.Error("two wheels of the same sources differ")
	}
	pure, _ := readZip(t, PythonWheel(t, "awslambdaric", "2.0.4", "py3-none-any"))
	if !strings.Contains(string(pure["awslambdaric-2.0.4.dist-info/WHEEL"]), "Root-Is-Purelib: true\n") {
		t.Error("a py3-none-any wheel is not purelib")
	}
}

func TestStandinRubyGem(t *testing.T) {
	gem := RubyGem(t, "aws_lambda_ric", "2.0.0")
	members := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(gem))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		members[h.Name] = b
		order = append(order, h.Name)
		if h.Mode != 0o444 || !h.ModTime.Equal(StandinTime) {
			t.Errorf("%s: mode %o, time %s", h.Name, h.Mode, h.ModTime)
		}
	}
	if want := []string{"metadata.gz", "data.tar.gz", "checksums.yaml.gz"}; !reflect.DeepEqual(order, want) {
		t.Fatalf("gem members %q, want %q", order, want)
	}
	sums := string(gunzip(t, members["checksums.yaml.gz"]))
	for _, m := range []string{"metadata.gz", "data.tar.gz"} {
		s256, s512 := sha256.Sum256(members[m]), sha512.Sum512(members[m])
		if !strings.Contains(sums, "  "+m+": "+hex.EncodeToString(s256[:])+"\n") ||
			!strings.Contains(sums, "  "+m+": "+hex.EncodeToString(s512[:])+"\n") {
			t.Errorf("checksums.yaml does not hold the digests of %s:\n%s", m, sums)
		}
	}
	spec := string(gunzip(t, members["metadata.gz"]))
	for _, s := range []string{"--- !ruby/object:Gem::Specification\n", "name: aws_lambda_ric\n", "  version: 2.0.0\n",
		"- lib/aws_lambda_ric/bootstrap.rb\n", "executables:\n- aws_lambda_ric\n", "require_paths:\n- lib\n"} {
		if !strings.Contains(spec, s) {
			t.Errorf("gemspec lacks %q:\n%s", s, spec)
		}
	}
	data := map[string]*tar.Header{}
	dr := tar.NewReader(bytes.NewReader(gunzip(t, members["data.tar.gz"])))
	for {
		h, err := dr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(dr)
		data[h.Name] = h
		if src, err := os.ReadFile(filepath.Join(StandinDir("ruby"), filepath.FromSlash(h.Name))); err != nil || !bytes.Equal(src, b) {
			t.Errorf("data.tar.gz %s differs from its source (%v)", h.Name, err)
		}
	}
	for name, mode := range map[string]int64{"lib/aws_lambda_ric.rb": 0o644, "lib/aws_lambda_ric/bootstrap.rb": 0o644,
		"lib/aws_lambda_ric/version.rb": 0o644, "bin/aws_lambda_ric": 0o755} {
		if h := data[name]; h == nil || h.Mode != mode {
			t.Errorf("data.tar.gz: %s missing or not mode %o (%+v)", name, mode, h)
		}
	}
	if !bytes.Equal(gem, RubyGem(t, "aws_lambda_ric", "2.0.0")) {
		t.Error("two gems of the same sources differ")
	}
}

// TestStandinRubyGemInstall has RubyGems itself read the gem (it checks the
// checksums and the specification).
func TestStandinRubyGemInstall(t *testing.T) {
	gemCmd := RequireTool(t, "gem")
	dir := t.TempDir()
	file := filepath.Join(dir, "aws_lambda_ric-2.0.0.gem")
	if err := os.WriteFile(file, RubyGem(t, "aws_lambda_ric", "2.0.0"), 0o644); err != nil {
		t.Fatal(err)
	}
	inst := filepath.Join(dir, "installed")
	cmd := exec.Command(gemCmd, "install", "--local", "--no-document", "--ignore-dependencies",
		"--install-dir", inst, "--bindir", filepath.Join(inst, "bin"), file)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gem install: %v\n%s", err, out)
	}
	for _, p := range []string{"gems/aws_lambda_ric-2.0.0/lib/aws_lambda_ric/bootstrap.rb", "specifications/aws_lambda_ric-2.0.0.gemspec", "bin/aws_lambda_ric"} {
		if !testtools.FileExists(filepath.Join(inst, p)) {
			t.Errorf("gem install did not write %s", p)
		}
	}
}

func TestStandinJavaJar(t *testing.T) {
	ricJar := catalogJavaRICJar(t, standinCatalog(t))
	jar := JavaJar(t, StandinDir("java"), ricJar)
	files, order := readZip(t, jar)
	if len(order) < 3 || order[0] != "META-INF/" || order[1] != "META-INF/MANIFEST.MF" {
		t.Fatalf("jar entries %q: want META-INF/ and its manifest first", order)
	}
	if !strings.HasPrefix(string(files["META-INF/MANIFEST.MF"]), "Manifest-Version: 1.0\r\n") {
		t.Errorf("manifest %q", files["META-INF/MANIFEST.MF"])
	}
	class := files["com/amazonaws/services/lambda/runtime/api/client/AWSLambda.class"]
	if len(class) < 8 || !bytes.Equal(class[:4], []byte{0xca, 0xfe, 0xba, 0xbe}) || class[6] != 0 || class[7] != 52 {
		t.Fatalf("AWSLambda.class missing or not a Java 8 (major 52) class file: % x", class[:min(8, len(class))])
	}
	// The bytes do not depend on the cache or the time: a compilation into a
	// fresh cache gives the same jar.
	t.Setenv("RTBUILD_TEST_CACHE", t.TempDir())
	if !bytes.Equal(jar, JavaJar(t, StandinDir("java"), ricJar)) {
		t.Error("two jars of the same sources differ")
	}
	// Without sources: a jar of the manifest alone.
	if _, order := readZip(t, JavaJar(t, t.TempDir(), "aws-lambda-java-core-1.2.1.jar")); !reflect.DeepEqual(order, []string{"META-INF/", "META-INF/MANIFEST.MF"}) {
		t.Errorf("empty jar entries %q", order)
	}
}

func TestStandinGoHandlerBuild(t *testing.T) {
	for goarch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := GoHandler(t, goarch)
		f, err := elf.Open(bin)
		if err != nil {
			t.Fatalf("%s: %v", goarch, err)
		}
		static := true
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if f.Machine != machine || !static {
			t.Errorf("%s: machine %v (want %v), static %v", goarch, f.Machine, machine, static)
		}
		if again := GoHandler(t, goarch); again != bin {
			t.Errorf("%s: second call gave %s, want the cached %s", goarch, again, bin)
		}
	}
}

// TestStandinBootstraps checks that the catalog's bootstraps start the
// clients the way the stand-ins expect (the behaviour tests below run the
// same commands).
func TestStandinBootstraps(t *testing.T) {
	cat := standinCatalog(t)
	for id, wants := range map[string][]string{
		"python3.9": {`-m awslambdaric "$_HANDLER"`, "/var/runtime/awslambdaric"},
		"ruby2.7":   {`require "aws_lambda_ric/bootstrap"; Bootstrap.start' "$_HANDLER"`},
		"java11":    {`-cp '/var/runtime/lib/*'`, `com.amazonaws.services.lambda.runtime.api.client.AWSLambda "$_HANDLER"`},
	} {
		script := builtinBootstrap(t, cat, id)
		for _, w := range wants {
			if !strings.Contains(script, w) {
				t.Errorf("the %s bootstrap no longer contains %q; update the stand-in and these tests:\n%s", id, w, script)
			}
		}
	}
}

// ---- behaviour under the emulator --------------------------------------------

// clientSpec says how to run one stand-in client and what its test
// function answers.
type clientSpec struct {
	rie, dir string
	env      []string
	argv     func(handler string) []string
	// handlers: answers {"hello": name, "runtime": runtime}; returns the
	// context; raises failType with "hello failed for NAME"; cannot be loaded.
	ok, context, fail, missing string
	runtime                    string
	memory                     any // memoryLimitInMB as the context gives it for 512
	failType, failTrace        string
	initType, initMessage      string
}

func testClient(t *testing.T, s clientSpec) {
	start := func(t *testing.T, handler string, env ...string) *standinRIE {
		return startStandinRIE(t, s.rie, s.dir, append(append([]string{}, s.env...), env...), s.argv(handler)...)
	}
	t.Run("handler", func(t *testing.T) {
		r := start(t, s.ok)
		for i, name := range []string{"world", "again"} { // the loop goes on
			var got map[string]any
			r.invokeOK(t, fmt.Sprintf(`{"name":%q}`, name), &got)
			if want := map[string]any{"hello": name, "runtime": s.runtime}; !reflect.DeepEqual(got, want) {
				t.Errorf("invocation %d: got %v, want %v", i, got, want)
			}
		}
	})
	t.Run("context", func(t *testing.T) {
		r := start(t, s.context, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_LAMBDA_FUNCTION_TIMEOUT=7")
		var got map[string]any
		r.invokeOK(t, `{}`, &got, "X-Amzn-RequestId", "0f5b5c9e-1111-2222-3333-444455556666")
		want := map[string]any{
			"awsRequestId":       "0f5b5c9e-1111-2222-3333-444455556666",
			"functionName":       standinFunctionName,
			"memoryLimitInMB":    s.memory,
			"invokedFunctionArn": "arn:aws:lambda:us-east-1:012345678912:function:" + standinFunctionName,
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("context %s = %#v, want %#v", k, got[k], v)
			}
		}
		if rem, _ := got["remainingTimeInMillis"].(float64); rem <= 0 || rem > 7000 {
			t.Errorf("remaining time %v, want in (0, 7000] with AWS_LAMBDA_FUNCTION_TIMEOUT=7", got["remainingTimeInMillis"])
		}
	})
	t.Run("error", func(t *testing.T) {
		r := start(t, s.fail)
		status, body := r.invoke(t, `{"name":"world"}`)
		// The emulator answers a function error with 200 and the posted document.
		d := decodeLambdaError(t, body)
		if status != http.StatusOK || d.ErrorType != s.failType || d.ErrorMessage != "hello failed for world" {
			t.Errorf("status %d, error %+v; want 200, %s, \"hello failed for world\"", status, d, s.failType)
		}
		if !strings.Contains(strings.Join(d.StackTrace, "\n"), s.failTrace) {
			t.Errorf("stackTrace %q does not mention %s", d.StackTrace, s.failTrace)
		}
		// The client lives on after a function error.
		var got map[string]any
		status, body = r.invoke(t, `{"name":"next"}`)
		if status != http.StatusOK || json.Unmarshal(body, &got) != nil || got["errorType"] != s.failType {
			t.Errorf("second invocation after an error: status %d, %s", status, body)
		}
	})
	t.Run("error-header", func(t *testing.T) {
		// The emulator does not pass the header on: read it at a fake Runtime API.
		api := startFakeRuntimeAPI(t, `{"name":"world"}`)
		p := runAgainstFakeAPI(t, api, s.dir, s.env, s.argv(s.fail))
		d := decodeLambdaError(t, p.body)
		if p.path != "/2018-06-01/runtime/invocation/fake-request-1/error" || p.errorType != s.failType || d.ErrorType != s.failType {
			t.Errorf("posted to %s with %s: %q, document %+v; want the error path with %s", p.path, errorTypeHeader, p.errorType, d, s.failType)
		}
	})
	t.Run("init-error", func(t *testing.T) {
		r := start(t, s.missing)
		status, body := r.invoke(t, `{}`)
		d := decodeLambdaError(t, body)
		// The emulator answers an init error with 502 and the posted document.
		if status != http.StatusBadGateway || d.ErrorType != s.initType || !strings.Contains(d.ErrorMessage, s.initMessage) {
			t.Errorf("status %d, error %+v; want 502, %s, a message with %q", status, d, s.initType, s.initMessage)
		}
		if !r.waitOutput("exit status 1") {
			t.Errorf("the client did not exit with status 1:\n%s", r.out.String())
		}
	})
	t.Run("init-error-header", func(t *testing.T) {
		api := startFakeRuntimeAPI(t, `{}`)
		p := runAgainstFakeAPI(t, api, s.dir, s.env, s.argv(s.missing))
		if p.path != "/2018-06-01/runtime/init/error" || p.errorType != s.initType {
			t.Errorf("posted to %s with %s: %q; want /runtime/init/error with %s", p.path, errorTypeHeader, p.errorType, s.initType)
		}
	})
}

func TestStandinPythonUnderRIE(t *testing.T) {
	goarch, arch := standinHost(t)
	python := pythonInterpreter(t)
	cat := standinCatalog(t)
	rieBin := BuildRIE(t, goarch)
	root := t.TempDir()
	// awslambdaric for python3.9, made from the stand-in and installed
	// through the catalog's component (a wheel unpacked into /var/runtime).
	installComponent(t, cat, runtimeComponent(t, cat, "python3.9", "awslambdaric"), arch, root, func(u string) []byte {
		name, version, tag := parseWheelName(t, path.Base(u))
		return PythonWheel(t, name, version, tag)
	})
	if !testtools.FileExists(filepath.Join(root, "var", "runtime", "awslambdaric", "__main__.py")) {
		t.Fatal("the wheel did not install /var/runtime/awslambdaric/__main__.py")
	}
	task := FunctionDir("python")
	testClient(t, clientSpec{
		rie: rieBin, dir: task,
		env: []string{"PYTHONPATH=" + filepath.Join(root, "var", "runtime"), "LAMBDA_TASK_ROOT=" + task,
			"PYTHONDONTWRITEBYTECODE=1"}, // leave no __pycache__ in testdata
		argv: func(h string) []string { return []string{python, "-m", "awslambdaric", h} },
		ok:   "app.handler", context: "app.context_info", fail: "app.fail", missing: "missing.handler",
		runtime: "python", memory: "512",
		failType: "HelloError", failTrace: filepath.Join(task, "app.py"),
		initType: "Runtime.ImportModuleError", initMessage: "Unable to import module 'missing'",
	})
}

func TestStandinRubyUnderRIE(t *testing.T) {
	goarch, arch := standinHost(t)
	ruby := RequireTool(t, "ruby")
	cat := standinCatalog(t)
	rieBin := BuildRIE(t, goarch)
	root := t.TempDir()
	// aws_lambda_ric for ruby2.7: the gem's lib/ into /var/runtime/lib.
	installComponent(t, cat, runtimeComponent(t, cat, "ruby2.7", "aws-lambda-ric"), arch, root, func(u string) []byte {
		base := strings.TrimSuffix(path.Base(u), ".gem")
		i := strings.LastIndex(base, "-")
		return RubyGem(t, base[:i], base[i+1:])
	})
	if !testtools.FileExists(filepath.Join(root, "var", "runtime", "lib", "aws_lambda_ric", "bootstrap.rb")) {
		t.Fatal("the gem did not install /var/runtime/lib/aws_lambda_ric/bootstrap.rb")
	}
	// The bootstrap's own Ruby program.
	m := regexp.MustCompile(`-e '([^']+)' "\$_HANDLER"`).FindStringSubmatch(builtinBootstrap(t, cat, "ruby2.7"))
	if m == nil {
		t.Fatal("no `ruby -e '...' \"$_HANDLER\"` in the ruby2.7 bootstrap")
	}
	task := FunctionDir("ruby")
	testClient(t, clientSpec{
		rie: rieBin, dir: task,
		env:  []string{"RUBYLIB=" + task + ":" + filepath.Join(root, "var", "runtime", "lib"), "LAMBDA_TASK_ROOT=" + task},
		argv: func(h string) []string { return []string{ruby, "-e", m[1], h} },
		ok:   "app.handler", context: "app.context_info", fail: "app.fail", missing: "missing.handler",
		runtime: "ruby", memory: "512",
		failType: "Function<HelloError>", failTrace: filepath.Join(task, "app.rb"),
		initType: "Init<LoadError>", initMessage: "cannot load such file",
	})
	t.Run("class-method", func(t *testing.T) {
		r := startStandinRIE(t, rieBin, task, []string{"RUBYLIB=" + filepath.Join(root, "var", "runtime", "lib"), "LAMBDA_TASK_ROOT=" + task},
			ruby, "-e", m[1], "app.Greeter::Formal.handler")
		var got map[string]any
		r.invokeOK(t, `{"name":"world"}`, &got)
		if got["hello"] != "dear world" {
			t.Errorf("got %v", got)
		}
	})
}

func TestStandinJavaUnderRIE(t *testing.T) {
	goarch, arch := standinHost(t)
	java := JavaTool(t, "java")
	cat := standinCatalog(t)
	rieBin := BuildRIE(t, goarch)
	root := t.TempDir()
	// The Java client's jars into /var/runtime/lib: the client compiled from
	// the stand-in, its two dependencies as jars of a manifest alone.
	ricJar := catalogJavaRICJar(t, cat)
	noSources := t.TempDir()
	installComponent(t, cat, runtimeComponent(t, cat, "java11", "aws-lambda-java-ric"), arch, root, func(u string) []byte {
		if path.Base(u) == ricJar {
			return JavaJar(t, StandinDir("java"), ricJar)
		}
		return JavaJar(t, noSources, path.Base(u))
	})
	lib := filepath.Join(root, "var", "runtime", "lib")
	if !testtools.FileExists(filepath.Join(lib, ricJar)) {
		t.Fatalf("the component did not install /var/runtime/lib/%s", ricJar)
	}
	// The function: its jar in /var/task/lib.
	task := t.TempDir()
	if err := os.MkdirAll(filepath.Join(task, "lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(task, "lib", "hello.jar"), JavaJar(t, FunctionDir("java"), "hello.jar"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The bootstrap's JVM options and main class.
	script := builtinBootstrap(t, cat, "java11")
	flags := regexp.MustCompile(`-XX:\S+`).FindAllString(script, -1)
	testClient(t, clientSpec{
		rie: rieBin, dir: task,
		env: []string{"LAMBDA_TASK_ROOT=" + task},
		argv: func(h string) []string {
			return append(append([]string{java}, flags...), "-cp", lib+"/*", "com.amazonaws.services.lambda.runtime.api.client.AWSLambda", h)
		},
		ok: "example.Hello::handleRequest", context: "example.Hello::contextInfo", fail: "example.Hello::fail", missing: "example.Missing",
		runtime: "java", memory: float64(512),
		failType: "java.lang.IllegalStateException", failTrace: "example.Hello.fail(Hello.java:",
		initType: "java.lang.ClassNotFoundException", initMessage: "example.Missing",
	})
}

func TestStandinGoUnderRIE(t *testing.T) {
	goarch, _ := standinHost(t)
	cat := standinCatalog(t)
	rieBin := BuildRIE(t, goarch)
	bin := GoHandler(t, goarch)
	// provided.al2: the handler is the function's bootstrap; go1.x: an
	// executable named like the handler. Both through the catalog's bootstrap.
	for _, tc := range []struct{ runtime, file, handler string }{
		{"provided.al2", "bootstrap", "function.handler"},
		{"go1.x", "hello", "hello"},
	} {
		t.Run(tc.runtime, func(t *testing.T) {
			task := t.TempDir()
			b, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(task, tc.file), b, 0o755); err != nil {
				t.Fatal(err)
			}
			bootstrap := filepath.Join(t.TempDir(), "bootstrap")
			if err := os.WriteFile(bootstrap, []byte(builtinBootstrap(t, cat, tc.runtime)), 0o755); err != nil {
				t.Fatal(err)
			}
			r := startStandinRIE(t, rieBin, task, []string{"LAMBDA_TASK_ROOT=" + task}, bootstrap, tc.handler)
			var got map[string]any
			r.invokeOK(t, `{"name":"world"}`, &got, "X-Amzn-RequestId", "0f5b5c9e-1111-2222-3333-444455556666")
			want := map[string]any{"hello": "world", "runtime": "go", "requestId": "0f5b5c9e-1111-2222-3333-444455556666",
				"functionName": standinFunctionName, "handler": tc.handler, "executable": filepath.Join(task, tc.file)}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
			status, body := r.invoke(t, `{"name":"world","fail":true}`)
			if d := decodeLambdaError(t, body); status != http.StatusOK || d.ErrorType != "HelloError" || d.ErrorMessage != "hello failed for world" {
				t.Errorf("error: status %d, %+v", status, d)
			}
		})
	}
	t.Run("error-at-runtime-api", func(t *testing.T) {
		api := startFakeRuntimeAPI(t, `{"name":"world","fail":true}`)
		p := runAgainstFakeAPI(t, api, t.TempDir(), nil, []string{bin})
		d := decodeLambdaError(t, p.body)
		if p.path != "/2018-06-01/runtime/invocation/fake-request-1/error" || d.ErrorType != "HelloError" {
			t.Errorf("posted to %s: %+v", p.path, d)
		}
		// aws-lambda-go declares the error type as an HTTP trailer, set only
		// when reading a streamed response fails; a returned error has none.
		t.Logf("aws-lambda-go's %s header on a function error: %q", errorTypeHeader, p.errorType)
	})
}

// TestStandinNodeFunctions runs the Node.js test functions
// (testdata/functions/node) with rtbuild's own Node.js client (not a
// stand-in: the one images ship) on a real Node.js 14 under the emulator.
func TestStandinNodeFunctions(t *testing.T) {
	goarch, _ := standinHost(t)
	node := NodeBinary(t, "14.21.3", goarch)
	rieBin := BuildRIE(t, goarch)
	rt := t.TempDir()
	for name, body := range nodejsric.Files() {
		if err := os.WriteFile(filepath.Join(rt, name), body, nodejsric.FileMode); err != nil {
			t.Fatal(err)
		}
	}
	task := FunctionDir("node")
	for _, tc := range []struct {
		handler string
		want    map[string]any
	}{
		{"app.handler", map[string]any{"hello": "world", "runtime": "nodejs"}},
		{"app.callbackHandler", map[string]any{"hello": "world", "runtime": "nodejs", "callback": true}},
		{"lib/deep/app.handler", map[string]any{"hello": "world", "runtime": "nodejs", "deep": true}},
	} {
		t.Run(strings.ReplaceAll(tc.handler, "/", "_"), func(t *testing.T) {
			r := startStandinRIE(t, rieBin, task, []string{"LAMBDA_TASK_ROOT=" + task}, node, filepath.Join(rt, nodejsric.Entrypoint), tc.handler)
			var got map[string]any
			r.invokeOK(t, `{"name":"world"}`, &got, "X-Amzn-RequestId", "0f5b5c9e-1111-2222-3333-444455556666")
			if _, ok := tc.want["callback"]; !ok {
				tc.want["requestId"] = "0f5b5c9e-1111-2222-3333-444455556666"
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		r := startStandinRIE(t, rieBin, task, []string{"LAMBDA_TASK_ROOT=" + task}, node, filepath.Join(rt, nodejsric.Entrypoint), "app.fail")
		status, body := r.invoke(t, `{"name":"world"}`)
		if d := decodeLambdaError(t, body); status != http.StatusOK || d.ErrorType != "HelloError" || d.ErrorMessage != "hello failed for world" {
			t.Errorf("status %d, %+v", status, d)
		}
	})
}

// TestStandinLeftoverCheck checks the check the behaviour tests end with:
// it sees a live process carrying the test's marker, and no longer sees it
// once the process is gone.
func TestStandinLeftoverCheck(t *testing.T) {
	standinHost(t)
	marker := standinMarker(t)
	cmd := exec.Command("/bin/sleep", "30")
	cmd.Env = []string{marker}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if got := processesWithEnv(marker); !reflect.DeepEqual(got, []int{cmd.Process.Pid}) {
		t.Errorf("processes with the marker: %v, want [%d]", got, cmd.Process.Pid)
	}
	if got := processesWithEnv(marker + "x"); len(got) != 0 {
		t.Errorf("processes with another marker: %v", got)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if got := processesWithEnv(marker); len(got) != 0 {
		t.Errorf("processes with the marker after kill: %v", got)
	}
}

// ---- helpers -----------------------------------------------------------------

const (
	standinFunctionName = "rtbuild-standin-test"
	errorTypeHeader     = "Lambda-Runtime-Function-Error-Type"
	standinMarkerEnv    = "RTBUILD_STANDIN_TEST"
)

// standinHost skips the behaviour tests where the clients cannot run
// natively, and returns the host's architecture in Go's and Lambda's names.
func standinHost(t *testing.T) (string, images.Arch) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skipf("runs Linux programs; this is %s", runtime.GOOS)
	}
	switch runtime.GOARCH {
	case "amd64":
		return "amd64", images.X86_64
	case "arm64":
		return "arm64", images.Arm64
	}
	t.Skipf("no Lambda architecture for %s", runtime.GOARCH)
	return "", ""
}

func standinCatalog(t *testing.T) *images.Catalog {
	t.Helper()
	cat, err := images.Load()
	if err != nil {
		t.Fatalf("loading the catalog: %v", err)
	}
	return cat
}

// runtimeComponent returns the key of runtime id's component whose key
// starts with prefix.
func runtimeComponent(t *testing.T, cat *images.Catalog, id, prefix string) string {
	t.Helper()
	r, err := cat.Runtime(id)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range r.Components {
		if strings.HasPrefix(k, prefix) {
			return k
		}
	}
	t.Fatalf("runtime %s has no component %s* (%v)", id, prefix, r.Components)
	return ""
}

// catalogJavaRICJar is the file name of the Java client's jar in the catalog.
func catalogJavaRICJar(t *testing.T, cat *images.Catalog) string {
	t.Helper()
	c := cat.Components[runtimeComponent(t, cat, "java11", "aws-lambda-java-ric")]
	for _, srcs := range c.Sources {
		for _, s := range srcs {
			if b := path.Base(s.URL); strings.Contains(b, "runtime-interface-client") {
				return b
			}
		}
	}
	t.Fatal("no runtime-interface-client jar in the catalog's Java client component")
	return ""
}

func builtinBootstrap(t *testing.T, cat *images.Catalog, id string) string {
	t.Helper()
	r, err := cat.Runtime(id)
	if err != nil {
		t.Fatal(err)
	}
	b, err := images.Builtin("bootstrap", cat, r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// parseWheelName splits NAME-VERSION-TAG.whl.
func parseWheelName(t *testing.T, file string) (name, version, tag string) {
	t.Helper()
	parts := strings.SplitN(strings.TrimSuffix(file, ".whl"), "-", 3)
	if len(parts) != 3 {
		t.Fatalf("%s is not a wheel file name", file)
	}
	return parts[0], parts[1], parts[2]
}

// installComponent installs component key for arch below root as an image
// build does: each source's artifact (made by artifact from its URL) goes
// through layers/unpack with the component's format, strip, subdir and dest.
func installComponent(t *testing.T, cat *images.Catalog, key string, arch images.Arch, root string, artifact func(url string) []byte) {
	t.Helper()
	c := cat.Components[key]
	if c == nil {
		t.Fatalf("no component %s", key)
	}
	srcs := c.Sources[arch]
	if len(srcs) == 0 {
		srcs = c.Sources[images.AnyArch]
	}
	if len(srcs) == 0 {
		t.Fatalf("component %s has no source for %s", key, arch)
	}
	dir := t.TempDir()
	for _, s := range srcs {
		file := filepath.Join(dir, path.Base(s.URL))
		if err := os.WriteFile(file, artifact(s.URL), 0o644); err != nil {
			t.Fatal(err)
		}
		var layer bytes.Buffer
		err := layers.WriteTar(context.Background(), &layer, layers.Recipe{
			Component: key, Version: c.Version, Kind: c.Kind, Format: c.Format, Strip: c.Strip, Subdir: c.Subdir,
			Dest: c.Dest, Epoch: StandinTime, Interpreter: "/usr/bin/env python3",
			Inputs: []*layerfetch.Artifact{{URL: s.URL, Path: file}}, InputDests: []string{s.Dest},
		})
		if err != nil {
			t.Fatalf("unpacking %s as component %s: %v", s.URL, key, err)
		}
		extractLayer(t, &layer, root)
	}
}

// extractLayer writes a layer's directories, files and symlinks below root.
func extractLayer(t *testing.T, r io.Reader, root string) {
	t.Helper()
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		name := path.Clean("/" + h.Name)
		dst := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(dst, 0o755)
		case tar.TypeReg:
			var b []byte
			if b, err = io.ReadAll(tr); err == nil {
				err = os.WriteFile(dst, b, os.FileMode(h.Mode&0o777)|0o200)
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, dst)
		default:
			err = fmt.Errorf("unexpected entry type %q", h.Typeflag)
		}
		if err != nil {
			t.Fatalf("extracting %s: %v", h.Name, err)
		}
	}
}

// pythonInterpreter returns the machine's python3 as a real executable
// (resolving version-manager shims, so it runs with a minimal environment).
func pythonInterpreter(t *testing.T) string {
	t.Helper()
	p := RequireTool(t, "python3")
	out, err := exec.Command(p, "-c", "import sys; assert sys.version_info >= (3, 6), sys.version; print(sys.executable)").Output()
	if err != nil {
		t.Fatalf("%s does not run (the stand-in needs Python 3.6+): %v", p, err)
	}
	return strings.TrimSpace(string(out))
}

func readZip(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	files := map[string][]byte{}
	var order []string
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		if !f.Modified.Equal(StandinTime) {
			t.Errorf("%s: modified %s, want %s", f.Name, f.Modified, StandinTime)
		}
		files[f.Name] = body
		order = append(order, f.Name)
	}
	return files, order
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

type lambdaError struct {
	ErrorType    string   `json:"errorType"`
	ErrorMessage string   `json:"errorMessage"`
	StackTrace   []string `json:"stackTrace"`
}

func decodeLambdaError(t *testing.T, body []byte) lambdaError {
	t.Helper()
	var raw struct {
		ErrorType    string            `json:"errorType"`
		ErrorMessage string            `json:"errorMessage"`
		StackTrace   []json.RawMessage `json:"stackTrace"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatalf("error document %s: %v", body, err)
	}
	d := lambdaError{ErrorType: raw.ErrorType, ErrorMessage: raw.ErrorMessage}
	for _, f := range raw.StackTrace { // strings, or aws-lambda-go's frame objects
		var s string
		if json.Unmarshal(f, &s) != nil {
			s = string(f)
		}
		d.StackTrace = append(d.StackTrace, s)
	}
	return d
}

// standinRIE is a running emulator with a client as its bootstrap.
type standinRIE struct {
	cmd    *exec.Cmd
	url    string
	out    *testtools.SyncBuffer
	exited chan struct{}
}

// startStandinRIE starts aws-lambda-rie on free loopback ports in dir, with
// argv as the bootstrap (its last element is the handler) and a minimal
// environment plus env, and stops it by its PID when the test ends.
func startStandinRIE(t *testing.T, rieBin, dir string, env []string, argv ...string) *standinRIE {
	t.Helper()
	port, apiPort := FreePort(t), FreePort(t)
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	r := &standinRIE{url: "http://" + addr + "/2015-03-31/functions/function/invocations", out: &testtools.SyncBuffer{}, exited: make(chan struct{})}
	args := append([]string{"--runtime-interface-emulator-address", addr, "--runtime-api-address", fmt.Sprintf("127.0.0.1:%d", apiPort)}, argv...)
	r.cmd = exec.Command(rieBin, args...)
	r.cmd.Dir = dir
	marker := standinMarker(t)
	r.cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "AWS_LAMBDA_FUNCTION_NAME=" + standinFunctionName, marker}, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.out, r.out
	r.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := r.cmd.Start(); err != nil {
		t.Fatalf("starting aws-lambda-rie: %v", err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		// SIGTERM: the emulator kills the runtime's process group and exits.
		_ = r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(10 * time.Second):
			t.Errorf("aws-lambda-rie ignored SIGTERM for 10s; killing its process group")
			_ = syscall.Kill(-r.cmd.Process.Pid, syscall.SIGKILL)
			<-r.exited
		}
		checkNoStandinLeft(t, marker)
		if t.Failed() {
			t.Logf("aws-lambda-rie output:\n%s", r.out.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return r
		}
		select {
		case <-r.exited:
			t.Fatalf("aws-lambda-rie exited at start: %s", r.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("aws-lambda-rie not listening on %s: %s", addr, r.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *standinRIE) invoke(t *testing.T, event string, headers ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.url, strings.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("invoke: %v\nemulator output:\n%s", err, r.out.String())
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

func (r *standinRIE) invokeOK(t *testing.T, event string, v any, headers ...string) {
	t.Helper()
	status, body := r.invoke(t, event, headers...)
	if status != http.StatusOK {
		t.Fatalf("invoke: status %d, body %s\nemulator output:\n%s", status, body, r.out.String())
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("invoke result %s: %v", body, err)
	}
}

// waitOutput waits up to 5s for the emulator to print s.
func (r *standinRIE) waitOutput(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(r.out.String(), s); {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// standinMarker returns a NAME=VALUE unique to the test, put in the
// environment of every process it starts.
func standinMarker(t *testing.T) string {
	return standinMarkerEnv + "=" + t.TempDir()
}

// processesWithEnv lists the live (not zombie) processes whose environment
// holds the entry kv.
func processesWithEnv(kv string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(append(append([]byte{0}, env...), 0), append(append([]byte{0}, kv...), 0)) {
			continue
		}
		if stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat")); err == nil {
			if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
				continue
			}
		}
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	return pids
}

// checkNoStandinLeft fails the test if a process with the marker is still
// running a moment after the test stopped everything, and kills it by PID.
func checkNoStandinLeft(t *testing.T, marker string) {
	t.Helper()
	var left []int
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if left = processesWithEnv(marker); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, pid := range left {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		t.Errorf("process %d left running: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// fakeRuntimeAPI hands out one invocation and records what the client posts.
type fakeRuntimeAPI struct {
	addr  string
	posts chan fakePost
}

type fakePost struct {
	path, errorType string
	body            []byte
}

func startFakeRuntimeAPI(t *testing.T, event string) *fakeRuntimeAPI {
	t.Helper()
	api := &fakeRuntimeAPI{posts: make(chan fakePost, 8)}
	done := make(chan struct{})
	var mu sync.Mutex
	served := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/2018-06-01/runtime/invocation/next":
			mu.Lock()
			first := !served
			served = true
			mu.Unlock()
			if !first { // no second invocation: hold the request until the end
				select {
				case <-done:
				case <-r.Context().Done():
				}
				http.Error(w, "no more invocations", http.StatusGone)
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "fake-request-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(time.Now().Add(time.Minute).UnixMilli(), 10))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:012345678912:function:"+standinFunctionName)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, event)
		case r.Method == http.MethodPost:
			body, _ := io.ReadAll(r.Body)
			api.posts <- fakePost{path: r.URL.Path, errorType: r.Header.Get(errorTypeHeader), body: body}
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	api.addr = strings.TrimPrefix(srv.URL, "http://")
	return api
}

// runAgainstFakeAPI runs argv in dir against the fake Runtime API and
// returns the first thing it posts; the process is killed by its PID then.
func runAgainstFakeAPI(t *testing.T, api *fakeRuntimeAPI, dir string, env, argv []string) fakePost {
	t.Helper()
	marker := standinMarker(t)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "AWS_LAMBDA_FUNCTION_NAME=" + standinFunctionName,
		"AWS_LAMBDA_RUNTIME_API=" + api.addr, marker}, env...)
	out := &testtools.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", argv[0], err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
		checkNoStandinLeft(t, marker)
		if t.Failed() {
			t.Logf("client output:\n%s", out.String())
		}
	}()
	select {
	case p := <-api.posts:
		return p
	case <-time.After(30 * time.Second):
		t.Fatalf("%s posted nothing to the fake Runtime API in 30s:\n%s", argv[0], out.String())
	}
	return fakePost{}
}

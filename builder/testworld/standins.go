package testworld

// Stand-ins for the runtime interface clients our machines cannot download
// (awslambdaric from PyPI, aws_lambda_ric from rubygems.org, the Java client
// from Maven Central), packaged the way the published ones are, so an image
// that uses them is assembled by the same code path as in production; and
// the test functions of every family (testdata/functions, and the Go handler
// testdata/tools/hello).
//
// The sources are in testdata/standins/<family>. Every package made here is
// deterministic: fixed modification times, sorted entries, no host details,
// so a cache keyed by an artifact's digest stays valid from run to run.

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/atomicfile"
	"github.com/rtbuild/rtbuild/layers/testtools"
)

// StandinTime is the modification time of every file in a stand-in package.
var StandinTime = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// testdataDir returns the repository's testdata directory: found upwards
// from the working directory (a test runs in its package's directory), else
// from this source file; "testdata" when neither works.
func testdataDir() string {
	if wd, err := os.Getwd(); err == nil {
		for dir := wd; ; dir = filepath.Dir(dir) {
			if testtools.FileExists(filepath.Join(dir, "go.mod")) && testtools.FileExists(filepath.Join(dir, "testdata", "tools", "go.mod")) {
				return filepath.Join(dir, "testdata")
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok && filepath.IsAbs(file) {
		cand := filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "testdata"))
		if testtools.FileExists(filepath.Join(cand, "tools", "go.mod")) {
			return cand
		}
	}
	return "testdata"
}

// FunctionDir returns the directory of the test function of a family:
// testdata/functions/<name> (python, ruby, java, node).
func FunctionDir(name string) string {
	return filepath.Join(testdataDir(), "functions", name)
}

// StandinDir returns the source directory of a family's stand-in client:
// testdata/standins/<family> (python, ruby, java).
func StandinDir(family string) string {
	return filepath.Join(testdataDir(), "standins", family)
}

// standinFile is one file of a package, by slash path.
type standinFile struct {
	name string
	mode int64
	body []byte
}

// standinFiles reads the files below dir, in lexical order, with slash
// paths under prefix. Bytecode caches are left out. Modes are normalised:
// 0755 for files executable by their owner, else 0644 (the packagers
// override them where the format has a rule).
func standinFiles(t testing.TB, dir, prefix string) []standinFile {
	t.Helper()
	var files []standinFile
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == "__pycache__" {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".pyc") || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := int64(0o644)
		if fi.Mode()&0o100 != 0 {
			mode = 0o755
		}
		files = append(files, standinFile{name: path.Join(prefix, filepath.ToSlash(rel)), mode: mode, body: body})
		return nil
	})
	if err != nil {
		t.Fatalf("reading stand-in sources %s: %v", dir, err)
	}
	if len(files) == 0 {
		t.Fatalf("no stand-in sources in %s", dir)
	}
	return files
}

// zipOf writes files into a zip in the given order, deflated, with
// StandinTime as their modification time.
func zipOf(t testing.TB, files []standinFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.name, Method: zip.Deflate, Modified: StandinTime}
		if strings.HasSuffix(f.name, "/") {
			h.Method = zip.Store
			h.SetMode(fs.ModeDir | 0o755)
		} else {
			h.SetMode(fs.FileMode(f.mode))
		}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

var distNameRun = regexp.MustCompile(`[-_.]+`)

// WheelFileName is the file name of the wheel PythonWheel makes:
// NAME-VERSION-TAG.whl with the name normalised as in wheel file names.
func WheelFileName(name, version, tag string) string {
	return distNameRun.ReplaceAllString(name, "_") + "-" + version + "-" + tag + ".whl"
}

// expandWheelTag expands a compressed tag set (cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64)
// into its tags, as the WHEEL file lists them.
func expandWheelTag(tag string) ([]string, bool) {
	parts := strings.Split(tag, "-")
	if len(parts) != 3 {
		return nil, false
	}
	var tags []string
	for _, py := range strings.Split(parts[0], ".") {
		for _, abi := range strings.Split(parts[1], ".") {
			for _, plat := range strings.Split(parts[2], ".") {
				if py == "" || abi == "" || plat == "" {
					return nil, false
				}
				tags = append(tags, py+"-"+abi+"-"+plat)
			}
		}
	}
	return tags, true
}

// PythonWheel returns a wheel (PEP 427) of the stand-in package
// testdata/standins/python/<name>, as distribution name at version with
// the wheel tag set tag (the part of a wheel's file name after the version,
// e.g. "cp39-cp39-manylinux_2_17_x86_64.manylinux2014_x86_64", or
// "py3-none-any"): the package's files under <name>/, then
// <name>-<version>.dist-info/METADATA, WHEEL (its tags expanded) and RECORD
// (sha256 and size of every other file). Name it with WheelFileName.
func PythonWheel(t testing.TB, name, version, tag string) []byte {
	t.Helper()
	tags, ok := expandWheelTag(tag)
	if !ok {
		t.Fatalf("PythonWheel: %q is not a wheel tag set (PYTHON-ABI-PLATFORM)", tag)
	}
	if version == "" || strings.ContainsAny(version, "-/ ") {
		t.Fatalf("PythonWheel: bad version %q", version)
	}
	files := standinFiles(t, filepath.Join(StandinDir("python"), name), name)
	for i := range files {
		files[i].mode = 0o644
	}
	distInfo := distNameRun.ReplaceAllString(name, "_") + "-" + version + ".dist-info"
	purelib := strings.HasSuffix(tag, "-none-any")
	wheel := fmt.Sprintf("Wheel-Version: 1.0\nGenerator: rtbuild-testworld\nRoot-Is-Purelib: %t\n", purelib)
	for _, tg := range tags {
		wheel += "Tag: " + tg + "\n"
	}
	files = append(files,
		standinFile{name: distInfo + "/METADATA", mode: 0o644, body: []byte(fmt.Sprintf(
			"Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: A stand-in for %s written for rtbuild's tests (not the published package)\nLicense: Apache-2.0\nRequires-Python: >=3.6\n",
			name, version, name))},
		standinFile{name: distInfo + "/WHEEL", mode: 0o644, body: []byte(wheel)})
	var record strings.Builder
	for _, f := range files {
		sum := sha256.Sum256(f.body)
		fmt.Fprintf(&record, "%s,sha256=%s,%d\n", f.name, base64.RawURLEncoding.EncodeToString(sum[:]), len(f.body))
	}
	record.WriteString(distInfo + "/RECORD,,\n")
	files = append(files, standinFile{name: distInfo + "/RECORD", mode: 0o644, body: []byte(record.String())})
	return zipOf(t, files)
}

// RubyGem returns a RubyGems package of the stand-in gem
// testdata/standins/ruby as gem name at version: a tar of metadata.gz (the
// YAML gemspec), data.tar.gz (the gem's files: lib/..., bin/...) and
// checksums.yaml.gz (SHA256 and SHA512 of the other two), as `gem build`
// writes it; files under bin/ are the gem's executables (mode 0755), the
// rest mode 0644. Name it NAME-VERSION.gem.
func RubyGem(t testing.TB, name, version string) []byte {
	t.Helper()
	if name == "" || version == "" || strings.ContainsAny(name+version, "/ ") {
		t.Fatalf("RubyGem: bad name or version %q %q", name, version)
	}
	files := standinFiles(t, StandinDir("ruby"), "")
	var data bytes.Buffer
	tw := tar.NewWriter(&data)
	var names, executables []string
	for _, f := range files {
		names = append(names, f.name)
		mode := int64(0o644) // whatever the checkout says: executables are bin/*
		if strings.HasPrefix(f.name, "bin/") {
			executables = append(executables, strings.TrimPrefix(f.name, "bin/"))
			mode = 0o755
		}
		writeTarFile(t, tw, f.name, mode, f.body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	dataGz := gzipBytes(t, data.Bytes())
	metaGz := gzipBytes(t, []byte(gemspecYAML(name, version, names, executables)))
	var sums strings.Builder
	sums.WriteString("---\nSHA256:\n")
	for _, m := range []struct {
		n string
		b []byte
	}{{"metadata.gz", metaGz}, {"data.tar.gz", dataGz}} {
		s := sha256.Sum256(m.b)
		fmt.Fprintf(&sums, "  %s: %s\n", m.n, hex.EncodeToString(s[:]))
	}
	sums.WriteString("SHA512:\n")
	for _, m := range []struct {
		n string
		b []byte
	}{{"metadata.gz", metaGz}, {"data.tar.gz", dataGz}} {
		s := sha512.Sum512(m.b)
		fmt.Fprintf(&sums, "  %s: %s\n", m.n, hex.EncodeToString(s[:]))
	}
	var gem bytes.Buffer
	gw := tar.NewWriter(&gem)
	writeTarFile(t, gw, "metadata.gz", 0o444, metaGz)
	writeTarFile(t, gw, "data.tar.gz", 0o444, dataGz)
	writeTarFile(t, gw, "checksums.yaml.gz", 0o444, gzipBytes(t, []byte(sums.String())))
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	return gem.Bytes()
}

func writeTarFile(t testing.TB, tw *tar.Writer, name string, mode int64, body []byte) {
	t.Helper()
	h := &tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg,
		ModTime: StandinTime, Uname: "wheel", Gname: "wheel", Format: tar.FormatUSTAR}
	if err := tw.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(body); err != nil {
		t.Fatal(err)
	}
}

// gzipBytes compresses b with no name and no time in the header.
func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// gemspecYAML is the gem's specification as `gem build` serialises it.
func gemspecYAML(name, version string, files, executables []string) string {
	list := func(items []string) string {
		if len(items) == 0 {
			return " []\n"
		}
		var b strings.Builder
		b.WriteString("\n")
		for _, it := range items {
			b.WriteString("- " + it + "\n")
		}
		return b.String()
	}
	return "--- !ruby/object:Gem::Specification\n" +
		"name: " + name + "\n" +
		"version: !ruby/object:Gem::Version\n  version: " + version + "\n" +
		"platform: ruby\n" +
		"authors:\n- rtbuild tests\n" +
		"autorequire:\n" +
		"bindir: bin\n" +
		"cert_chain: []\n" +
		"date: " + StandinTime.Format("2006-01-02") + " 00:00:00.000000000 Z\n" +
		"dependencies: []\n" +
		"description: A stand-in for " + name + " written for rtbuild's tests (not the published gem).\n" +
		"email:\n" +
		"executables:" + list(executables) +
		"extensions: []\n" +
		"extra_rdoc_files: []\n" +
		"files:" + list(files) +
		"homepage:\n" +
		"licenses:\n- Apache-2.0\n" +
		"metadata: {}\n" +
		"post_install_message:\n" +
		"rdoc_options: []\n" +
		"require_paths:\n- lib\n" +
		"required_ruby_version: !ruby/object:Gem::Requirement\n  requirements:\n  - - \">=\"\n    - !ruby/object:Gem::Version\n      version: 2.5.0\n" +
		"required_rubygems_version: !ruby/object:Gem::Requirement\n  requirements:\n  - - \">=\"\n    - !ruby/object:Gem::Version\n      version: '0'\n" +
		"requirements: []\n" +
		"rubygems_version: 3.1.6\n" +
		"signing_key:\n" +
		"specification_version: 4\n" +
		"summary: Stand-in " + name + " for rtbuild's tests\n" +
		"test_files: []\n"
}

// JavaTool returns the path of a JDK tool (java, javac): $JAVA_HOME/bin/NAME
// when JAVA_HOME is set and has it, else NAME from PATH with RequireTool's
// rule (skipped locally when missing, failed in CI).
func JavaTool(t testing.TB, name string) string {
	t.Helper()
	if home := os.Getenv("JAVA_HOME"); home != "" {
		if p := filepath.Join(home, "bin", name); testtools.FileExists(p) {
			return p
		}
	}
	return RequireTool(t, name)
}

var standinMu sync.Mutex

// JavaJar compiles the .java files below srcDir with `javac --release 8`
// (so any JDK 9 or later will do; the classes run on Java 8 and later) and
// returns a jar of the classes: META-INF/, META-INF/MANIFEST.MF, then the
// class files in lexical order, with fixed times. A srcDir without .java
// files gives a jar of the manifest alone (for dependency jars a stand-in
// does not need). jarName is the jar's file name (e.g. the catalog URL's
// basename); it names the jar in the cache, where the result is kept keyed
// by the sources and the javac binary, so javac runs once per change.
func JavaJar(t testing.TB, srcDir, jarName string) []byte {
	t.Helper()
	if !strings.HasSuffix(jarName, ".jar") || strings.ContainsAny(jarName, `/\`) {
		t.Fatalf("JavaJar: %q is not a jar file name", jarName)
	}
	var sources []string
	h := sha256.New()
	err := filepath.WalkDir(srcDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".java") {
			return err
		}
		rel, err := filepath.Rel(srcDir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.ToSlash(rel), len(b))
		h.Write(b)
		sources = append(sources, p)
		return nil
	})
	if err != nil {
		t.Fatalf("JavaJar: reading %s: %v", srcDir, err)
	}
	manifest := standinFile{name: "META-INF/MANIFEST.MF", mode: 0o644,
		body: []byte("Manifest-Version: 1.0\r\nCreated-By: rtbuild testworld (test stand-in)\r\n\r\n")}
	files := []standinFile{{name: "META-INF/", mode: 0o755}, manifest}
	if len(sources) == 0 {
		return zipOf(t, files)
	}

	javac := JavaTool(t, "javac")
	if real, err := filepath.EvalSymlinks(javac); err == nil {
		javac = real
	}
	fi, err := os.Stat(javac)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(h, "javac %s %d %d\n", javac, fi.Size(), fi.ModTime().UnixNano())
	key := hex.EncodeToString(h.Sum(nil))[:16]
	dir := filepath.Join(CacheDir(t), "standins", "java")
	out := filepath.Join(dir, strings.TrimSuffix(jarName, ".jar")+"-"+key+".jar")

	standinMu.Lock()
	defer standinMu.Unlock()
	if b, err := os.ReadFile(out); err == nil {
		return b
	}
	classes := t.TempDir()
	args := append([]string{"--release", "8", "-encoding", "UTF-8", "-Xlint:-options", "-d", classes}, sources...)
	cmd := exec.Command(javac, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("javac %s: %v\n%s", srcDir, err, msg)
	}
	var classFiles []standinFile
	err = filepath.WalkDir(classes, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(classes, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		classFiles = append(classFiles, standinFile{name: filepath.ToSlash(rel), mode: 0o644, body: b})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(classFiles, func(i, j int) bool { return classFiles[i].name < classFiles[j].name })
	jar := zipOf(t, append(files, classFiles...))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := atomicfile.Write(out, jar, 0o644); err != nil {
		t.Fatalf("caching %s: %v", jarName, err)
	}
	// Drop builds of older sources of this jar.
	if old, err := filepath.Glob(filepath.Join(dir, strings.TrimSuffix(jarName, ".jar")+"-*.jar")); err == nil {
		for _, p := range old {
			if p != out && len(filepath.Base(p)) == len(filepath.Base(out)) {
				os.Remove(p)
			}
		}
	}
	return jar
}

// GoHandler returns the path of the Go test handler (testdata/tools/hello,
// built with github.com/aws/aws-lambda-go) built for linux/goarch (amd64,
// arm64) with CGO_ENABLED=0, -trimpath and no symbol table. Like BuildRIE it
// is cached in CacheDir, keyed by goarch and a hash of the tools module's
// go.mod, go.sum and the handler's sources, and installed by rename. The
// same binary is the go1.x handler (an executable named like the handler in
// /var/task) and the provided.al2 bootstrap: lambda.Start serves the Runtime
// API at AWS_LAMBDA_RUNTIME_API.
func GoHandler(t testing.TB, goarch string) string {
	t.Helper()
	if goarch != "amd64" && goarch != "arm64" {
		t.Fatalf("GoHandler: unsupported goarch %q (amd64, arm64)", goarch)
	}
	return testtools.BuildGoTool(t, testtools.GoTool{
		What: "the Go test handler", ModuleDir: ToolsDir(t), Pkg: "./hello", GOARCH: goarch,
		KeyFiles: []string{"go.mod", "go.sum", "hello/*.go"}, CacheDir: "go-handler", Name: "hello-linux-" + goarch,
		LDFlags: "-s -w", Env: []string{"CGO_ENABLED=0"},
	})
}

package rubygems

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/unpack"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

var epoch = time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)

// writeGem writes gem bytes into a test file and returns its path.
func writeGem(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// installAll installs the fixture gems (or those named) into one layer.
func installAll(t *testing.T, gemHome string, fulls ...string) []byte {
	t.Helper()
	if len(fulls) == 0 {
		fulls = fixtureGems(t)
	}
	var layer bytes.Buffer
	w := unpack.NewWriter(&layer, epoch)
	for _, full := range fulls {
		p := writeGem(t, full+".gem", buildGem(t, full, nil))
		if err := Install(w, p, "https://rubygems.org/downloads/"+full+".gem", gemHome); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return layer.Bytes()
}

func TestInstallLayout(t *testing.T) {
	layer := installAll(t, "/var/runtime", "greeter-0.1.0", "jmespath-1.4.0")
	entries, order := readLayer(t, layer)
	want := []struct {
		name string
		mode int64
	}{
		{"var/", 0o755},
		{"var/runtime/", 0o755},
		{"var/runtime/gems/greeter-0.1.0/exe/greet", 0o755},
		{"var/runtime/gems/greeter-0.1.0/lib/greeter.rb", 0o644},
		{"var/runtime/gems/greeter-0.1.0/vendor/greeter_punctuation.rb", 0o644},
		{"var/runtime/specifications/greeter-0.1.0.gemspec", 0o644},
		{"var/runtime/bin/greet", 0o755},
		{"var/runtime/gems/jmespath-1.4.0/VERSION", 0o644},
		{"var/runtime/gems/jmespath-1.4.0/LICENSE.txt", 0o644},
		{"var/runtime/gems/jmespath-1.4.0/lib/jmespath.rb", 0o644},
		{"var/runtime/specifications/jmespath-1.4.0.gemspec", 0o644},
	}
	for _, w := range want {
		e, ok := entries[w.name]
		if !ok {
			t.Errorf("%s missing; layer: %v", w.name, order)
			continue
		}
		if e.hdr.Mode != w.mode || e.hdr.Uid != 0 || e.hdr.Gid != 0 || e.hdr.ModTime.After(epoch) {
			t.Errorf("%s: mode %o uid %d gid %d mtime %v", w.name, e.hdr.Mode, e.hdr.Uid, e.hdr.Gid, e.hdr.ModTime)
		}
	}
	for _, name := range order {
		if strings.Contains(name, "metadata") || strings.Contains(name, "checksums") || strings.Contains(name, "/cache/") {
			t.Errorf("layer holds %s", name)
		}
	}
	if got, wantBody := entries["var/runtime/gems/greeter-0.1.0/lib/greeter.rb"].body, readFile(t, "testdata/gems/greeter-0.1.0/data/lib/greeter.rb"); got != wantBody {
		t.Errorf("greeter.rb differs from the gem's:\n%s", got)
	}
	for _, g := range []string{"greeter-0.1.0", "jmespath-1.4.0"} {
		golden(t, "testdata/golden/"+g+".gemspec", entries["var/runtime/specifications/"+g+".gemspec"].body)
	}
	golden(t, "testdata/golden/greet.binstub", entries["var/runtime/bin/greet"].body)

	// Same inputs, same bytes.
	if again := installAll(t, "/var/runtime", "greeter-0.1.0", "jmespath-1.4.0"); !bytes.Equal(again, layer) {
		t.Error("installing the same gems twice gave different layers")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// golden compares got with the file at p (rewritten with -update).
func golden(t *testing.T, p, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want := readFile(t, p); got != want {
		t.Errorf("%s differs (go test -run %s -update rewrites it); got:\n%s", p, t.Name(), got)
	}
}

func TestInstallPlatformGem(t *testing.T) {
	p := writeGem(t, "jmespath-1.4.0-x86_64-linux.gem", buildGem(t, "jmespath-1.4.0", func(p *gemParts) {
		p.metadata = bytes.Replace(p.metadata, []byte("platform: ruby"), []byte("platform: x86_64-linux"), 1)
		p.checksums = gzipped(t, checksumsYAML(gzipped(t, p.metadata), p.data))
	}))
	var layer bytes.Buffer
	w := unpack.NewWriter(&layer, epoch)
	if err := Install(w, p, "https://rubygems.org/downloads/jmespath-1.4.0-x86_64-linux.gem", "/opt/ruby/gems/2.7.0"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	entries, order := readLayer(t, layer.Bytes())
	spec, ok := entries["opt/ruby/gems/2.7.0/specifications/jmespath-1.4.0-x86_64-linux.gemspec"]
	if _, lib := entries["opt/ruby/gems/2.7.0/gems/jmespath-1.4.0-x86_64-linux/lib/jmespath.rb"]; !ok || !lib {
		t.Fatalf("layer: %v", order)
	}
	for _, line := range []string{"# stub: jmespath 1.4.0 x86_64-linux lib\n", `  s.platform = "x86_64-linux".freeze` + "\n"} {
		if !strings.Contains(spec.body, line) {
			t.Errorf("gemspec lacks %q:\n%s", line, spec.body)
		}
	}
}

func TestInstallVerifiesChecksums(t *testing.T) {
	for _, c := range []struct {
		name   string
		edit   func(*gemParts)
		member string
	}{
		{"data.tar.gz", func(p *gemParts) { p.data = gzipped(t, []byte("not the tar the checksums name")) }, "data.tar.gz"},
		{"metadata.gz", func(p *gemParts) { p.metadata = append(p.metadata, "# edited\n"...) }, "metadata.gz"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeGem(t, "jmespath-1.4.0.gem", buildGem(t, "jmespath-1.4.0", c.edit))
			var layer bytes.Buffer
			w := unpack.NewWriter(&layer, epoch)
			url := "https://rubygems.org/downloads/jmespath-1.4.0.gem"
			err := Install(w, p, url, "/var/runtime")
			var me *resolve.MismatchError
			if !errors.As(err, &me) {
				t.Fatalf("Install: %v, want a *resolve.MismatchError", err)
			}
			if me.URL != url+"#"+c.member || !strings.HasPrefix(me.Want, "sha256:") || !strings.HasPrefix(me.Got, "sha256:") || me.Want == me.Got {
				t.Errorf("mismatch %+v", me)
			}
			if layer.Len() != 0 {
				t.Errorf("a gem failing its checksums wrote %d bytes", layer.Len())
			}
		})
	}
	// Without checksums.yaml.gz (old gems) the gem installs.
	p := writeGem(t, "jmespath-1.4.0.gem", buildGem(t, "jmespath-1.4.0", func(p *gemParts) { p.checksums = nil }))
	w := unpack.NewWriter(&bytes.Buffer{}, epoch)
	if err := Install(w, p, "", "/var/runtime"); err != nil {
		t.Fatal(err)
	}
}

func TestInstallRefuses(t *testing.T) {
	for _, c := range []struct {
		name, url, home string
		edit            func(*gemParts)
		want            string
	}{
		{name: "native extensions", edit: func(p *gemParts) {
			p.metadata = bytes.Replace(p.metadata, []byte("extensions: []"), []byte("extensions:\n- ext/jmespath/extconf.rb"), 1)
		}, want: "jmespath-1.4.0 has native extensions to compile (ext/jmespath/extconf.rb)"},
		{name: "another gem than the URL names", url: "https://rubygems.org/downloads/jmespath-1.3.1.gem",
			want: "the gem's metadata names jmespath-1.4.0, not jmespath-1.3.1"},
		{name: "relative GEM_HOME", home: "var/runtime", want: `GEM_HOME "var/runtime" must be an absolute directory`},
		{name: "executable path", edit: func(p *gemParts) {
			p.metadata = bytes.Replace(p.metadata, []byte("executables: []"), []byte("executables:\n- ../../etc/passwd"), 1)
		}, want: `executable "../../etc/passwd" is not a file name`},
		{name: "require path outside the gem", edit: func(p *gemParts) {
			p.metadata = bytes.Replace(p.metadata, []byte("require_paths:\n- lib"), []byte("require_paths:\n- ../lib"), 1)
		}, want: `require_paths: "../lib" leaves the gem's directory`},
	} {
		t.Run(c.name, func(t *testing.T) {
			edit := c.edit
			if edit == nil {
				edit = func(*gemParts) {}
			}
			p := writeGem(t, "jmespath-1.4.0.gem", buildGem(t, "jmespath-1.4.0", func(p *gemParts) {
				edit(p)
				// Keep the checksums consistent with the edit.
				p.checksums = gzipped(t, checksumsYAML(gzipped(t, p.metadata), p.data))
			}))
			url, home := c.url, c.home
			if url == "" {
				url = "https://rubygems.org/downloads/jmespath-1.4.0.gem"
			}
			if home == "" {
				home = "/var/runtime"
			}
			var layer bytes.Buffer
			err := Install(unpack.NewWriter(&layer, epoch), p, url, home)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Install: %v\nwant an error containing %q", err, c.want)
			}
			if layer.Len() != 0 {
				t.Errorf("a refused gem wrote %d bytes", layer.Len())
			}
		})
	}
}

func TestInstallNotAGem(t *testing.T) {
	for name, b := range map[string][]byte{
		"garbage":     []byte("<html>not found</html>"),
		"no metadata": gemTar(t, nil, gzipped(t, nil), nil)[512+512:], // data.tar.gz alone
	} {
		p := writeGem(t, "x-1.gem", b)
		var layer bytes.Buffer
		err := Install(unpack.NewWriter(&layer, epoch), p, "https://rubygems.org/downloads/x-1.gem", "/var/runtime")
		if err == nil || !strings.Contains(err.Error(), "x-1.gem") || !strings.Contains(err.Error(), "not a gem") || layer.Len() != 0 {
			t.Errorf("%s: Install: %v (wrote %d bytes)", name, err, layer.Len())
		}
	}
}

func TestParseSpecOldShapes(t *testing.T) {
	// Older gems: !binary strings, version_requirements only, no type, a
	// single author string.
	s, err := parseSpec([]byte(`--- !ruby/object:Gem::Specification
name: !binary |-
  b2xkZ2Vt
version: !ruby/object:Gem::Version
  version: 0.9.1
platform: ruby
authors: Someone
dependencies:
- !ruby/object:Gem::Dependency
  name: json
  version_requirements: !ruby/object:Gem::Requirement
    requirements:
    - - ">="
      - !ruby/object:Gem::Version
        version: 1.1.0
    version:
files:
- lib/oldgem.rb
require_paths:
- lib
summary: old
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.check(""); err != nil {
		t.Fatal(err)
	}
	if s.Name != "oldgem" || s.fullName() != "oldgem-0.9.1" || len(s.Authors) != 1 || len(s.Dependencies) != 1 ||
		!s.Dependencies[0].runtime() || s.Dependencies[0].requirement().String() != ">= 1.1.0" {
		t.Fatalf("parsed %+v", s)
	}
	if got := s.ruby(); !strings.Contains(got, `s.add_dependency("json".freeze, [">= 1.1.0".freeze])`) || !strings.Contains(got, `s.bindir = "bin".freeze`) {
		t.Errorf("gemspec:\n%s", got)
	}
}

// rubyBinary finds ruby: skipped locally when missing, a failure in CI.
func rubyBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ruby")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("ruby is not installed; CI must install it (Debian package ruby)")
		}
		t.Skip("ruby is not installed")
	}
	return p
}

// TestRubyLoadsInstalledGems installs the resolved closure and a gem with
// an executable, extracts the layer, and has Ruby activate and require the
// gems from that GEM_HOME, load the generated gemspecs and run the bin stub.
func TestRubyLoadsInstalledGems(t *testing.T) {
	ruby := rubyBinary(t)
	srv := newGemServer(t)
	arts, err := Resolve(context.Background(), opts, srv.URL, "2.7.0", []string{"aws-sdk-core=3.113.0"})
	if err != nil {
		t.Fatal(err)
	}
	var layer bytes.Buffer
	w := unpack.NewWriter(&layer, epoch)
	dl := t.TempDir()
	for _, a := range arts {
		p := filepath.Join(dl, a.Name+"-"+a.Version+".gem")
		b, err := opts.Get(context.Background(), a.URL)
		if err != nil {
			t.Fatal(err)
		}
		if sha256Hex(b) != a.SHA256 {
			t.Fatalf("%s: sha256 %s, pinned %s", a.URL, sha256Hex(b), a.SHA256)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := Install(w, p, a.URL, "/var/runtime"); err != nil {
			t.Fatal(err)
		}
	}
	if err := Install(w, writeGem(t, "greeter-0.1.0.gem", buildGem(t, "greeter-0.1.0", nil)), "https://rubygems.org/downloads/greeter-0.1.0.gem", "/var/runtime"); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	extractLayer(t, layer.Bytes(), root)
	gemHome := filepath.Join(root, "var", "runtime")

	script := `
require "rubygems"
gem "aws-sdk-core", "3.113.0"
require "aws-sdk-core"
spec = Gem::Specification.find_by_name("aws-sdk-core")
raise "loaded from #{spec.loaded_from}" unless spec.loaded_from == File.join(ENV["GEM_HOME"], "specifications", "aws-sdk-core-3.113.0.gemspec")
stub = Gem::Specification.stubs.find { |s| s.name == "aws-sdk-core" }
raise "the gemspec's stub line was not read" unless stub.respond_to?(:stubbed?) && stub.stubbed?
puts spec.full_name
puts spec.summary
puts spec.required_ruby_version
puts spec.runtime_dependencies.map(&:to_s).sort.join("; ")
puts Aws::CORE_GEM_VERSION
puts Aws::Partitions.regions.join(",")
ours = ->(s) { s.loaded_from.start_with?(ENV["GEM_HOME"] + "/") }
puts Gem.loaded_specs.values.select(&ours).map(&:name).sort.join(",")
g = Gem::Specification.find_by_name("greeter")
puts g.summary
puts g.authors.join(",")
puts g.executables.join(",") + " in " + g.bindir
puts g.description.lines.length
puts g.require_paths.join(",")
g_stub = Gem::Specification.stubs.find { |s| s.name == "greeter" }
puts g_stub.require_paths.join(",")
puts Gem::Specification.select(&ours).map(&:full_name).sort.join(",")
`
	cmd := exec.Command(ruby, "-e", script)
	cmd.Env = rubyEnv(gemHome)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ruby: %v\n%s%s", err, out, stderr.String())
	}
	want := `aws-sdk-core-3.113.0
AWS SDK for Ruby - Core
>= 2.3
aws-eventstream (~> 1, >= 1.0.2); aws-partitions (~> 1, >= 1.239.0); aws-sigv4 (~> 1.1); jmespath (~> 1.0)
3.113.0
us-east-1
aws-eventstream,aws-partitions,aws-sdk-core,aws-sigv4,jmespath
Says "hello" #{not interpolated}, \ and all
rtbuild tests,Ünïcödé Author
greet in exe
2
lib,vendor
lib,vendor
aws-eventstream-1.1.0,aws-partitions-1.424.0,aws-sdk-core-3.113.0,aws-sigv4-1.2.2,greeter-0.1.0,jmespath-1.4.0
`
	if string(out) != want {
		t.Errorf("ruby printed:\n%s\nwant:\n%s", out, want)
	}
	if stderr.Len() != 0 {
		t.Errorf("ruby warned:\n%s", stderr.String())
	}

	// The bin stub runs the gem's executable with the gem activated.
	cmd = exec.Command(ruby, filepath.Join(gemHome, "bin", "greet"), "rtbuild")
	cmd.Env = rubyEnv(gemHome)
	stderr.Reset()
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil || string(out) != "hello, rtbuild!\n" || stderr.Len() != 0 {
		t.Errorf("bin/greet: %v\nstdout: %s\nstderr: %s", err, out, stderr.String())
	}
}

// rubyEnv is an environment where Ruby sees only gemHome's gems (and its
// own default gems).
func rubyEnv(gemHome string) []string {
	env := []string{"GEM_HOME=" + gemHome, "GEM_PATH=" + gemHome, "HOME=" + gemHome, "LANG=C.UTF-8"}
	if p := os.Getenv("PATH"); p != "" {
		env = append(env, "PATH="+p)
	}
	return env
}

package images

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func mustLoad(t *testing.T, overlays ...string) *Catalog {
	t.Helper()
	c, err := Load(overlays...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

// writeOverlay writes an overlay file into a temp dir and returns its path.
func writeOverlay(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The rows of shared/LAMBDA.md's runtime and deprecation tables.
var lambdaTable = []struct {
	id, name, sdk, os string
	archs             []Arch
	phase1, phase2    string
}{
	{"nodejs14.x", "Node.js 14", "AWS SDK for JavaScript 2.1001.0", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"nodejs12.x", "Node.js 12", "AWS SDK for JavaScript 2.1001.0", "Amazon Linux 2", []Arch{X86_64, Arm64}, "2023-03-31", ""},
	{"nodejs10.x", "Node.js 10", "AWS SDK for JavaScript 2.1001.0", "Amazon Linux 2", []Arch{X86_64}, "2021-07-30", "2022-02-14"},
	{"python3.9", "Python 3.9", "boto3 1.18.55, botocore 1.21.55", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"python3.8", "Python 3.8", "boto3 1.18.55, botocore 1.21.55", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"python3.7", "Python 3.7", "boto3 1.18.55, botocore 1.21.55", "Amazon Linux", []Arch{X86_64}, "", ""},
	{"python3.6", "Python 3.6", "boto3 1.18.55, botocore 1.21.55", "Amazon Linux", []Arch{X86_64}, "2022-07-18", "2022-08-29"},
	{"python2.7", "Python 2.7", "boto3 1.17.100, botocore 1.20.100", "Amazon Linux", []Arch{X86_64}, "2021-07-15", "2022-05-30"},
	{"ruby2.7", "Ruby 2.7", "AWS SDK for Ruby 3.0.1", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"ruby2.5", "Ruby 2.5", "AWS SDK for Ruby 3.0.1", "Amazon Linux", []Arch{X86_64}, "2021-07-30", "2022-03-31"},
	{"java11", "Java 11", "amazon-corretto-11", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"java8.al2", "Java 8", "amazon-corretto-8", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"java8", "Java 8", "amazon-corretto-8", "Amazon Linux", []Arch{X86_64}, "", ""},
	{"go1.x", "Go 1.x", "", "Amazon Linux", []Arch{X86_64}, "", ""},
	{"dotnetcore3.1", ".NET Core 3.1", "", "Amazon Linux 2", []Arch{X86_64, Arm64}, "2023-03-31", ""},
	{"dotnetcore2.1", ".NET Core 2.1", "", "Amazon Linux", []Arch{X86_64}, "2022-01-05", "2022-04-13"},
	{"provided.al2", "Custom runtime", "", "Amazon Linux 2", []Arch{X86_64, Arm64}, "", ""},
	{"provided", "Custom runtime", "", "Amazon Linux", []Arch{X86_64}, "", ""},
}

func dateString(d *Date) string {
	if d == nil {
		return ""
	}
	return d.String()
}

func TestEmbeddedCatalogMatchesLambdaTable(t *testing.T) {
	c := mustLoad(t)
	if got := c.Identifiers(); len(got) != len(lambdaTable) {
		t.Fatalf("catalog has %d runtimes %v, want %d", len(got), got, len(lambdaTable))
	}
	for i, want := range lambdaTable {
		r := c.Runtimes[i]
		t.Run(want.id, func(t *testing.T) {
			if r.Identifier != want.id {
				t.Fatalf("runtime #%d is %q, want %q (table order)", i+1, r.Identifier, want.id)
			}
			if r.Name != want.name {
				t.Errorf("name %q, want %q", r.Name, want.name)
			}
			if r.SDK != want.sdk {
				t.Errorf("sdk %q, want %q", r.SDK, want.sdk)
			}
			if got := r.OS(c); got != want.os {
				t.Errorf("OS %q, want %q", got, want.os)
			}
			if !slices.Equal(r.Architectures, want.archs) {
				t.Errorf("architectures %v, want %v", r.Architectures, want.archs)
			}
			if got := dateString(r.Deprecation.Phase1); got != want.phase1 {
				t.Errorf("phase1 %q, want %q", got, want.phase1)
			}
			if got := dateString(r.Deprecation.Phase2); got != want.phase2 {
				t.Errorf("phase2 %q, want %q", got, want.phase2)
			}
		})
	}
}

func TestEmbeddedCatalogConventions(t *testing.T) {
	c := mustLoad(t)
	if c.Bases["al1"].AMI != "amzn-ami-hvm-2018.03.0.20181129-x86_64-gp2" || c.Bases["al1"].Kernel != "4.14.171-105.231.amzn1.x86_64" {
		t.Errorf("al1 facts: %+v", c.Bases["al1"])
	}
	if c.Bases["al2"].Kernel != "4.14.165-102.205.amzn2.x86_64" || !slices.Equal(c.Bases["al2"].Architectures, []Arch{X86_64, Arm64}) {
		t.Errorf("al2 facts: %+v", c.Bases["al2"])
	}
	for _, r := range c.Runtimes {
		n := len(r.Components)
		if n < 3 || !slices.Equal(r.Components[n-3:], []string{"rie", "bootstrap", "entrypoint"}) {
			t.Errorf("%s: components %v do not end with rie, bootstrap, entrypoint", r.Identifier, r.Components)
		}
		managed := r.Family != "provided"
		if got, want := r.Env["AWS_EXECUTION_ENV"], "AWS_Lambda_"+r.Identifier; managed && got != want {
			t.Errorf("%s: AWS_EXECUTION_ENV %q, want %q", r.Identifier, got, want)
		}
		if _, ok := r.Env["AWS_EXECUTION_ENV"]; !managed && ok {
			t.Errorf("%s: a custom runtime has no AWS_EXECUTION_ENV", r.Identifier)
		}
		if r.Base == "al1" {
			alt, err := c.Runtime(r.Alternative)
			if err != nil || alt.Base != "al2" || !alt.Supports(X86_64) {
				t.Errorf("%s: alternative %q should be an AL2 runtime (%v)", r.Identifier, r.Alternative, err)
			}
		}
	}
	for key, comp := range c.Components {
		if comp.Version == "" || comp.Description == "" {
			t.Errorf("component %s: needs version and description", key)
		}
		for _, list := range comp.Sources {
			for _, s := range list {
				if !strings.HasPrefix(s.URL, "https://") {
					t.Errorf("component %s: %s is not https", key, s.URL)
				}
			}
		}
	}
	for id, want := range map[string]string{"go1.x": "provided.al2", "provided": "provided.al2", "java8": "java8.al2",
		"ruby2.5": "ruby2.7", "python3.7": "python3.9", "dotnetcore2.1": "dotnetcore3.1", "nodejs10.x": "nodejs14.x"} {
		if r, _ := c.Runtime(id); r.Alternative != want {
			t.Errorf("%s: alternative %q, want %q", id, r.Alternative, want)
		}
	}
	if r, _ := c.Runtime("nodejs12.x"); r.Env["NODE_PATH"] != "/opt/nodejs/node12/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules:/var/runtime:/var/task" {
		t.Errorf("nodejs12.x NODE_PATH %q", r.Env["NODE_PATH"])
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := mustLoad(t)
	out, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "phase1: 2021-07-15") {
		t.Errorf("dates should be written as plain YYYY-MM-DD:\n%s", out)
	}
	back := mustLoad(t, writeOverlay(t, "export.yaml", string(out)))
	if !reflect.DeepEqual(c, back) {
		t.Fatalf("catalog changed in a Marshal/Load round trip")
	}
	again, err := back.Marshal()
	if err != nil || string(again) != string(out) {
		t.Fatalf("Marshal is not stable (%v)", err)
	}
}

const sha = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestOverlayMerge(t *testing.T) {
	base := mustLoad(t)
	node14x64 := base.Components["nodejs14"].Sources[X86_64][0].URL

	t.Run("one sha256", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "pin.yaml", `
components:
  nodejs14:
    sources:
      x86_64:
        - url: `+node14x64+`
          sha256: `+sha+`
`))
		n := c.Components["nodejs14"]
		if got := n.Sources[X86_64]; len(got) != 1 || got[0].URL != node14x64 || got[0].SHA256 != sha {
			t.Errorf("x86_64 sources %+v", got[0])
		}
		if !reflect.DeepEqual(n.Sources[Arm64], base.Components["nodejs14"].Sources[Arm64]) || n.Dest != "/var/lang" || n.Version != "14.21.3" {
			t.Errorf("the rest of the component changed: %+v", n)
		}
	})

	t.Run("a new url is appended", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "more.yaml", `
components:
  boto3:
    sources:
      any:
        - url: https://example.com/extra-1.0-py3-none-any.whl
`))
		got := c.Components["boto3"].Sources[AnyArch]
		want := len(base.Components["boto3"].Sources[AnyArch]) + 1
		if len(got) != want || got[want-1].URL != "https://example.com/extra-1.0-py3-none-any.whl" {
			t.Errorf("got %d sources, last %s", len(got), got[len(got)-1].URL)
		}
	})

	t.Run("a new runtime and component", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "new.yaml", `
components:
  python310:
    kind: archive
    version: 3.10.13
    description: test toolchain
    format: tar.gz
    strip: 1
    dest: /var/lang
    sources:
      x86_64: [{url: "https://example.com/python-3.10-x64.tar.gz"}]
      arm64: [{url: "https://example.com/python-3.10-arm64.tar.gz"}]
runtimes:
  - identifier: python3.10
    name: Python 3.10
    family: python
    base: al2
    architectures: [x86_64, arm64]
    sdk: ""
    env: {AWS_EXECUTION_ENV: AWS_Lambda_python3.10}
    components: [python310, boto3, rie, bootstrap, entrypoint]
`))
		if len(c.Runtimes) != len(base.Runtimes)+1 || c.Runtimes[len(c.Runtimes)-1].Identifier != "python3.10" {
			t.Fatalf("runtimes %v", c.Identifiers())
		}
		if r, err := c.Runtime("python3.10"); err != nil || r.OS(c) != "Amazon Linux 2" {
			t.Errorf("Runtime(python3.10): %v", err)
		}
	})

	t.Run("runtime fields merge, lists replace", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "narrow.yaml", `
runtimes:
  - identifier: python3.9
    architectures: [arm64]
    env: {EXTRA: "1"}
`))
		r, _ := c.Runtime("python3.9")
		if !slices.Equal(r.Architectures, []Arch{Arm64}) || r.Env["EXTRA"] != "1" || r.Env["PYTHONPATH"] != "/var/runtime" || r.Base != "al2" {
			t.Errorf("python3.9 after overlay: %+v", r)
		}
		if len(c.Runtimes) != len(base.Runtimes) {
			t.Errorf("merging by identifier added a runtime")
		}
	})

	t.Run("null deletes", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "null.yaml", `
bases:
  al2:
    kernel: null
components:
  python39:
    license: null
runtimes:
  - identifier: nodejs12.x
    deprecation: {phase1: null}
    env:
      NODE_PATH: null
`))
		r, _ := c.Runtime("nodejs12.x")
		if r.Deprecation.Phase1 != nil {
			t.Errorf("phase1 not deleted")
		}
		if _, ok := r.Env["NODE_PATH"]; ok || r.Env["AWS_EXECUTION_ENV"] == "" {
			t.Errorf("env after deleting NODE_PATH: %v", r.Env)
		}
		if c.Components["python39"].License != "" || c.Bases["al2"].Kernel != "" || c.Bases["al2"].OS == "" {
			t.Errorf("null did not delete only its key")
		}
	})

	t.Run("replace", func(t *testing.T) {
		c := mustLoad(t, writeOverlay(t, "replace.yaml", `
replace: true
version: mine
bases:
  al2: {name: AL2, os: Amazon Linux 2, image: registry.example.com/al2, architectures: [x86_64]}
components:
  entrypoint: {kind: file, version: "1", description: entrypoint, path: /lambda-entrypoint.sh, mode: "0755", builtin: entrypoint}
runtimes:
  - {identifier: provided.al2, name: Custom runtime, family: provided, base: al2, architectures: [x86_64], components: [entrypoint]}
`))
		if c.Version != "mine" || len(c.Runtimes) != 1 || len(c.Components) != 1 || len(c.Bases) != 1 {
			t.Errorf("replace kept the embedded catalog: %v %d components", c.Identifiers(), len(c.Components))
		}
	})

	t.Run("overlays apply in order", func(t *testing.T) {
		first := writeOverlay(t, "a.yaml", "version: a\n")
		second := writeOverlay(t, "b.yaml", "version: b\n")
		if c := mustLoad(t, first, second); c.Version != "b" {
			t.Errorf("version %q, want b", c.Version)
		}
	})
}

func TestLoadErrors(t *testing.T) {
	node14x64 := mustLoad(t).Components["nodejs14"].Sources[X86_64][0].URL
	cases := []struct {
		name, overlay string
		want          []string // substrings, besides the file name
	}{
		{"unknown base", "runtimes: [{identifier: python3.9, base: al3}]",
			[]string{`runtime "python3.9": field "base": unknown base "al3" (have al1, al2)`}},
		{"unknown arch", "runtimes: [{identifier: python3.9, architectures: [x86_64, riscv]}]",
			[]string{`runtime "python3.9": field "architectures[1]": unknown architecture "riscv"`}},
		{"arm64 on AL1", "runtimes: [{identifier: python3.7, architectures: [x86_64, arm64]}]",
			[]string{`runtime "python3.7": field "architectures[1]": base "al1" (Amazon Linux) is not published for arm64`, "more problem"}},
		{"arch without a source", `
bases: {al1: {architectures: [x86_64, arm64]}}
runtimes: [{identifier: nodejs10.x, architectures: [x86_64, arm64]}]`,
			[]string{`runtime "nodejs10.x": field "components[0]": component "nodejs10" has no source for arm64`}},
		{"unknown family", "runtimes: [{identifier: go1.x, family: golang}]",
			[]string{`runtime "go1.x": field "family": unknown family "golang"`}},
		{"unknown component", "runtimes: [{identifier: go1.x, components: [gotools, rie]}]",
			[]string{`runtime "go1.x": field "components[0]": unknown component "gotools"`}},
		{"duplicate component", "runtimes: [{identifier: go1.x, components: [rie, rie]}]",
			[]string{`runtime "go1.x": field "components[1]": component "rie" listed twice`}},
		{"unknown alternative", "runtimes: [{identifier: go1.x, alternative: go2.x}]",
			[]string{`runtime "go1.x": field "alternative": unknown runtime "go2.x"`}},
		{"bad env name", "runtimes: [{identifier: go1.x, env: {\"A-B\": x}}]",
			[]string{`runtime "go1.x": field "env.A-B"`}},
		{"bad date", "runtimes: [{identifier: nodejs12.x, deprecation: {phase1: 2023-13-45}}]",
			[]string{`runtime "nodejs12.x": field "deprecation.phase1": invalid date "2023-13-45"`, ".yaml:1:"}},
		{"phase2 without phase1", "runtimes: [{identifier: java11, deprecation: {phase2: 2030-01-01}}]",
			[]string{`runtime "java11": field "deprecation.phase2": set without deprecation.phase1`}},
		{"phase2 too early", "runtimes: [{identifier: nodejs12.x, deprecation: {phase2: 2023-04-02}}]",
			[]string{`runtime "nodejs12.x": field "deprecation.phase2": 2023-04-02 is less than 30 days after phase1 2023-03-31`}},
		{"unknown runtime field", "runtimes:\n  - identifier: python3.9\n    bse: al2\n",
			[]string{`:3: runtime "python3.9": field "bse": unknown field`}},
		{"unknown component field", "components:\n  rie:\n    sha: abc\n",
			[]string{`:3: component "rie": field "sha": unknown field`}},
		{"unknown top-level field", "runtime: []\n", []string{`:1: field "runtime": unknown field`}},
		{"wrong type", "components: {nodejs14: {strip: abc}}",
			[]string{`component "nodejs14": field "strip": want a whole number, got "abc"`}},
		{"syntax error", "version: x\n\tbad: 1\n", []string{"overlay.yaml:2: found a tab character"}},
		{"unclosed list", "runtimes: [\n  {identifier: x\n", []string{"overlay.yaml:1: did not find expected ',' or '}'"}},
		{"unknown kind", "components: {rie: {kind: blob}}",
			[]string{`component "rie": field "kind": unknown kind "blob"`}},
		{"unknown format", "components: {python39: {format: rar}}",
			[]string{`component "python39": field "format": unknown format "rar"`}},
		{"relative dest", "components: {python39: {dest: var/lang}}",
			[]string{`component "python39": field "dest": "var/lang" must be a clean absolute path`}},
		{"bad subdir", "components: {simplejson: {subdir: ../etc}}",
			[]string{`component "simplejson": field "subdir"`}},
		{"bad mode", "components: {rie: {mode: \"0999\"}}",
			[]string{`component "rie": field "mode": "0999" is not an octal file mode`}},
		{"bad sha256", "components: {nodejs14: {sources: {x86_64: [{url: \"" + node14x64 + "\", sha256: xyz}]}}}",
			[]string{`component "nodejs14": field "sources.x86_64[0].sha256": "xyz" is not a sha256 digest`}},
		{"bad scheme", "components: {rie: {sources: {x86_64: [{url: \"ftp://example.com/rie\"}]}}}",
			[]string{`component "rie": field "sources.x86_64[1].url": unsupported scheme "ftp"`}},
		{"unknown source arch", "components: {boto3: {sources: {ppc64le: [{url: \"https://example.com/x.whl\"}]}}}",
			[]string{`component "boto3": field "sources.ppc64le": unknown architecture "ppc64le"`}},
		{"file with two contents", "components: {bootstrap: {content: \"#!/bin/sh\\n\"}}",
			[]string{`component "bootstrap": field "sources": a file component needs exactly one of sources, content or builtin`}},
		{"unknown builtin", "components: {entrypoint: {builtin: init}}",
			[]string{`component "entrypoint": field "builtin": unknown builtin "init"`}},
		{"description required", "components: {extra: {kind: file, version: \"1\", path: /etc/extra, content: x}}",
			[]string{`component "extra": field "description": required`}},
		{"undetectable format", "components: {extra: {kind: archive, version: \"1\", description: d, dest: /opt, sources: {any: [{url: \"https://example.com/download?id=1\"}]}}}",
			[]string{`component "extra": field "format": cannot tell the format`}},
		{"duplicate identifier", `
replace: true
version: x
bases: {al2: {name: AL2, os: Amazon Linux 2, image: i, architectures: [x86_64]}}
components: {e: {kind: file, version: "1", description: d, path: /e, builtin: entrypoint}}
runtimes:
  - {identifier: a, name: A, family: provided, base: al2, architectures: [x86_64], components: [e]}
  - {identifier: a, name: A, family: provided, base: al2, architectures: [x86_64], components: [e]}
`, []string{`runtime "a": field "identifier": duplicate identifier "a"`}},
		{"version required", "replace: true\nruntimes: []\n", []string{`field "version": required`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := writeOverlay(t, "overlay.yaml", tc.overlay)
			_, err := Load(path)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error is not one line: %q", msg)
			}
			if !strings.HasPrefix(msg, "catalog "+path) {
				t.Errorf("error does not start with the file name %s: %s", path, msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q\n  does not contain %q", msg, w)
				}
			}
		})
	}
}

func TestLoadErrorNamesTheFileThatIntroducedIt(t *testing.T) {
	good := writeOverlay(t, "good.yaml", "runtimes: [{identifier: java11, sdk: amazon-corretto-11}]\n")
	bad := writeOverlay(t, "bad.yaml", "runtimes: [{identifier: ruby2.7, base: al9}]\n")
	_, err := Load(good, bad)
	if err == nil || !strings.HasPrefix(err.Error(), "catalog "+bad+": runtime \"ruby2.7\"") {
		t.Fatalf("got %v, want an error naming %s", err, bad)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestJSONDates(t *testing.T) {
	c := mustLoad(t)
	r, _ := c.Runtime("python3.6")
	b, err := json.Marshal(r.Deprecation)
	if err != nil || string(b) != `{"phase1":"2022-07-18","phase2":"2022-08-29"}` {
		t.Errorf("json %s, %v", b, err)
	}
	var d Deprecation
	if err := json.Unmarshal(b, &d); err != nil || d.Phase2.String() != "2022-08-29" {
		t.Errorf("json round trip: %+v, %v", d, err)
	}
}

func TestFileMode(t *testing.T) {
	c := mustLoad(t)
	if m, err := c.Components["rie"].FileMode(); err != nil || m != 0o755 {
		t.Errorf("rie mode %o, %v", m, err)
	}
	if m, err := (&Component{}).FileMode(); err != nil || m != 0o644 {
		t.Errorf("default mode %o, %v", m, err)
	}
}

func TestLoadErrorFileForDeletionsAndTopLevel(t *testing.T) {
	del := writeOverlay(t, "delete.yaml", "components: {simplejson: null}\n")
	_, err := Load(del)
	if err == nil || !strings.HasPrefix(err.Error(), "catalog "+del+`: runtime "python3.9": field "components[3]": unknown component "simplejson"`) {
		t.Errorf("deleting a used component: %v", err)
	}
	// Clearing a whole mapping (the fuzzer found this one) is the
	// overlay's doing, not the embedded runtimes' that refer to it.
	for _, clear := range []struct{ text, want string }{
		{"components: null\n", `: runtime "nodejs14.x": field "components[0]": unknown component "nodejs14"`},
		{"bases: ~\n", `: runtime "nodejs14.x": field "base": unknown base "al2" (have none)`},
	} {
		path := writeOverlay(t, "clear.yaml", clear.text)
		if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), "catalog "+path+clear.want) {
			t.Errorf("%q: %v", clear.text, err)
		}
	}
	// A runtime without an identifier is named by position; it came from
	// the overlay (another fuzzer finding).
	for _, text := range []string{"runtimes:\n  - identifier:", "runtimes: [{identifier: ~}]\n", "runtimes: [{name: x}]\n", "runtimes: [{identifier: \"  \"}]\n"} {
		path := writeOverlay(t, "anon.yaml", text)
		if _, err := Load(path); err == nil || !strings.HasPrefix(err.Error(), "catalog "+path+`: runtime "#19": field "identifier": required`) {
			t.Errorf("%q: %v", text, err)
		}
	}
	later := writeOverlay(t, "readd.yaml", "components: {nodejs14: {kind: file, version: \"1\", description: x, path: /x, content: x}}\n")
	cleared := writeOverlay(t, "clear.yaml", "components: null\n")
	if _, err := Load(cleared, later); err == nil || !strings.HasPrefix(err.Error(), "catalog "+cleared+`: runtime "nodejs14.x": field "components[1]": unknown component "aws-sdk-js"`) {
		t.Errorf("cleared then one re-added: %v", err)
	}
	ver := writeOverlay(t, "version.yaml", "version: \"\"\n")
	if _, err := Load(ver); err == nil || err.Error() != "catalog "+ver+`: field "version": required` {
		t.Errorf("empty version: %v", err)
	}
	noReplace := writeOverlay(t, "noreplace.yaml", "replace: false\nversion: v2\n")
	if c, err := Load(noReplace); err != nil || c.Version != "v2" || len(c.Runtimes) != 18 {
		t.Errorf("replace: false: %v", err)
	}
}

func TestOverlayWithAnchors(t *testing.T) {
	c := mustLoad(t, writeOverlay(t, "anchors.yaml", `
runtimes:
  - identifier: java11
    env: &extra {JAVA_TOOL_OPTIONS: "-Xshare:auto"}
  - identifier: java8.al2
    env: *extra
`))
	for _, id := range []string{"java11", "java8.al2"} {
		if r, _ := c.Runtime(id); r.Env["JAVA_TOOL_OPTIONS"] != "-Xshare:auto" || r.Env["AWS_EXECUTION_ENV"] == "" {
			t.Errorf("%s env %v", id, r.Env)
		}
	}
}

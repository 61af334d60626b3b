package nodejsric_test

import (
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	nodejsric "github.com/rtbuild/rtbuild/images/ric/nodejs"
)

func TestFiles(t *testing.T) {
	files := nodejsric.Files()
	want := []string{"context.js", "errors.js", "esm-import.js", "index.js", "log-patch.js",
		"rapid-client.js", "runtime.js", "user-function.js"}
	if got := nodejsric.Names(); !reflect.DeepEqual(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	if _, ok := files[nodejsric.Entrypoint]; !ok {
		t.Errorf("no %s among %v", nodejsric.Entrypoint, nodejsric.Names())
	}
	// Every relative require names an embedded file.
	req := regexp.MustCompile(`require\('\./([^']+)'\)`)
	for name, data := range files {
		if len(data) == 0 {
			t.Errorf("%s is empty", name)
		}
		for _, m := range req.FindAllStringSubmatch(string(data), -1) {
			if _, ok := files[m[1]]; !ok {
				t.Errorf("%s requires ./%s, which is not embedded", name, m[1])
			}
		}
	}
	// Files returns a copy.
	files["index.js"][0] = 0
	if nodejsric.Files()["index.js"][0] == 0 {
		t.Error("Files() shares its buffers between calls")
	}
	if got := nodejsric.Command("/var/lang/bin/node", "app.handler"); !reflect.DeepEqual(got,
		[]string{"/var/lang/bin/node", "/var/runtime/index.js", "app.handler"}) {
		t.Errorf("Command = %q", got)
	}
}

// TestNoSyntaxNewerThanNode10 rejects constructs Node.js 10 cannot parse or
// lacks, as a fast check before the real-binary tests.
func TestNoSyntaxNewerThanNode10(t *testing.T) {
	banned := map[string]*regexp.Regexp{
		"optional chaining":           regexp.MustCompile(`\?\.[A-Za-z_$\[(]`),
		"nullish coalescing":          regexp.MustCompile(`\?\?`),
		"logical assignment":          regexp.MustCompile(`(\|\||&&)=`),
		"private names":               regexp.MustCompile(`this\.#`),
		"fetch":                       regexp.MustCompile(`\bfetch\(`),
		"Object.fromEntries":          regexp.MustCompile(`Object\.fromEntries`),
		"Array.prototype.flat":        regexp.MustCompile(`\.flat(Map)?\(`),
		"String.prototype.replaceAll": regexp.MustCompile(`\.replaceAll\(`),
		"ES module syntax":            regexp.MustCompile(`(?m)^\s*(import|export)\s`),
	}
	for name, data := range nodejsric.Files() {
		// Strip comments so prose does not trip the checks.
		code := regexp.MustCompile(`(?s)/\*.*?\*/|//[^\n]*`).ReplaceAllString(string(data), "")
		for what, re := range banned {
			if loc := re.FindStringIndex(code); loc != nil {
				line := strings.Count(code[:loc[0]], "\n") + 1
				t.Errorf("%s: %s near line %d (of the comment-stripped file): %q", name, what, line, code[loc[0]:loc[1]])
			}
		}
	}
}

// TestParsesOnEveryNode runs node --check on every file with each real
// Node.js version.
func TestParsesOnEveryNode(t *testing.T) {
	requireLinuxAMD64(t)
	runtimeDir := installClient(t)
	for _, version := range nodeVersions {
		node := nodeBinary(t, version)
		for _, name := range nodejsric.Names() {
			out, err := exec.Command(node, "--check", filepath.Join(runtimeDir, name)).CombinedOutput()
			if err != nil {
				t.Errorf("node %s --check %s: %v\n%s", version, name, err, out)
			}
		}
	}
}

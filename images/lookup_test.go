package images

import (
	"strings"
	"testing"
)

func TestRuntimeLookup(t *testing.T) {
	c := mustLoad(t)
	if r, err := c.Runtime("java8.al2"); err != nil || r.Identifier != "java8.al2" {
		t.Fatalf("Runtime(java8.al2) = %v, %v", r, err)
	}
	cases := []struct{ id, want string }{
		{"pyhton3.9", `unknown runtime "pyhton3.9" (did you mean python3.9?)`},
		{"Python3.9", `(did you mean python3.9?)`},
		{"node14", `(did you mean nodejs14.x?)`},
		{"provided.al3", `(did you mean provided.al2?)`},
		{"python3.1", `(did you mean python3.9, python3.8 or python3.7?)`},
		{"dotnetcore", `(did you mean dotnetcore3.1 or dotnetcore2.1?)`},
		{"cobol", `unknown runtime "cobol" (have nodejs14.x, nodejs12.x,`},
	}
	for _, tc := range cases {
		_, err := c.Runtime(tc.id)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Runtime(%q) error %v, want it to contain %q", tc.id, err, tc.want)
		}
	}
}

func TestSuggestAtMostThree(t *testing.T) {
	c := mustLoad(t)
	for _, id := range []string{"python", "nodejs", "java", "x", "ruby3.2"} {
		if got := c.Suggest(id); len(got) > 3 {
			t.Errorf("Suggest(%q) = %v, more than 3", id, got)
		}
	}
}

func TestCheckArch(t *testing.T) {
	c := mustLoad(t)
	cases := []struct {
		id   string
		arch Arch
		want string // "" = no error
	}{
		{"python3.9", Arm64, ""},
		{"python3.9", X86_64, ""},
		{"go1.x", Arm64, `runtime "go1.x" does not support arm64 (Amazon Linux images are x86_64 only): use provided.al2`},
		{"provided", Arm64, "use provided.al2"},
		{"java8", Arm64, "use java8.al2"},
		{"python3.6", Arm64, "use python3.9"},
		{"ruby2.5", Arm64, "use ruby2.7"},
		{"nodejs10.x", Arm64, `runtime "nodejs10.x" does not support arm64 (Amazon Linux 2 images are x86_64 only): use nodejs14.x`},
	}
	for _, tc := range cases {
		r, _ := c.Runtime(tc.id)
		err := c.CheckArch(r, tc.arch)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s/%s: %v", tc.id, tc.arch, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s/%s: error %v, want %q", tc.id, tc.arch, err, tc.want)
		}
	}
}

func TestComponentFor(t *testing.T) {
	c := mustLoad(t)
	if s := ComponentFor(c.Components["rie"], Arm64); len(s) != 1 || !strings.HasSuffix(s[0].URL, "aws-lambda-rie-arm64") {
		t.Errorf("rie arm64: %v", s)
	}
	if s := ComponentFor(c.Components["boto3"], Arm64); len(s) == 0 || s[0] != c.Components["boto3"].Sources[AnyArch][0] {
		t.Errorf("boto3 arm64 should fall back to any: %v", s)
	}
	if a, b := ComponentFor(c.Components["rie"], X86_64), ComponentSources(c.Components["rie"], X86_64); len(a) != 1 || a[0] != b[0] {
		t.Errorf("ComponentSources differs from ComponentFor")
	}
	if s := ComponentFor(c.Components["nodejs10"], Arm64); s != nil {
		t.Errorf("nodejs10 arm64: %v, want none", s)
	}
	if s := ComponentFor(c.Components["entrypoint"], X86_64); s != nil {
		t.Errorf("builtin entrypoint has no sources: %v", s)
	}
}

func TestParseArch(t *testing.T) {
	for in, want := range map[string]Arch{"amd64": X86_64, "x86_64": X86_64, "arm64": Arm64, "aarch64": Arm64} {
		if got, err := ParseArch(in); err != nil || got != want {
			t.Errorf("ParseArch(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseArch("s390x"); err == nil {
		t.Error("ParseArch(s390x) succeeded")
	}
}

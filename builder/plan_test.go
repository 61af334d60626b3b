package builder

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rtbuild/rtbuild/images"
)

func loadCatalog(t *testing.T) *images.Catalog {
	t.Helper()
	cat, err := images.Load()
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func TestMakePlanPlatformsAndSteps(t *testing.T) {
	cat := loadCatalog(t)
	plan, err := MakePlan(cat, Request{Runtimes: []string{"nodejs14.x", "provided.al2", "nodejs14.x"}}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Runtimes) != 2 {
		t.Fatalf("%d runtimes planned, want 2 (duplicates collapse)", len(plan.Runtimes))
	}
	for _, rp := range plan.Runtimes {
		if len(rp.Platforms) != len(rp.Runtime.Architectures) {
			t.Errorf("%s: %d platforms, runtime supports %v", rp.Runtime.Identifier, len(rp.Platforms), rp.Runtime.Architectures)
		}
		for _, pp := range rp.Platforms {
			if len(pp.Steps) != len(rp.Runtime.Components) {
				t.Errorf("%s/%s: %d steps for %d components", rp.Runtime.Identifier, pp.Arch, len(pp.Steps), len(rp.Runtime.Components))
			}
			for _, s := range pp.Steps {
				if s.Component.Kind == images.KindFile && len(s.Sources) == 0 && len(s.Content) == 0 {
					t.Errorf("%s/%s: file component %s has no content", rp.Runtime.Identifier, pp.Arch, s.ComponentKey)
				}
			}
		}
	}
}

func TestMakePlanErrors(t *testing.T) {
	cat := loadCatalog(t)
	day := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		req  Request
		want []string
	}{
		{Request{}, []string{"no runtime given"}},
		{Request{Runtimes: []string{"python3.10"}}, []string{"unknown runtime", "python3.9"}},
		{Request{Runtimes: []string{"provided"}, Archs: []images.Arch{images.Arm64}}, []string{"provided", "arm64", "provided.al2"}},
		{Request{Runtimes: []string{"nodejs10.x"}, Today: day}, []string{"2021-07-30", "2022-02-14", "--allow-deprecated"}},
	}
	for _, c := range cases {
		_, err := MakePlan(cat, c.req, time.Unix(0, 0))
		var ue *UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%+v: error %v is not a usage error", c.req, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: %q does not mention %q", c.req, err, w)
			}
		}
	}
	// Allowed explicitly: builds, and no phase-1 warning is repeated.
	if _, err := MakePlan(cat, Request{Runtimes: []string{"nodejs10.x"}, Today: day, AllowDeprecated: true}, time.Unix(0, 0)); err != nil {
		t.Errorf("--allow-deprecated: %v", err)
	}
	// Phase 1 only warns.
	plan, err := MakePlan(cat, Request{Runtimes: []string{"nodejs12.x"}, Today: day}, time.Unix(0, 0))
	if err != nil {
		t.Fatalf("phase 1 must build: %v", err)
	}
	found := false
	for _, w := range plan.Warnings {
		if strings.Contains(w, "nodejs12.x is deprecated (phase 1 since 2023-03-31)") {
			found = true
		}
	}
	if !found {
		t.Errorf("no phase-1 warning in %q", plan.Warnings)
	}
}

func TestParseArchs(t *testing.T) {
	got, err := ParseArchs([]string{"amd64,arm64", "x86_64", "aarch64"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != images.X86_64 || got[1] != images.Arm64 {
		t.Errorf("ParseArchs = %v", got)
	}
	if _, err := ParseArchs([]string{"s390x"}); err == nil {
		t.Error("s390x accepted")
	}
}

func TestSourceDateEpoch(t *testing.T) {
	env := func(v string) func(string) string { return func(string) string { return v } }
	if e, err := SourceDateEpoch(env("")); err != nil || e.Unix() != 0 {
		t.Errorf("unset: %v %v", e, err)
	}
	if e, err := SourceDateEpoch(env("1700000000")); err != nil || e.Unix() != 1700000000 {
		t.Errorf("set: %v %v", e, err)
	}
	if _, err := SourceDateEpoch(env("yesterday")); err == nil {
		t.Error("non-number accepted")
	}
}

func TestOutputs(t *testing.T) {
	for _, bad := range []string{"oci", "oci:", "tar:x", "docker"} {
		if _, err := ParseOutput(bad); err == nil {
			t.Errorf("ParseOutput(%q) accepted", bad)
		}
	}
	o, err := ParseOutput("oci:out/{runtime}")
	if err != nil || o.Kind != "oci" {
		t.Fatalf("ParseOutput: %+v %v", o, err)
	}
	if got := expand("out/{runtime}", "python3.9", true, "oci"); got != "out/python3.9" {
		t.Errorf("expand placeholder: %s", got)
	}
	if got := expand("out", "python3.9", true, "oci"); got != "out/python3.9" {
		t.Errorf("expand several runtimes: %s", got)
	}
	if got := expand("out", "python3.9", false, "oci"); got != "out" {
		t.Errorf("expand one runtime: %s", got)
	}
}

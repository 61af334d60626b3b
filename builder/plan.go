// Package builder is rtbuild's pipeline: a request becomes a Plan (per runtime
// and platform: the base, an ordered list of layer steps and the image
// config), which an executor runs. The native executor runs in-process with
// go-containerregistry; outputs are written through package manifests.
package builder

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rtbuild/rtbuild/images"
)

// Request is what the user asked for.
type Request struct {
	Runtimes        []string
	Archs           []images.Arch // empty: every arch each runtime supports
	AllowDeprecated bool
	Today           time.Time // the day deprecation is evaluated on
	// Locked refuses any artifact not pinned by sha256 (--locked).
	Locked bool
}

// Plan is the whole build: one entry per runtime, each with its platforms.
type Plan struct {
	Catalog  *images.Catalog
	Epoch    time.Time
	Runtimes []*RuntimePlan
	// Warnings are things the user should know that do not stop the build
	// (phase-1 deprecation, unpinned artifacts).
	Warnings []string
	// fetched records the sha256 of each artifact the build fetched, by
	// URL, so that the SBOM names the digest of artifacts the catalog does
	// not pin. MakePlan sets it; the LayerBuilder fills it.
	fetched *artifactDigests
}

// artifactDigests is a concurrency-safe URL -> sha256 map.
type artifactDigests struct {
	mu sync.Mutex
	m  map[string]string
}

// recordArtifact notes the sha256 an artifact was fetched with.
func (p *Plan) recordArtifact(url, sha256 string) {
	if p == nil || p.fetched == nil || sha256 == "" {
		return
	}
	p.fetched.mu.Lock()
	defer p.fetched.mu.Unlock()
	p.fetched.m[url] = sha256
}

// ArtifactSHA256 returns the hex sha256 of a source: the pinned one, else
// the one it was fetched with during this build, else "".
func (p *Plan) ArtifactSHA256(s *images.Source) string {
	if s.SHA256 != "" || p == nil || p.fetched == nil {
		return s.SHA256
	}
	p.fetched.mu.Lock()
	defer p.fetched.mu.Unlock()
	return p.fetched.m[s.URL]
}

// RuntimePlan is one runtime image: an index over its platforms.
type RuntimePlan struct {
	Runtime   *images.Runtime
	Base      *images.Base
	Platforms []*PlatformPlan
}

// PlatformPlan is one single-architecture image.
type PlatformPlan struct {
	Arch    images.Arch
	BaseRef string // before mirror rewriting
	Steps   []*Step
	Config  images.ImageConfig
}

// Step is one component, which becomes exactly one layer.
type Step struct {
	ComponentKey string
	Component    *images.Component
	Sources      []*images.Source // the artifacts for this arch, in order
	// Content is a file component's builtin or inline content, or, for an
	// archive component with a builtin, the tree as an uncompressed tar.
	Content []byte
}

// UsageError is a request that cannot be built as asked; the CLI exits 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// MakePlan resolves the request against the catalog: runtime names, archs,
// deprecation policy, components and their sources per arch.
func MakePlan(cat *images.Catalog, req Request, epoch time.Time) (*Plan, error) {
	if len(req.Runtimes) == 0 {
		return nil, &UsageError{"no runtime given: name one or more, e.g. `rtbuild image python3.9` (see `rtbuild runtimes`)"}
	}
	today := req.Today
	if today.IsZero() {
		today = time.Now().UTC()
	}
	plan := &Plan{Catalog: cat, Epoch: epoch, fetched: &artifactDigests{m: map[string]string{}}}
	unpinned := map[string]bool{}
	seen := map[string]bool{}
	for _, id := range req.Runtimes {
		if seen[id] {
			continue
		}
		seen[id] = true
		rt, err := cat.Runtime(id)
		if err != nil {
			return nil, &UsageError{err.Error()}
		}
		switch rt.StatusOn(today) {
		case images.DeprecatedPhase2:
			if !req.AllowDeprecated {
				return nil, &UsageError{fmt.Sprintf("runtime %s is deprecated (phase 1 since %s, phase 2 since %s): pass --allow-deprecated to build it anyway",
					rt.Identifier, dateOrNone(rt.Deprecation.Phase1), dateOrNone(rt.Deprecation.Phase2))}
			}
		case images.DeprecatedPhase1:
			if !req.AllowDeprecated {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("runtime %s is deprecated (phase 1 since %s): Lambda no longer patches it", rt.Identifier, dateOrNone(rt.Deprecation.Phase1)))
			}
		}
		if rt.Notes != "" {
			plan.Warnings = append(plan.Warnings, rt.Identifier+": "+strings.Join(strings.Fields(rt.Notes), " "))
		}
		archs, err := selectArchs(rt, req.Archs)
		if err != nil {
			return nil, err
		}
		base := cat.Bases[rt.Base]
		rp := &RuntimePlan{Runtime: rt, Base: base}
		for _, arch := range archs {
			pp := &PlatformPlan{Arch: arch, BaseRef: base.Image, Config: cat.ImageConfig(rt)}
			for _, key := range rt.Components {
				comp := cat.Components[key]
				step := &Step{ComponentKey: key, Component: comp, Sources: images.ComponentSources(comp, arch)}
				if comp.Kind == images.KindArchive && comp.Builtin != "" {
					b, err := images.BuiltinArchive(comp.Builtin)
					if err != nil {
						return nil, fmt.Errorf("runtime %s: component %s: %w", rt.Identifier, key, err)
					}
					step.Content = b // an uncompressed tar
				}
				if comp.Kind == images.KindFile && len(step.Sources) == 0 {
					switch {
					case comp.Builtin != "":
						b, err := images.Builtin(comp.Builtin, cat, rt)
						if err != nil {
							return nil, fmt.Errorf("runtime %s: component %s: %w", rt.Identifier, key, err)
						}
						step.Content = b
					default:
						step.Content = []byte(comp.Content)
					}
				}
				if st := cat.PinStateOf(key, arch); !st.Pinned {
					if comp.Resolve.Produces() && len(step.Sources) == 0 {
						return nil, &UsageError{fmt.Sprintf("runtime %s (%s): component %s is %s", rt.Identifier, arch, key, st.Reason)}
					}
					if req.Locked {
						return nil, &UsageError{fmt.Sprintf("--locked: runtime %s (%s): component %s: %s", rt.Identifier, arch, key, st.Reason)}
					}
					for _, s := range step.Sources {
						if s.SHA256 == "" {
							unpinned[s.URL] = true
						}
					}
				}
				pp.Steps = append(pp.Steps, step)
			}
			rp.Platforms = append(rp.Platforms, pp)
		}
		plan.Runtimes = append(plan.Runtimes, rp)
	}
	for _, rp := range plan.Runtimes {
		for _, key := range rp.Runtime.Components {
			if slices.Contains(cat.StaleLocks, key) {
				plan.Warnings = append(plan.Warnings, fmt.Sprintf("component %s changed since it was locked: its lock entry is ignored (run `rtbuild lock %s`)", key, rp.Runtime.Identifier))
			}
		}
	}
	if len(unpinned) > 0 {
		plan.Warnings = append(plan.Warnings, fmt.Sprintf("%d artifact%s not pinned by sha256: %s digest%s recorded on first download (`rtbuild lock --check` lists them; --locked refuses them)",
			len(unpinned), map[bool]string{true: " is", false: "s are"}[len(unpinned) == 1], map[bool]string{true: "its", false: "their"}[len(unpinned) == 1], map[bool]string{true: " is", false: "s are"}[len(unpinned) == 1]))
	}
	plan.Warnings = dedupe(plan.Warnings)
	return plan, nil
}

func selectArchs(rt *images.Runtime, want []images.Arch) ([]images.Arch, error) {
	if len(want) == 0 {
		return rt.Architectures, nil
	}
	var out []images.Arch
	for _, a := range want {
		if !hasArch(rt.Architectures, a) {
			msg := fmt.Sprintf("runtime %s does not support %s (it supports %s)", rt.Identifier, a, joinArchs(rt.Architectures))
			if rt.Alternative != "" {
				msg += fmt.Sprintf("; use %s for %s", rt.Alternative, a)
			}
			return nil, &UsageError{msg}
		}
		if !hasArch(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

func hasArch(list []images.Arch, a images.Arch) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

func joinArchs(list []images.Arch) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

func dateOrNone(d *images.Date) string {
	if d == nil {
		return "not scheduled"
	}
	return d.String()
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// ParseArchs parses --arch values (repeatable, comma-separated, Lambda or OCI names).
func ParseArchs(values []string) ([]images.Arch, error) {
	var out []images.Arch
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			a, err := images.ParseArch(part)
			if err != nil {
				return nil, &UsageError{err.Error()}
			}
			if !hasArch(out, a) {
				out = append(out, a)
			}
		}
	}
	return out, nil
}

// SourceDateEpoch returns SOURCE_DATE_EPOCH from the environment, or the Unix
// epoch when it is unset, so that builds are reproducible by default.
func SourceDateEpoch(getenv func(string) string) (time.Time, error) {
	if getenv == nil {
		getenv = os.Getenv
	}
	v := getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, &UsageError{fmt.Sprintf("SOURCE_DATE_EPOCH=%q is not a non-negative integer number of seconds", v)}
	}
	return time.Unix(n, 0).UTC(), nil
}

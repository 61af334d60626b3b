// Package lock is `rtbuild lock`: it resolves the catalog's components from
// their publishers' metadata (package registries, checksum files, GitHub
// release digests) into a lock file, and reports what is pinned. A pin is
// never trust-on-first-use: every sha256 comes from the publisher, or from
// bytes verified against the publisher's own digest.
package lock

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"slices"
	"strings"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/checksums"
	"github.com/rtbuild/rtbuild/layers/ghrelease"
	"github.com/rtbuild/rtbuild/layers/maven"
	"github.com/rtbuild/rtbuild/layers/npm"
	"github.com/rtbuild/rtbuild/layers/nuget"
	"github.com/rtbuild/rtbuild/layers/pypi"
	"github.com/rtbuild/rtbuild/layers/resolve"
	"github.com/rtbuild/rtbuild/layers/rpm"
	"github.com/rtbuild/rtbuild/layers/rubygems"
)

// Options configure a lock run.
type Options struct {
	// Resolve is how metadata and artifacts are requested (client, mirrors, retries).
	Resolve resolve.Options
	// Progress, if set, is told what is being resolved.
	Progress func(component, message string)
}

// Failure is a component that could not be locked, and why.
type Failure struct {
	Component string `json:"component"`
	Err       error  `json:"-"`
	Message   string `json:"error"`
}

// Result is what a lock run did.
type Result struct {
	// Locked are the components resolved in this run.
	Locked []string `json:"locked"`
	// Failed are the components that could not be resolved.
	Failed []Failure `json:"failed"`
}

// Run resolves the components the runtimes use and writes their entries
// into into (which may hold entries of earlier runs: they are replaced).
// cat must be loaded without lock files (images.LoadOptions.NoEmbeddedLock)
// so that the catalog's own sources are what is resolved.
func Run(ctx context.Context, cat *images.Catalog, runtimes []*images.Runtime, into *images.Lock, o Options) *Result {
	if into.Components == nil {
		into.Components = map[string]*images.LockedComponent{}
	}
	into.Catalog = cat.Version
	res := &Result{}
	for _, key := range cat.LockKeys(runtimes...) {
		comp := cat.Components[key]
		if comp.Resolve == nil {
			continue // pinned by the catalog itself, or not at all (lock --check says which)
		}
		if o.Progress != nil {
			o.Progress(key, "resolving from "+comp.Resolve.Registry)
		}
		archs := componentArchs(cat, key, runtimes)
		lc, err := lockComponent(ctx, comp, archs, o.Resolve)
		if err != nil {
			res.Failed = append(res.Failed, Failure{Component: key, Err: err, Message: err.Error()})
			continue
		}
		into.Components[key] = lc
		res.Locked = append(res.Locked, key)
	}
	return res
}

// componentArchs are the archs the runtimes build the component for.
func componentArchs(cat *images.Catalog, key string, runtimes []*images.Runtime) []images.Arch {
	var out []images.Arch
	for _, r := range runtimes {
		if !slices.Contains(r.Components, key) {
			continue
		}
		for _, a := range r.Architectures {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// lockComponent resolves one component for each arch.
func lockComponent(ctx context.Context, comp *images.Component, archs []images.Arch, o resolve.Options) (*images.LockedComponent, error) {
	lc := &images.LockedComponent{Spec: images.SpecHash(comp), Sources: map[images.Arch][]*images.Source{}}
	r := comp.Resolve
	if !r.Produces() {
		for arch, list := range comp.Sources {
			for _, s := range list {
				a, err := pinListed(ctx, r, arch, s.URL, o)
				if err != nil {
					return nil, err
				}
				lc.Sources[arch] = append(lc.Sources[arch], &images.Source{URL: s.URL, SHA256: a.SHA256, Digest: a.Digest, Dest: s.Dest})
			}
		}
		return lc, nil
	}
	per := map[images.Arch][]resolve.Artifact{}
	for _, arch := range archs {
		arts, err := resolveArch(ctx, comp, arch, o)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): %w", r.Registry, arch, err)
		}
		for i := range arts {
			if arts[i].SHA256 == "" {
				sum, err := o.Pin(ctx, arts[i].URL, arts[i].Digest)
				if err != nil {
					return nil, err
				}
				arts[i].SHA256 = sum
			}
		}
		per[arch] = arts
	}
	// Identical results for several archs are stored once, under "any".
	same := len(archs) > 1
	for _, arch := range archs[1:] {
		if !sameArtifacts(per[archs[0]], per[arch]) {
			same = false
		}
	}
	for _, arch := range archs {
		key := arch
		if same {
			key = images.AnyArch
		}
		lc.Sources[key] = nil
		for _, a := range per[arch] {
			lc.Sources[key] = append(lc.Sources[key], &images.Source{URL: a.URL, SHA256: a.SHA256, Digest: a.Digest, Dest: a.Dest, Package: a.Name + "@" + a.Version})
		}
		if same {
			break
		}
	}
	return lc, nil
}

func sameArtifacts(a, b []resolve.Artifact) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].URL != b[i].URL || a[i].SHA256 != b[i].SHA256 || a[i].Dest != b[i].Dest {
			return false
		}
	}
	return true
}

// rpmArch is the RPM spelling of an arch.
func rpmArch(a images.Arch) string {
	if a == images.Arm64 {
		return "aarch64"
	}
	return "x86_64"
}

// resolveArch resolves a registry component for one arch.
func resolveArch(ctx context.Context, comp *images.Component, arch images.Arch, o resolve.Options) ([]resolve.Artifact, error) {
	r := comp.Resolve
	switch r.Registry {
	case images.RegistryNpm:
		return npm.ResolveFor(ctx, o, r.URLFor(arch), comp.Dest, npm.Platform{OS: "linux", CPU: npm.CPU(string(arch)), Libc: "glibc"}, r.Packages)
	case images.RegistryPyPI:
		return pypi.Resolve(ctx, o, r.URLFor(arch), pypi.Env{Python: r.Python, Arch: string(arch), Exclude: r.Exclude}, r.Packages)
	case images.RegistryRubyGems:
		return rubygems.Resolve(ctx, o, r.URLFor(arch), r.Ruby, r.Packages)
	case images.RegistryMaven:
		return maven.Resolve(ctx, o, r.URLFor(arch), r.Packages)
	case images.RegistryNuGet:
		return nuget.Resolve(ctx, o, r.URLFor(arch), r.Framework, r.Packages)
	case images.RegistryRPM:
		return rpm.Resolve(ctx, o, strings.ReplaceAll(r.URLFor(arch), "$basearch", rpmArch(arch)), rpmArch(arch), r.Packages, rpm.ResolveOptions{Exclude: r.Exclude})
	}
	return nil, fmt.Errorf("registry %q does not produce sources", r.Registry)
}

// pinListed pins one listed source from a checksum file or a GitHub release.
func pinListed(ctx context.Context, r *images.Resolve, arch images.Arch, url string, o resolve.Options) (resolve.Artifact, error) {
	switch r.Registry {
	case images.RegistryChecksums:
		sums := r.URLFor(arch)
		if sums == "" {
			return resolve.Artifact{}, fmt.Errorf("no checksum file for %s", arch)
		}
		return checksums.Lookup(ctx, o, sums, url)
	case images.RegistryGitHubRelease:
		return ghrelease.Lookup(ctx, o, r.URL, r.Repo, r.Tag, unescapedBase(url))
	}
	return resolve.Artifact{}, errors.New("not a pinning registry")
}

func unescapedBase(u string) string {
	b := path.Base(u)
	if s, err := url.PathUnescape(b); err == nil {
		return s
	}
	return b
}

// Row is one line of `rtbuild lock --check`.
type Row struct {
	Runtime string      `json:"runtime"`
	Arch    images.Arch `json:"arch"`
	images.PinState
}

// Check reports, per runtime and arch, each component's pin state.
func Check(cat *images.Catalog, runtimes []*images.Runtime) []Row {
	var rows []Row
	for _, r := range runtimes {
		for _, a := range r.Architectures {
			for _, key := range r.Components {
				rows = append(rows, Row{Runtime: r.Identifier, Arch: a, PinState: cat.PinStateOf(key, a)})
			}
		}
	}
	return rows
}

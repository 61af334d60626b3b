package images

import (
	"net/url"
	"testing"
)

// TestEveryComponentHasASource: every component of every runtime and
// arch says where it comes from: downloads, a registry to resolve from, or
// content shipped inside rtbuild; every registry-resolved component names
// an absolute URL for each arch it is built for.
func TestEveryComponentHasASource(t *testing.T) {
	c := mustLoad(t)
	for _, r := range c.Runtimes {
		for _, arch := range r.Architectures {
			for _, key := range r.Components {
				comp := c.Components[key]
				srcs := ComponentFor(comp, arch)
				switch {
				case len(srcs) > 0:
					for _, s := range srcs {
						if u, err := url.Parse(s.URL); err != nil || u.Scheme != "https" && u.Scheme != "http" || u.Host == "" {
							t.Errorf("%s %s %s: source %q is not an absolute URL", r.Identifier, arch, key, s.URL)
						}
					}
				case comp.Resolve.Produces():
					if u, err := url.Parse(comp.Resolve.URLFor(arch)); err != nil || u.Host == "" {
						t.Errorf("%s %s %s: resolves from %q, not an absolute URL", r.Identifier, arch, key, comp.Resolve.URLFor(arch))
					}
				case comp.Builtin != "" || comp.Content != "":
				default:
					t.Errorf("%s %s %s: no source, registry or builtin", r.Identifier, arch, key)
				}
				if comp.Resolve == nil && comp.Builtin == "" && comp.Content == "" && !pinnedEverywhere(comp) {
					// Components without publisher metadata must be explained in docs/sources.md.
					switch key {
					case "corretto11", "corretto8", "simplejson":
					default:
						t.Errorf("%s: unpinned and no resolve block: say where its digest comes from", key)
					}
				}
			}
		}
	}
}

func pinnedEverywhere(c *Component) bool {
	for _, list := range c.Sources {
		for _, s := range list {
			if s.SHA256 == "" {
				return false
			}
		}
	}
	return true
}

// TestEmbeddedLockMatchesCatalog: every entry of the shipped lock file
// matches its component (no stale entry ships), and the npm tree it holds
// gives each package its own place under the component's dest.
func TestEmbeddedLockMatchesCatalog(t *testing.T) {
	c, err := LoadWith(LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.StaleLocks) > 0 {
		t.Fatalf("stale entries in catalog.lock.yaml: %v (run `rtbuild lock -o images/catalog.lock.yaml`)", c.StaleLocks)
	}
	l, err := EmbeddedLock()
	if err != nil {
		t.Fatal(err)
	}
	sdk := l.Components["aws-sdk-js"]
	if sdk == nil {
		t.Fatal("the embedded lock does not hold aws-sdk-js")
	}
	seen := map[string]bool{}
	for _, s := range sdk.Sources[AnyArch] {
		if s.Dest == "" || seen[s.Dest] || len(s.Digest) < 10 {
			t.Errorf("aws-sdk-js source %+v: want a unique dest and the publisher's integrity", s)
		}
		seen[s.Dest] = true
	}
	if !seen["/var/runtime/node_modules/aws-sdk"] || !seen["/var/runtime/node_modules/xml2js"] {
		t.Errorf("aws-sdk-js tree lacks aws-sdk or xml2js: %v", seen)
	}
}

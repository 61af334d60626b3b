package testworld

import (
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/images"
)

// World is a running fixture upstream world.
type World struct {
	Registry  *Registry
	Artifacts *ArtifactServer
	// CatalogFile is the overlay that pins every fixture artifact's sha256 and
	// each base by its fixture digest (pass it with --catalog).
	CatalogFile string
	// Mirrors are the --mirror rules sending upstream URLs and the base
	// images' registry to the fixture servers.
	Mirrors []string
	// Expect lists, per runtime and arch, the files the image must hold.
	Expect map[string]map[images.Arch][]Expected
	// LockFile pins the sources of components a package registry produces
	// (pass it with --lock, after the overlay).
	LockFile string
	// Catalog is the catalog the world was made from: the embedded one with
	// its lock and the world's stand-in toolchains.
	Catalog *images.Catalog
}

// Start brings up the whole world: a real registry with the stand-in bases,
// the artifact server with an artifact for every source of the embedded
// catalog, and the overlay catalog file.
func Start(t testing.TB) *World {
	t.Helper()
	cat0, err := images.Load()
	if err != nil {
		t.Fatalf("loading the embedded catalog: %v", err)
	}
	// Components a package registry produces that the embedded lock does not
	// hold (the RPM toolchains) get stand-in sources: a tar.gz under
	// /var/lang, so that every runtime builds in the world.
	overlay := map[string]any{}
	components := map[string]any{}
	for key, c := range cat0.Components {
		if !c.Resolve.Produces() || len(c.Sources) > 0 {
			continue
		}
		srcs := map[string]any{}
		for _, rt := range cat0.Runtimes {
			if !slices.Contains(rt.Components, key) {
				continue
			}
			for _, a := range rt.Architectures {
				srcs[string(a)] = []any{map[string]any{"url": "https://standins.rtbuild.test/" + key + "/" + key + "-" + string(a) + ".tar.gz"}}
			}
		}
		components[key] = map[string]any{"format": "tar.gz", "strip": 1, "dest": "/var/lang", "sources": srcs}
	}
	standins := filepath.Join(t.TempDir(), "standins.yaml")
	if b, err := yaml.Marshal(map[string]any{"components": components}); err != nil {
		t.Fatal(err)
	} else if err := os.WriteFile(standins, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cat, err := images.LoadWith(images.LoadOptions{Overlays: []string{standins}})
	if err != nil {
		t.Fatalf("loading the catalog with the world's stand-ins: %v", err)
	}
	w := &World{Catalog: cat}
	w.Registry = StartRegistry(t)
	w.Artifacts = NewArtifactServer(t)
	w.Expect, err = w.Artifacts.GenerateArtifacts(cat)
	if err != nil {
		t.Fatalf("generating fixture artifacts: %v", err)
	}

	bases := map[string]any{}
	registryHosts := map[string]bool{}
	for key, b := range cat.Bases {
		ref := b.Image
		if i := strings.Index(ref, "@"); i >= 0 {
			ref = ref[:i]
		}
		host, repoTag, _ := strings.Cut(ref, "/")
		registryHosts[host] = true
		var archs []string
		for _, a := range b.Architectures {
			archs = append(archs, a.OCI())
		}
		version := "2"
		if key == "al1" {
			version = "2018.03"
		}
		d := PushBase(t, w.Registry.Host+"/"+repoTag, b.OS, version, archs...)
		bases[key] = map[string]any{"image": ref + "@" + d.String()}
	}
	overlay["bases"] = bases

	// Sources a lock produces are pinned by the world's own lock file
	// (applied after the embedded one); the rest by the overlay.
	lock := &images.Lock{Catalog: cat.Version, Components: map[string]*images.LockedComponent{}}
	for key, c := range cat.Components {
		srcs := map[string]any{}
		locked := &images.LockedComponent{Spec: images.SpecHash(c), Sources: map[images.Arch][]*images.Source{}}
		for arch, list := range c.Sources {
			var out []any
			for _, s := range list {
				a := w.Artifacts.artifacts[serverPath(s.URL)]
				if a == nil {
					continue
				}
				out = append(out, map[string]any{"url": s.URL, "sha256": a.SHA256})
				cp := *s
				cp.SHA256 = a.SHA256
				locked.Sources[arch] = append(locked.Sources[arch], &cp)
			}
			if len(out) > 0 {
				srcs[string(arch)] = out
			}
		}
		if c.Resolve.Produces() && len(locked.Sources) > 0 {
			if _, standin := components[key]; !standin {
				lock.Components[key] = locked
				continue
			}
		}
		if len(srcs) > 0 {
			m, _ := components[key].(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			m["sources"] = srcs
			components[key] = m
		}
	}
	overlay["components"] = components
	lb, err := lock.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	w.LockFile = filepath.Join(t.TempDir(), "fixture.lock.yaml")
	if err := os.WriteFile(w.LockFile, lb, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(overlay)
	if err != nil {
		t.Fatal(err)
	}
	w.CatalogFile = filepath.Join(t.TempDir(), "fixture-catalog.yaml")
	if err := os.WriteFile(w.CatalogFile, b, 0o644); err != nil {
		t.Fatal(err)
	}

	w.Mirrors = w.Artifacts.MirrorRules()
	var hosts []string
	for h := range registryHosts {
		hosts = append(hosts, h)
	}
	sort.Strings(hosts)
	for _, h := range hosts {
		w.Mirrors = append(w.Mirrors, h+"/="+w.Registry.Host+"/")
	}
	return w
}

// Args returns the --catalog and --mirror flags that point rtbuild at the world.
func (w *World) Args() []string {
	args := []string{"--catalog", w.CatalogFile, "--lock", w.LockFile}
	for _, m := range w.Mirrors {
		args = append(args, "--mirror", m)
	}
	return args
}

package testworld

import (
	"os"
	"path/filepath"
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
	// Catalog is the embedded catalog the world was made from.
	Catalog *images.Catalog
}

// Start brings up the whole world: a real registry with the stand-in bases,
// the artifact server with an artifact for every source of the embedded
// catalog, and the overlay catalog file.
func Start(t testing.TB) *World {
	t.Helper()
	cat, err := images.Load()
	if err != nil {
		t.Fatalf("loading the embedded catalog: %v", err)
	}
	w := &World{Catalog: cat}
	w.Registry = StartRegistry(t)
	w.Artifacts = NewArtifactServer(t)
	w.Expect, err = w.Artifacts.GenerateArtifacts(cat)
	if err != nil {
		t.Fatalf("generating fixture artifacts: %v", err)
	}

	overlay := map[string]any{}
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

	components := map[string]any{}
	for key, c := range cat.Components {
		srcs := map[string]any{}
		for arch, list := range c.Sources {
			var out []any
			for _, s := range list {
				a := w.Artifacts.artifacts[serverPath(s.URL)]
				if a == nil {
					continue
				}
				out = append(out, map[string]any{"url": s.URL, "sha256": a.SHA256})
			}
			if len(out) > 0 {
				srcs[string(arch)] = out
			}
		}
		if len(srcs) > 0 {
			components[key] = map[string]any{"sources": srcs}
		}
	}
	overlay["components"] = components
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
	args := []string{"--catalog", w.CatalogFile}
	for _, m := range w.Mirrors {
		args = append(args, "--mirror", m)
	}
	return args
}

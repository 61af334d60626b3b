package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/rtbuild/rtbuild/builder/sbom"
	"github.com/rtbuild/rtbuild/builder/testworld"
	"github.com/rtbuild/rtbuild/manifests"
)

// TestSBOMOfARealBuild builds a runtime image twice from the fixture world
// (two caches), checks that each platform's SPDX document is in the OCI
// layout as a referrer, validates against the SPDX 2.3 schema, names every
// component the build installed, and is the same both times; then pushes to
// the real registry (Debian's docker-registry, which has no referrers API)
// and finds the document through the fallback tag.
func TestSBOMOfARealBuild(t *testing.T) {
	w := testworld.Start(t)
	dir := t.TempDir()
	rt := "nodejs14.x"
	build := func(name string, extra ...string) *metadataT {
		md := filepath.Join(dir, name+".json")
		args := append([]string{"image", rt, "--progress", "plain", "--cache-dir", filepath.Join(dir, "cache-"+name),
			"--output", "oci:" + filepath.Join(dir, name), "--metadata-file", md}, extra...)
		mustCLI(t, dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, append(args, w.Args()...)...)
		return readMetadata(t, md)
	}
	a, b := build("a"), build("b")
	if len(a.Images) != 1 || len(a.Images[0].Platforms) == 0 {
		t.Fatalf("metadata: %+v", a.Images)
	}
	schema := compileSPDXSchema(t)
	for i, pm := range a.Images[0].Platforms {
		if pm.SBOM == "" || pm.SBOM != b.Images[0].Platforms[i].SBOM {
			t.Errorf("%s: SBOM digests %q and %q: want the same, non-empty", pm.Arch, pm.SBOM, b.Images[0].Platforms[i].SBOM)
		}
		subject, err := v1.NewHash(pm.Digest)
		if err != nil {
			t.Fatal(err)
		}
		descs, docs, err := manifests.LayoutReferrers(filepath.Join(dir, "a"), subject, sbom.MediaType)
		if err != nil {
			t.Fatal(err)
		}
		if len(descs) != 1 || descs[0].Digest.String() != pm.SBOM {
			t.Fatalf("%s: layout referrers %+v, metadata says %s", pm.Arch, descs, pm.SBOM)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(docs[0]))
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.Validate(inst); err != nil {
			t.Fatalf("%s: the SBOM does not validate: %v\n%s", pm.Arch, err, docs[0])
		}
		var doc struct {
			Created struct {
				Created string `json:"created"`
			} `json:"creationInfo"`
			Packages []struct {
				Name      string `json:"name"`
				Version   string `json:"versionInfo"`
				Download  string `json:"downloadLocation"`
				Checksums []struct {
					Value string `json:"checksumValue"`
				} `json:"checksums"`
			} `json:"packages"`
		}
		if err := json.Unmarshal(docs[0], &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Created.Created != "2023-11-14T22:13:20Z" {
			t.Errorf("created %q, want SOURCE_DATE_EPOCH's time", doc.Created.Created)
		}
		have := map[string]string{}
		for _, p := range doc.Packages {
			have[p.Name] = p.Version
			// Every artifact has its sha256 (a component of several
			// artifacts is a package that contains one package per artifact).
			if len(p.Checksums) == 0 && p.Download != "NOASSERTION" {
				t.Errorf("%s: package %s (%s) has no sha256", pm.Arch, p.Name, p.Download)
			}
		}
		for _, l := range pm.Layers {
			if l.Cache == "base" {
				continue
			}
			if v, ok := have[l.Component]; !ok || v != l.Version {
				t.Errorf("%s: SBOM has %s at %q, the build installed %s", pm.Arch, l.Component, v, l.Version)
			}
		}
	}

	// Push: the registry has no referrers API, so the fallback tag holds it.
	repo := w.Registry.Host + "/sbom/" + rt
	md := filepath.Join(dir, "push.json")
	mustCLI(t, dir, []string{"SOURCE_DATE_EPOCH=1700000000"}, append([]string{"image", rt, "--progress", "plain",
		"--cache-dir", filepath.Join(dir, "cache-a"), "--push", repo + ":v1", "--metadata-file", md}, w.Args()...)...)
	pushed := readMetadata(t, md)
	opts := manifests.RegistryOptions{Keychain: authn.NewMultiKeychain()}
	for _, pm := range pushed.Images[0].Platforms {
		subject, _ := v1.NewHash(pm.Digest)
		resp, err := http.Get("http://" + w.Registry.Host + "/v2/sbom/" + rt + "/referrers/" + pm.Digest)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("the registry answers the referrers API (%d): this test means to use the fallback tag", resp.StatusCode)
		}
		if n := w.Registry.CountRequests("PUT", "/manifests/sha256-"+subject.Hex); n == 0 {
			t.Errorf("%s: the fallback tag sha256-%s was not written", pm.Arch, subject.Hex)
		}
		descs, err := manifests.Referrers(context.Background(), repo+":v1", subject, sbom.MediaType, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(descs) != 1 || descs[0].Digest.String() != pm.SBOM {
			t.Fatalf("%s: registry referrers %+v, metadata says %s", pm.Arch, descs, pm.SBOM)
		}
		for _, lm := range a.Images[0].Platforms {
			if lm.Arch == pm.Arch && lm.SBOM != pm.SBOM {
				t.Errorf("%s: the pushed image's SBOM %s differs from the layout's %s", pm.Arch, pm.SBOM, lm.SBOM)
			}
		}
	}

	// --sbom=false: no referrer, no digest in the metadata.
	c := build("c", "--sbom=false")
	for _, pm := range c.Images[0].Platforms {
		subject, _ := v1.NewHash(pm.Digest)
		descs, _, err := manifests.LayoutReferrers(filepath.Join(dir, "c"), subject, "")
		if err != nil || len(descs) != 0 || pm.SBOM != "" {
			t.Errorf("--sbom=false: %s has referrers %+v (%v), metadata sbom %q", pm.Arch, descs, err, pm.SBOM)
		}
	}
}

func compileSPDXSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "builder", "sbom", "testdata", "spdx-schema-2.3.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("spdx-schema-2.3.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSBOMOfAFunction builds a function image on a runtime and checks its
// SBOM: the runtime's components, then the function's code, by the sha256
// of its layer's tar.
func TestSBOMOfAFunction(t *testing.T) {
	w := testworld.Start(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "app.js"), []byte("exports.handler = async () => 'ok'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	md := filepath.Join(dir, "md.json")
	out := filepath.Join(dir, "out")
	mustCLI(t, dir, nil, append([]string{"function", "--runtime", "nodejs14.x", "--handler", "app.handler", "--src", src,
		"--arch", "x86_64", "--cache-dir", filepath.Join(dir, "cache"), "--output", "oci:" + out, "--metadata-file", md}, w.Args()...)...)
	pm := readMetadata(t, md).Images[0].Platforms[0]
	subject, _ := v1.NewHash(pm.Digest)
	descs, docs, err := manifests.LayoutReferrers(out, subject, sbom.MediaType)
	if err != nil || len(descs) != 1 || descs[0].Digest.String() != pm.SBOM {
		t.Fatalf("layout referrers %+v (%v), metadata says %s", descs, err, pm.SBOM)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(docs[0]))
	if err != nil {
		t.Fatal(err)
	}
	if err := compileSPDXSchema(t).Validate(inst); err != nil {
		t.Fatalf("the SBOM does not validate: %v", err)
	}
	var doc struct {
		Packages []struct {
			Name      string `json:"name"`
			Checksums []struct {
				Value string `json:"checksumValue"`
			} `json:"checksums"`
		} `json:"packages"`
	}
	if err := json.Unmarshal(docs[0], &doc); err != nil {
		t.Fatal(err)
	}
	sums := map[string]string{}
	for _, p := range doc.Packages {
		if len(p.Checksums) > 0 {
			sums[p.Name] = p.Checksums[0].Value
		} else {
			sums[p.Name] = ""
		}
	}
	for _, l := range pm.Layers {
		if l.Cache == "base" {
			continue
		}
		got, ok := sums[l.Component]
		if !ok {
			t.Errorf("the SBOM lacks %s", l.Component)
		}
		if l.Component == "function-code" && got != l.DiffID.Hex {
			t.Errorf("function-code sha256 %s, want its layer's diffID %s", got, l.DiffID.Hex)
		}
	}
	if _, ok := sums["function-code"]; !ok {
		t.Errorf("no function-code package: %v", sums)
	}
}

package sbom

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// validate checks doc against the SPDX 2.3 JSON schema in testdata.
func validate(t *testing.T, doc []byte) {
	t.Helper()
	if err := schemaError(t, doc); err != nil {
		t.Fatalf("the document does not validate against the SPDX 2.3 schema: %v\n%s", err, doc)
	}
}

// schemaError validates doc against the SPDX 2.3 JSON schema in testdata.
func schemaError(t *testing.T, doc []byte) error {
	t.Helper()
	f, err := os.Open("testdata/spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schema, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("spdx-schema-2.3.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func hash(t *testing.T, s string) v1.Hash {
	t.Helper()
	h, err := v1.NewHash("sha256:" + strings.Repeat(s, 64/len(s)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func testImage(t *testing.T) Image {
	return Image{
		Name: "python3.9", Version: "2026.11.27", Digest: hash(t, "ab"), Arch: "arm64",
		Created: time.Unix(1700000000, 0), Tool: "rtbuild-test",
		Base: &Base{Name: "Amazon Linux 2", Ref: "public.ecr.aws/amazonlinux/amazonlinux:2", Digest: hash(t, "cd")},
		Components: []Component{
			{Name: "python39", Version: "3.9.18", License: "PSF-2.0", Description: "CPython",
				Artifacts: []Artifact{{URL: "https://github.com/astral-sh/python-build-standalone/releases/download/20240224/cpython-3.9.18%2B20240224-aarch64-unknown-linux-gnu-install_only.tar.gz", SHA256: strings.Repeat("1", 64)}}},
			{Name: "boto3-py3", Version: "1.18.55", License: "Apache-2.0", Artifacts: []Artifact{
				{URL: "https://files.pythonhosted.org/packages/py3/b/boto3/boto3-1.18.55-py3-none-any.whl", SHA256: strings.Repeat("2", 64)},
				{URL: "https://files.pythonhosted.org/packages/py2.py3/p/python-dateutil/python_dateutil-2.8.2-py2.py3-none-any.whl", SHA256: strings.Repeat("3", 64)},
				{URL: "https://files.pythonhosted.org/packages/source/s/simplejson/simplejson-3.17.2.tar.gz"},
			}},
			{Name: "ric-python", Version: "2.0.4", Artifacts: []Artifact{{URL: "https://files.pythonhosted.org/packages/cp39/a/awslambdaric/awslambdaric-2.0.4-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", SHA256: strings.Repeat("4", 64)}}},
			{Name: "bootstrap", Version: "1", Content: []byte("#!/bin/sh\n"), Comment: "written by rtbuild"},
		},
	}
}

// spdxDoc is the part of a document the tests read.
type spdxDoc struct {
	SPDXVersion       string `json:"spdxVersion"`
	DocumentNamespace string `json:"documentNamespace"`
	CreationInfo      struct {
		Created  string   `json:"created"`
		Creators []string `json:"creators"`
	} `json:"creationInfo"`
	Packages []struct {
		SPDXID           string `json:"SPDXID"`
		Name             string `json:"name"`
		Version          string `json:"versionInfo"`
		DownloadLocation string `json:"downloadLocation"`
		LicenseDeclared  string `json:"licenseDeclared"`
		Supplier         string `json:"supplier"`
		Checksums        []struct {
			Algorithm string `json:"algorithm"`
			Value     string `json:"checksumValue"`
		} `json:"checksums"`
		ExternalRefs []struct {
			Type    string `json:"referenceType"`
			Locator string `json:"referenceLocator"`
		} `json:"externalRefs"`
	} `json:"packages"`
	Relationships []struct {
		A    string `json:"spdxElementId"`
		Type string `json:"relationshipType"`
		B    string `json:"relatedSpdxElement"`
	} `json:"relationships"`
}

func TestDocumentValidatesAndSaysWhatWasInstalled(t *testing.T) {
	b, err := Marshal(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	validate(t, b)
	var d spdxDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.SPDXVersion != "SPDX-2.3" || d.CreationInfo.Created != "2023-11-14T22:13:20Z" || d.CreationInfo.Creators[0] != "Tool: rtbuild-test" {
		t.Errorf("header: %+v", d)
	}
	if want := NamespacePrefix + "python3.9/sha256-" + strings.Repeat("ab", 32); d.DocumentNamespace != want {
		t.Errorf("namespace %s, want %s", d.DocumentNamespace, want)
	}
	type pkg struct{ name, version, purl, sum, dl, lic string }
	byName := map[string]pkg{}
	ids := map[string]string{}
	for _, p := range d.Packages {
		q := pkg{name: p.Name, version: p.Version, dl: p.DownloadLocation, lic: p.LicenseDeclared}
		if len(p.ExternalRefs) > 0 {
			q.purl = p.ExternalRefs[0].Locator
		}
		if len(p.Checksums) > 0 {
			q.sum = p.Checksums[0].Value
		}
		if p.Supplier != "NOASSERTION" {
			t.Errorf("%s: supplier %q", p.Name, p.Supplier)
		}
		byName[p.Name] = q
		ids[p.SPDXID] = p.Name
	}
	for _, want := range []pkg{
		{"python3.9", "2026.11.27", "pkg:oci/python3.9@sha256:" + strings.Repeat("ab", 32) + "?arch=arm64", strings.Repeat("ab", 32), "NOASSERTION", "NOASSERTION"},
		{"Amazon Linux 2", "2", "pkg:oci/amazonlinux@sha256:" + strings.Repeat("cd", 32) + "?arch=arm64&repository_url=public.ecr.aws%2Famazonlinux%2Famazonlinux&tag=2", strings.Repeat("cd", 32), "NOASSERTION", "NOASSERTION"},
		{"python39", "3.9.18", "pkg:generic/python39@3.9.18?download_url=https:%2F%2Fgithub.com%2Fastral-sh%2Fpython-build-standalone%2Freleases%2Fdownload%2F20240224%2Fcpython-3.9.18%252B20240224-aarch64-unknown-linux-gnu-install_only.tar.gz", strings.Repeat("1", 64), "https://github.com/astral-sh/python-build-standalone/releases/download/20240224/cpython-3.9.18%2B20240224-aarch64-unknown-linux-gnu-install_only.tar.gz", "PSF-2.0"},
		{"boto3-py3", "1.18.55", "pkg:generic/boto3-py3@1.18.55", "", "NOASSERTION", "Apache-2.0"},
		{"boto3", "1.18.55", "pkg:pypi/boto3@1.18.55", strings.Repeat("2", 64), "https://files.pythonhosted.org/packages/py3/b/boto3/boto3-1.18.55-py3-none-any.whl", "NOASSERTION"},
		{"python-dateutil", "2.8.2", "pkg:pypi/python-dateutil@2.8.2", strings.Repeat("3", 64), "https://files.pythonhosted.org/packages/py2.py3/p/python-dateutil/python_dateutil-2.8.2-py2.py3-none-any.whl", "NOASSERTION"},
		{"simplejson", "3.17.2", "pkg:pypi/simplejson@3.17.2", "", "https://files.pythonhosted.org/packages/source/s/simplejson/simplejson-3.17.2.tar.gz", "NOASSERTION"},
		{"ric-python", "2.0.4", "pkg:pypi/awslambdaric@2.0.4", strings.Repeat("4", 64), "https://files.pythonhosted.org/packages/cp39/a/awslambdaric/awslambdaric-2.0.4-cp39-cp39-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", "NOASSERTION"},
		{"bootstrap", "1", "pkg:generic/bootstrap@1", "b00d2a8d8e8c98ec7d08a9cd4b6d4f8e8f2d0fdcd3f29f0d5c87a6ad25e28c28", "NONE", "NOASSERTION"},
	} {
		got, ok := byName[want.name]
		if !ok {
			t.Errorf("no package %s", want.name)
			continue
		}
		if want.name == "bootstrap" {
			want.sum = got.sum // checked below
		}
		if got != want {
			t.Errorf("package %s:\n got %+v\nwant %+v", want.name, got, want)
		}
	}
	if len(byName["bootstrap"].sum) != 64 {
		t.Errorf("bootstrap has no sha256: %+v", byName["bootstrap"])
	}
	var rels []string
	for _, r := range d.Relationships {
		rels = append(rels, ids[r.A]+" "+r.Type+" "+ids[r.B])
	}
	want := []string{
		" DESCRIBES python3.9", // SPDXRef-DOCUMENT is no package
		"python3.9 CONTAINS Amazon Linux 2",
		"python3.9 CONTAINS python39",
		"python3.9 CONTAINS boto3-py3",
		"boto3-py3 CONTAINS boto3", "boto3-py3 CONTAINS python-dateutil", "boto3-py3 CONTAINS simplejson",
		"python3.9 CONTAINS ric-python",
		"python3.9 CONTAINS bootstrap",
	}
	if strings.Join(rels, "\n") != strings.Join(want, "\n") {
		t.Errorf("relationships:\n%s\nwant:\n%s", strings.Join(rels, "\n"), strings.Join(want, "\n"))
	}
	if d.Relationships[0].A != "SPDXRef-DOCUMENT" {
		t.Errorf("first relationship from %s", d.Relationships[0].A)
	}
}

func TestDocumentIsReproducible(t *testing.T) {
	a, err := Marshal(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Marshal(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two documents of the same image differ")
	}
	other := testImage(t)
	other.Digest = hash(t, "ef")
	c, err := Marshal(other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("documents of two images are equal")
	}
}

func TestInvalidDocumentIsRejectedBySchema(t *testing.T) {
	// The schema check must be able to fail: a package without a name.
	b, err := Marshal(testImage(t))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m["packages"].([]any)[0].(map[string]any), "name")
	bad, _ := json.Marshal(m)
	if err := schemaError(t, bad); err == nil {
		t.Fatal("a document without a package name validated")
	}
}

func TestArtifactPURL(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"https://registry.npmjs.org/aws-sdk/-/aws-sdk-2.1001.0.tgz", "pkg:npm/aws-sdk@2.1001.0"},
		{"http://127.0.0.1:4567/npm/@aws/lambda-ric/-/lambda-ric-1.0.0.tgz", "pkg:npm/%40aws/lambda-ric@1.0.0"},
		{"https://files.pythonhosted.org/packages/py2.py3/s/six/six-1.16.0-py2.py3-none-any.whl", "pkg:pypi/six@1.16.0"},
		{"https://rubygems.org/downloads/aws_lambda_ric-2.0.0.gem", "pkg:gem/aws_lambda_ric@2.0.0"},
		{"https://rubygems.org/downloads/aws-sdk-core-3.113.0.gem", "pkg:gem/aws-sdk-core@3.113.0"},
		{"https://repo1.maven.org/maven2/com/amazonaws/aws-lambda-java-core/1.2.1/aws-lambda-java-core-1.2.1.jar", "pkg:maven/com.amazonaws/aws-lambda-java-core@1.2.1"},
		{"https://api.nuget.org/v3-flatcontainer/amazon.lambda.core/2.1.0/amazon.lambda.core.2.1.0.nupkg", "pkg:nuget/amazon.lambda.core@2.1.0"},
		{"https://nodejs.org/dist/v14.21.3/node-v14.21.3-linux-x64.tar.xz", "pkg:generic/nodejs14@14.21.3?download_url=https:%2F%2Fnodejs.org%2Fdist%2Fv14.21.3%2Fnode-v14.21.3-linux-x64.tar.xz"},
	} {
		if got := ArtifactPURL(tc.url, "nodejs14", "14.21.3"); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.url, got, tc.want)
		}
	}
}

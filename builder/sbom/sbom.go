// Package sbom writes the SPDX 2.3 JSON document of one single-platform
// image from what rtbuild itself put in it: the base image (a package with
// its digest) and every component with its version, package URL, download
// location(s), the sha256 of each artifact and the licence the catalog
// declares. Nothing is scanned: the document says what the build
// installed, and only that.
//
// The document is reproducible: its creation time is the build's
// SOURCE_DATE_EPOCH, its namespace is derived from the image's digest, and
// packages and relationships are in the image's layer order. The same
// image therefore always gets the same document, byte for byte.
//
// Package model: the document DESCRIBES the image (a CONTAINER package);
// the image CONTAINS the base and each component. A component made of one
// artifact is one package (purl, download location and checksum of that
// artifact). A component made of several artifacts (an SDK and its
// dependencies) is a package that CONTAINS one package per artifact.
// Content rtbuild generates itself (bootstrap and entrypoint scripts) is a
// package with download location NONE and the sha256 of the content.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	spdx "github.com/spdx/tools-golang/spdx/v2/v2_3"
)

// MediaType is the media type of an SPDX JSON document, used as the
// artifactType of the OCI artifact that carries it.
const MediaType = "application/spdx+json"

// NamespacePrefix starts every document namespace; the image's name and
// digest follow.
const NamespacePrefix = "https://github.com/rtbuild/rtbuild/spdx/"

// Image describes one single-platform image.
type Image struct {
	// Name is the image's name: the runtime identifier, or the function's.
	Name string
	// Version is the catalog version the image was built from.
	Version string
	// Digest is the image manifest's digest.
	Digest v1.Hash
	// Arch is the OCI architecture (amd64, arm64).
	Arch string
	// Created is the build's SOURCE_DATE_EPOCH.
	Created time.Time
	// Tool names the creator tool and its version ("rtbuild-1.2.3").
	Tool string
	// Base is the image it was built on (nil: none).
	Base *Base
	// Components are what rtbuild installed, bottom layer first.
	Components []Component
}

// Base is the base image.
type Base struct {
	// Name is a human name ("Amazon Linux 2"); empty: from Ref.
	Name string
	// Ref is the reference as the catalog or the user gave it (before
	// mirror rewriting).
	Ref string
	// Digest is what Ref resolved to.
	Digest v1.Hash
}

// Component is one component: one layer of the image.
type Component struct {
	Name        string
	Version     string
	Description string
	// License is the SPDX license expression the catalog declares; empty:
	// NOASSERTION.
	License string
	// Artifacts are the downloaded artifacts the layer was made of.
	Artifacts []Artifact
	// Content, for a component without artifacts, is what rtbuild wrote
	// (a builtin or inline file, a builtin tree); its sha256 is recorded.
	Content []byte
	// SHA256, for a component without artifacts and Content, is the hex
	// sha256 of what it was made of (a function's code: its layer's tar).
	SHA256 string
	// Comment says where the component came from when it has no artifact.
	Comment string
}

// Artifact is one downloaded artifact.
type Artifact struct {
	URL string
	// SHA256 is the artifact's hex digest; empty when unknown.
	SHA256 string
}

// Generate returns the SPDX document of img.
func Generate(img Image) (*spdx.Document, error) {
	if img.Digest.Hex == "" {
		return nil, fmt.Errorf("sbom of %s: no image digest", img.Name)
	}
	tool := img.Tool
	if tool == "" {
		tool = "rtbuild"
	}
	name := img.Name
	if img.Arch != "" {
		name += " (linux/" + img.Arch + ")"
	}
	doc := &spdx.Document{
		SPDXVersion:       spdx.Version,
		DataLicense:       spdx.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      name,
		DocumentNamespace: NamespacePrefix + url.PathEscape(img.Name) + "/" + img.Digest.Algorithm + "-" + img.Digest.Hex,
		CreationInfo: &spdx.CreationInfo{
			Creators: []common.Creator{{CreatorType: "Tool", Creator: tool}},
			Created:  img.Created.UTC().Format(time.RFC3339),
		},
	}
	ids := newIDs()
	imageID := ids.id("Image-" + img.Name)
	imagePkg := &spdx.Package{
		PackageName:             img.Name,
		PackageSPDXIdentifier:   imageID,
		PackageVersion:          img.Version,
		PackageSupplier:         noSupplier(),
		PackageOriginator:       noOriginator(),
		PackageDownloadLocation: "NOASSERTION",
		PackageChecksums:        []common.Checksum{{Algorithm: common.SHA256, Value: img.Digest.Hex}},
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  "NOASSERTION",
		PackageCopyrightText:    "NOASSERTION",
		PackageExternalReferences: []*spdx.PackageExternalReference{
			purlRef(ociPURL(img.Name, img.Digest.String(), map[string]string{"arch": img.Arch})),
		},
		PrimaryPackagePurpose: "CONTAINER",
	}
	doc.Packages = append(doc.Packages, imagePkg)
	rel := func(a common.ElementID, typ string, b common.ElementID) {
		doc.Relationships = append(doc.Relationships, &spdx.Relationship{
			RefA: common.MakeDocElementID("", string(a)), RefB: common.MakeDocElementID("", string(b)), Relationship: typ,
		})
	}
	rel("DOCUMENT", common.TypeRelationshipDescribe, imageID)

	if b := img.Base; b != nil {
		bname := b.Name
		if bname == "" {
			bname = b.Ref
		}
		p := &spdx.Package{
			PackageName:             bname,
			PackageSPDXIdentifier:   ids.id("Base-" + bname),
			PackageVersion:          refTag(b.Ref),
			PackageSupplier:         noSupplier(),
			PackageOriginator:       noOriginator(),
			PackageDownloadLocation: "NOASSERTION",
			PackageLicenseConcluded: "NOASSERTION",
			PackageLicenseDeclared:  "NOASSERTION",
			PackageCopyrightText:    "NOASSERTION",
			PackageComment:          "the base image " + b.Ref,
			PrimaryPackagePurpose:   "CONTAINER",
		}
		if b.Digest.Hex != "" {
			p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: b.Digest.Hex}}
			p.PackageExternalReferences = []*spdx.PackageExternalReference{purlRef(OCIPURL(b.Ref, b.Digest.String(), img.Arch))}
		}
		doc.Packages = append(doc.Packages, p)
		rel(imageID, common.TypeRelationshipContains, p.PackageSPDXIdentifier)
	}

	for _, c := range img.Components {
		p := componentPackage(c, ids.id("Component-"+c.Name))
		doc.Packages = append(doc.Packages, p)
		rel(imageID, common.TypeRelationshipContains, p.PackageSPDXIdentifier)
		switch len(c.Artifacts) {
		case 0:
			p.PackageDownloadLocation = "NONE"
			p.PackageExternalReferences = []*spdx.PackageExternalReference{purlRef(genericPURL(c.Name, c.Version, ""))}
			sum := c.SHA256
			if c.Content != nil {
				s := sha256.Sum256(c.Content)
				sum = hex.EncodeToString(s[:])
			}
			if sum != "" {
				p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: sum}}
			}
			p.PackageComment = c.Comment
		case 1:
			a := c.Artifacts[0]
			setArtifact(p, a, ArtifactPURL(a.URL, c.Name, c.Version))
		default:
			// The component groups its artifacts: each is a package of its own.
			p.PackageExternalReferences = []*spdx.PackageExternalReference{purlRef(genericPURL(c.Name, c.Version, ""))}
			for i, a := range c.Artifacts {
				file := path.Base(a.URL)
				if u, err := url.Parse(a.URL); err == nil {
					file = path.Base(u.Path)
				}
				ap := &spdx.Package{
					PackageName:             artifactName(a.URL, file),
					PackageSPDXIdentifier:   ids.id(fmt.Sprintf("Artifact-%s-%d", c.Name, i+1)),
					PackageVersion:          artifactVersion(a.URL),
					PackageFileName:         file,
					PackageSupplier:         noSupplier(),
					PackageOriginator:       noOriginator(),
					PackageLicenseConcluded: "NOASSERTION",
					PackageLicenseDeclared:  "NOASSERTION",
					PackageCopyrightText:    "NOASSERTION",
					PrimaryPackagePurpose:   "LIBRARY",
				}
				setArtifact(ap, a, ArtifactPURL(a.URL, strings.TrimSuffix(file, path.Ext(file)), ""))
				doc.Packages = append(doc.Packages, ap)
				rel(p.PackageSPDXIdentifier, common.TypeRelationshipContains, ap.PackageSPDXIdentifier)
			}
		}
	}
	return doc, nil
}

// JSON is the document as written: indented JSON ending in a newline.
func JSON(doc *spdx.Document) ([]byte, error) {
	var buf bytes.Buffer
	if err := spdxjson.Write(doc, &buf, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return nil, fmt.Errorf("encoding the SPDX document: %w", err)
	}
	return buf.Bytes(), nil
}

// Marshal generates img's document and returns it as JSON.
func Marshal(img Image) ([]byte, error) {
	doc, err := Generate(img)
	if err != nil {
		return nil, err
	}
	return JSON(doc)
}

func componentPackage(c Component, id common.ElementID) *spdx.Package {
	lic := c.License
	if lic == "" {
		lic = "NOASSERTION"
	}
	return &spdx.Package{
		PackageName:             c.Name,
		PackageSPDXIdentifier:   id,
		PackageVersion:          c.Version,
		PackageSupplier:         noSupplier(),
		PackageOriginator:       noOriginator(),
		PackageDownloadLocation: "NOASSERTION",
		PackageLicenseConcluded: "NOASSERTION",
		PackageLicenseDeclared:  lic,
		PackageCopyrightText:    "NOASSERTION",
		PackageDescription:      c.Description,
		PrimaryPackagePurpose:   "LIBRARY",
	}
}

// setArtifact records a's download location, checksum and purl on p.
func setArtifact(p *spdx.Package, a Artifact, purl string) {
	p.PackageDownloadLocation = a.URL
	if a.SHA256 != "" {
		p.PackageChecksums = []common.Checksum{{Algorithm: common.SHA256, Value: strings.ToLower(a.SHA256)}}
	}
	p.PackageExternalReferences = []*spdx.PackageExternalReference{purlRef(purl)}
}

// artifactName is the package name in an artifact's purl, or its file name.
func artifactName(rawURL, file string) string {
	if p, ok := ecosystemPURL(rawURL); ok {
		if n, _, ok := purlNameVersion(p); ok {
			return n
		}
	}
	return file
}

// artifactVersion is the version in an artifact's purl, or "".
func artifactVersion(rawURL string) string {
	if p, ok := ecosystemPURL(rawURL); ok {
		if _, v, ok := purlNameVersion(p); ok {
			return v
		}
	}
	return ""
}

func purlNameVersion(p string) (string, string, bool) {
	rest, _, _ := strings.Cut(strings.TrimPrefix(p, "pkg:"), "?")
	i := strings.LastIndex(rest, "@")
	if i < 0 {
		return "", "", false
	}
	nameV, err := url.PathUnescape(rest[i+1:])
	if err != nil {
		return "", "", false
	}
	segs := strings.Split(rest[:i], "/")
	name, err := url.PathUnescape(segs[len(segs)-1])
	if err != nil {
		return "", "", false
	}
	return name, nameV, true
}

func purlRef(p string) *spdx.PackageExternalReference {
	return &spdx.PackageExternalReference{Category: common.CategoryPackageManager, RefType: common.TypePackageManagerPURL, Locator: p}
}

func noSupplier() *common.Supplier { return &common.Supplier{Supplier: "NOASSERTION"} }
func noOriginator() *common.Originator {
	return &common.Originator{Originator: "NOASSERTION"}
}

// refTag returns the tag of a registry reference, or "".
func refTag(ref string) string {
	if strings.Contains(ref, ":") && (strings.HasPrefix(ref, "oci:") || strings.HasPrefix(ref, "docker:") || strings.HasPrefix(ref, "rtbuild:")) {
		return ""
	}
	r := ref
	if i := strings.Index(r, "@"); i >= 0 {
		r = r[:i]
	}
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		return r[i+1:]
	}
	return ""
}

// idChars are the characters an SPDX identifier may not hold.
var idChars = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// ids makes SPDX element identifiers unique within a document.
type ids struct{ seen map[string]int }

func newIDs() *ids { return &ids{seen: map[string]int{}} }

func (s *ids) id(name string) common.ElementID {
	id := idChars.ReplaceAllString(name, "-")
	s.seen[id]++
	if n := s.seen[id]; n > 1 {
		id = fmt.Sprintf("%s-%d", id, n)
	}
	return common.ElementID(id)
}

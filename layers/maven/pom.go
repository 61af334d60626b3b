package maven

import (
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// pom is the part of a POM the resolver reads.
type pom struct {
	GroupID    string `xml:"groupId"`
	ArtifactID string `xml:"artifactId"`
	Version    string `xml:"version"`
	Packaging  string `xml:"packaging"`
	Parent     *struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
		Version    string `xml:"version"`
	} `xml:"parent"`
	Properties           properties   `xml:"properties"`
	Dependencies         []dependency `xml:"dependencies>dependency"`
	DependencyManagement []dependency `xml:"dependencyManagement>dependencies>dependency"`
}

type dependency struct {
	GroupID    string `xml:"groupId"`
	ArtifactID string `xml:"artifactId"`
	Version    string `xml:"version"`
	Type       string `xml:"type"`
	Classifier string `xml:"classifier"`
	Scope      string `xml:"scope"`
	Optional   string `xml:"optional"`
	Exclusions []struct {
		GroupID    string `xml:"groupId"`
		ArtifactID string `xml:"artifactId"`
	} `xml:"exclusions>exclusion"`
}

// properties is a POM's <properties>: arbitrary element names.
type properties map[string]string

func (p *properties) UnmarshalXML(d *xml.Decoder, start xml.StartElement) error {
	*p = properties{}
	for {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			var v string
			if err := d.DecodeElement(&v, &t); err != nil {
				return err
			}
			(*p)[t.Name.Local] = strings.TrimSpace(v)
		case xml.EndElement:
			return nil
		}
	}
}

func parsePOM(data []byte) (*pom, error) {
	var p pom
	if err := xml.Unmarshal(data, &p); err != nil {
		return nil, fmt.Errorf("parsing POM: %w", err)
	}
	trim := func(s *string) { *s = strings.TrimSpace(*s) }
	trim(&p.GroupID)
	trim(&p.ArtifactID)
	trim(&p.Version)
	trim(&p.Packaging)
	if p.Parent != nil {
		trim(&p.Parent.GroupID)
		trim(&p.Parent.ArtifactID)
		trim(&p.Parent.Version)
	}
	for _, list := range [][]dependency{p.Dependencies, p.DependencyManagement} {
		for i := range list {
			d := &list[i]
			for _, s := range []*string{&d.GroupID, &d.ArtifactID, &d.Version, &d.Type, &d.Classifier, &d.Scope, &d.Optional} {
				trim(s)
			}
		}
	}
	return &p, nil
}

// model is a POM with its parents applied: coordinates inherited,
// properties merged (child wins), dependency management merged (child
// wins, import-scoped BOMs expanded) and every value interpolated.
type model struct {
	GroupID, ArtifactID, Version, Packaging string
	Dependencies                            []dependency
	// Managed maps "group:artifact:type:classifier" to the managed entry.
	Managed map[string]dependency
}

func mgmtKey(d dependency) string {
	t := d.Type
	if t == "" {
		t = "jar"
	}
	return d.GroupID + ":" + d.ArtifactID + ":" + t + ":" + d.Classifier
}

var propRef = regexp.MustCompile(`\$\{([^}]+)\}`)

// interpolate replaces ${name} from props, repeatedly for values that refer
// to other properties; an unknown reference is left as is (and caught where
// the value must be concrete).
func interpolate(s string, props map[string]string) string {
	for range 10 {
		if !strings.Contains(s, "${") {
			return s
		}
		next := propRef.ReplaceAllStringFunc(s, func(m string) string {
			if v, ok := props[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		})
		if next == s {
			return s
		}
		s = next
	}
	return s
}

// Package inspect describes a runtime image rtbuild built (or any OCI or
// Docker image): its platforms, and per platform each layer with the
// component and version it holds, the image config, and the runtime it
// was built for with that runtime's SDK and support status from the catalog.
//
// Components are read from the history entries rtbuild writes, one per
// component layer, whose CreatedBy is "rtbuild: <component> <version>
// (<kind>)". History entries are matched to layers from the top of the
// image down (rtbuild's layers are the last ones); layers without such an
// entry are reported as component "base".
package inspect

import (
	"fmt"
	"regexp"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// BaseComponent names layers that rtbuild did not add.
const BaseComponent = "base"

// Report is the description of one image reference.
type Report struct {
	Ref       string     `json:"ref"`
	Digest    string     `json:"digest"`
	MediaType string     `json:"mediaType"`
	Platforms []Platform `json:"platforms"`
}

// Platform is one platform's image.
type Platform struct {
	Platform    string            `json:"platform"` // os/arch[/variant]
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"` // sum of the compressed layer sizes
	Layers      []Layer           `json:"layers"`
	Config      Config            `json:"config"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Runtime     *Runtime          `json:"runtime"` // nil: no rtbuild.runtime label or annotation
}

// Layer is one layer of a platform's image.
type Layer struct {
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
	MediaType string `json:"mediaType"`
	Component string `json:"component"`         // BaseComponent for layers rtbuild did not add
	Version   string `json:"version,omitempty"` // empty for base layers
	Kind      string `json:"kind,omitempty"`    // the component's kind (rpm, archive, file, ...)
}

// Config is the part of the image config rtbuild sets.
type Config struct {
	Env        []string          `json:"env"`
	Entrypoint []string          `json:"entrypoint"`
	Cmd        []string          `json:"cmd"`
	WorkingDir string            `json:"workingDir"`
	Labels     map[string]string `json:"labels"`
}

// Runtime is the runtime an image was built for, as the catalog knows it.
type Runtime struct {
	Identifier string        `json:"identifier"`
	InCatalog  bool          `json:"inCatalog"`
	Name       string        `json:"name,omitempty"`
	SDK        string        `json:"sdk,omitempty"`
	Status     images.Status `json:"status,omitempty"`
	Phase1     *string       `json:"deprecationPhase1"`
	Phase2     *string       `json:"deprecationPhase2"`
}

// StatusText is the support status as one phrase, for tables.
func (r *Runtime) StatusText() string {
	switch {
	case !r.InCatalog:
		return "not in the catalog"
	case r.Status == images.DeprecatedPhase1 && r.Phase1 != nil:
		return "deprecated phase 1 (since " + *r.Phase1 + ")"
	case r.Status == images.DeprecatedPhase2 && r.Phase2 != nil:
		return "deprecated phase 2 (since " + *r.Phase2 + ")"
	}
	return string(r.Status)
}

// historyRE matches the CreatedBy of the history entries rtbuild writes.
var historyRE = regexp.MustCompile(`^rtbuild: (\S+) (\S+) \(([^)]*)\)$`)

// Inspect describes res. cat (may be nil) supplies the runtime's SDK and
// support status on day.
func Inspect(res *manifests.Resolved, cat *images.Catalog, day time.Time) (*Report, error) {
	rep := &Report{Ref: res.Ref, Digest: res.Digest.String()}
	if res.Image != nil {
		mt, err := res.Image.MediaType()
		if err != nil {
			return nil, err
		}
		rep.MediaType = string(mt)
		p, err := inspectImage(res.Image, nil, res.Digest, cat, day)
		if err != nil {
			return nil, err
		}
		rep.Platforms = append(rep.Platforms, *p)
		return rep, nil
	}
	if res.Index == nil {
		return nil, fmt.Errorf("%s: neither an image nor an index", res.Ref)
	}
	mt, err := res.Index.MediaType()
	if err != nil {
		return nil, err
	}
	rep.MediaType = string(mt)
	im, err := res.Index.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the index: %w", res.Ref, err)
	}
	for _, d := range im.Manifests {
		if !d.MediaType.IsImage() {
			continue // nested indexes, artifacts
		}
		img, err := res.Index.Image(d.Digest)
		if err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %w", res.Ref, d.Digest, err)
		}
		p, err := inspectImage(img, d.Platform, d.Digest, cat, day)
		if err != nil {
			return nil, fmt.Errorf("%s: manifest %s: %w", res.Ref, d.Digest, err)
		}
		p.Annotations = mergeAnnotations(d.Annotations, p.Annotations)
		rep.Platforms = append(rep.Platforms, *p)
	}
	return rep, nil
}

func inspectImage(img v1.Image, plat *v1.Platform, digest v1.Hash, cat *images.Catalog, day time.Time) (*Platform, error) {
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading the config: %w", err)
	}
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading the manifest: %w", err)
	}
	if plat == nil {
		plat = cf.Platform()
	}
	p := &Platform{Digest: digest.String(), Annotations: m.Annotations}
	if plat != nil {
		p.Platform = platformString(*plat)
	}
	p.Config = Config{
		Env: cf.Config.Env, Entrypoint: cf.Config.Entrypoint, Cmd: cf.Config.Cmd,
		WorkingDir: cf.Config.WorkingDir, Labels: cf.Config.Labels,
	}
	// History entries that created a layer, matched from the top down.
	var hist []v1.History
	for _, h := range cf.History {
		if !h.EmptyLayer {
			hist = append(hist, h)
		}
	}
	off := len(hist) - len(m.Layers)
	for i, l := range m.Layers {
		ly := Layer{Digest: l.Digest.String(), Size: l.Size, MediaType: string(l.MediaType), Component: BaseComponent}
		if j := i + off; j >= 0 && j < len(hist) {
			if sm := historyRE.FindStringSubmatch(hist[j].CreatedBy); sm != nil {
				ly.Component, ly.Version, ly.Kind = sm[1], sm[2], sm[3]
			}
		}
		p.Size += l.Size
		p.Layers = append(p.Layers, ly)
	}
	id := cf.Config.Labels[images.LabelRuntime]
	if id == "" {
		id = m.Annotations[images.LabelRuntime]
	}
	if id != "" {
		p.Runtime = lookupRuntime(id, cat, day)
	}
	return p, nil
}

func lookupRuntime(id string, cat *images.Catalog, day time.Time) *Runtime {
	r := &Runtime{Identifier: id}
	if cat == nil {
		return r
	}
	rt, err := cat.Runtime(id)
	if err != nil {
		return r
	}
	r.InCatalog, r.Name, r.SDK, r.Status = true, rt.Name, rt.SDK, rt.StatusOn(day)
	if d := rt.Deprecation.Phase1; d != nil {
		s := d.String()
		r.Phase1 = &s
	}
	if d := rt.Deprecation.Phase2; d != nil {
		s := d.String()
		r.Phase2 = &s
	}
	return r
}

// mergeAnnotations returns the index descriptor's annotations overlaid by
// the manifest's own, or nil when both are empty.
func mergeAnnotations(desc, own map[string]string) map[string]string {
	if len(desc) == 0 && len(own) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range desc {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// SortedKeys returns m's keys in order, for stable output.
func SortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

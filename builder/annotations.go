package builder

import (
	"os"
	"strconv"
	"time"

	specs "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// SourceURL is recorded as org.opencontainers.image.source.
const SourceURL = "https://github.com/rtbuild/rtbuild"

// ImageAnnotations are the manifest annotations of a runtime image's
// platform image built on base.
func ImageAnnotations(plan *Plan, rp *RuntimePlan, base *manifests.Base) map[string]string {
	a := map[string]string{
		specs.AnnotationTitle:         "Lambda " + rp.Runtime.Name + " (" + rp.Runtime.Identifier + ")",
		specs.AnnotationVersion:       plan.Catalog.Version,
		specs.AnnotationCreated:       plan.Epoch.UTC().Format(time.RFC3339),
		specs.AnnotationSource:        SourceURL,
		specs.AnnotationBaseImageName: base.Ref,
		"rtbuild.runtime":             rp.Runtime.Identifier,
	}
	if base.Digest.Hex != "" {
		a[specs.AnnotationBaseImageDigest] = base.Digest.String()
	}
	return a
}

// IndexAnnotations are the annotations of a runtime image's index.
func IndexAnnotations(plan *Plan, rt *images.Runtime) map[string]string {
	return map[string]string{
		specs.AnnotationTitle:   "Lambda " + rt.Name + " (" + rt.Identifier + ")",
		specs.AnnotationVersion: plan.Catalog.Version,
		specs.AnnotationCreated: plan.Epoch.UTC().Format(time.RFC3339),
		specs.AnnotationSource:  SourceURL,
		"rtbuild.runtime":       rt.Identifier,
	}
}

// parseMode parses a catalog octal mode; the catalog validated it already.
func parseMode(s, kind string) os.FileMode {
	if s == "" {
		if kind == images.KindFile {
			return 0o644
		}
		return 0
	}
	n, err := strconv.ParseUint(s, 8, 32)
	if err != nil {
		return 0o644
	}
	m := os.FileMode(n & 0o777)
	if n&0o4000 != 0 {
		m |= os.ModeSetuid
	}
	if n&0o2000 != 0 {
		m |= os.ModeSetgid
	}
	if n&0o1000 != 0 {
		m |= os.ModeSticky
	}
	return m
}

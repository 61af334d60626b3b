package images

import "time"

// The functions below are the package's contract; their bodies live in the
// files next to this one.

// Load returns the embedded catalog with each overlay file merged over it in
// order (see docs/catalog.md for the merge rules), validated.
//   func Load(overlays ...string) (*Catalog, error)

// (c *Catalog) Runtime(id string) (*Runtime, error): lookup; unknown names get
// an error suggesting the nearest identifiers.

// (c *Catalog) Marshal() ([]byte, error): the catalog as YAML (catalog export).

// Status is a runtime's support status on a day.
type Status string

// Support statuses.
const (
	Supported        Status = "supported"
	DeprecatedPhase1 Status = "deprecated-phase1"
	DeprecatedPhase2 Status = "deprecated-phase2"
)

// (r *Runtime) StatusOn(day time.Time) Status

// ImageConfig is what a runtime image's config holds beyond the base's.
type ImageConfig struct {
	Env        []string // KEY=VALUE, the contract's order then the runtime's additions sorted
	WorkingDir string
	Entrypoint []string
	Labels     map[string]string
}

// (c *Catalog) ImageConfig(r *Runtime) ImageConfig

// Builtin(name string, c *Catalog, r *Runtime) ([]byte, error): the content of a
// builtin file component rendered for r ("entrypoint", "bootstrap").

var _ = time.Now

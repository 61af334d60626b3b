package images

import (
	"fmt"
	"time"
)

// StatusOn returns the runtime's support status on day (its calendar date in
// its own location): deprecated-phase2 from the phase 2 date on,
// deprecated-phase1 from the phase 1 date on, supported before.
func (r *Runtime) StatusOn(day time.Time) Status {
	y, m, d := day.Date()
	today := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	dep := r.Deprecation
	switch {
	case dep.Phase2 != nil && !today.Before(dep.Phase2.Time):
		return DeprecatedPhase2
	case dep.Phase1 != nil && !today.Before(dep.Phase1.Time):
		return DeprecatedPhase1
	}
	return Supported
}

// CheckDeprecated returns nil if the runtime is supported on day, and
// otherwise an error that gives its dates and the way to build it anyway.
func (r *Runtime) CheckDeprecated(day time.Time) error {
	st := r.StatusOn(day)
	if st == Supported {
		return nil
	}
	dates := "phase 1 since " + r.Deprecation.Phase1.String()
	if st == DeprecatedPhase2 {
		dates += ", phase 2 since " + r.Deprecation.Phase2.String()
	} else if r.Deprecation.Phase2 != nil {
		dates += ", phase 2 from " + r.Deprecation.Phase2.String()
	}
	return fmt.Errorf("runtime %q is deprecated (%s): building it is allowed with --allow-deprecated", r.Identifier, dates)
}

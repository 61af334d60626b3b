package images

import (
	"bytes"
	"embed"
	"fmt"
	"strings"
	"text/template"
)

//go:embed scripts/*.sh
var scripts embed.FS

var scriptTemplates = template.Must(template.New("").Option("missingkey=error").ParseFS(scripts, "scripts/*.sh"))

// scriptData is what the script templates are rendered with.
type scriptData struct {
	Runtime string // identifier
	// Wrapper: the entrypoint honours AWS_LAMBDA_EXEC_WRAPPER (AL2 managed runtimes).
	Wrapper bool
	// Binary is the interpreter's name, for families that need it (python3.9).
	Binary string
}

// Builtin returns the content of the builtin file component name rendered
// for runtime r: "entrypoint" (/lambda-entrypoint.sh) or "bootstrap"
// (/var/runtime/bootstrap, one per runtime family). The output depends only
// on its inputs: no timestamps, no host details.
func Builtin(name string, c *Catalog, r *Runtime) ([]byte, error) {
	data := scriptData{
		Runtime: r.Identifier,
		Wrapper: r.Family != "provided" && al2OrLater(c, r),
		Binary:  interpreter(r),
	}
	var file string
	switch name {
	case "entrypoint":
		file = "entrypoint.sh"
	case "bootstrap":
		file = "bootstrap-" + r.Family + ".sh"
		if scriptTemplates.Lookup(file) == nil {
			return nil, fmt.Errorf("builtin bootstrap: no bootstrap for family %q of runtime %q", r.Family, r.Identifier)
		}
	default:
		return nil, fmt.Errorf("unknown builtin %q (have %s)", name, strings.Join(Builtins, ", "))
	}
	var buf bytes.Buffer
	if err := scriptTemplates.ExecuteTemplate(&buf, file, data); err != nil {
		return nil, fmt.Errorf("builtin %s for %q: %w", name, r.Identifier, err)
	}
	return buf.Bytes(), nil
}

// al2OrLater reports whether the runtime's base is newer than Amazon Linux
// 2018.03, whose runtimes had no wrapper scripts.
func al2OrLater(c *Catalog, r *Runtime) bool {
	if c == nil || c.Base(r) == nil {
		return r.Base != "al1"
	}
	return c.Base(r).OS != "Amazon Linux"
}

// interpreter returns the interpreter a runtime's bootstrap execs, by name.
func interpreter(r *Runtime) string {
	switch r.Family {
	case "python", "ruby":
		// python3.9 -> python3.9, ruby2.5 -> ruby2.5 (the distribution's names)
		return r.Identifier
	case "nodejs":
		return "node"
	}
	return r.Family
}

package images

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed catalog.yaml
var embeddedCatalog []byte

// embeddedName is how errors name the catalog built into rtbuild.
const embeddedName = "(embedded) catalog.yaml"

// Load returns the embedded catalog with each overlay file merged over it in
// order, strictly decoded and validated.
//
// Merge rules (docs/catalog.md has examples): maps merge key by key,
// recursively; a null value deletes the key; the runtimes list merges by
// identifier (a new identifier is appended) and each component's per-arch
// sources list merges by url; any other list replaces the one below it. An
// overlay whose top level has `replace: true` replaces everything below it.
//
// Errors are one line and name the file, the runtime, component or base, and
// the field: `catalog overlay.yaml: runtime "python3.9": field "base": unknown
// base "al3" (have al1, al2)`. YAML syntax errors name the file and line.
//
// The embedded lock file is then applied (see ApplyLock).
func Load(overlays ...string) (*Catalog, error) {
	return LoadWith(LoadOptions{Overlays: overlays})
}

// LoadOptions say which catalog files and lock files make the catalog.
type LoadOptions struct {
	// Overlays are merged over the embedded catalog in order.
	Overlays []string
	// Locks are lock files applied after the embedded one, in order.
	Locks []string
	// NoEmbeddedLock leaves the embedded lock file out (`rtbuild lock` uses it
	// to see what the catalog alone says).
	NoEmbeddedLock bool
}

// LoadWith loads the catalog as o says. Lock entries that no longer match
// their component are listed in the catalog's StaleLocks.
func LoadWith(o LoadOptions) (*Catalog, error) {
	c, err := loadOverlays(o.Overlays)
	if err != nil {
		return nil, err
	}
	var locks []*Lock
	if !o.NoEmbeddedLock {
		l, err := EmbeddedLock()
		if err != nil {
			return nil, err
		}
		locks = append(locks, l)
	}
	for _, path := range o.Locks {
		l, err := ReadLock(path)
		if err != nil {
			return nil, err
		}
		locks = append(locks, l)
	}
	for _, l := range locks {
		for _, k := range c.ApplyLock(l) {
			if !slices.Contains(c.StaleLocks, k) {
				c.StaleLocks = append(c.StaleLocks, k)
			}
		}
	}
	return c, nil
}

func loadOverlays(overlays []string) (*Catalog, error) {
	files := []namedFile{{name: embeddedName, data: embeddedCatalog}}
	for _, path := range overlays {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("catalog %s: %w", path, err)
		}
		files = append(files, namedFile{name: path, data: data})
	}
	return loadFiles(files)
}

type namedFile struct {
	name string
	data []byte
}

// loadFiles parses, checks and merges files (the first is the base) and
// returns the validated catalog.
func loadFiles(files []namedFile) (*Catalog, error) {
	var merged *yaml.Node
	prov := provenance{}
	for _, f := range files {
		root, replace, err := parseFile(f)
		if err != nil {
			return nil, err
		}
		if merged == nil || replace {
			merged = root
			prov = provenance{}
		} else {
			merged = mergeNode(merged, root, nil)
		}
		prov.record(f.name, root)
	}
	// Each file's fields were checked on its own (checkFields), so the
	// merged tree decodes directly.
	var c Catalog
	if err := merged.Decode(&c); err != nil {
		// A failure here is a bug.
		return nil, fmt.Errorf("catalog (merged): %s", yamlMessage(err))
	}
	if err := c.validate(prov); err != nil {
		return nil, err
	}
	return &c, nil
}

// overlayFile is the top level of a catalog file: a catalog plus the
// overlay-only key `replace`.
type overlayFile struct {
	Replace bool `yaml:"replace,omitempty"`
	Catalog `yaml:",inline"`
}

// parseFile parses one catalog file, checks it for unknown fields and
// wrongly typed values, and returns its top-level mapping (without the
// `replace` key) and whether it asked to replace what is below it.
func parseFile(f namedFile) (*yaml.Node, bool, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(f.data, &doc); err != nil {
		return nil, false, fmt.Errorf("catalog %s", atLine(f.name, yamlMessage(err)))
	}
	root := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root = doc.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		root = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if err := resolveAliases(root); err != nil {
		return nil, false, fmt.Errorf("catalog %s", atLine(f.name, err.Error()))
	}
	if root.Kind != yaml.MappingNode {
		return nil, false, fmt.Errorf("catalog %s:%d: the top level must be a mapping (version, bases, components, runtimes)", f.name, root.Line)
	}
	if err := checkFields(f.name, root, reflect.TypeOf(overlayFile{}), context{}); err != nil {
		return nil, false, err
	}
	var of overlayFile
	if err := root.Decode(&of); err != nil {
		return nil, false, fmt.Errorf("catalog %s", atLine(f.name, yamlMessage(err)))
	}
	if i := keyIndex(root, "replace"); i >= 0 {
		root.Content = append(root.Content[:i:i], root.Content[i+2:]...)
	}
	return root, of.Replace, nil
}

// maxNodes bounds the nodes of one catalog file once its aliases are
// expanded (the embedded catalog has a few thousand), so that an alias
// bomb ("billion laughs") is refused instead of exhausting memory and time.
const maxNodes = 200000

// resolveAliases replaces alias nodes (*name) by copies of what they
// point to, so that merging and re-encoding never separate an alias from
// its anchor. It refuses an alias inside what it points to (a cycle) and
// more than maxNodes nodes in all.
func resolveAliases(n *yaml.Node) error {
	count := 0
	return resolveIn(n, &count, map[*yaml.Node]bool{})
}

func resolveIn(n *yaml.Node, count *int, expanding map[*yaml.Node]bool) error {
	if *count++; *count > maxNodes {
		return fmt.Errorf("more than %d nodes once aliases are expanded", maxNodes)
	}
	n.Anchor = ""
	for i, c := range n.Content {
		if c.Kind == yaml.AliasNode && c.Alias != nil {
			target := c.Alias
			if expanding[target] {
				return fmt.Errorf("line %d: alias *%s refers to a node that contains it", c.Line, c.Value)
			}
			copied := *target
			copied.Content = append([]*yaml.Node(nil), target.Content...)
			n.Content[i] = &copied
			expanding[target] = true
			err := resolveIn(&copied, count, expanding)
			delete(expanding, target)
			if err != nil {
				return err
			}
			continue
		}
		if err := resolveIn(c, count, expanding); err != nil {
			return err
		}
	}
	return nil
}

// yamlMessage turns a yaml.v3 error into "line N: message" without the
// library's prefix, joining several on one line.
func yamlMessage(err error) string {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return strings.Join(te.Errors, "; ")
	}
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

var lineMessage = regexp.MustCompile(`^line (\d+): `)

// atLine formats "FILE:LINE: message" from a "line N: message" error text.
func atLine(file, msg string) string {
	if m := lineMessage.FindStringSubmatch(msg); m != nil {
		return file + ":" + m[1] + ": " + msg[len(m[0]):]
	}
	return file + ": " + msg
}

// context names the catalog entry a node belongs to, for error messages.
type context struct {
	kind, name string   // "runtime" "python3.9"
	field      []string // path inside the entry
}

func (c context) with(field string) context {
	c.field = append(append([]string(nil), c.field...), field)
	return c
}

func (c context) fieldName() string {
	s := strings.Join(c.field, ".")
	return strings.ReplaceAll(s, ".[", "[")
}

// checkFields walks node against the Go type t and reports the first key
// that t has no field for, naming the file, line, entry and field.
func checkFields(file string, node *yaml.Node, t reflect.Type, ctx context) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if node.Kind == yaml.ScalarNode && node.Tag == "!!null" {
		return nil
	}
	bad := func(msg string) error {
		return &Error{File: file, Line: node.Line, Kind: ctx.kind, Name: ctx.name, Field: ctx.fieldName(), Msg: msg}
	}
	switch {
	case t == reflect.TypeOf(Date{}):
		if node.Kind != yaml.ScalarNode {
			return bad("want a date (YYYY-MM-DD)")
		}
		if _, err := ParseDate(node.Value); err != nil {
			return bad(err.Error())
		}
		return nil
	case (t.Kind() == reflect.Struct || t.Kind() == reflect.Map) && node.Kind != yaml.MappingNode:
		return bad("want a mapping")
	case t.Kind() == reflect.Slice && node.Kind != yaml.SequenceNode:
		return bad("want a list")
	case t.Kind() == reflect.Int && (node.Kind != yaml.ScalarNode || node.Tag != "!!int"):
		return bad(fmt.Sprintf("want a whole number, got %q", node.Value))
	case t.Kind() == reflect.Bool && (node.Kind != yaml.ScalarNode || node.Tag != "!!bool"):
		return bad(fmt.Sprintf("want true or false, got %q", node.Value))
	case t.Kind() == reflect.String && node.Kind != yaml.ScalarNode:
		return bad("want a string")
	case t.Kind() == reflect.Struct:
		fields := yamlFields(t)
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				where := ctx.with(k.Value)
				return &Error{File: file, Line: k.Line, Kind: ctx.kind, Name: ctx.name,
					Field: where.fieldName(), Msg: "unknown field" + knownFields(fields)}
			}
			if err := checkFields(file, v, ft, ctx.with(k.Value)); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		for i := 0; i+1 < len(node.Content); i += 2 {
			k, v := node.Content[i], node.Content[i+1]
			sub := ctx.with(k.Value)
			// Top-level maps name their entries: bases.al2 -> base "al2".
			if ctx.kind == "" && len(ctx.field) == 1 {
				switch ctx.field[0] {
				case "bases":
					sub = context{kind: "base", name: k.Value}
				case "components":
					sub = context{kind: "component", name: k.Value}
				}
			}
			if err := checkFields(file, v, t.Elem(), sub); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice:
		for i, item := range node.Content {
			sub := ctx.with(fmt.Sprintf("[%d]", i))
			if ctx.kind == "" && ctx.fieldName() == "runtimes" {
				sub = context{kind: "runtime", name: mappingValue(item, "identifier")}
				if sub.name == "" {
					sub.name = fmt.Sprintf("#%d", i+1)
				}
			}
			if err := checkFields(file, item, t.Elem(), sub); err != nil {
				return err
			}
		}
	}
	return nil
}

// yamlFields maps a struct's YAML keys to their field types, following
// inline fields.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

func knownFields(fields map[string]reflect.Type) string {
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	return " (have " + strings.Join(names, ", ") + ")"
}

// mappingValue returns the scalar value of key in a mapping node, or "".
// anonymousRuntime is the provenance key of runtimes without an identifier.
const anonymousRuntime = "runtime/#"

// identifierNode returns the value node of a runtime's identifier, or nil.
func identifierNode(n *yaml.Node) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	if i := keyIndex(n, "identifier"); i >= 0 {
		return n.Content[i+1]
	}
	return nil
}

func mappingValue(n *yaml.Node, key string) string {
	if n == nil || n.Kind != yaml.MappingNode {
		return ""
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key && n.Content[i+1].Kind == yaml.ScalarNode {
			return n.Content[i+1].Value
		}
	}
	return ""
}

func isNull(n *yaml.Node) bool {
	return n != nil && n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// mergeNode merges src over dst (see Load) and returns the result; path is
// the list of mapping keys from the top level down to dst.
func mergeNode(dst, src *yaml.Node, path []string) *yaml.Node {
	if dst == nil || dst.Kind != src.Kind {
		return src
	}
	switch src.Kind {
	case yaml.MappingNode:
		out := *dst
		out.Content = append([]*yaml.Node(nil), dst.Content...)
		for i := 0; i+1 < len(src.Content); i += 2 {
			k, v := src.Content[i], src.Content[i+1]
			j := keyIndex(&out, k.Value)
			switch {
			case isNull(v) && j >= 0:
				out.Content = append(out.Content[:j:j], out.Content[j+2:]...)
			case isNull(v):
				// Deleting what is not there is a no-op.
			case j >= 0:
				out.Content[j+1] = mergeNode(out.Content[j+1], v, append(path[:len(path):len(path)], k.Value))
			default:
				out.Content = append(out.Content, k, v)
			}
		}
		return &out
	case yaml.SequenceNode:
		switch {
		case len(path) == 1 && path[0] == "runtimes":
			return mergeByKey(dst, src, "identifier", path)
		case len(path) == 4 && path[0] == "components" && path[2] == "sources":
			return mergeByKey(dst, src, "url", path)
		}
		return src
	}
	return src
}

// mergeByKey merges two sequences of mappings item by item, matching items
// on the scalar value of key; unmatched items of src are appended.
func mergeByKey(dst, src *yaml.Node, key string, path []string) *yaml.Node {
	out := *dst
	out.Content = append([]*yaml.Node(nil), dst.Content...)
	for _, item := range src.Content {
		id := mappingValue(item, key)
		found := false
		if id != "" {
			for j, have := range out.Content {
				if mappingValue(have, key) == id {
					out.Content[j] = mergeNode(have, item, append(path[:len(path):len(path)], "[]"))
					found = true
					break
				}
			}
		}
		if !found {
			out.Content = append(out.Content, item)
		}
	}
	return &out
}

func keyIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

// provenance remembers which file last set each catalog entry, so that
// validation errors name the file to fix. Keys: "runtime/ID",
// "component/KEY", "base/KEY", a top-level field name ("version"), and ""
// for the file everything else came from (the first, or the last with
// replace: true).
type provenance map[string]string

func (p provenance) record(file string, root *yaml.Node) {
	if _, ok := p[""]; !ok {
		p[""] = file
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i].Value, root.Content[i+1]
		p[k] = file
		switch k {
		case "bases", "components":
			kind := strings.TrimSuffix(k, "s")
			if v.Kind == yaml.MappingNode {
				for j := 0; j+1 < len(v.Content); j += 2 {
					p[kind+"/"+v.Content[j].Value] = file
				}
			} else {
				// `components: null` clears every entry below it.
				for key := range p {
					if strings.HasPrefix(key, kind+"/") {
						delete(p, key)
					}
				}
				p[kind+"/*"] = file
			}
		case "runtimes":
			for _, item := range v.Content {
				id := mappingValue(item, "identifier")
				if isNull(identifierNode(item)) || strings.TrimSpace(id) == "" {
					// A runtime without an identifier: validation names it
					// by position ("#N"), which the merge moves; the last
					// file that brought one is the one to look at.
					p[anonymousRuntime] = file
					continue
				}
				p["runtime/"+id] = file
			}
		}
	}
}

// deletedBy returns the file that last set or deleted the entry kind/name,
// or the file that cleared the whole mapping of its kind after the entry
// was last set.
func (p provenance) deletedBy(kind, name string) (string, bool) {
	if f, ok := p[kind+"/"+name]; ok {
		return f, true
	}
	f, ok := p[kind+"/*"]
	return f, ok
}

// file returns the file that last set an entry (kind and name) or a
// top-level field, else the base file.
func (p provenance) file(kind, name, field string) string {
	key := kind + "/" + name
	if kind == "runtime" && strings.HasPrefix(name, "#") {
		key = anonymousRuntime
	}
	if kind == "" {
		key, _, _ = strings.Cut(field, ".")
		key, _, _ = strings.Cut(key, "[")
	}
	if f, ok := p[key]; ok {
		return f
	}
	if f, ok := p[""]; ok {
		return f
	}
	return embeddedName
}

// Marshal returns the catalog as YAML that Load accepts back as an overlay.
// It starts with `replace: true`, so that the file stands for the whole
// catalog (this is what `rtbuild catalog export` prints).
func (c *Catalog) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString("# rtbuild runtime catalog " + c.Version + " (schema: docs/catalog.md)\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(overlayFile{Replace: true, Catalog: *c}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UnmarshalYAML reads a YYYY-MM-DD day (plain or quoted).
func (d *Date) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDate(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// MarshalYAML writes the day as a plain YYYY-MM-DD.
func (d Date) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!timestamp", Value: d.String()}, nil
}

// MarshalJSON writes the day as "YYYY-MM-DD".
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads "YYYY-MM-DD".
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

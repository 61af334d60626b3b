package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/rtbuild/rtbuild/builder"
)

// Configuration: every flag of every command can also come from an
// RTBUILD_<FLAG> environment variable and from rtbuild.yaml files, with the
// precedence flag > environment > project config > user config > default.
// See docs/configuration.md.

// configFileName is the name of the project and user configuration files.
const configFileName = "rtbuild.yaml"

// hookConfig adds --config to root and makes every command take the flags
// it was not given from the environment and the configuration files.
func hookConfig(root *cobra.Command) {
	root.PersistentFlags().String("config", "", "configuration file (default ./"+configFileName+" if present; see docs/configuration.md)")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		return applyConfig(cmd)
	}
}

// configFile is one parsed rtbuild.yaml.
type configFile struct {
	path string
	root *yaml.Node // a mapping
}

// envName is the environment variable of a flag: RTBUILD_ and the flag's
// name in upper snake case (--cache-dir: RTBUILD_CACHE_DIR).
func envName(flag string) string {
	return "RTBUILD_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// skipFlag says whether a flag is left out of configuration: --help,
// --version and --config itself.
func skipFlag(name string) bool { return name == "help" || name == "version" || name == "config" }

// applyConfig sets each flag of cmd not given on the command line from the
// environment, else the project configuration, else the user's. A value
// set this way still counts as not given (Flag.Changed stays false): it is
// a default, not a request.
func applyConfig(cmd *cobra.Command) error {
	files, err := loadConfigFiles(cmd)
	if err != nil {
		return err
	}
	path := commandPath(cmd)
	var ferr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if ferr != nil || f.Changed || skipFlag(f.Name) {
			return
		}
		if v, ok := os.LookupEnv(envName(f.Name)); ok && v != "" {
			vals := []string{v}
			if isList(f) {
				vals = strings.Split(v, ",")
			}
			if err := setFlag(f, vals); err != nil {
				ferr = &builder.UsageError{Msg: fmt.Sprintf("environment variable %s: %v", envName(f.Name), err)}
			}
			return
		}
		for _, cf := range files {
			node := cf.lookup(path, f.Name)
			if node == nil {
				continue
			}
			vals, err := scalarValues(node, isList(f))
			if err == nil {
				err = setFlag(f, vals)
			}
			if err != nil {
				ferr = &builder.UsageError{Msg: fmt.Sprintf("%s:%d: key %q: %v", cf.path, node.Line, f.Name, err)}
			}
			return
		}
	})
	return ferr
}

// setFlag sets f to vals (one Set per value, as repeated flags would) and
// leaves it marked as not given.
func setFlag(f *pflag.Flag, vals []string) error {
	for _, v := range vals {
		if err := f.Value.Set(strings.TrimSpace(v)); err != nil {
			return fmt.Errorf("invalid value %q for --%s: %v", v, f.Name, err)
		}
	}
	f.Changed = false
	return nil
}

// isList says whether a flag takes several values (repeatable or comma-separated).
func isList(f *pflag.Flag) bool {
	t := f.Value.Type()
	return strings.HasSuffix(t, "Slice") || strings.HasSuffix(t, "Array")
}

// commandPath is the names of cmd's ancestors below the root, then cmd's.
func commandPath(cmd *cobra.Command) []string {
	var path []string
	for c := cmd; c.HasParent(); c = c.Parent() {
		path = append([]string{c.Name()}, path...)
	}
	return path
}

// loadConfigFiles reads the project configuration (--config FILE, else
// $RTBUILD_CONFIG, else ./rtbuild.yaml if present) and the user's
// (os.UserConfigDir()/rtbuild/rtbuild.yaml if present), most important
// first, and checks every key against the command tree.
func loadConfigFiles(cmd *cobra.Command) ([]*configFile, error) {
	var paths []string
	explicit := ""
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		explicit = f.Value.String()
	} else if v := os.Getenv("RTBUILD_CONFIG"); v != "" {
		explicit = v
	}
	if explicit != "" {
		paths = append(paths, explicit)
	} else {
		paths = append(paths, configFileName)
	}
	if dir, err := os.UserConfigDir(); err == nil {
		user := filepath.Join(dir, "rtbuild", configFileName)
		if abs, err := filepath.Abs(paths[0]); err != nil || abs != user {
			paths = append(paths, user)
		}
	}
	root := cmd.Root()
	var files []*configFile
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && !(i == 0 && explicit != "") {
				continue
			}
			return nil, &builder.UsageError{Msg: fmt.Sprintf("reading the configuration: %v", err)}
		}
		cf, err := parseConfig(p, b, root)
		if err != nil {
			return nil, err
		}
		if cf != nil {
			files = append(files, cf)
		}
	}
	return files, nil
}

// parseConfig parses one configuration file and checks its keys: each is
// a flag of some command of the section's subtree, or a command's name
// whose value is a mapping (a section for that command).
func parseConfig(path string, b []byte, root *cobra.Command) (*configFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("%s: not valid YAML: %v", path, err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("%s:%d: the configuration must be a mapping of flag names to values", path, m.Line)}
	}
	if err := checkSection(path, m, root, ""); err != nil {
		return nil, err
	}
	return &configFile{path: path, root: m}, nil
}

func checkSection(path string, m *yaml.Node, cmd *cobra.Command, where string) error {
	flags := subtreeFlags(cmd)
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		key := k.Value
		if seen[key] {
			return &builder.UsageError{Msg: fmt.Sprintf("%s:%d: key %q%s is given twice", path, k.Line, key, where)}
		}
		seen[key] = true
		if v.Kind == yaml.MappingNode {
			if sub := childCommand(cmd, key); sub != nil {
				if err := checkSection(path, v, sub, " (in section "+strings.TrimPrefix(sub.CommandPath(), sub.Root().Name()+" ")+")"); err != nil {
					return err
				}
				continue
			}
		}
		if _, ok := flags[key]; !ok || skipFlag(key) {
			if childCommand(cmd, key) != nil {
				return &builder.UsageError{Msg: fmt.Sprintf("%s:%d: key %q%s: a command's section must be a mapping of its flags to values", path, k.Line, key, where)}
			}
			return &builder.UsageError{Msg: fmt.Sprintf("%s:%d: unknown key %q%s: not a flag of `%s` or its subcommands, nor a subcommand (keys are flag names without --, e.g. cache-dir)", path, k.Line, key, where, cmd.CommandPath())}
		}
		if v.Kind == yaml.MappingNode {
			return &builder.UsageError{Msg: fmt.Sprintf("%s:%d: key %q%s: want a value or a list of values, not a mapping", path, k.Line, key, where)}
		}
	}
	return nil
}

// childCommand returns cmd's subcommand named name.
func childCommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// subtreeFlags is every flag of cmd and its subcommands, including the
// persistent flags they inherit.
func subtreeFlags(cmd *cobra.Command) map[string]bool {
	out := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		add := func(f *pflag.Flag) { out[f.Name] = true }
		c.LocalFlags().VisitAll(add)
		c.InheritedFlags().VisitAll(add)
		c.PersistentFlags().VisitAll(add)
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(cmd)
	return out
}

// lookup returns the value of flag for the command at path: from the
// deepest section on the path that sets it, else the top level.
func (cf *configFile) lookup(path []string, flag string) *yaml.Node {
	m := cf.root
	found := mappingValue(m, flag, false)
	for _, name := range path {
		m = mappingValue(m, name, true)
		if m == nil {
			break
		}
		if v := mappingValue(m, flag, false); v != nil {
			found = v
		}
	}
	return found
}

// mappingValue returns the value of key in mapping m: a mapping (a
// section) when section is true, anything else otherwise.
func mappingValue(m *yaml.Node, key string, section bool) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && (m.Content[i+1].Kind == yaml.MappingNode) == section {
			return m.Content[i+1]
		}
	}
	return nil
}

// scalarValues returns a configuration value as flag values: a scalar, or
// a list of scalars for a flag taking several.
func scalarValues(n *yaml.Node, list bool) ([]string, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return nil, errors.New("no value given")
		}
		return []string{n.Value}, nil
	case yaml.SequenceNode:
		if !list {
			return nil, errors.New("takes one value, not a list")
		}
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return nil, errors.New("want a list of plain values")
			}
			out = append(out, c.Value)
		}
		return out, nil
	}
	return nil, errors.New("want a value or a list of values")
}

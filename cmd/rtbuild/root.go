package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/mirror"
	"github.com/rtbuild/rtbuild/manifests"
)

// globalFlags are shared by every command.
type globalFlags struct {
	catalogs []string
	locks    []string
	mirrors  []string
	insecure []string
	cacheDir string
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "rtbuild",
		Short: "Build AWS Lambda runtime base images as multi-arch OCI images, without a daemon",
		Long: `rtbuild builds AWS Lambda runtime base images (every runtime of Lambda's runtime
table, on Amazon Linux or Amazon Linux 2, for x86_64 and arm64) from pinned upstream
artifacts, in-process, with a content-addressed layer cache; and function images
(your code and layers on a runtime image) that it can run locally, inspect, compare
and rebase.

Every flag can also be set as an RTBUILD_<FLAG> environment variable or in an
rtbuild.yaml (precedence: flag > environment > project config > user config; see
docs/configuration.md). Errors are one line on stderr starting with "rtbuild: ".
Exit codes: 0 success, 1 the build failed, 2 a usage error (flag, runtime, arch,
deprecation, catalog, image operand), 3 a digest mismatch, 4 an unreachable
upstream, 130 interrupted.`,
		Example: `  rtbuild runtimes
  rtbuild image python3.9 --arch arm64
  rtbuild image nodejs14.x --push ghcr.io/acme/lambda/nodejs:14
  rtbuild function --runtime python3.9 --handler app.handler --src ./fn --output docker:fn.tar
  rtbuild inspect oci:rtbuild-out/python3.9
  rtbuild completion bash > /etc/bash_completion.d/rtbuild`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &flagError{err} })
	hookConfig(root) // --config, RTBUILD_* variables and rtbuild.yaml files
	pf := root.PersistentFlags()
	pf.StringArrayVar(&g.catalogs, "catalog", nil, "catalog file overlaid on the embedded catalog (repeatable; see docs/catalog.md)")
	pf.StringArrayVar(&g.locks, "lock", nil, "lock file applied after the embedded one (repeatable; written by rtbuild lock, see docs/sources.md)")
	pf.StringArrayVar(&g.mirrors, "mirror", nil, "rewrite a URL or registry prefix: FROM=TO (repeatable; also $RTBUILD_MIRRORS, comma-separated)")
	pf.StringArrayVar(&g.insecure, "insecure-registry", nil, "registry host allowed over plain HTTP (loopback hosts always are)")
	pf.StringVar(&g.cacheDir, "cache-dir", "", "cache directory (default $RTBUILD_CACHE_DIR or the user cache dir + /rtbuild)")

	root.AddCommand(
		newImageCommand(g),
		newFunctionCommand(g),
		newRunCommand(g),
		newRebaseCommand(g),
		newRuntimesCommand(g),
		newCatalogCommand(g),
		newVersionCommand(g),
		newInspectCommand(g),
		newDiffCommand(g),
		newCacheCommand(g),
		newLockCommand(g),
		newFetchCommand(g),
	)
	root.Flags().BoolP("version", "v", false, "print rtbuild's version (rtbuild version also prints the catalog's)")
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Example = completionExamples
			// A shell it does not know is a usage error, not its help.
			c.Args = usageArgs(cobra.NoArgs)
			c.RunE = func(*cobra.Command, []string) error {
				return &builder.UsageError{Msg: "missing shell: use rtbuild completion bash, zsh, fish or powershell"}
			}
		}
	}
	return root
}

// completionExamples are the Examples of cobra's completion command.
const completionExamples = `  source <(rtbuild completion bash)                            # this bash session
  rtbuild completion bash > /etc/bash_completion.d/rtbuild     # every bash session
  rtbuild completion zsh > "${fpath[1]}/_rtbuild"              # zsh (compinit must be enabled)
  rtbuild completion fish > ~/.config/fish/completions/rtbuild.fish`

func (g *globalFlags) loadCatalog() (*images.Catalog, error) {
	cat, err := images.LoadWith(images.LoadOptions{Overlays: g.catalogs, Locks: g.locks})
	if err != nil {
		return nil, &builder.UsageError{Msg: err.Error()}
	}
	return cat, nil
}

func (g *globalFlags) mirrorRules() (mirror.Rules, error) {
	specs := append([]string{}, g.mirrors...)
	if env := os.Getenv("RTBUILD_MIRRORS"); env != "" {
		specs = append(specs, env)
	}
	rules, err := mirror.Parse(specs...)
	if err != nil {
		return nil, &builder.UsageError{Msg: err.Error()}
	}
	return rules, nil
}

func (g *globalFlags) registryOptions() (manifests.RegistryOptions, error) {
	rules, err := g.mirrorRules()
	if err != nil {
		return manifests.RegistryOptions{}, err
	}
	return manifests.RegistryOptions{Mirrors: rules, Insecure: g.insecure}, nil
}

func (g *globalFlags) resolveCacheDir() (string, error) {
	if g.cacheDir != "" {
		return filepath.Abs(g.cacheDir)
	}
	if env := os.Getenv("RTBUILD_CACHE_DIR"); env != "" {
		return filepath.Abs(env)
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory: set --cache-dir or RTBUILD_CACHE_DIR (%w)", err)
	}
	return filepath.Join(dir, "rtbuild"), nil
}

// buildEnv is what every building command resolves from the global flags
// and the environment before it starts.
type buildEnv struct {
	cat      *images.Catalog
	reg      manifests.RegistryOptions
	cacheDir string
	archs    []images.Arch
	epoch    time.Time
	outputs  []builder.Output
}

// buildEnv loads the catalog, the registry options, the cache directory,
// the --arch values, SOURCE_DATE_EPOCH and the --output values.
func (g *globalFlags) buildEnv(archs, outputs []string) (*buildEnv, error) {
	e := &buildEnv{}
	var err error
	if e.cat, err = g.loadCatalog(); err != nil {
		return nil, err
	}
	if e.reg, err = g.registryOptions(); err != nil {
		return nil, err
	}
	if e.cacheDir, err = g.resolveCacheDir(); err != nil {
		return nil, err
	}
	if e.archs, err = builder.ParseArchs(archs); err != nil {
		return nil, err
	}
	if e.epoch, err = builder.SourceDateEpoch(os.Getenv); err != nil {
		return nil, err
	}
	for _, o := range outputs {
		out, err := builder.ParseOutput(o)
		if err != nil {
			return nil, err
		}
		e.outputs = append(e.outputs, out)
	}
	return e, nil
}

func newVersionCommand(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print rtbuild's version and the catalog's",
		Long: joinLines(
			"Print rtbuild's version (set when it is built) and the version of the effective",
			"catalog, the embedded one with every --catalog overlay applied: the catalog version",
			"is what images built by this rtbuild carry in their annotations.",
		),
		Example: `  rtbuild version
  rtbuild version --catalog overrides.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := g.loadCatalog()
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rtbuild %s\ncatalog %s\n", version, cat.Version)
			return nil
		},
	}
}

// joinLines is a small helper for help texts.
func joinLines(lines ...string) string { return strings.Join(lines, "\n") }

package main

import (
	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
)

func newCatalogCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Work with the runtime catalog",
		Long: joinLines(
			"The catalog says what rtbuild builds: Lambda's runtimes, their bases and the",
			"components each image is made of, with where each comes from per architecture and",
			"its sha256. It is embedded in rtbuild; --catalog FILE overlays it and --lock FILE",
			"pins registry-sourced components (schema: docs/catalog.md).",
		),
		Example: `  rtbuild catalog export > catalog.yaml
  rtbuild diff catalog: catalog:overrides.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(*cobra.Command, []string) error {
			return &builder.UsageError{Msg: "missing subcommand: use rtbuild catalog export"}
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the effective catalog (embedded, with every --catalog overlay applied) as YAML",
		Long: joinLines(
			"Print the catalog rtbuild would build from: the embedded one, with the lock files",
			"(the embedded lock, then each --lock) and every --catalog overlay applied, as YAML",
			"on stdout. It starts with replace: true, so the output can be edited and passed back",
			"with --catalog as a complete catalog (see docs/catalog.md).",
		),
		Example: `  rtbuild catalog export > catalog.yaml
  rtbuild catalog export --catalog overrides.yaml`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := g.loadCatalog()
			if err != nil {
				return err
			}
			b, err := cat.Marshal()
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	})
	return cmd
}

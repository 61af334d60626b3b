package main

import (
	"github.com/spf13/cobra"
)

func newCatalogCommand(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "catalog",
		Short: "Work with the runtime catalog",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "export",
		Short: "Print the effective catalog (embedded, with every --catalog overlay applied) as YAML",
		Example: `  rtbuild catalog export > catalog.yaml
  rtbuild catalog export --catalog overrides.yaml`,
		Args: cobra.NoArgs,
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

package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
)

// runtimeRow is one runtime in `rtbuild runtimes --format json`.
type runtimeRow struct {
	Identifier    string         `json:"identifier"`
	Name          string         `json:"name"`
	Family        string         `json:"family"`
	OS            string         `json:"os"`
	Architectures []images.Arch  `json:"architectures"`
	SDK           string         `json:"sdk"`
	Deprecation   deprecationRow `json:"deprecation"`
	Status        images.Status  `json:"status"`
}

type deprecationRow struct {
	Phase1 *string `json:"phase1"`
	Phase2 *string `json:"phase2"`
}

func newRuntimesCommand(g *globalFlags) *cobra.Command {
	var format, date string
	cmd := &cobra.Command{
		Use:   "runtimes",
		Short: "List the runtimes rtbuild can build, with their support status",
		Long: joinLines(
			"List every runtime of the effective catalog (the embedded one with --catalog overlays)",
			"in Lambda's order: identifier, name, operating system, architectures, the SDK it ships",
			"and its support status, computed from its deprecation dates on --date (default today):",
			"supported, deprecated phase 1 (Lambda no longer patches it; rtbuild image warns) or",
			"deprecated phase 2 (rtbuild image refuses it without --allow-deprecated).",
			"",
			"--format json prints an array of objects with the keys identifier, name, family, os,",
			"architectures, sdk, deprecation (phase1 and phase2: YYYY-MM-DD or null) and status.",
		),
		Example: `  rtbuild runtimes
  rtbuild runtimes --format json
  rtbuild runtimes --date 2022-01-01`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cat, err := g.loadCatalog()
			if err != nil {
				return err
			}
			day := time.Now().UTC()
			if date != "" {
				d, err := images.ParseDate(date)
				if err != nil {
					return &builder.UsageError{Msg: "--date: " + err.Error()}
				}
				day = d.Time
			}
			rows := make([]runtimeRow, 0, len(cat.Runtimes))
			for _, rt := range cat.Runtimes {
				rows = append(rows, runtimeRow{
					Identifier: rt.Identifier, Name: rt.Name, Family: rt.Family,
					OS: cat.Bases[rt.Base].OS, Architectures: rt.Architectures, SDK: rt.SDK,
					Deprecation: deprecationRow{Phase1: dateString(rt.Deprecation.Phase1), Phase2: dateString(rt.Deprecation.Phase2)},
					Status:      rt.StatusOn(day),
				})
			}
			out := cmd.OutOrStdout()
			switch format {
			case "json":
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			case "table", "":
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "IDENTIFIER\tNAME\tOS\tARCHITECTURES\tSDK\tSTATUS")
				for _, r := range rows {
					archs := make([]string, len(r.Architectures))
					for i, a := range r.Architectures {
						archs[i] = string(a)
					}
					sdk := r.SDK
					if sdk == "" {
						sdk = "-"
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Identifier, r.Name, r.OS, strings.Join(archs, ","), sdk, statusText(r))
				}
				return tw.Flush()
			}
			return &builder.UsageError{Msg: fmt.Sprintf("invalid --format %q: use table or json", format)}
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&date, "date", "", "evaluate support status on this day (YYYY-MM-DD; default today)")
	return cmd
}

func dateString(d *images.Date) *string {
	if d == nil {
		return nil
	}
	s := d.String()
	return &s
}

func statusText(r runtimeRow) string {
	switch r.Status {
	case images.DeprecatedPhase1:
		return "deprecated phase 1 (since " + *r.Deprecation.Phase1 + ")"
	case images.DeprecatedPhase2:
		return "deprecated phase 2 (since " + *r.Deprecation.Phase2 + ")"
	}
	return "supported"
}

package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/inspect"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

func newInspectCommand(g *globalFlags) *cobra.Command {
	var format, date string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE",
		Short: "Show an image's platforms, layers and the components they hold, config and runtime",
		Long: joinLines(
			"Show what IMAGE holds: its platforms and, per platform, each layer's size, digest and the",
			"component and version rtbuild installed in it (layers rtbuild did not add are \"base\"),",
			"the config (Env, Entrypoint, Cmd, WorkingDir, Labels), and the runtime it was built for",
			"(the rtbuild.runtime label) with its SDK and support status from the catalog (--catalog).",
			"",
			"IMAGE is a registry reference (REGISTRY/REPO[:TAG][@DIGEST]; --mirror and",
			"--insecure-registry apply), oci:DIR[:REF] (an OCI image layout) or docker:FILE[:TAG]",
			"(a docker-archive tar). Only manifests and configs are read, never layers.",
		),
		Example: `  rtbuild inspect oci:rtbuild-out/python3.9
  rtbuild inspect ghcr.io/acme/lambda/nodejs:14 --format json
  rtbuild inspect docker:provided.tar`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
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
			reg, err := g.registryOptions()
			if err != nil {
				return err
			}
			res, err := manifests.Resolve(cmd.Context(), args[0], reg)
			if err != nil {
				return localImageError(args[0], err)
			}
			rep, err := inspect.Inspect(res, cat, day)
			if err != nil {
				return err
			}
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), rep)
			}
			return writeInspectTable(cmd.OutOrStdout(), rep)
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringVar(&date, "date", "", "evaluate the runtime's support status on this day (YYYY-MM-DD; default today)")
	return cmd
}

func writeInspectTable(w io.Writer, rep *inspect.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Image:\t%s\n", rep.Ref)
	fmt.Fprintf(tw, "Digest:\t%s\n", rep.Digest)
	fmt.Fprintf(tw, "Media type:\t%s\n", rep.MediaType)
	plats := make([]string, len(rep.Platforms))
	for i, p := range rep.Platforms {
		plats[i] = orDash(p.Platform)
	}
	fmt.Fprintf(tw, "Platforms:\t%s\n", strings.Join(plats, ", "))
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range rep.Platforms {
		fmt.Fprintf(w, "\nPlatform %s\n", orDash(p.Platform))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "  Digest:\t%s\n", p.Digest)
		fmt.Fprintf(tw, "  Size:\t%s in %d layer(s)\n", builder.HumanBytes(p.Size), len(p.Layers))
		if r := p.Runtime; r != nil {
			fmt.Fprintf(tw, "  Runtime:\t%s\n", r.Identifier)
			if r.InCatalog {
				fmt.Fprintf(tw, "  SDK:\t%s\n", orDash(r.SDK))
			}
			fmt.Fprintf(tw, "  Status:\t%s\n", r.StatusText())
		} else {
			fmt.Fprintf(tw, "  Runtime:\t- (no %s label)\n", images.LabelRuntime)
		}
		fmt.Fprintf(tw, "  Entrypoint:\t%s\n", argv(p.Config.Entrypoint))
		fmt.Fprintf(tw, "  Cmd:\t%s\n", argv(p.Config.Cmd))
		fmt.Fprintf(tw, "  WorkingDir:\t%s\n", orDash(p.Config.WorkingDir))
		writeList(tw, "Env", p.Config.Env)
		var labels []string
		for _, k := range inspect.SortedKeys(p.Config.Labels) {
			labels = append(labels, k+"="+p.Config.Labels[k])
		}
		writeList(tw, "Labels", labels)
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "  Layers:")
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "    #\tDIGEST\tSIZE\tCOMPONENT\tVERSION\tKIND")
		for i, l := range p.Layers {
			fmt.Fprintf(tw, "    %d\t%s\t%s\t%s\t%s\t%s\n", i+1, l.Digest, builder.HumanBytes(l.Size), l.Component, orDash(l.Version), orDash(l.Kind))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// writeList writes a labelled list, one item a line.
func writeList(tw io.Writer, label string, items []string) {
	if len(items) == 0 {
		fmt.Fprintf(tw, "  %s:\t-\n", label)
		return
	}
	for i, it := range items {
		if i == 0 {
			fmt.Fprintf(tw, "  %s:\t%s\n", label, it)
		} else {
			fmt.Fprintf(tw, "  \t%s\n", it)
		}
	}
}

// argv shows a command line as a JSON-style array, or "-".
func argv(a []string) string {
	if len(a) == 0 {
		return "-"
	}
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// usageArgs makes a positional-argument check's error a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return &builder.UsageError{Msg: err.Error() + "; usage: " + cmd.UseLine() + " (see " + cmd.CommandPath() + " --help)"}
		}
		return nil
	}
}

// localImageError marks a local IMAGE (oci:DIR[:REF], docker:FILE[:TAG])
// that cannot be read as a usage error (exit 2): the path or REF is wrong,
// as rtbuild run and rtbuild diff report it. Registry errors keep their
// own exit codes (4 when the registry is unreachable).
func localImageError(image string, err error) error {
	if strings.HasPrefix(image, "oci:") || strings.HasPrefix(image, "docker:") {
		return &builder.UsageError{Msg: err.Error() + " (check IMAGE: oci:DIR[:REF] or docker:FILE[:TAG])"}
	}
	return err
}

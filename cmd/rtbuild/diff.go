package main

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/inspect"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

func newDiffCommand(g *globalFlags) *cobra.Command {
	var (
		format   string
		runtimes []string
	)
	cmd := &cobra.Command{
		Use:   "diff A B",
		Short: "Show which components, bases and config changed between two images or two catalogs",
		Long: joinLines(
			"Compare A with B, per platform: components added, removed, at another version, or at the",
			"same version with other content (digest); the base image; the environment, entrypoint,",
			"cmd, working directory and labels; and the catalog version.",
			"",
			"A and B are both images or both catalogs:",
			"  an image    REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:REF] or docker:FILE[:TAG], read as",
			"              `rtbuild inspect` reads it: components from rtbuild's history entries,",
			"              platforms matched by architecture, digests are layer digests;",
			"  a catalog   catalog:FILE, the embedded catalog (with --catalog and --lock) with FILE",
			"              overlaid, or catalog: alone for it without FILE; platforms are each runtime's",
			"              (--runtime narrows them) and architecture, digests the artifacts' sha256.",
			"",
			"Exit status, as diff(1): 0 when A and B are the same, 1 when they differ, 2 on trouble",
			"(a bad operand, an unreadable image); 3 and 4 as for every command (a digest mismatch,",
			"an unreachable registry).",
		),
		Example: `  rtbuild diff oci:old/python3.9 oci:rtbuild-out/python3.9
  rtbuild diff ghcr.io/acme/lambda/nodejs:14 ghcr.io/acme/lambda/nodejs:14-next --format json
  rtbuild diff catalog: catalog:bump.yaml --runtime python3.9`,
		Args: usageArgs(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := runDiff(cmd.Context(), g, format, runtimes, args[0], args[1])
			if err != nil {
				if exitCode(cmd.Context(), err) == exitFailure {
					return &diffTrouble{err}
				}
				return err
			}
			if format == "json" {
				err = writeJSON(cmd.OutOrStdout(), rep)
			} else {
				err = writeDiffTable(cmd.OutOrStdout(), rep)
			}
			if err != nil {
				return &diffTrouble{err}
			}
			if !rep.Equal {
				return diffFound{}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.Flags().StringArrayVar(&runtimes, "runtime", nil, "compare only this runtime of two catalogs (repeatable)")
	return cmd
}

func runDiff(ctx context.Context, g *globalFlags, format string, runtimes []string, a, b string) (*inspect.DiffReport, error) {
	if err := checkFormat(format); err != nil {
		return nil, err
	}
	isCat := func(s string) bool { return strings.HasPrefix(s, "catalog:") }
	if isCat(a) != isCat(b) {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("cannot compare %s with %s: give two images or two catalogs (catalog:FILE)", a, b)}
	}
	if len(runtimes) > 0 && !isCat(a) {
		return nil, &builder.UsageError{Msg: "--runtime applies to two catalogs (catalog:FILE operands)"}
	}
	var sides [2]*inspect.Side
	for i, op := range []string{a, b} {
		var err error
		if isCat(op) {
			sides[i], err = catalogSide(g, op, runtimes)
		} else {
			sides[i], err = imageSide(ctx, g, op)
		}
		if err != nil {
			return nil, err
		}
	}
	return inspect.Diff(sides[0], sides[1])
}

func catalogSide(g *globalFlags, op string, runtimes []string) (*inspect.Side, error) {
	overlays := append([]string{}, g.catalogs...)
	if file := strings.TrimPrefix(op, "catalog:"); file != "" {
		overlays = append(overlays, file)
	}
	cat, err := images.LoadWith(images.LoadOptions{Overlays: overlays, Locks: g.locks})
	if err != nil {
		return nil, &builder.UsageError{Msg: err.Error()}
	}
	return inspect.CatalogSide(op, cat, runtimes)
}

func imageSide(ctx context.Context, g *globalFlags, op string) (*inspect.Side, error) {
	reg, err := g.registryOptions()
	if err != nil {
		return nil, err
	}
	res, err := manifests.Resolve(ctx, op, reg)
	if err != nil {
		return nil, err
	}
	rep, err := inspect.Inspect(res, nil, time.Now())
	if err != nil {
		return nil, err
	}
	return inspect.ImageSide(rep), nil
}

// diffFound reports that A and B differ: exit 1, and no message (the
// differences are the output).
type diffFound struct{}

func (diffFound) Error() string   { return "" }
func (diffFound) exitStatus() int { return 1 }

// diffTrouble is a failure of `rtbuild diff`: exit 2, as diff(1) does.
type diffTrouble struct{ err error }

func (e *diffTrouble) Error() string   { return e.err.Error() }
func (e *diffTrouble) Unwrap() error   { return e.err }
func (e *diffTrouble) exitStatus() int { return 2 }

func writeDiffTable(w io.Writer, r *inspect.DiffReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, s := range []struct {
		label string
		side  *inspect.Side
	}{{"A", r.A}, {"B", r.B}} {
		fmt.Fprintf(tw, "%s:\t%s", s.label, s.side.Ref)
		if s.side.Digest != "" {
			fmt.Fprintf(tw, " (%s)", short(s.side.Digest))
		}
		if s.side.Version != "" {
			fmt.Fprintf(tw, ", catalog %s", s.side.Version)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Version != nil {
		fmt.Fprintf(w, "\nCatalog version: %s -> %s\n", orDash(r.Version.From), orDash(r.Version.To))
	}
	counts := map[string]int{}
	for _, p := range r.Platforms {
		counts[p.Status]++
		name := p.Arch
		if p.Runtime != "" {
			name = p.Runtime + " " + p.Arch
		}
		switch p.Status {
		case inspect.Unchanged:
			continue
		case inspect.Added:
			fmt.Fprintf(w, "\n%s: only in B\n", name)
			continue
		case inspect.Removed:
			fmt.Fprintf(w, "\n%s: only in A\n", name)
			continue
		}
		fmt.Fprintf(w, "\n%s: changed\n", name)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  WHAT\tCHANGE\tA\tB")
		row := func(what, change, from, to string) {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", what, change, orDash(short(from)), orDash(short(to)))
		}
		if p.Digest != nil {
			row("image", "digest", p.Digest.From, p.Digest.To)
		}
		if p.Base != nil {
			row("base", "changed", p.Base.From, p.Base.To)
		}
		for _, c := range p.Components {
			row(c.Component, c.Change, c.From, c.To)
		}
		for _, c := range p.Config {
			what := c.Field
			if c.Key != "" {
				what += " " + c.Key
			}
			change := "changed"
			switch {
			case c.From == "" && c.To != "":
				change = "added"
			case c.From != "" && c.To == "":
				change = "removed"
			}
			row(what, change, c.From, c.To)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	if r.Equal {
		fmt.Fprintf(w, "No differences (%d platform(s) compared).\n", len(r.Platforms))
		return nil
	}
	fmt.Fprintf(w, "%d platform(s): %d changed, %d only in A, %d only in B, %d unchanged.\n",
		len(r.Platforms), counts[inspect.Changed], counts[inspect.Removed], counts[inspect.Added], counts[inspect.Unchanged])
	return nil
}

// digestRE matches a full sha256 digest, which tables show short.
var digestRE = regexp.MustCompile(`sha256:([0-9a-f]{12})[0-9a-f]{52}`)

func short(s string) string { return digestRE.ReplaceAllString(s, "sha256:$1") }

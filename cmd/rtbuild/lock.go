package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/lock"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/layers/atomicfile"
	"github.com/rtbuild/rtbuild/layers/resolve"
)

func newLockCommand(g *globalFlags) *cobra.Command {
	var (
		output string
		check  bool
		format string
	)
	cmd := &cobra.Command{
		Use:   "lock [RUNTIME...]",
		Short: "Pin every component from its publisher's metadata into a lock file",
		Long: joinLines(
			"Resolve the components of each RUNTIME (default: every runtime) from their",
			"publishers' metadata — package registries (npm, PyPI, RubyGems, Maven, NuGet, yum",
			"repositories), checksum files and GitHub release digests — with their dependency",
			"closures, and write the pinned sources to a lock file (--output). Builds never",
			"resolve versions: they use the lock (the embedded one, then each --lock FILE).",
			"",
			"--check resolves nothing: it reports, per runtime and arch, which components are",
			"pinned and what still needs network to pin, and exits 1 if anything is unpinned.",
			"See docs/sources.md.",
		),
		Example: `  rtbuild lock --check
  rtbuild lock nodejs14.x --output rtbuild.lock.yaml
  rtbuild image nodejs14.x --lock rtbuild.lock.yaml --locked
  rtbuild lock --output images/catalog.lock.yaml     # maintainers: the shipped lock`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			if check {
				cat, err := g.loadCatalog()
				if err != nil {
					return err
				}
				rts, err := selectRuntimes(cat, args)
				if err != nil {
					return err
				}
				return printCheck(cmd, lock.Check(cat, rts), format)
			}
			cat, err := images.LoadWith(images.LoadOptions{Overlays: g.catalogs, NoEmbeddedLock: true})
			if err != nil {
				return &builder.UsageError{Msg: err.Error()}
			}
			rts, err := selectRuntimes(cat, args)
			if err != nil {
				return err
			}
			reg, err := g.registryOptions()
			if err != nil {
				return err
			}
			into := &images.Lock{}
			if _, err := os.Stat(output); err == nil {
				if into, err = images.ReadLock(output); err != nil {
					return &builder.UsageError{Msg: err.Error()}
				}
			} else if l, err := images.EmbeddedLock(); err == nil && len(g.catalogs) == 0 {
				into = l // start from the shipped lock: unreachable registries keep their entries
			}
			start := time.Now()
			res := lock.Run(cmd.Context(), cat, rts, into, lock.Options{
				Resolve: resolve.Options{Mirrors: reg.Mirrors},
				Progress: func(c, msg string) {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", c, msg)
				},
			})
			data, err := into.Marshal()
			if err != nil {
				return err
			}
			if err := atomicfile.Write(output, data, 0o644); err != nil {
				return err
			}
			for _, f := range res.Failed {
				fmt.Fprintf(cmd.ErrOrStderr(), "rtbuild: lock %s: %s\n", f.Component, f.Message)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "locked %d component(s) into %s in %.1fs; %d failed\n", len(res.Locked), output, time.Since(start).Seconds(), len(res.Failed))
			if len(res.Failed) > 0 {
				return errors.New("some components could not be locked (see above); the lock file keeps their previous entries")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "rtbuild.lock.yaml", "lock file to write (entries of an existing file are kept unless re-resolved)")
	f.BoolVar(&check, "check", false, "report what is pinned and what still needs network; resolve nothing")
	f.StringVar(&format, "format", "table", "--check output format: table or json")
	return cmd
}

// selectRuntimes returns the named runtimes, or all of them.
func selectRuntimes(cat *images.Catalog, ids []string) ([]*images.Runtime, error) {
	if len(ids) == 0 {
		return cat.Runtimes, nil
	}
	var out []*images.Runtime
	for _, id := range ids {
		r, err := cat.Runtime(id)
		if err != nil {
			return nil, &builder.UsageError{Msg: err.Error()}
		}
		out = append(out, r)
	}
	return out, nil
}

// errUnpinned makes `lock --check` exit 1 after its report.
var errUnpinned = errors.New("some components are not pinned (see the report above)")

func printCheck(cmd *cobra.Command, rows []lock.Row, format string) error {
	unpinned := 0
	for _, r := range rows {
		if !r.Pinned {
			unpinned++
		}
	}
	if format == "json" {
		if err := writeJSON(cmd.OutOrStdout(), rows); err != nil {
			return err
		}
	} else {
		var table strings.Builder
		tw := tabwriter.NewWriter(&table, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "RUNTIME\tARCH\tCOMPONENT\tARTIFACTS\tPINNED\tTO PIN")
		for _, r := range rows {
			pinned := "yes"
			if !r.Pinned {
				pinned = "no"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Runtime, r.Arch, r.Component, r.Sources, pinned, r.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, line := range strings.SplitAfter(table.String(), "\n") {
			if line != "" {
				fmt.Fprintln(cmd.OutOrStdout(), strings.TrimRight(line, " \n"))
			}
		}
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d component builds pinned\n", len(rows)-unpinned, len(rows))
	if unpinned > 0 {
		return errUnpinned
	}
	return nil
}

func newFetchCommand(g *globalFlags) *cobra.Command {
	var (
		archs           []string
		allowDeprecated bool
		locked          bool
		jobs            int
		progress        string
	)
	cmd := &cobra.Command{
		Use:   "fetch RUNTIME...",
		Short: "Download everything a build needs into the cache, for --offline builds",
		Long: joinLines(
			"Fill the cache directory with every artifact each RUNTIME's image needs (verified",
			"against its pin) and its base image with all its platforms, so that",
			"`rtbuild image --offline` builds it without a network. Move the cache to an",
			"air-gapped machine with `rtbuild cache export FILE` and `rtbuild cache import FILE`.",
		),
		Example: `  rtbuild fetch python3.9 nodejs14.x
  rtbuild cache export rtbuild-cache.tar
  # on the air-gapped machine:
  rtbuild cache import rtbuild-cache.tar && rtbuild image python3.9 --offline`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.buildEnv(archs, nil)
			if err != nil {
				return err
			}
			reporter, err := newReporter(progress, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			plan, err := builder.MakePlan(env.cat, builder.Request{
				Runtimes: args, Archs: env.archs, AllowDeprecated: allowDeprecated, Today: time.Now().UTC(), Locked: locked,
			}, env.epoch)
			if err != nil {
				return err
			}
			start := time.Now()
			res, err := builder.Fetch(cmd.Context(), plan, builder.Options{CacheDir: env.cacheDir, Registry: env.reg, Jobs: jobs, Reporter: reporter})
			if err != nil {
				return err
			}
			for _, b := range res.Bases {
				fmt.Fprintf(cmd.OutOrStdout(), "base %s\n", b)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "fetched %d artifact(s) and %d base(s) in %.1fs: %s downloaded, into %s\n",
				res.Artifacts, len(res.Bases), time.Since(start).Seconds(), builder.HumanBytes(res.BytesDownloaded), env.cacheDir)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&archs, "arch", nil, "architecture: x86_64 (amd64) or arm64; repeatable or comma-separated (default: every arch the runtime supports)")
	f.BoolVar(&allowDeprecated, "allow-deprecated", false, "fetch runtimes in deprecation phase 2")
	f.BoolVar(&locked, "locked", false, "refuse any artifact not pinned by sha256 (see rtbuild lock --check)")
	f.IntVar(&jobs, "jobs", 0, "concurrent downloads (default 8, a build's bound on fetches)")
	f.StringVar(&progress, "progress", "auto", "progress output: auto, tty, plain or json")
	return cmd
}

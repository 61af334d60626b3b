package main

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/manifests"
)

func newRebaseCommand(g *globalFlags) *cobra.Command {
	var (
		onto, old, push, arch string
		jobs                  int
	)
	cmd := &cobra.Command{
		Use:   "rebase FUNCTION_REF... --onto RUNTIME_REF",
		Short: "Move function images onto a newer runtime image without rebuilding them",
		Long: joinLines(
			"Replace the runtime layers under each function image with those of RUNTIME_REF (a",
			"patched runtime), keeping the function's own layers as they are: same blobs, nothing",
			"rebuilt or re-uploaded. The old runtime is the one the function image's base",
			"annotations (org.opencontainers.image.base.name/.digest) name, or --old; the function's",
			"first layers must be exactly its layers, else the rebase is refused.",
			"",
			"The config becomes the new runtime's with the function's CMD, env changes and labels.",
			"Each image is pushed as a single-arch manifest (Lambda rejects an index): to --push, by",
			"default the function's own tag, replaced in place; an index is rebased per platform,",
			"each pushed at REF-<arch> (or at REF with --arch). Several FUNCTION_REFs are rebased",
			"concurrently (--jobs); each gets one line, and any failure makes the exit status non-zero.",
		),
		Example: `  rtbuild rebase ghcr.io/acme/fn/orders:1 --onto ghcr.io/acme/lambda/python:3.9
  rtbuild rebase ghcr.io/acme/fn/a:prod ghcr.io/acme/fn/b:prod --onto ghcr.io/acme/lambda/nodejs:14-x86_64
  rtbuild rebase ghcr.io/acme/fn/orders@sha256:... --old ghcr.io/acme/lambda/python@sha256:... \
      --onto ghcr.io/acme/lambda/python:3.9 --push ghcr.io/acme/fn/orders:2`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if onto == "" {
				return &builder.UsageError{Msg: "rebase needs --onto RUNTIME_REF (the new runtime image)"}
			}
			if push != "" && len(args) > 1 {
				return &builder.UsageError{Msg: "--push names one destination: give one FUNCTION_REF with it, or none to replace each function's tag in place"}
			}
			if jobs <= 0 {
				return &builder.UsageError{Msg: fmt.Sprintf("invalid --jobs %d: give a positive number", jobs)}
			}
			if arch != "" {
				if _, err := builder.ParseArchs([]string{arch}); err != nil {
					return err
				}
			}
			reg, err := g.registryOptions()
			if err != nil {
				return err
			}
			opts := manifests.RebaseOptions{Onto: onto, Old: old, Push: push, Arch: arch}
			start := time.Now()
			results := make([]*manifests.RebaseResult, len(args))
			errs := make([]error, len(args))
			sem := make(chan struct{}, jobs)
			var wg sync.WaitGroup
			for i, ref := range args {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sem <- struct{}{}
					defer func() { <-sem }()
					results[i], errs[i] = manifests.Rebase(cmd.Context(), ref, opts, reg)
				}()
			}
			wg.Wait()

			out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
			var failed []error
			var bytes int64
			images := 0
			for i, res := range results {
				if errs[i] != nil {
					failed = append(failed, rebaseUsage(errs[i]))
					continue
				}
				bytes += res.BytesUploaded
				for _, im := range res.Images {
					images++
					if im.Unchanged {
						fmt.Fprintf(out, "%s %s: %s already on %s\n", res.Ref, im.Platform, im.Old, onto)
						continue
					}
					fmt.Fprintf(out, "%s %s: %s -> %s %s\n", res.Ref, im.Platform, im.Old, im.New, im.Pushed)
				}
				fmt.Fprintf(stderr, "%s: %d blob(s) uploaded, %s\n", res.Ref, res.BlobsUploaded, builder.HumanBytes(res.BytesUploaded))
			}
			if len(args) == 1 && len(failed) == 1 {
				return failed[0]
			}
			for _, err := range failed {
				fmt.Fprintln(stderr, "rtbuild: "+oneLine(err.Error()))
			}
			fmt.Fprintf(stderr, "rebased %d image(s) of %d function(s) in %.1fs, %s uploaded\n",
				images, len(args)-len(failed), time.Since(start).Seconds(), builder.HumanBytes(bytes))
			if len(failed) > 0 {
				return fmt.Errorf("%d of %d function image(s) not rebased", len(failed), len(args))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&onto, "onto", "", "the new runtime image (REF, oci:DIR[:REF] or docker:FILE[:TAG]); an index is resolved per platform")
	f.StringVar(&old, "old", "", "the runtime the functions were built on (default: the one their base annotations name)")
	f.StringVar(&push, "push", "", "push the rebased image to REF (default: the function's own tag, replaced in place)")
	f.StringVar(&arch, "arch", "", "rebase only this architecture of a function index: x86_64 (amd64) or arm64")
	f.IntVar(&jobs, "jobs", 8, "function images rebased concurrently")
	return cmd
}

// rebaseUsage turns a refused rebase into a usage error (exit 2): the
// request cannot be done as asked.
func rebaseUsage(err error) error {
	var rf *manifests.RefusalError
	if errors.As(err, &rf) {
		return &builder.UsageError{Msg: err.Error()}
	}
	return err
}

package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/function"
	"github.com/rtbuild/rtbuild/manifests"
)

func newFunctionCommand(g *globalFlags) *cobra.Command {
	var (
		req             function.Request
		archs           []string
		outputs         []string
		pub             function.Publish
		progress        string
		allowDeprecated bool
		locked          bool
		offline         bool
		jobs            int
	)
	cmd := &cobra.Command{
		Use:   "function (--runtime ID | --base REF) --handler H (--src DIR | --zip FILE)",
		Short: "Build a Lambda container-image function: code and layers on a runtime image",
		Long: joinLines(
			"Build a function image: the runtime image (--runtime, built from the catalog through the",
			"layer cache as `rtbuild image` does; or --base, any image: REGISTRY/REPO:TAG, oci:DIR[:REF],",
			"docker:FILE[:TAG]), then one layer with the code under /var/task (--src DIR, honouring",
			"DIR/.dockerignore or --ignore-file: comments, *, ?, **, ! exceptions; or --zip FILE, a Lambda",
			".zip package whose file modes are kept), then one layer per --layer (a .zip or a directory)",
			"under /opt, in order: a later layer overrides an earlier one. CMD is [HANDLER]; the environment",
			"is the runtime's with each --env KEY=VALUE set over it (Docker ENV semantics).",
			"",
			"Files are made readable by Lambda's unprivileged user, deterministically: every file and",
			"directory gets o+r, directories and files the owner may execute also get o+x; no other bit",
			"changes. Unsafe entries are refused, naming the entry: absolute paths, \"..\", special files,",
			"and code symbolic links that leave /var/task.",
			"",
			"Each layer's cache key is the sha256 of its tar, so a code-only change rebuilds and uploads",
			"only the code layer. Lambda rejects an image index: with one architecture --push REF writes the",
			"image's manifest at REF; with several, each at REF-<arch> and no index unless --index.",
			"Without --output or --push the image is written as an OCI layout to ./rtbuild-out/function",
			"(index \"function\", each architecture \"function-<arch>\").",
		),
		Example: `  rtbuild function --runtime nodejs14.x --handler app.handler --src ./fn --arch x86_64 --push ghcr.io/acme/fn:1
  rtbuild function --runtime python3.9 --handler app.handler --zip fn.zip --layer deps.zip --env STAGE=prod
  rtbuild function --base public.ecr.aws/lambda/nodejs:14 --handler app.handler --src . --output docker:fn.tar
  rtbuild function --runtime provided.al2 --handler bootstrap --src out --arch x86_64,arm64 --push ghcr.io/acme/fn:1`,
		Args: usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := g.buildEnv(archs, outputs)
			if err != nil {
				return err
			}
			cat, reg, cacheDir, epoch := env.cat, env.reg, env.cacheDir, env.epoch
			req.Archs = env.archs
			pub.Tool = "rtbuild-" + version
			pub.Outputs = append(pub.Outputs, env.outputs...)
			if len(pub.Outputs) == 0 && pub.Push == "" {
				pub.Outputs = []builder.Output{{Kind: "oci", Path: "rtbuild-out/function"}}
			}
			// An output written inside --src must not become code of the next build.
			for _, o := range pub.Outputs {
				req.Exclude = append(req.Exclude, o.Path)
			}
			if pub.MetadataFile != "" {
				req.Exclude = append(req.Exclude, pub.MetadataFile)
			}
			if pub.Index && pub.Push == "" {
				return &builder.UsageError{Msg: "--index needs --push REF"}
			}
			if err := req.Check(); err != nil {
				return err
			}
			reporter, err := newReporter(progress, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer builder.CloseReporter(reporter, nil) // a no-op after the summary
			reg, uploads := manifests.CountUploads(reg)
			req.AllowDeprecated, req.Today, req.Locked = allowDeprecated, time.Now().UTC(), locked
			start := time.Now()
			res, err := function.Build(cmd.Context(), cat, req, epoch, builder.Options{
				CacheDir: cacheDir, Registry: reg, Offline: offline, Jobs: jobs, Reporter: reporter,
			})
			if err != nil {
				return err
			}
			md, err := function.Write(cmd.Context(), res, pub, reg, reporter)
			if err != nil {
				return err
			}
			sum := summary(start, md, res.Stats, uploads)
			sum.Pushed = pub.Push != ""
			builder.CloseReporter(reporter, sum)
			for _, pm := range md.Images[0].Platforms {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", pm.Arch, pm.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Runtime, "runtime", "", "runtime to build the function on (see rtbuild runtimes)")
	f.StringVar(&req.Base, "base", "", "runtime image to build the function on: REGISTRY/REPO[:TAG], oci:DIR[:REF] or docker:FILE[:TAG]")
	f.StringVar(&req.Handler, "handler", "", "the function's handler; it becomes CMD (required)")
	f.StringVar(&req.Src, "src", "", "directory of code, put under /var/task")
	f.StringVar(&req.IgnoreFile, "ignore-file", "", ".dockerignore-style file of paths of --src to leave out (default: SRC/.dockerignore if present)")
	f.StringVar(&req.Zip, "zip", "", "Lambda .zip deployment package, unpacked under /var/task with its file modes")
	f.StringArrayVar(&req.Layers, "layer", nil, "Lambda layer (.zip or directory) unpacked under /opt; repeatable, later ones override earlier ones")
	f.StringArrayVar(&req.Env, "env", nil, "KEY=VALUE set in the image's environment; repeatable")
	f.StringArrayVar(&archs, "arch", nil, "architecture: x86_64 (amd64) or arm64; repeatable or comma-separated (default: every arch of --runtime; x86_64 with --base)")
	f.StringArrayVarP(&outputs, "output", "o", nil, "oci:DIR (OCI image layout) or docker:FILE (docker-archive tar); repeatable")
	f.StringVar(&pub.Push, "push", "", "push to REF (one arch) or REF-<arch> (several)")
	f.BoolVar(&pub.Index, "index", false, "also push an image index at REF (each arch at REF-<arch>); Lambda cannot use it")
	f.StringVar(&pub.MetadataFile, "metadata-file", "", "write the build's results as JSON to FILE")
	f.BoolVar(&pub.SBOM, "sbom", true, "attach an SPDX 2.3 SBOM to each platform image as an OCI referrer (OCI layouts and pushes)")
	f.StringVar(&progress, "progress", "auto", "progress output: auto, tty, plain or json")
	f.BoolVar(&allowDeprecated, "allow-deprecated", false, "build on a runtime in deprecation phase 2")
	f.BoolVar(&offline, "offline", false, "use only the download store and the bases rtbuild fetch saved; fail on anything missing")
	f.BoolVar(&locked, "locked", false, "refuse any artifact not pinned by sha256 (see rtbuild lock --check)")
	f.IntVar(&jobs, "jobs", 0, "layers built concurrently (default: number of CPUs, at most 8)")
	return cmd
}

package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/builder/buildkit"
	"github.com/rtbuild/rtbuild/layers/cache"
	"github.com/rtbuild/rtbuild/manifests"
)

func newImageCommand(g *globalFlags) *cobra.Command {
	var (
		archs           []string
		outputs         []string
		push            string
		metadataFile    string
		progress        string
		allowDeprecated bool
		locked          bool
		offline         bool
		jobs            int
		backend         string
		bk              buildkitFlags
		withSBOM        bool
		compression     string
	)
	cmd := &cobra.Command{
		Use:   "image RUNTIME...",
		Short: "Build Lambda runtime base images",
		Long: joinLines(
			"Build the runtime base image of each RUNTIME (see `rtbuild runtimes`) for each",
			"requested architecture, joined into an OCI image index.",
			"",
			"Without --output or --push the image is written as an OCI layout to ./rtbuild-out/<runtime>.",
			"A push writes the index at REF and each architecture's manifest at REF-<arch>.",
			"",
			"--backend buildkit runs the same build on a buildkitd (--buildkit-addr, default",
			"$BUILDKIT_HOST) with BuildKit's cache (--cache-from, --cache-to): see docs/buildkit.md.",
		),
		Example: `  rtbuild image python3.9 --arch arm64
  rtbuild image nodejs14.x python3.9 --output oci:out/{runtime}
  rtbuild image provided.al2 --output docker:provided.tar
  rtbuild image nodejs14.x --push ghcr.io/acme/lambda/nodejs:14 --metadata-file build.json
  rtbuild image python3.9 --backend buildkit --buildkit-addr tcp://buildkitd:1234 \
      --buildkit-tls-ca ca.pem --buildkit-tls-cert cert.pem --buildkit-tls-key key.pem \
      --cache-from type=registry,ref=ghcr.io/acme/cache:python3.9 \
      --cache-to type=registry,ref=ghcr.io/acme/cache:python3.9,mode=max --push ghcr.io/acme/lambda/python:3.9`,
		Args: usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := g.buildEnv(archs, outputs)
			if err != nil {
				return err
			}
			cat, reg, cacheDir, want, epoch := env.cat, env.reg, env.cacheDir, env.archs, env.epoch
			pub := builder.Publish{Push: push, MetadataFile: metadataFile, Outputs: env.outputs, SBOM: withSBOM, Tool: "rtbuild-" + version}
			if len(pub.Outputs) == 0 && push == "" {
				pub.Outputs = builder.DefaultOutputs()
			}
			reporter, err := newReporter(progress, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer builder.CloseReporter(reporter, nil) // a no-op after the summary
			if backend != "native" && backend != "buildkit" {
				return &builder.UsageError{Msg: fmt.Sprintf("invalid --backend %q: use native (in-process, the default) or buildkit", backend)}
			}
			if backend == "native" && bk.used(cmd) {
				return &builder.UsageError{Msg: "--buildkit-* and --cache-to/--cache-from flags need --backend buildkit"}
			}
			comp, err := cache.ParseCompression(compression)
			if err != nil {
				return &builder.UsageError{Msg: "invalid --compression: " + strings.TrimPrefix(err.Error(), "unknown layer compression ")}
			}
			if backend == "buildkit" && comp != cache.Gzip {
				return &builder.UsageError{Msg: "--compression " + string(comp) + " needs --backend native (BuildKit compresses its own layers)"}
			}
			plan, err := builder.MakePlan(cat, builder.Request{
				Runtimes: args, Archs: want, AllowDeprecated: allowDeprecated, Today: time.Now().UTC(), Locked: locked,
			}, epoch)
			if err != nil {
				return err
			}
			if err := builder.CheckPublish(pub, plan); err != nil {
				return err
			}
			start := time.Now()
			if backend == "buildkit" {
				opts, err := bk.options(cacheDir, reg, offline, jobs, reporter)
				if err != nil {
					return err
				}
				md, err := buildkit.Build(cmd.Context(), plan, pub, opts)
				if err != nil {
					return err
				}
				sum := summary(start, md, md.Cache, nil)
				sum.Where = "buildkitd " + opts.Addr
				builder.CloseReporter(reporter, sum)
				for _, im := range md.Images {
					fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", im.Runtime, im.Digest)
				}
				return nil
			}
			reg, uploads := manifests.CountUploads(reg)
			res, err := builder.Build(cmd.Context(), plan, builder.Options{
				CacheDir: cacheDir, Registry: reg, Offline: offline, Jobs: jobs, Reporter: reporter, Compression: comp,
			})
			if err != nil {
				return err
			}
			md, err := builder.Write(cmd.Context(), res, plan, pub, reg, reporter)
			if err != nil {
				return err
			}
			sum := summary(start, md, res.Stats, uploads)
			sum.Pushed = push != ""
			builder.CloseReporter(reporter, sum)
			for _, im := range md.Images {
				fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", im.Runtime, im.Digest)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&archs, "arch", nil, "architecture: x86_64 (amd64) or arm64; repeatable or comma-separated (default: every arch the runtime supports)")
	f.StringArrayVarP(&outputs, "output", "o", nil, "oci:DIR (OCI image layout) or docker:FILE (docker-archive tar); repeatable; {runtime} expands to the runtime")
	f.StringVar(&push, "push", "", "push to REF (index) and REF-<arch> (each architecture); {runtime} expands to the runtime")
	f.StringVar(&metadataFile, "metadata-file", "", "write the build's results as JSON to FILE")
	f.StringVar(&progress, "progress", "auto", "progress output: auto, tty, plain or json")
	f.BoolVar(&allowDeprecated, "allow-deprecated", false, "build runtimes in deprecation phase 2")
	f.BoolVar(&offline, "offline", false, "use only the download store and the bases rtbuild fetch saved; fail on anything missing")
	f.BoolVar(&locked, "locked", false, "refuse any artifact not pinned by sha256 (see rtbuild lock --check)")
	f.IntVar(&jobs, "jobs", 0, "layers built concurrently (default: number of CPUs, at most 8)")
	f.StringVar(&compression, "compression", "gzip", "layer compression: gzip (what Lambda accepts) or zstd (application/vnd.oci.image.layer.v1.tar+zstd)")
	f.BoolVar(&withSBOM, "sbom", true, "attach an SPDX 2.3 SBOM to each platform image as an OCI referrer (OCI layouts and pushes)")
	f.StringVar(&backend, "backend", "native", "executor: native (in-process) or buildkit (a buildkitd; see docs/buildkit.md)")
	bk.register(f)
	return cmd
}

// buildkitFlags are the flags of --backend buildkit.
type buildkitFlags struct {
	addr                               string
	tlsCA, tlsCert, tlsKey, serverName string
	cacheTo, cacheFrom                 []string
}

func (b *buildkitFlags) register(f *pflag.FlagSet) {
	f.StringVar(&b.addr, "buildkit-addr", "", "buildkitd address: unix://, tcp://, ssh://, docker-container://, kube-pod://, podman-container://, nerdctl-container://, npipe:// (default $BUILDKIT_HOST, else unix:///run/buildkit/buildkitd.sock)")
	f.StringVar(&b.tlsCA, "buildkit-tls-ca", "", "CA certificate (PEM) that signed buildkitd's certificate")
	f.StringVar(&b.tlsCert, "buildkit-tls-cert", "", "client certificate (PEM) for buildkitd")
	f.StringVar(&b.tlsKey, "buildkit-tls-key", "", "client key (PEM) for buildkitd")
	f.StringVar(&b.serverName, "buildkit-tls-server-name", "", "name buildkitd's certificate must carry (default: the address's host)")
	f.StringArrayVar(&b.cacheTo, "cache-to", nil, "BuildKit cache export, e.g. type=registry,ref=REGISTRY/REPO:TAG,mode=max (repeatable; {runtime} expands)")
	f.StringArrayVar(&b.cacheFrom, "cache-from", nil, "BuildKit cache import, e.g. type=registry,ref=REGISTRY/REPO:TAG (repeatable; {runtime} expands)")
}

// used reports whether any BuildKit flag was given.
func (b *buildkitFlags) used(cmd *cobra.Command) bool {
	for _, n := range []string{"buildkit-addr", "buildkit-tls-ca", "buildkit-tls-cert", "buildkit-tls-key", "buildkit-tls-server-name", "cache-to", "cache-from"} {
		if cmd.Flags().Changed(n) {
			return true
		}
	}
	return false
}

func (b *buildkitFlags) options(cacheDir string, reg manifests.RegistryOptions, offline bool, jobs int, rep builder.Reporter) (buildkit.Options, error) {
	o := buildkit.Options{
		Addr:     buildkit.ResolveAddr(b.addr, os.Getenv),
		TLS:      buildkit.TLS{CACert: b.tlsCA, Cert: b.tlsCert, Key: b.tlsKey, ServerName: b.serverName},
		CacheDir: cacheDir, Registry: reg, Offline: offline, Jobs: jobs, Reporter: rep,
	}
	for _, s := range b.cacheTo {
		c, err := buildkit.ParseCacheSpec(s, true)
		if err != nil {
			return o, err
		}
		o.CacheTo = append(o.CacheTo, c)
	}
	for _, s := range b.cacheFrom {
		c, err := buildkit.ParseCacheSpec(s, false)
		if err != nil {
			return o, err
		}
		o.CacheFrom = append(o.CacheFrom, c)
	}
	return o, nil
}

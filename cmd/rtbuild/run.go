package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/rtbuild/rtbuild/builder"
	rtrun "github.com/rtbuild/rtbuild/builder/run"
	"github.com/rtbuild/rtbuild/images"
)

func newRunCommand(g *globalFlags) *cobra.Command {
	var (
		arch, event, handler, timeout, region, tmpDir string
		envs                                          []string
		memory                                        int
	)
	cmd := &cobra.Command{
		Use:   "run IMAGE",
		Short: "Run an image locally with runc and invoke its function once (needs root)",
		Long: joinLines(
			"Run IMAGE (a registry reference, oci:DIR[:REF] or docker:FILE[:TAG]) for one",
			"architecture without Docker: its file system is unpacked into a temporary",
			"directory and runc runs it in the foreground (read-only root file system, a",
			"tmpfs /tmp, a cleared environment, a network namespace of its own). The",
			"event is posted to the Runtime Interface Emulator inside the container and",
			"the answer is printed on stdout. A function error is an answer too (exit 0);",
			"an HTTP error from the emulator means the runtime failed (exit 1). The",
			"container's logs go to stderr. The container and every temporary file are",
			"removed when the answer is in, on error and on Ctrl-C.",
			"",
			"The container runs ENTRYPOINT + [handler] (--handler, else the image's CMD)",
			"with the image's environment, Lambda's variables over it",
			"(AWS_LAMBDA_FUNCTION_NAME=function, AWS_LAMBDA_FUNCTION_MEMORY_SIZE,",
			"AWS_LAMBDA_FUNCTION_TIMEOUT, AWS_REGION, _HANDLER, ...) and --env values over",
			"both. It needs root and runc; an arm64 image on x86_64 (or the reverse) needs",
			"QEMU's binfmt_misc handler (apt-get install qemu-user-static binfmt-support).",
		),
		Example: `  rtbuild run oci:rtbuild-out/python3.9:python3.9 --handler app.handler --event event.json
  echo '{"name":"x"}' | rtbuild run ghcr.io/acme/fn:1 --event -
  rtbuild run oci:out:nodejs14.x --arch arm64 --handler index.handler --env DEBUG=1`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return &builder.UsageError{Msg: fmt.Sprintf("rtbuild run takes one IMAGE, got %d arguments (e.g. rtbuild run oci:DIR:REF --handler app.handler)", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, err := g.registryOptions()
			if err != nil {
				return err
			}
			var a images.Arch
			if arch != "" {
				if strings.Contains(arch, ",") {
					return &builder.UsageError{Msg: fmt.Sprintf("invalid --arch %q: rtbuild run runs one architecture", arch)}
				}
				if a, err = images.ParseArch(arch); err != nil {
					return &builder.UsageError{Msg: err.Error()}
				}
			}
			d, err := parseFunctionTimeout(timeout)
			if err != nil {
				return err
			}
			env, err := rtrun.ParseEnv(envs, os.LookupEnv)
			if err != nil {
				return err
			}
			payload, err := readEvent(event, cmd.InOrStdin())
			if err != nil {
				return err
			}
			res, err := rtrun.Run(cmd.Context(), rtrun.Options{
				Image:    args[0],
				Arch:     a,
				Registry: reg,
				Event:    payload,
				Handler:  handler,
				Env:      env,
				MemoryMB: memory,
				Timeout:  d,
				Region:   region,
				Output:   cmd.ErrOrStderr(),
				TempDir:  tmpDir,
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if _, err := out.Write(res.Body); err != nil {
				return err
			}
			if len(res.Body) > 0 && !bytes.HasSuffix(res.Body, []byte("\n")) {
				fmt.Fprintln(out)
			}
			// A function error is an answer (HTTP 200 with the error
			// payload); any other status means the emulator or the runtime
			// failed (502: the runtime exited or could not start).
			if res.StatusCode < 200 || res.StatusCode > 299 {
				return fmt.Errorf("the emulator answered HTTP %d %s: the runtime failed, see its logs above", res.StatusCode, http.StatusText(res.StatusCode))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&arch, "arch", "", "architecture to run: x86_64 (amd64) or arm64 (default: this machine's)")
	f.StringVar(&event, "event", "", "the event: a JSON file, or - for stdin (default: {})")
	f.StringVar(&handler, "handler", "", "the handler passed to the entrypoint (default: the image's CMD)")
	f.StringArrayVarP(&envs, "env", "e", nil, "set KEY=VALUE in the container (KEY alone passes on its value here); repeatable")
	f.IntVar(&memory, "memory", rtrun.DefaultMemoryMB, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE in MB (not enforced)")
	f.StringVar(&timeout, "timeout", "", "the function timeout, e.g. 30s, 5m or 300 (seconds); default 300s")
	f.StringVar(&region, "region", rtrun.DefaultRegion, "AWS_REGION and AWS_DEFAULT_REGION")
	f.StringVar(&tmpDir, "tmp-dir", "", "where the image is unpacked (default $TMPDIR or /tmp)")
	return cmd
}

// parseFunctionTimeout takes a Go duration or a number of seconds; empty is
// the default.
func parseFunctionTimeout(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &builder.UsageError{Msg: fmt.Sprintf("invalid --timeout %q: use a duration such as 30s or 5m, or seconds", s)}
	}
	return d, nil
}

// readEvent reads the event from a file, or stdin for "-"; empty is the
// default event.
func readEvent(spec string, stdin io.Reader) ([]byte, error) {
	switch spec {
	case "":
		return nil, nil
	case "-":
		b, err := io.ReadAll(stdin)
		if err != nil {
			return nil, fmt.Errorf("read the event from stdin: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(spec)
	if err != nil {
		return nil, &builder.UsageError{Msg: fmt.Sprintf("invalid --event: %v", err)}
	}
	return b, nil
}

// Command rtbuild builds AWS Lambda runtime base images and function images
// as multi-arch OCI images, in-process, from pinned upstream artifacts.
//
// This package holds only the cobra commands: flags in, a call into builder out.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/trace"
	"strings"
	"syscall"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/layers/fetch"
)

// Exit codes (documented in the README).
const (
	exitOK        = 0
	exitFailure   = 1 // the build failed (I/O, registry refusal, ...)
	exitUsage     = 2 // the request cannot be built as asked (flags, runtime, arch, deprecation, catalog)
	exitIntegrity = 3 // an artifact did not match its pinned digest
	exitUpstream  = 4 // an upstream (artifact server, registry) could not be reached
	exitCanceled  = 130
)

// version is set at link time (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopTrace := startTrace(os.Getenv("RTBUILD_TRACE"), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stopTrace()
	stop()
	os.Exit(code)
}

// startTrace writes a Go execution trace (go tool trace) of the whole run
// to path when it is set: how the benchmarks see where a short run's
// wall-clock time goes (a CPU profile has too few samples in 100 ms).
func startTrace(path string, stderr io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintf(stderr, "rtbuild: RTBUILD_TRACE: %v\n", err)
		return func() {}
	}
	if err := trace.Start(f); err != nil {
		fmt.Fprintf(stderr, "rtbuild: RTBUILD_TRACE: %v\n", err)
		f.Close()
		return func() {}
	}
	return func() {
		trace.Stop()
		if err := f.Close(); err != nil {
			fmt.Fprintf(stderr, "rtbuild: RTBUILD_TRACE: %v\n", err)
		}
	}
}

// run executes the CLI with args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	err = unknownCommand(err)
	if msg := oneLine(err.Error()); msg != "" {
		fmt.Fprintln(stderr, "rtbuild: "+msg)
	}
	return exitCode(ctx, err)
}

func exitCode(ctx context.Context, err error) int {
	var usage *builder.UsageError
	var mismatch *fetch.DigestMismatchError
	var unreachable *fetch.UnreachableError
	var flagErr *flagError
	var registry interface{ Unreachable() bool }
	var coded interface{ exitStatus() int }
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitCanceled
	case errors.As(err, &coded):
		// A command's own status (`rtbuild diff`: 1 for differences, 2 on trouble).
		return coded.exitStatus()
	case errors.As(err, &usage), errors.As(err, &flagErr):
		return exitUsage
	case errors.As(err, &mismatch):
		return exitIntegrity
	case errors.As(err, &unreachable):
		return exitUpstream
	case errors.As(err, &registry) && registry.Unreachable():
		return exitUpstream
	}
	return exitFailure
}

// unknownCommand turns cobra's untyped "unknown command" error into a
// usage error (exit 2) on one line that says where to look.
func unknownCommand(err error) error {
	var usage *builder.UsageError
	msg := err.Error()
	if errors.As(err, &usage) || !strings.HasPrefix(msg, "unknown command ") {
		return err
	}
	head, suggestions, found := strings.Cut(msg, "\n\nDid you mean this?\n")
	msg = strings.TrimSpace(head)
	if found {
		msg += " (did you mean " + strings.Join(strings.Fields(suggestions), " or ") + "?)"
	}
	return &builder.UsageError{Msg: msg + "; see rtbuild --help"}
}

// flagError marks errors in command-line usage.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}

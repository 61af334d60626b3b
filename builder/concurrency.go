package builder

import (
	"context"
	"runtime"

	"golang.org/x/sync/errgroup"
)

// The bounds on a build's concurrency. Everything a build does at once is
// bounded, so its memory and connections do not grow with the number of
// runtimes, architectures or layers:
//
//   - layer builds (unpack + tar + compress + hash): Options.Jobs at once,
//     DefaultJobs() by default; a large layer is compressed in parallel
//     1 MiB blocks (layers/cache), and the layers being compressed at once
//     share min(GOMAXPROCS, 8) blocks in flight (each holds its input and
//     output buffers and a deflate state: a few MiB);
//   - artifact fetches (download, or the store's verified lookup):
//     FetchJobs at once, whatever the number of layers waiting for them;
//   - base images: one pull per (reference, platform) per build;
//   - pushes: the first runtime alone, then PushJobs runtimes at once, each
//     with go-containerregistry's bounded blob transfers (RegistryOptions.Jobs,
//     4 by default), in one session for the whole build
//     (manifests.PushSession), so blobs runtimes share are uploaded once and
//     mounted into the other repositories.
//
// Each platform of each runtime has a goroutine that only waits for these.

// FetchJobs bounds concurrent artifact fetches in a build.
const FetchJobs = 8

// maxDefaultJobs caps DefaultJobs on large machines: compression of one
// layer is itself parallel, and memory grows with Jobs.
const maxDefaultJobs = 8

// DefaultJobs is the default bound on concurrent layer builds: the number
// of CPUs, at most 8.
func DefaultJobs() int { return min(max(runtime.NumCPU(), 1), maxDefaultJobs) }

// limiter is a counting semaphore.
type limiter chan struct{}

func newLimiter(n int) limiter { return make(limiter, max(n, 1)) }

// acquire takes a slot, or returns ctx's error.
func (l limiter) acquire(ctx context.Context) error {
	select {
	case l <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l limiter) release() { <-l }

// PushJobs bounds the runtimes a build pushes at once.
const PushJobs = 4

// runPushes runs the pushes of a build: the first alone, so that what the
// runtimes share (bases, common components) is uploaded once and then
// mounted by the others, then the rest at most PushJobs at once. It
// returns the first error (the others' contexts are then cancelled).
func runPushes(ctx context.Context, jobs []func(context.Context) error) error {
	if len(jobs) == 0 {
		return nil
	}
	if err := jobs[0](ctx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(PushJobs)
	for _, job := range jobs[1:] {
		g.Go(func() error { return job(gctx) })
	}
	return g.Wait()
}

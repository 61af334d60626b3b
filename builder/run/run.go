package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
	"github.com/rtbuild/rtbuild/manifests"
)

// Defaults of Options.
const (
	DefaultMemoryMB     = 128
	DefaultTimeout      = 300 * time.Second // the emulator's default function timeout
	DefaultRegion       = "us-east-1"
	DefaultStartTimeout = 60 * time.Second
	DefaultEvent        = "{}"
)

// Options describe one run.
type Options struct {
	// Image is the image reference, as manifests.PullBase takes it:
	// REGISTRY/REPO[:TAG][@DIGEST], oci:DIR[:REF] or docker:FILE[:TAG].
	Image string
	// Arch is the platform to run; empty means the machine's. A foreign
	// architecture needs a binfmt_misc QEMU handler with the F flag.
	Arch images.Arch
	// Registry holds mirrors and insecure registries for registry pulls.
	Registry manifests.RegistryOptions

	// Event is the invocation's payload; nil means DefaultEvent.
	Event []byte
	// Handler is passed to the entrypoint; empty means the image's Cmd.
	Handler string
	// Env entries (KEY=VALUE) are set last, over the image's and Lambda's.
	Env []string
	// MemoryMB is AWS_LAMBDA_FUNCTION_MEMORY_SIZE (default 128); it is
	// not enforced.
	MemoryMB int
	// Timeout is the function timeout, AWS_LAMBDA_FUNCTION_TIMEOUT
	// (default 300s), which the emulator enforces.
	Timeout time.Duration
	// Region is AWS_REGION and AWS_DEFAULT_REGION (default us-east-1).
	Region string

	// Output receives the container's stdout and stderr (the emulator's
	// and the function's logs); nil discards them.
	Output io.Writer
	// TempDir is where the run's temporary directory is made (default
	// os.TempDir()); the image's file system is unpacked there.
	TempDir string
	// Runc is the runc binary; empty means runc on PATH or in an sbin
	// directory.
	Runc string
	// StartTimeout bounds the wait for the emulator to listen, and is
	// added to Timeout for the wait for the answer (default 60s).
	StartTimeout time.Duration
}

// Run runs the image's emulator in a runc container, posts the event to it
// and returns its answer; see the package documentation. The container and
// every temporary directory are gone when Run returns, whatever happened.
// Errors are one line; *builder.UsageError marks what the caller must fix
// (flags, the image's config, not root, runc missing, no emulation).
func Run(ctx context.Context, o Options) (*Result, error) {
	return run(ctx, o, defaultHost())
}

func run(ctx context.Context, o Options, h host) (res *Result, err error) {
	o = withDefaults(o, h)
	if err := validate(o); err != nil {
		return nil, err
	}
	// Cheap checks first: nothing is pulled for a run that cannot happen.
	if err := h.checkRoot(); err != nil {
		return nil, err
	}
	runcBin, err := h.findRunc(o.Runc)
	if err != nil {
		return nil, err
	}
	if err := h.checkEmulation(o.Arch); err != nil {
		return nil, err
	}

	base, err := manifests.PullBase(ctx, o.Image, v1.Platform{OS: "linux", Architecture: o.Arch.OCI()}, o.Registry)
	if err != nil {
		return nil, localImageError(o.Image, err)
	}
	cf, err := base.Image.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read the config of %s: %w", o.Image, err)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	proc, err := NewProcess(cf, o.Image, Settings{
		Handler:   o.Handler,
		MemoryMB:  o.MemoryMB,
		Timeout:   o.Timeout,
		Region:    o.Region,
		LogStream: time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + strings.TrimPrefix(id, "rtbuild-"),
	}, o.Env)
	if err != nil {
		return nil, err
	}

	dir, err := os.MkdirTemp(o.TempDir, "rtbuild-run-")
	if err != nil {
		return nil, fmt.Errorf("create a temporary directory: %w", err)
	}
	defer func() {
		if rerr := removeTemp(dir); rerr != nil {
			err = errors.Join(err, rerr)
			res = nil
		}
	}()
	bundle := filepath.Join(dir, "bundle")
	rootfs := filepath.Join(bundle, "rootfs")
	state := filepath.Join(dir, "state")
	// The temporary directory is private (0700); the root file system is
	// 0755 unless the image says otherwise, as it is seen from inside.
	for _, d := range []string{bundle, state} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return nil, err
		}
	}
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return nil, err
	}
	if err := Unpack(ctx, base.Image, rootfs); err != nil {
		return nil, interrupted(ctx, err)
	}
	spec := NewSpec(Container{Process: proc, Hostname: "localhost"})
	b, err := json.MarshalIndent(spec, "", "\t")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, interrupted(ctx, err)
	}

	c, err := startContainer(runcBin, state, bundle, filepath.Join(dir, "pid"), id, o.Output)
	if err != nil {
		return nil, err
	}
	if h.started != nil {
		h.started(c.root, c.id, 0)
	}
	defer func() {
		if serr := c.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("stop the container: %w", serr))
			res = nil
		}
	}()
	return talk(ctx, c, filepath.Join(dir, "pid"), o, h.started)
}

// talk waits for the emulator in the running container c and invokes it.
func talk(ctx context.Context, c *container, pidFile string, o Options, started func(string, string, int)) (*Result, error) {
	sctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	pid, err := c.waitPID(sctx, pidFile)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			return nil, fmt.Errorf("runc did not start the container within %s", o.StartTimeout)
		}
		return nil, interrupted(ctx, err)
	}
	if started != nil {
		started(c.root, c.id, pid)
	}
	ns, err := OpenNetns(pid)
	if err != nil {
		if c.waitExit(time.Second) {
			return nil, c.exitError(beforeListening)
		}
		return nil, err
	}
	defer ns.Close()
	// Make sure the namespace opened is the container's: its PID could have
	// been reused if the container had exited in between.
	if err := c.checkPID(pid); err != nil {
		if c.waitExit(time.Second) {
			return nil, c.exitError(beforeListening)
		}
		return nil, err
	}
	if same, err := ns.IsCurrent(); err != nil {
		return nil, fmt.Errorf("inspect the container's network namespace: %w", err)
	} else if same {
		return nil, errors.New("the container shares rtbuild's network namespace; refusing to post to its port 8080")
	}
	if err := waitReady(sctx, ns, c.exited, o.StartTimeout); err != nil {
		if errors.Is(err, errExited) {
			return nil, c.exitError(beforeListening)
		}
		return nil, interrupted(ctx, err)
	}
	ictx, icancel := context.WithTimeout(ctx, o.Timeout+o.StartTimeout)
	defer icancel()
	res, err := invoke(ictx, ns, o.Event, c.exited)
	if errors.Is(err, errExited) {
		return nil, c.exitError("before answering")
	}
	if err != nil {
		return nil, interrupted(ctx, err)
	}
	return res, nil
}

// interrupted words an error caused by the caller's cancellation (Ctrl-C) as
// such, keeping context.Canceled in the chain.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

func withDefaults(o Options, h host) Options {
	if o.Arch == "" {
		o.Arch = hostArch(h.goarch)
	}
	if o.Event == nil {
		o.Event = []byte(DefaultEvent)
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = DefaultMemoryMB
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o
}

func validate(o Options) error {
	usage := func(format string, a ...any) error { return &builder.UsageError{Msg: fmt.Sprintf(format, a...)} }
	switch {
	case o.Image == "":
		return usage("no image given: rtbuild run IMAGE (a registry reference, oci:DIR[:REF] or docker:FILE[:TAG])")
	case o.Arch == "":
		return usage("this machine's architecture is neither x86_64 nor arm64: pass --arch")
	case o.Arch != images.X86_64 && o.Arch != images.Arm64:
		return usage("unknown architecture %q: use x86_64 (amd64) or arm64", o.Arch)
	case o.MemoryMB < 128 || o.MemoryMB > 10240:
		return usage("invalid --memory %d: Lambda allows 128 to 10240 MB", o.MemoryMB)
	case o.Timeout < time.Second || o.Timeout > 15*time.Minute:
		return usage("invalid --timeout %s: Lambda allows 1s to 15m", o.Timeout)
	case strings.ContainsAny(o.Handler, "\x00\n"):
		return usage("invalid --handler %q", o.Handler)
	}
	for _, kv := range o.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return usage("invalid --env %q: use KEY=VALUE", kv)
		}
	}
	return nil
}

// newID is a fresh container id.
func newID() (string, error) {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "rtbuild-" + hex.EncodeToString(b), nil
}

// removeTemp removes the run's temporary directory, unless something is
// still mounted below it (removing would then reach into the mount).
func removeTemp(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return fmt.Errorf("remove %s: reading the mount table: %w", dir, err)
	}
	if len(mounts) > 0 {
		return fmt.Errorf("not removing %s: %s is still mounted", dir, strings.Join(mounts, ", "))
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// localImageError marks a local IMAGE (oci:DIR[:REF], docker:FILE[:TAG])
// that cannot be read as the caller's to fix, a usage error (exit 2): the
// path, the REF or the platform is wrong, as `rtbuild inspect` and
// `rtbuild diff` report it. Registry errors keep their own classification.
func localImageError(image string, err error) error {
	if strings.HasPrefix(image, "oci:") || strings.HasPrefix(image, "docker:") {
		return &builder.UsageError{Msg: err.Error() + " (check IMAGE: oci:DIR[:REF] or docker:FILE[:TAG])"}
	}
	return err
}

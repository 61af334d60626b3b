package run

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/rtbuild/rtbuild/builder"
)

// Function names what the emulator's invocation URL and Lambda's variables
// call the function.
const Function = "function"

// defaultPath is the PATH of an image that sets none (Docker's default).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Process is what the container runs.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
}

// Settings are the function settings Lambda passes as environment.
type Settings struct {
	Handler   string
	MemoryMB  int
	Timeout   time.Duration
	Region    string
	LogStream string // AWS_LAMBDA_LOG_STREAM_NAME
}

// LambdaEnv is the environment Lambda sets for a function (the names the
// emulator and the runtime interface clients read).
func LambdaEnv(s Settings) []string {
	env := []string{
		"AWS_LAMBDA_FUNCTION_NAME=" + Function,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=" + strconv.Itoa(s.MemoryMB),
		"AWS_LAMBDA_FUNCTION_TIMEOUT=" + strconv.Itoa(timeoutSeconds(s.Timeout)),
		"AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/" + Function,
	}
	if s.LogStream != "" {
		env = append(env, "AWS_LAMBDA_LOG_STREAM_NAME="+s.LogStream)
	}
	env = append(env, "AWS_REGION="+s.Region, "AWS_DEFAULT_REGION="+s.Region)
	if s.Handler != "" {
		env = append(env, "_HANDLER="+s.Handler)
	}
	return env
}

// timeoutSeconds is d in whole seconds, rounded up, at least 1.
func timeoutSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	if s < 1 {
		s = 1
	}
	return s
}

// MergeEnv merges KEY=VALUE lists: a later list's value of a key replaces an
// earlier one's in place, new keys are appended in order.
func MergeEnv(lists ...[]string) []string {
	var out []string
	at := map[string]int{}
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := at[k]; ok {
				out[i] = kv
				continue
			}
			at[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// ParseEnv checks --env values: KEY=VALUE, or KEY alone to pass on the
// value of KEY in getenv's environment (omitted when unset there).
func ParseEnv(values []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range values {
		k, _, hasValue := strings.Cut(v, "=")
		if k == "" || strings.ContainsAny(k, " \t\n\x00") {
			return nil, &builder.UsageError{Msg: fmt.Sprintf("invalid --env %q: use KEY=VALUE (or KEY to pass on its value here)", v)}
		}
		if hasValue {
			out = append(out, v)
			continue
		}
		if lookup != nil {
			if val, ok := lookup(k); ok {
				out = append(out, k+"="+val)
			}
		}
	}
	return out, nil
}

// NewProcess is what runs for the image config cf: the image's Entrypoint
// followed by the handler (handler, else the image's Cmd), in its
// WorkingDir ("/" when unset), with the environment built from the image's,
// Lambda's variables for s (they replace the image's) and extra (--env, which
// replaces both). The host's environment is never passed on. image names the
// image in errors.
func NewProcess(cf *v1.ConfigFile, image string, s Settings, extra []string) (Process, error) {
	c := cf.Config
	if len(c.Entrypoint) == 0 {
		return Process{}, &builder.UsageError{Msg: fmt.Sprintf("%s has no ENTRYPOINT: a Lambda image runs one (the base images use /lambda-entrypoint.sh)", image)}
	}
	args := append([]string{}, c.Entrypoint...)
	switch {
	case s.Handler != "":
		args = append(args, s.Handler)
	case len(c.Cmd) > 0:
		args = append(args, c.Cmd...)
		if len(c.Cmd) == 1 {
			s.Handler = c.Cmd[0]
		}
	default:
		return Process{}, &builder.UsageError{Msg: fmt.Sprintf("%s has no CMD naming the function's handler: pass --handler, e.g. --handler app.handler", image)}
	}
	env := MergeEnv([]string{"PATH=" + defaultPath}, c.Env, LambdaEnv(s), extra)
	cwd := c.WorkingDir
	if cwd == "" {
		cwd = "/"
	}
	return Process{Args: args, Env: env, Cwd: cwd}, nil
}

// Container is the runtime configuration of a run.
type Container struct {
	Process  Process
	Hostname string
	// TmpSizeMB is the size of the tmpfs at /tmp (Lambda's default
	// ephemeral storage is 512 MB).
	TmpSizeMB int
}

// NewSpec is the OCI runtime configuration of c, for a bundle whose root
// file system is the directory "rootfs" next to config.json: Lambda's
// rules (a read-only root file system, a writable tmpfs /tmp, no /dev/shm),
// root user with a small capability set and no new privileges, new PID,
// mount, IPC, UTS and network namespaces (runc brings the new network
// namespace's loopback up), and a minimal /proc, /dev and read-only /sys.
func NewSpec(c Container) *specs.Spec {
	tmp := c.TmpSizeMB
	if tmp <= 0 {
		tmp = 512
	}
	caps := []string{"CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"}
	return &specs.Spec{
		Version: specs.Version,
		Root:    &specs.Root{Path: "rootfs", Readonly: true},
		Process: &specs.Process{
			Terminal: false,
			User:     specs.User{UID: 0, GID: 0},
			Args:     append([]string{}, c.Process.Args...),
			Env:      append([]string{}, c.Process.Env...),
			Cwd:      c.Process.Cwd,
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  caps,
				Effective: caps,
				Permitted: caps,
			},
			Rlimits:         []specs.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1024, Soft: 1024}},
			NoNewPrivileges: true,
		},
		Hostname: c.Hostname,
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%dm", tmp)}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace},
				{Type: specs.NetworkNamespace},
				{Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace},
				{Type: specs.MountNamespace},
			},
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
			},
			ReadonlyPaths: []string{
				"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
			},
		},
	}
}

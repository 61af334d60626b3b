package run

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/rtbuild/rtbuild/builder"
	"github.com/rtbuild/rtbuild/images"
)

// host is what Run asks of the machine; tests replace parts of it.
type host struct {
	geteuid   func() int
	lookPath  func(string) (string, error)
	isExec    func(string) bool
	binfmtDir string // where binfmt_misc is mounted: /proc/sys/fs/binfmt_misc
	goarch    string // the machine's architecture, Go's name
	// started, when set, is told the container's runc state directory and
	// id once runc runs (pid 0), then again with its PID once known (tests
	// check they are all gone afterwards).
	started func(runcRoot, id string, pid int)
}

func defaultHost() host {
	return host{
		geteuid:   os.Geteuid,
		lookPath:  exec.LookPath,
		isExec:    isExecutable,
		binfmtDir: "/proc/sys/fs/binfmt_misc",
		goarch:    runtime.GOARCH,
	}
}

// HostArch returns the machine's architecture in Lambda's spelling
// (x86_64, arm64), or "" when it is neither.
func HostArch() images.Arch { return hostArch(runtime.GOARCH) }

func hostArch(goarch string) images.Arch {
	a, err := images.ParseArch(goarch)
	if err != nil {
		return ""
	}
	return a
}

// checkRoot fails unless the process runs as root: runc creates namespaces,
// mounts and cgroups.
func (h host) checkRoot() error {
	if uid := h.geteuid(); uid != 0 {
		return &builder.UsageError{Msg: fmt.Sprintf("rtbuild run needs root to run runc: run it as root, e.g. sudo rtbuild run ... (running as uid %d)", uid)}
	}
	return nil
}

// runcSbinDirs are where runc is looked for when it is not on PATH (sudo and
// some shells drop the sbin directories from PATH).
var runcSbinDirs = []string{"/usr/local/sbin", "/usr/sbin", "/sbin"}

// findRunc returns the runc to use: given (an explicit path, which must be
// executable), else runc on PATH, else in the sbin directories.
func (h host) findRunc(given string) (string, error) {
	if given != "" {
		if !h.isExec(given) {
			return "", &builder.UsageError{Msg: fmt.Sprintf("runc not found: %s is not an executable file (apt-get install runc)", given)}
		}
		return given, nil
	}
	if p, err := h.lookPath("runc"); err == nil {
		return p, nil
	}
	for _, d := range runcSbinDirs {
		if p := filepath.Join(d, "runc"); h.isExec(p) {
			return p, nil
		}
	}
	return "", &builder.UsageError{Msg: "runc not found: apt-get install runc"}
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// qemuHandler is the name Debian's qemu-user-static gives the binfmt_misc
// handler of an architecture.
func qemuHandler(arch images.Arch) string {
	switch arch {
	case images.Arm64:
		return "qemu-aarch64"
	case images.X86_64:
		return "qemu-x86_64"
	}
	return "qemu-" + string(arch)
}

// checkEmulation returns nil when binaries of arch can run on this machine:
// arch is the machine's own, or binfmt_misc is mounted and enabled and holds
// an enabled handler for arch registered with the F (fix-binary) flag. The F
// flag makes the kernel open the interpreter when the handler is registered,
// so it is found from inside the container's root file system, where it does
// not exist. It only reads; it never registers or enables anything.
func (h host) checkEmulation(arch images.Arch) error {
	if arch == hostArch(h.goarch) {
		return nil
	}
	handler := qemuHandler(arch)
	install := "apt-get install qemu-user-static binfmt-support && update-binfmts --enable " + handler
	cannot := fmt.Sprintf("%s images cannot run on this %s machine", arch, h.goarch)
	status, err := os.ReadFile(filepath.Join(h.binfmtDir, "status"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return &builder.UsageError{Msg: fmt.Sprintf("%s: binfmt_misc is not mounted at %s; enable QEMU user emulation: mount -t binfmt_misc binfmt_misc %s && %s",
			cannot, h.binfmtDir, h.binfmtDir, install)}
	case err != nil:
		return &builder.UsageError{Msg: fmt.Sprintf("%s: reading binfmt_misc: %v", cannot, err)}
	case strings.TrimSpace(string(status)) != "enabled":
		return &builder.UsageError{Msg: fmt.Sprintf("%s: binfmt_misc is disabled; enable it with update-binfmts --enable %s (after %s)", cannot, handler, strings.Split(install, " && ")[0])}
	}
	file := filepath.Join(h.binfmtDir, handler)
	f, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return &builder.UsageError{Msg: fmt.Sprintf("%s: no binfmt_misc handler for %s (%s); enable QEMU user emulation: %s", cannot, arch, file, install)}
	}
	if err != nil {
		return &builder.UsageError{Msg: fmt.Sprintf("%s: reading %s: %v", cannot, file, err)}
	}
	defer f.Close()
	enabled, flags := false, ""
	sc := bufio.NewScanner(f)
	for first := true; sc.Scan(); first = false {
		line := strings.TrimSpace(sc.Text())
		if first {
			enabled = line == "enabled"
		}
		if v, ok := strings.CutPrefix(line, "flags:"); ok {
			flags = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return &builder.UsageError{Msg: fmt.Sprintf("%s: reading %s: %v", cannot, file, err)}
	}
	if !enabled {
		return &builder.UsageError{Msg: fmt.Sprintf("%s: the binfmt_misc handler %s is disabled; enable it: update-binfmts --enable %s", cannot, handler, handler)}
	}
	if !strings.Contains(flags, "F") {
		return &builder.UsageError{Msg: fmt.Sprintf("%s: the binfmt_misc handler %s lacks the F (fix-binary) flag, so its interpreter cannot be found inside a container; use Debian's: %s", cannot, handler, install)}
	}
	return nil
}

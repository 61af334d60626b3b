package run

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rtbuild/rtbuild/images"
)

func fakeBinfmt(t *testing.T, status string, handlers map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if status != "" {
		if err := os.WriteFile(filepath.Join(dir, "status"), []byte(status+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, content := range handlers {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const qemuAarch64F = `enabled
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
flags: POCF
offset 0
magic 7f454c460201010000000000000000000200b700
mask ffffffffffffff00fffffffffffffffffeffffff
`

func TestCheckEmulation(t *testing.T) {
	install := "apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-aarch64"
	for _, tc := range []struct {
		name     string
		status   string
		handlers map[string]string
		want     string // "" for no error
	}{
		{"ok", "enabled", map[string]string{"qemu-aarch64": qemuAarch64F}, ""},
		{"not mounted", "", nil, "binfmt_misc is not mounted at DIR; enable QEMU user emulation: mount -t binfmt_misc binfmt_misc DIR && " + install},
		{"binfmt disabled", "disabled", map[string]string{"qemu-aarch64": qemuAarch64F}, "binfmt_misc is disabled"},
		{"no handler", "enabled", map[string]string{"qemu-x86_64": qemuAarch64F}, "no binfmt_misc handler for arm64 (DIR/qemu-aarch64); enable QEMU user emulation: " + install},
		{"handler disabled", "enabled", map[string]string{"qemu-aarch64": strings.Replace(qemuAarch64F, "enabled", "disabled", 1)}, "the binfmt_misc handler qemu-aarch64 is disabled; enable it: update-binfmts --enable qemu-aarch64"},
		{"no fix-binary flag", "enabled", map[string]string{"qemu-aarch64": strings.Replace(qemuAarch64F, "flags: POCF", "flags: OC", 1)}, "the binfmt_misc handler qemu-aarch64 lacks the F (fix-binary) flag"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := fakeBinfmt(t, tc.status, tc.handlers)
			h := host{binfmtDir: dir, goarch: "amd64"}
			err := h.checkEmulation(images.Arm64)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			assertUsage(t, err, "arm64 images cannot run on this amd64 machine: "+strings.ReplaceAll(tc.want, "DIR", dir))
		})
	}

	// The machine's own architecture needs nothing.
	if err := (host{binfmtDir: "/nonexistent", goarch: "arm64"}).checkEmulation(images.Arm64); err != nil {
		t.Fatal(err)
	}
	// amd64 images on arm64 need qemu-x86_64.
	err := (host{binfmtDir: fakeBinfmt(t, "enabled", nil), goarch: "arm64"}).checkEmulation(images.X86_64)
	assertUsage(t, err, "update-binfmts --enable qemu-x86_64")
}

func TestPreflightErrors(t *testing.T) {
	noRunc := func(string) (string, error) { return "", exec.ErrNotFound }
	never := func(string) bool { return false }

	h := host{geteuid: func() int { return 1000 }}
	assertUsage(t, h.checkRoot(), "rtbuild run needs root to run runc: ")

	h = host{lookPath: noRunc, isExec: never}
	_, err := h.findRunc("")
	assertUsage(t, err, "runc not found: apt-get install runc")
	if err.Error() != "runc not found: apt-get install runc" {
		t.Errorf("err = %q", err)
	}

	h = host{lookPath: noRunc, isExec: func(p string) bool { return p == "/usr/sbin/runc" }}
	if p, err := h.findRunc(""); err != nil || p != "/usr/sbin/runc" {
		t.Errorf("findRunc = %q, %v; want the sbin fallback", p, err)
	}
	h = host{isExec: never}
	_, err = h.findRunc("/opt/runc")
	assertUsage(t, err, "runc not found: /opt/runc is not an executable file")
}

// Run checks before it pulls anything: a bogus image reference is never
// read when the machine cannot run it.
func TestRunChecksFirst(t *testing.T) {
	base := host{
		geteuid:   func() int { return 0 },
		lookPath:  func(string) (string, error) { return "/usr/sbin/runc", nil },
		isExec:    func(string) bool { return true },
		binfmtDir: fakeBinfmt(t, "enabled", nil),
		goarch:    "amd64",
	}
	o := Options{Image: "oci:/nonexistent", TempDir: t.TempDir()}

	h := base
	h.geteuid = func() int { return 1000 }
	_, err := run(context.Background(), o, h)
	assertUsage(t, err, "rtbuild run needs root to run runc")

	h = base
	h.lookPath = func(string) (string, error) { return "", exec.ErrNotFound }
	h.isExec = func(string) bool { return false }
	_, err = run(context.Background(), o, h)
	assertUsage(t, err, "runc not found: apt-get install runc")

	o.Arch = images.Arm64
	_, err = run(context.Background(), o, base)
	assertUsage(t, err, "arm64 images cannot run on this amd64 machine: no binfmt_misc handler for arm64")

	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "no image given"},
		{Options{Image: "x", MemoryMB: 64}, "invalid --memory 64"},
		{Options{Image: "x", Timeout: 20 * 60e9}, "invalid --timeout 20m0s"},
		{Options{Image: "x", Env: []string{"NOVALUE"}}, "invalid --env"},
		{Options{Image: "x", Arch: "s390x"}, "unknown architecture"},
	} {
		_, err := run(context.Background(), tc.o, base)
		assertUsage(t, err, tc.want)
	}

	// Nothing was left in the temporary directory.
	if ents, _ := os.ReadDir(o.TempDir); len(ents) != 0 {
		t.Errorf("left behind: %v", ents)
	}
}

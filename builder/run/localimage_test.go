package run

import (
	"context"
	"path/filepath"
	"testing"
)

// A local IMAGE that is not there is the caller's to fix: a usage error
// (exit 2) naming the path, as rtbuild inspect and rtbuild diff report it.
func TestRunMissingLocalImageIsUsage(t *testing.T) {
	h := host{
		geteuid:   func() int { return 0 },
		lookPath:  func(string) (string, error) { return "/usr/sbin/runc", nil },
		isExec:    func(string) bool { return true },
		binfmtDir: fakeBinfmt(t, "enabled", nil),
		goarch:    "amd64",
	}
	dir := t.TempDir()
	for _, tc := range []struct{ image, want string }{
		{"oci:" + filepath.Join(dir, "nope") + ":python3.9", filepath.Join(dir, "nope") + " is not an OCI image layout"},
		{"docker:" + filepath.Join(dir, "nope.tar"), "no such file or directory"},
	} {
		_, err := run(context.Background(), Options{Image: tc.image, TempDir: t.TempDir()}, h)
		assertUsage(t, err, tc.want)
		assertUsage(t, err, "(check IMAGE: oci:DIR[:REF] or docker:FILE[:TAG])")
	}
}

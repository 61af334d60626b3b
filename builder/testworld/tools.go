package testworld

import (
	"testing"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

// Registry is a real docker-registry process on 127.0.0.1 (see
// testtools.Registry).
type Registry = testtools.Registry

// StartRegistry starts Debian's docker-registry on a free loopback port and
// stops it when the test ends (see testtools.StartRegistry).
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	return testtools.StartRegistry(t)
}

// RequireTool returns the path of a tool the test needs, skipping the test
// locally and failing it in CI when it is missing (see testtools.RequireTool).
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	return testtools.RequireTool(t, name)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	return testtools.FreePort(t)
}

// CacheDir returns the persistent test cache directory (see
// testtools.CacheDir).
func CacheDir(t testing.TB) string {
	t.Helper()
	return testtools.CacheDir(t)
}

// ToolsDir returns the directory of the test tools module, testdata/tools
// (see testtools.ToolsDir).
func ToolsDir(t testing.TB) string {
	t.Helper()
	return testtools.ToolsDir(t)
}

// BuildRIE returns the path of the Runtime Interface Emulator built for
// linux/goarch (see testtools.BuildRIE).
func BuildRIE(t testing.TB, goarch string) string {
	t.Helper()
	return testtools.BuildRIE(t, goarch)
}

// NpmTarball returns the path of the cached, integrity-checked tarball of
// name@version from the npm registry (see testtools.NpmTarball).
func NpmTarball(t testing.TB, name, version string) string {
	t.Helper()
	return testtools.NpmTarball(t, name, version)
}

// NodeBinary returns the path of the Node.js binary of the given version for
// linux/goarch (see testtools.NodeBinary).
func NodeBinary(t testing.TB, version, goarch string) string {
	t.Helper()
	return testtools.NodeBinary(t, version, goarch)
}

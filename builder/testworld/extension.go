package testworld

import (
	"testing"

	"github.com/rtbuild/rtbuild/layers/testtools"
)

// ExtensionBinary returns the path of the test's external Lambda extension
// (testdata/tools/extension, standard library only) built for linux/goarch
// (amd64, arm64) with CGO_ENABLED=0, -trimpath and no symbol table. Like
// GoHandler it is cached in CacheDir, keyed by goarch and a hash of the tools
// module's go.mod, go.sum and the extension's sources, and installed by
// rename. Installed as /opt/extensions/<name> (a layer's extensions/<name>),
// it registers with the Extensions API under its file name.
func ExtensionBinary(t testing.TB, goarch string) string {
	t.Helper()
	if goarch != "amd64" && goarch != "arm64" {
		t.Fatalf("ExtensionBinary: unsupported goarch %q (amd64, arm64)", goarch)
	}
	return testtools.BuildGoTool(t, testtools.GoTool{
		What: "the test extension", ModuleDir: ToolsDir(t), Pkg: "./extension", GOARCH: goarch,
		KeyFiles: []string{"go.mod", "go.sum", "extension/*.go"}, CacheDir: "extension", Name: "extension-linux-" + goarch,
		LDFlags: "-s -w", Env: []string{"CGO_ENABLED=0"},
	})
}

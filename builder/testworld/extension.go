package testworld

import "testing"

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
	return buildGoTool(t, goTool{
		what: "the test extension", moduleDir: ToolsDir(t), pkg: "./extension", goarch: goarch,
		keyFiles: []string{"go.mod", "go.sum", "extension/*.go"}, cacheDir: "extension", name: "extension-linux-" + goarch,
		ldflags: "-s -w", env: []string{"CGO_ENABLED=0"},
	})
}

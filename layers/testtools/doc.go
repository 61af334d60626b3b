// Package testtools is test support shared by every package's tests: it
// starts Debian's docker-registry on 127.0.0.1 (StartRegistry), builds Go
// tools such as the Runtime Interface Emulator from modules pinned in
// testdata/tools (BuildRIE, BuildGoTool), fetches Node.js binaries and npm
// tarballs (NodeBinary, NpmTarball), finds free ports (FreePort) and keeps
// the persistent test cache directory (CacheDir).
//
// What a test needs from outside (a tool, the network) skips the test
// locally and fails it in CI (CI=true), so CI never silently tests less.
//
// testtools depends on no rtbuild package above layers (only
// layers/atomicfile), so the tests of images, layers and manifests may use
// it without importing the builder; the fixture world
// built on top of it is builder/testworld.
package testtools

// Package nodejsric holds rtbuild's own Node.js runtime interface client: the
// JavaScript program that runs in a Node.js runtime image, talks to the Lambda
// Runtime API (GET /runtime/invocation/next, POST .../response, .../error,
// /runtime/init/error), loads the function's handler and calls it.
//
// Why rtbuild ships its own client: the published one, the npm package
// aws-lambda-ric, is not prebuilt. Installing it compiles curl and
// aws-lambda-cpp with node-gyp, so it needs a compiler toolchain of the target
// architecture inside the build, and it cannot be layered onto an arm64 image
// from an x86_64 machine (or the other way round) without one. This client is plain CommonJS JavaScript on Node's http module, with no
// native code and no dependencies, so one set of files serves every
// architecture and every supported Node.js version (10, 12 and 14; it avoids
// syntax newer than Node.js 10 understands).
//
// The files install flat under /var/runtime and run as
//
//	/var/lang/bin/node /var/runtime/index.js "$_HANDLER"
//
// Behaviour that differs from, or is not covered by, the official client is
// documented in the comments at the top of runtime.js and user-function.js;
// in short: errors are posted as {"errorType", "errorMessage", "stackTrace"}
// (the official client calls the last field "trace"), init errors exit with
// status 1 after POST /runtime/init/error, uncaught exceptions during an
// invocation exit with 129 and unhandled rejections with 128, and response
// streaming is not supported.
package nodejsric

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.js
var jsFiles embed.FS

// Entrypoint is the file node runs, relative to the runtime directory.
const Entrypoint = "index.js"

// Dir is where the files belong in an image.
const Dir = "/var/runtime"

// FileMode is the mode the files should have in an image: readable by the
// unprivileged user Lambda runs functions as, not executable (node runs them).
const FileMode = 0o644

// Files returns the client's files, keyed by their path relative to Dir (all
// at its top level), with their contents. The map is a fresh copy on each
// call; callers may modify it.
func Files() map[string][]byte {
	out := map[string][]byte{}
	entries, err := fs.ReadDir(jsFiles, ".")
	if err != nil {
		panic("nodejsric: reading embedded files: " + err.Error())
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		b, err := jsFiles.ReadFile(e.Name())
		if err != nil {
			panic("nodejsric: reading embedded " + e.Name() + ": " + err.Error())
		}
		out[e.Name()] = b
	}
	return out
}

// Names returns the relative file names of Files, sorted.
func Names() []string {
	files := Files()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Command returns the command line that starts the client for a handler, for
// a bootstrap script or a test: node, then Dir/Entrypoint, then the handler.
func Command(nodePath, handler string) []string {
	return []string{nodePath, Dir + "/" + Entrypoint, handler}
}

// Package testworld is the fixture upstream world rtbuild's tests build
// against: synthetic artifacts for every component of the catalog served by a
// local HTTP server, synthetic Amazon Linux stand-in bases for both
// architectures, and a real registry (Debian's docker-registry) on 127.0.0.1.
// Tests point rtbuild at it with --catalog and --mirror, exactly as a user
// would point it at a mirror.
//
// The support that does not depend on the builder (the registry, Go tools
// built from pinned modules, Node.js and npm tarballs, free ports, the test
// cache) lives in layers/testtools; the wrappers in tools.go keep it
// reachable as testworld.X for the builder's and the command's tests.
package testworld

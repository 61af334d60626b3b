//go:build !unix

package testworld

// lockFile is a no-op where advisory file locks are not available; the
// real world's cache is then safe for one test process at a time.
func lockFile(p string) (func(), error) { return func() {}, nil }

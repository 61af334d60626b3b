//go:build !unix

package testtools

// LockFile is a no-op where advisory file locks are not available; the
// test cache is then safe for one test process at a time.
func LockFile(p string) (func(), error) { return func() {}, nil }

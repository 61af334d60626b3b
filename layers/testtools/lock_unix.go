//go:build unix

package testtools

import (
	"os"
	"syscall"
)

// LockFile takes an exclusive advisory lock on p (created if needed), so
// that concurrent test processes sharing the test cache (CacheDir) take
// turns; the returned function releases it.
func LockFile(p string) (func(), error) {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

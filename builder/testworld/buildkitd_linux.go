package testworld

import "syscall"

// buildkitdSysProcAttr kills buildkitd if the test process dies first.
func buildkitdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// detach unmounts mp lazily (it is gone from the tree at once).
func detach(mp string) error { return syscall.Unmount(mp, syscall.MNT_DETACH) }

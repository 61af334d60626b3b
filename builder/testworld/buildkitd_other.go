//go:build !linux

package testworld

import (
	"errors"
	"syscall"
)

// buildkitdSysProcAttr: buildkitd (runc, overlayfs) runs on Linux only;
// StartBuildkitd skips before it gets here.
func buildkitdSysProcAttr() *syscall.SysProcAttr { return nil }

func detach(string) error { return errors.New("unmounting is implemented on Linux only") }

//go:build linux

package scenario

import "syscall"

// procAttr kills the worker when the test binary dies, so no process outlives a
// crashed or timed-out test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

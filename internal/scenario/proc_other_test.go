//go:build !linux

package scenario

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }

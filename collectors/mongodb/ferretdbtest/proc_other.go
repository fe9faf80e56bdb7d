//go:build !linux

package ferretdbtest

import "syscall"

// childAttr is nothing where the parent's death cannot be signalled.
func childAttr() *syscall.SysProcAttr { return nil }

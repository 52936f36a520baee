//go:build !linux

package cluster

import "syscall"

// sysProcAttr has no parent-death signal outside Linux; cleanups kill nodes.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// allStopped cannot see thread states outside Linux; Pause returns as soon
// as SIGSTOP is sent, and the process may run a moment longer.
func allStopped(pid int) (bool, error) { return true, nil }

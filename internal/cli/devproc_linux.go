package cli

import "syscall"

// devProcAttr puts a dev cluster node in its own process group, so a
// terminal's Ctrl-C reaches only `strata dev cluster`, which then stops the
// nodes itself and can tell their exit from a crash. Pdeathsig stops the
// node if the parent dies without doing so (kill -9), so no node is left
// holding its ports.
func devProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

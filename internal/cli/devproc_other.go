//go:build !unix

package cli

import "syscall"

// devProcAttr has nothing to set where there are no process groups.
func devProcAttr() *syscall.SysProcAttr { return nil }

package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// sysProcAttr makes the kernel kill a node if the test binary dies without
// running its cleanups (a go test timeout, a crash), so no node outlives it
// holding ports and files.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// allStopped reports whether every thread of process pid is stopped by a
// signal. SIGSTOP takes effect as each thread next handles signals, after
// kill(2) has returned, so Pause polls this.
func allStopped(pid int) (bool, error) {
	stats, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	if err != nil || len(stats) == 0 {
		return false, fmt.Errorf("list threads of %d: %v", pid, err)
	}
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread exited
			}
			return false, err
		}
		// The state follows the command name, which is in parentheses
		// and may itself contain ") ".
		i := bytes.LastIndexByte(data, ')')
		if i < 0 || i+2 >= len(data) {
			return false, fmt.Errorf("%s: cannot parse %q", path, data)
		}
		if s := data[i+2]; s != 'T' && s != 't' {
			return false, nil
		}
	}
	return true, nil
}

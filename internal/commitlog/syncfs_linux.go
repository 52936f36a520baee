package commitlog

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS implements FS with syncfs(2): one call writes back every dirty
// page and commits the journal of the file system, where an fsync per file
// would commit it once per file.
func (OSFS) SyncFS(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return &os.PathError{Op: "syncfs", Path: name, Err: err}
	}
	return nil
}

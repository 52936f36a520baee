package commitlog

import (
	"errors"
	"io/fs"
	"os"
	"sync"
)

// errInjected is the failure faultFS returns once its budget is spent.
var errInjected = errors.New("injected failure")

// faultFS wraps a memFS and fails every mutating operation (create, write,
// sync, truncate, rename, remove, directory sync) after the first budget
// of them, as a machine that dies mid-way would; reads keep working. A
// negative budget never fails.
type faultFS struct {
	*memFS
	mu     sync.Mutex
	budget int
	ops    int // mutating operations attempted
}

func newFaultFS(m *memFS) *faultFS { return &faultFS{memFS: m, budget: -1} }

// failAfter arms the FS to fail after n more mutating operations (-1: never).
func (f *faultFS) failAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.budget = n
}

// op accounts for one mutating operation and reports whether it may run.
func (f *faultFS) op() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops++
	if f.budget < 0 {
		return nil
	}
	if f.budget == 0 {
		return errInjected
	}
	f.budget--
	return nil
}

func (f *faultFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		if err := f.op(); err != nil {
			return nil, err
		}
	}
	file, err := f.memFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &faultFile{File: file, fs: f}, nil
}

func (f *faultFS) Remove(name string) error {
	if err := f.op(); err != nil {
		return err
	}
	return f.memFS.Remove(name)
}

func (f *faultFS) Rename(oldpath, newpath string) error {
	if err := f.op(); err != nil {
		return err
	}
	return f.memFS.Rename(oldpath, newpath)
}

func (f *faultFS) SyncDir(name string) error {
	if err := f.op(); err != nil {
		return err
	}
	return f.memFS.SyncDir(name)
}

func (f *faultFS) SyncFS(name string) error {
	if err := f.op(); err != nil {
		return err
	}
	return f.memFS.SyncFS(name)
}

type faultFile struct {
	File
	fs *faultFS
}

func (f *faultFile) WriteAt(b []byte, off int64) (int, error) {
	if err := f.fs.op(); err != nil {
		return 0, err
	}
	return f.File.WriteAt(b, off)
}

func (f *faultFile) Sync() error {
	if err := f.fs.op(); err != nil {
		return err
	}
	return f.File.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.op(); err != nil {
		return err
	}
	return f.File.Truncate(size)
}

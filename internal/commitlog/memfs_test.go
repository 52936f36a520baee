package commitlog

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// memFS is an in-memory FS for crash tests. It remembers, per file, the
// contents as of its last Sync, and per directory, the names as of its last
// SyncDir; Crash forgets everything else. Directories themselves are
// durable as soon as they are made.
type memFS struct {
	mu      sync.Mutex
	files   map[string]*memInode // names now
	durable map[string]*memInode // names as of each directory's last SyncDir
	dirs    map[string]bool

	logSyncs atomic.Int64 // Sync calls on .log files
	reads    atomic.Int64 // ReadAt calls on any file
	// onLogSync, when set, runs at the start of every Sync of a .log file,
	// before the contents are marked synced: a test holds a sync there.
	onLogSync func()
}

type memInode struct {
	data, synced []byte
}

func newMemFS() *memFS {
	return &memFS{files: map[string]*memInode{}, durable: map[string]*memInode{}, dirs: map[string]bool{}}
}

type memFile struct {
	fsys *memFS
	ino  *memInode
	name string
}

func notExist(op, name string) error { return &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist} }

func (m *memFS) OpenFile(name string, flag int, _ fs.FileMode) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	ino, ok := m.files[name]
	if !ok {
		if flag&os.O_CREATE == 0 {
			return nil, notExist("open", name)
		}
		if !m.dirs[filepath.Dir(name)] {
			return nil, notExist("open", filepath.Dir(name))
		}
		ino = &memInode{}
		m.files[name] = ino
	}
	if flag&os.O_TRUNC != 0 {
		ino.data = nil
	}
	return &memFile{fsys: m, ino: ino, name: name}, nil
}

func (m *memFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	if _, ok := m.files[name]; !ok {
		return notExist("remove", name)
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) RemoveAll(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	for _, names := range []map[string]*memInode{m.files, m.durable} {
		for n := range names {
			if strings.HasPrefix(n, name+"/") {
				delete(names, n)
			}
		}
	}
	for d := range m.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			delete(m.dirs, d)
		}
	}
	return nil
}

func (m *memFS) Rename(oldpath, newpath string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldpath, newpath = filepath.Clean(oldpath), filepath.Clean(newpath)
	ino, ok := m.files[oldpath]
	if !ok {
		return notExist("rename", oldpath)
	}
	delete(m.files, oldpath)
	m.files[newpath] = ino
	return nil
}

func (m *memFS) ReadDir(name string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	if !m.dirs[name] {
		return nil, notExist("readdir", name)
	}
	var names []string
	for n := range m.files {
		if filepath.Dir(n) == name {
			names = append(names, filepath.Base(n))
		}
	}
	slices.Sort(names)
	return names, nil
}

func (m *memFS) MkdirAll(name string, _ fs.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for d := filepath.Clean(name); d != "/" && d != "."; d = filepath.Dir(d) {
		m.dirs[d] = true
	}
	return nil
}

func (m *memFS) SyncDir(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	for n := range m.durable {
		if filepath.Dir(n) == name {
			delete(m.durable, n)
		}
	}
	for n, ino := range m.files {
		if filepath.Dir(n) == name {
			m.durable[n] = ino
		}
	}
	return nil
}

// SyncFS makes every file's contents and every name durable. name is the
// file system's root here: memFS is one file system.
func (m *memFS) SyncFS(string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.durable)
	for n, ino := range m.files {
		ino.synced = slices.Clone(ino.data)
		m.durable[n] = ino
	}
	return nil
}

// Crash forgets every unsynced write and every name change not made
// durable by SyncDir. Files open before the crash must not be used again.
func (m *memFS) Crash() {
	m.mu.Lock()
	defer m.mu.Unlock()
	durable := m.durableCopy()
	m.files, m.durable = map[string]*memInode{}, map[string]*memInode{}
	for n, ino := range durable {
		m.files[n], m.durable[n] = ino, ino
	}
}

func (m *memFS) durableCopy() map[string]*memInode {
	out := map[string]*memInode{}
	for n, ino := range m.durable {
		out[n] = &memInode{data: slices.Clone(ino.synced), synced: slices.Clone(ino.synced)}
	}
	return out
}

// read returns a copy of a file's current contents.
func (m *memFS) read(name string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ino, ok := m.files[filepath.Clean(name)]
	if !ok {
		return nil, false
	}
	return slices.Clone(ino.data), true
}

// write replaces a file's contents, durably.
func (m *memFS) write(name string, data []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	name = filepath.Clean(name)
	ino := &memInode{data: slices.Clone(data), synced: slices.Clone(data)}
	m.files[name], m.durable[name] = ino, ino
}

func (f *memFile) ReadAt(b []byte, off int64) (int, error) {
	f.fsys.reads.Add(1)
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if off >= int64(len(f.ino.data)) {
		return 0, io.EOF
	}
	n := copy(b, f.ino.data[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) WriteAt(b []byte, off int64) (int, error) {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if end := off + int64(len(b)); end > int64(len(f.ino.data)) {
		f.ino.data = append(f.ino.data, make([]byte, end-int64(len(f.ino.data)))...)
	}
	return copy(f.ino.data[off:], b), nil
}

func (f *memFile) Sync() error {
	if hook := f.fsys.onLogSync; hook != nil && strings.HasSuffix(f.name, logSuffix) {
		hook()
	}
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	f.ino.synced = slices.Clone(f.ino.data)
	if strings.HasSuffix(f.name, logSuffix) {
		f.fsys.logSyncs.Add(1)
	}
	return nil
}

func (f *memFile) Truncate(size int64) error {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	if size <= int64(len(f.ino.data)) {
		f.ino.data = f.ino.data[:size:size]
	} else {
		f.ino.data = append(f.ino.data, make([]byte, size-int64(len(f.ino.data)))...)
	}
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fsys.mu.Lock()
	defer f.fsys.mu.Unlock()
	return int64(len(f.ino.data)), nil
}

func (f *memFile) Close() error { return nil }

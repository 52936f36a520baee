package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// On-disk names and magics. docs/format/segments.md specifies every file.
const (
	// logSuffix names a segment's batches: <base>.log, where <base> is the
	// segment's base offset as baseOffsetDigits zero-padded decimal digits.
	logSuffix = ".log"
	// indexSuffix names a segment's sparse offset index: <base>.index, a
	// sequence of offsetEntrySize-byte entries.
	indexSuffix = ".index"
	// timeIndexSuffix names a segment's time index: <base>.timeindex, a
	// sequence of timeEntrySize-byte entries.
	timeIndexSuffix = ".timeindex"
	// deletedSuffix is appended to the name of a segment file that is
	// waiting for its last reader before it is unlinked; Open removes any.
	deletedSuffix = ".deleted"
	// tmpSuffix names a checkpoint being written; Open removes any.
	tmpSuffix = ".tmp"
	// cleanedSuffix is appended to the names of a segment's files while
	// the cleaner writes them (<base>.log.cleaned, ...); Open removes any.
	cleanedSuffix = ".cleaned"
	// swapSuffix marks cleaned segment files that replace the segments
	// from their base offset up to the value of swapEndFile (exclusive);
	// Open completes the replacement.
	swapSuffix = ".swap"
	// baseOffsetDigits is the width of the base offset in segment names.
	baseOffsetDigits = 20

	// startOffsetFile holds the log start offset as a checkpoint.
	startOffsetFile = "log-start-offset"
	// recoveryPointFile holds the recovery point as a checkpoint: every
	// batch below it, and its segment's indexes, were fsynced.
	recoveryPointFile = "recovery-point"
	// cleanerCheckpointFile holds the cleaner's first dirty offset: the
	// segments below it have been compacted.
	cleanerCheckpointFile = "cleaner-checkpoint"
	// swapEndFile holds the end offset (exclusive) of the segments the
	// current .swap files replace; written before they are created.
	swapEndFile = "cleaner-swap-end"

	// checkpointMagic opens a checkpoint file; checkpointVersion follows.
	checkpointMagic   = "SLCP"
	checkpointVersion = 1
	// checkpointSize is magic(4) version(4) value(8) crc32c(4).
	checkpointSize = 20

	// offsetEntrySize is one offset index entry: relative offset (4) and
	// file position (4), both big endian.
	offsetEntrySize = 8
	// timeEntrySize is one time index entry: timestamp (8) and relative
	// offset (4), both big endian.
	timeEntrySize = 12
)

// FS is the file system the log uses. OSFS is the real one; tests use an
// in-memory one that can forget unsynced writes.
type FS interface {
	// OpenFile opens name with os.OpenFile's flags (O_APPEND is never used).
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(name string) error
	// Rename renames oldpath to newpath, replacing newpath if it exists.
	Rename(oldpath, newpath string) error
	// ReadDir returns the names of the entries of directory name.
	ReadDir(name string) ([]string, error)
	MkdirAll(name string, perm fs.FileMode) error
	// SyncDir makes creates, renames and removes in directory name durable.
	SyncDir(name string) error
	// SyncFS makes every write, create, rename and remove made so far on
	// the file system holding directory name durable, as an fsync of every
	// file and directory would. It returns errors.ErrUnsupported where the
	// file system cannot be synced as a whole.
	SyncFS(name string) error
}

// File is an open file of an FS.
type File interface {
	io.ReaderAt
	io.WriterAt
	Sync() error
	Truncate(size int64) error
	Size() (int64, error)
	Close() error
}

// OSFS is the operating system's file system.
type OSFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// OpenFile implements FS.
func (OSFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

// Remove implements FS.
func (OSFS) Remove(name string) error { return os.Remove(name) }

// RemoveAll implements FS.
func (OSFS) RemoveAll(name string) error { return os.RemoveAll(name) }

// Rename implements FS.
func (OSFS) Rename(oldpath, newpath string) error { return os.Rename(oldpath, newpath) }

// MkdirAll implements FS.
func (OSFS) MkdirAll(name string, perm fs.FileMode) error { return os.MkdirAll(name, perm) }

// ReadDir implements FS.
func (OSFS) ReadDir(name string) ([]string, error) {
	entries, err := os.ReadDir(name)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

// SyncDir implements FS.
func (OSFS) SyncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

// segmentName is the file name of the segment file with base offset base.
func segmentName(base int64, suffix string) string {
	return fmt.Sprintf("%0*d%s", baseOffsetDigits, base, suffix)
}

// parseSegmentName returns the base offset of a <base>.log file name.
func parseSegmentName(name string) (int64, bool) {
	digits, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(digits) != baseOffsetDigits {
		return 0, false
	}
	base, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || base < 0 {
		return 0, false
	}
	return base, true
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errBadCheckpoint reports a checkpoint file that is not one.
var errBadCheckpoint = errors.New("invalid checkpoint file")

// readCheckpoint reads the value of checkpoint file name in dir; found is
// false when the file does not exist.
func readCheckpoint(fsys FS, dir, name string) (value int64, found bool, err error) {
	f, err := fsys.OpenFile(filepath.Join(dir, name), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	var b [checkpointSize + 1]byte
	n, err := f.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, true, fmt.Errorf("read %s: %w", name, err)
	}
	if n != checkpointSize || string(b[:4]) != checkpointMagic ||
		binary.BigEndian.Uint32(b[4:]) != checkpointVersion ||
		binary.BigEndian.Uint32(b[16:]) != crc32.Checksum(b[:16], castagnoli) {
		return 0, true, fmt.Errorf("%s: %w", name, errBadCheckpoint)
	}
	return int64(binary.BigEndian.Uint64(b[8:])), true, nil
}

// writeCheckpoint atomically replaces checkpoint file name in dir: it writes
// a temporary file, fsyncs it, renames it over name and fsyncs dir.
func writeCheckpoint(fsys FS, dir, name string, value int64) error {
	return putCheckpoint(fsys, dir, name, value, true)
}

// putCheckpoint is writeCheckpoint with the fsyncs left out unless sync:
// the caller then makes the file durable with FS.SyncFS.
func putCheckpoint(fsys FS, dir, name string, value int64, sync bool) error {
	var b [checkpointSize]byte
	copy(b[:], checkpointMagic)
	binary.BigEndian.PutUint32(b[4:], checkpointVersion)
	binary.BigEndian.PutUint64(b[8:], uint64(value))
	binary.BigEndian.PutUint32(b[16:], crc32.Checksum(b[:16], castagnoli))
	path := filepath.Join(dir, name)
	tmp := path + tmpSuffix
	f, err := fsys.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := f.WriteAt(b[:], 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("sync %s: %w", name, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := fsys.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", name, err)
	}
	if !sync {
		return nil
	}
	if err := fsys.SyncDir(dir); err != nil {
		return fmt.Errorf("sync dir for %s: %w", name, err)
	}
	return nil
}

package commitlog

import (
	"errors"
	"fmt"
	"path/filepath"
)

// CloseAll closes logs as Close closes each, but makes them durable with a
// few FS.SyncFS calls per file system in place of the fsyncs Close makes per
// log (its data, its two index files, its recovery point and their
// directory), which a file system's journal serializes: thousands of logs
// close in the time of a few journal commits. The first sync writes back the
// bulk of the data, the second every log's sealed tail and index files; only
// then are the recovery points written, and the third sync makes them
// durable. Where a file system cannot be synced as a whole the logs are
// closed one by one. Every log ends closed; the errors are joined (ErrClosed
// for a log closed before).
func CloseAll(logs []*Log) error {
	if len(logs) == 0 {
		return nil
	}
	if err := syncFileSystems(logs); err != nil {
		errs := make([]error, 0, len(logs))
		for _, l := range logs {
			errs = append(errs, l.Close())
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	}
	var errs []error
	open := make([]*Log, 0, len(logs))
	for _, l := range logs {
		l.appendMu.Lock()
		l.mu.RLock()
		closed := l.closed
		l.mu.RUnlock()
		if closed {
			l.appendMu.Unlock()
			errs = append(errs, ErrClosed)
			continue
		}
		open = append(open, l)
	}
	defer func() {
		for _, l := range open {
			l.release()
			l.appendMu.Unlock()
		}
	}()
	ends := make([]int64, len(open)) // -1: not written out
	for i, l := range open {
		end, err := l.writeTail()
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.dir, err))
		}
		ends[i] = end
	}
	if err := syncFileSystems(open); err != nil {
		return errors.Join(append(errs, err)...)
	}
	for i, l := range open {
		if ends[i] < 0 {
			continue
		}
		l.markFlushed(ends[i])
		if err := l.saveRecoveryPoint(false); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", l.dir, err))
		}
	}
	if err := syncFileSystems(open); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// writeTail seals the active segment and writes every dirty segment's
// index entries to its files, without fsync, and returns the log end
// offset that a sync of the file system makes durable; -1 when the log
// failed. Caller holds appendMu.
func (l *Log) writeTail() (int64, error) {
	if l.failed != nil {
		return -1, nil
	}
	if err := l.sealSegment(l.segs[len(l.segs)-1]); err != nil {
		return -1, err
	}
	l.syncMu.Lock()
	err := l.syncErr
	l.syncMu.Unlock()
	if err != nil {
		return -1, err
	}
	l.mu.RLock()
	end, segs := l.leo, l.segs
	l.mu.RUnlock()
	for i, s := range segs {
		if err := s.saveIndexes(false, i == len(segs)-1); err != nil {
			return -1, err
		}
	}
	return end, nil
}

// markFlushed records that every segment's files are durable up to end,
// after a sync of the file system. Caller holds appendMu, so nothing was
// appended since writeTail.
func (l *Log) markFlushed(end int64) {
	l.mu.Lock()
	for _, s := range l.segs {
		s.dirty = false
	}
	l.unflushed, l.newFiles = 0, false
	l.mu.Unlock()
	l.syncMu.Lock()
	l.flushed = max(l.flushed, end)
	l.syncMu.Unlock()
}

// syncFileSystems syncs the file system of every distinct parent directory
// of logs: the data directories.
func syncFileSystems(logs []*Log) error {
	done := map[string]bool{}
	for _, l := range logs {
		parent := filepath.Dir(l.dir)
		if done[parent] {
			continue
		}
		done[parent] = true
		if err := l.fsys.SyncFS(parent); err != nil {
			return fmt.Errorf("sync file system of %s: %w", parent, err)
		}
	}
	return nil
}

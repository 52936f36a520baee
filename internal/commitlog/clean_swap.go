package commitlog

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// segmentSuffixes are the suffixes of a cleaned segment's files, in the
// order a swap renames them: the log file last, since its name commits a
// swap, and the aborted-transaction index first, since recovery can
// rebuild the others but not it (see finishSwaps).
var segmentSuffixes = [4]string{txnIndexSuffix, indexSuffix, timeIndexSuffix, logSuffix}

// The positions of the files in segmentSuffixes.
const (
	swapTxnIndex = 0
	swapLog      = 3
)

// cleanedFiles are the files of a cleaned segment being written, named
// <base><suffix>.cleaned. The aborted-transaction index is written even
// when empty, so that a swap always has one to rename.
type cleanedFiles struct {
	fsys  FS
	dir   string
	base  int64
	files [4]File // in segmentSuffixes order; nil once closed
}

func (w *cleanedFiles) path(i int, extra string) string {
	return filepath.Join(w.dir, segmentName(w.base, segmentSuffixes[i])+extra)
}

func createCleaned(fsys FS, dir string, base int64) (*cleanedFiles, error) {
	w := &cleanedFiles{fsys: fsys, dir: dir, base: base}
	for i := range w.files {
		f, err := fsys.OpenFile(w.path(i, cleanedSuffix), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("%w: create %s: %w", errCleanWrite, filepath.Base(w.path(i, cleanedSuffix)), err)
		}
		w.files[i] = f
	}
	return w, nil
}

// write writes b to the cleaned log at position pos.
func (w *cleanedFiles) write(b []byte, pos int64) error {
	if len(b) == 0 {
		return nil
	}
	if _, err := w.files[swapLog].WriteAt(b, pos); err != nil {
		return fmt.Errorf("%w %s: %w", errCleanWrite, filepath.Base(w.path(swapLog, cleanedSuffix)), err)
	}
	return nil
}

// finish writes the indexes, fsyncs and closes the files.
func (w *cleanedFiles) finish(idx, tix []byte, aborted []AbortedTxn) error {
	var txnIdx []byte
	for _, e := range aborted {
		txnIdx = appendAbortedTxn(txnIdx, e)
	}
	for i, entries := range [][]byte{txnIdx, idx, tix} {
		if len(entries) == 0 {
			continue
		}
		if _, err := w.files[i].WriteAt(entries, 0); err != nil {
			return fmt.Errorf("%w %s: %w", errCleanWrite, filepath.Base(w.path(i, cleanedSuffix)), err)
		}
	}
	for i, f := range w.files {
		if err := f.Sync(); err != nil {
			return fmt.Errorf("%w: fsync %s: %w", errCleanWrite, filepath.Base(w.path(i, cleanedSuffix)), err)
		}
	}
	return w.close()
}

func (w *cleanedFiles) close() error {
	var first error
	for i, f := range w.files {
		if f == nil {
			continue
		}
		if err := f.Close(); err != nil && first == nil {
			first = fmt.Errorf("%w: close %s: %w", errCleanWrite, filepath.Base(w.path(i, cleanedSuffix)), err)
		}
		w.files[i] = nil
	}
	return first
}

// discard closes and removes the cleaned files; Open removes what remains.
func (w *cleanedFiles) discard(logger *slog.Logger) {
	_ = w.close()
	for i := range w.files {
		if err := w.fsys.Remove(w.path(i, cleanedSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			logger.Warn("remove cleaned segment file", "file", filepath.Base(w.path(i, cleanedSuffix)), "err", err)
		}
	}
}

// swapIn replaces segments old (with the sizes and numbers of aborted
// transactions they had when cleaned, covering offsets up to end,
// exclusive) by the cleaned segment at base with state st and aborted
// transactions aborted, whose files are written and fsynced:
//
//  1. write end to swapEndFile;
//  2. rename the .cleaned files to .swap (the log file last: from here on
//     Open completes the swap), fsync the directory;
//  3. rename the old segments' files to .deleted, fsync the directory;
//  4. rename the .swap files to their final names (the aborted-transaction
//     index first, or removed when empty; the log last), fsync the
//     directory, open the new segment and put it in the list.
//
// Readers holding an old segment keep reading it; the last one unlinks it.
// committed reports that step 2 began (the cleaned files are no longer
// .cleaned). It returns errCleanRace without changing anything when old
// is no longer a run of non-active segments of the log with those sizes
// and index lengths; a failure after step 1 fails the log.
func (l *Log) swapIn(old []*segment, sizes []int64, abortedLens []int, end, base int64, st segState, aborted []AbortedTxn) (committed bool, _ error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return false, err
	}
	l.mu.RLock()
	at := slices.Index(l.segs, old[0])
	intact := at >= 0 && at+len(old) < len(l.segs)
	for k := 0; intact && k < len(old); k++ {
		intact = l.segs[at+k] == old[k] && old[k].size.Load() == sizes[k] && len(old[k].aborted) == abortedLens[k]
	}
	l.mu.RUnlock()
	if !intact {
		return false, errCleanRace
	}
	if err := writeCheckpoint(l.fsys, l.dir, swapEndFile, end); err != nil {
		return false, err
	}
	fail := func(err error) (bool, error) {
		l.failed = err
		return true, err
	}
	name := func(i int, extra string) string {
		return filepath.Join(l.dir, segmentName(base, segmentSuffixes[i])+extra)
	}
	for i := range segmentSuffixes {
		if err := l.fsys.Rename(name(i, cleanedSuffix), name(i, swapSuffix)); err != nil {
			return fail(fmt.Errorf("swap in cleaned segment: %w", err))
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fail(fmt.Errorf("sync dir: %w", err))
	}
	for _, s := range old {
		if err := s.markDeleted(); err != nil {
			return fail(err)
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fail(fmt.Errorf("sync dir: %w", err))
	}
	for i := range segmentSuffixes {
		var err error
		if i == swapTxnIndex && len(aborted) == 0 {
			err = l.fsys.Remove(name(i, swapSuffix))
		} else {
			err = l.fsys.Rename(name(i, swapSuffix), name(i, ""))
		}
		if err != nil {
			return fail(fmt.Errorf("swap in cleaned segment: %w", err))
		}
	}
	if err := l.fsys.SyncDir(l.dir); err != nil {
		return fail(fmt.Errorf("sync dir: %w", err))
	}
	s, err := openSegment(l.fsys, l.dir, base, false, &l.mu, l.logger)
	if err != nil {
		return fail(err)
	}
	s.size.Store(st.end)

	l.mu.Lock()
	s.next, s.idx, s.tix, s.maxTS, s.maxTSOff = st.next, st.idx, st.tix, st.maxTS, st.maxTSOff
	s.aborted = aborted
	segs := make([]*segment, 0, len(l.segs)-len(old)+1)
	segs = append(segs, l.segs[:at]...)
	segs = append(segs, s)
	l.segs = append(segs, l.segs[at+len(old):]...)
	for _, size := range sizes {
		l.size -= size
	}
	l.size += st.end
	l.mu.Unlock()
	for _, o := range old {
		o.release()
	}
	return true, nil
}

// finishSwaps applies the crash rules of cleaning to the log directory
// (listed in names) before recovery reads it:
//
//   - .cleaned files are removed: their pass never committed;
//   - a <base>.log.swap commits a swap: the segment files with base offsets
//     in [base, end), end read from swapEndFile, are removed, and the .swap
//     files renamed to their final names (the log last). Without a
//     <base>.txnindex.swap, step 4 of swapIn had begun, so the old
//     segments' files were all .deleted: a <base>.txnindex is the cleaned
//     one and stays;
//   - other .swap files (indexes whose log was already renamed) are
//     removed; the offset and time indexes are rebuilt.
//
// It fsyncs the directory when it changed anything, and returns whether
// it did.
func (l *Log) finishSwaps(names []string) (bool, error) {
	changed := false
	remove := func(n string) error {
		changed = true
		if err := l.fsys.Remove(filepath.Join(l.dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove leftover %s: %w", n, err)
		}
		return nil
	}
	var swaps []int64
	for _, n := range names {
		if strings.HasSuffix(n, cleanedSuffix) {
			if err := remove(n); err != nil {
				return changed, err
			}
		} else if base, ok := parseSegmentName(strings.TrimSuffix(n, swapSuffix)); ok && strings.HasSuffix(n, swapSuffix) {
			swaps = append(swaps, base)
		}
	}
	end, found := int64(0), false
	if len(swaps) > 0 {
		end, found = l.readOffsetCheckpoint(swapEndFile)
	}
	for _, base := range swaps {
		e := end
		if !found || e <= base || len(swaps) > 1 {
			l.logger.Warn("no valid swap end for cleaned segment: replacing only its own base", "segment", segmentName(base, logSuffix))
			e = base + 1
		}
		l.logger.Info("completing interrupted segment swap", "segment", segmentName(base, logSuffix), "end_offset", e)
		newTxnIndex := segmentName(base, txnIndexSuffix)
		keepTxnIndex := !slices.Contains(names, newTxnIndex+swapSuffix)
		for _, n := range names {
			if keepTxnIndex && n == newTxnIndex {
				continue
			}
			if x, ok := parseSegmentFile(n); ok && x >= base && x < e {
				if err := remove(n); err != nil {
					return changed, err
				}
			}
		}
		for _, suffix := range segmentSuffixes {
			p := filepath.Join(l.dir, segmentName(base, suffix))
			if err := l.fsys.Rename(p+swapSuffix, p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return changed, fmt.Errorf("complete swap of %s: %w", filepath.Base(p), err)
			}
		}
	}
	if len(swaps) > 0 {
		changed = true
		var err error
		if names, err = l.fsys.ReadDir(l.dir); err != nil {
			return changed, fmt.Errorf("list log directory: %w", err)
		}
	}
	for _, n := range names {
		if strings.HasSuffix(n, swapSuffix) {
			if err := remove(n); err != nil {
				return changed, err
			}
		}
	}
	if changed {
		if err := l.fsys.SyncDir(l.dir); err != nil {
			return changed, fmt.Errorf("sync dir: %w", err)
		}
	}
	return changed, nil
}

// parseSegmentFile returns the base offset of a segment file name: a
// <base>.log, <base>.index, <base>.timeindex or <base>.txnindex.
func parseSegmentFile(name string) (int64, bool) {
	for _, suffix := range segmentSuffixes {
		if stem, ok := strings.CutSuffix(name, suffix); ok {
			return parseSegmentName(stem + logSuffix)
		}
	}
	return 0, false
}

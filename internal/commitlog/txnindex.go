package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
)

// The aborted-transaction index of a segment, <base>.txnindex, lists the
// transactions whose abort marker lies in the segment, in marker order, as
// Kafka's .txnindex does: a read_committed fetch asks which aborted
// transactions overlap the records it returns. docs/format/segments.md
// specifies the file. The log does not derive the entries from its batches
// (that needs the producers' transaction state, which the partition keeps):
// the partition adds them with AddAbortedTxn and, after a crash, adds again
// those of the markers it reads while rebuilding its state.
const (
	txnIndexSuffix     = ".txnindex"
	txnIndexVersion    = 0
	abortedTxnSize     = 2 + 8 + 8 + 8 + 8
	abortedTxnMaxCount = math.MaxInt32 / abortedTxnSize
)

// AbortedTxn is one entry of the aborted-transaction index: producer
// ProducerID's records in [FirstOffset, LastOffset] belong to a transaction
// its abort marker at LastOffset ended. LastStableOffset is the first offset
// of the earliest transaction still open when it ended (LastOffset+1 when
// none was), which lets a reader stop looking for older aborts.
type AbortedTxn struct {
	ProducerID       int64
	FirstOffset      int64
	LastOffset       int64
	LastStableOffset int64
}

func appendAbortedTxn(b []byte, e AbortedTxn) []byte {
	b = binary.BigEndian.AppendUint16(b, txnIndexVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(e.ProducerID))
	b = binary.BigEndian.AppendUint64(b, uint64(e.FirstOffset))
	b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
	return binary.BigEndian.AppendUint64(b, uint64(e.LastStableOffset))
}

// parseAbortedTxns returns the longest prefix of b that is a valid index of
// a segment holding offsets [base, next): whole entries of version 0, with
// FirstOffset <= LastOffset, LastOffset in the segment and increasing. The
// rest is what a crash tore or a truncation left behind.
func parseAbortedTxns(b []byte, base, next int64) []AbortedTxn {
	var es []AbortedTxn
	for len(b) >= abortedTxnSize && binary.BigEndian.Uint16(b) == txnIndexVersion {
		e := AbortedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b[2:])),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[10:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[18:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[26:])),
		}
		if e.ProducerID < 0 || e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.LastOffset < base || e.LastOffset >= next ||
			len(es) > 0 && e.LastOffset <= es[len(es)-1].LastOffset {
			break
		}
		es = append(es, e)
		b = b[abortedTxnSize:]
	}
	return es
}

// loadAborted reads s's aborted-transaction index at recovery, once s.next
// is known, and cuts the file to the entries that are valid. Caller holds
// appendMu (recovery).
func (l *Log) loadAborted(s *segment) error {
	name := segmentName(s.base, txnIndexSuffix)
	if l.listed != nil && !l.listed[name] {
		return nil
	}
	b, err := readFile(l.fsys, s.path(txnIndexSuffix))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	s.aborted = parseAbortedTxns(b, s.base, s.next)
	if keep := len(s.aborted) * abortedTxnSize; keep != len(b) {
		l.logger.Warn("cutting the aborted transaction index to its valid entries", "file", name, "bytes", len(b), "kept", keep)
		return s.writeAborted(s.aborted, 0, false)
	}
	return nil
}

// writeAborted makes s's index file hold es, writing the entries from
// es[from:] and cutting anything after them, fsynced if sync.
func (s *segment) writeAborted(es []AbortedTxn, from int, sync bool) error {
	f, err := s.fsys.OpenFile(s.path(txnIndexSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	var b []byte
	for _, e := range es[from:] {
		b = appendAbortedTxn(b, e)
	}
	_, err = f.WriteAt(b, int64(from*abortedTxnSize))
	if err == nil {
		err = f.Truncate(int64(len(es) * abortedTxnSize))
	}
	if err == nil && sync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// AddAbortedTxn adds e to the aborted-transaction index of the segment
// holding its marker (e.LastOffset, which must be in the log). The entry is
// written to the file at once, unsynced (SyncAbortedTxns makes it durable).
// Adding an entry the index has (same marker offset) does nothing, so
// recovery may add again every abort it reads.
func (l *Log) AddAbortedTxn(e AbortedTxn) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.RLock()
	start, leo := l.start, l.leo
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > e.LastOffset }) - 1
	var s *segment
	var es []AbortedTxn
	if i >= 0 {
		s = l.segs[i]
		es = s.aborted
	}
	l.mu.RUnlock()
	if e.LastOffset < start || e.LastOffset >= leo || s == nil || e.FirstOffset > e.LastOffset || e.ProducerID < 0 {
		return fmt.Errorf("%w: aborted transaction %+v outside the log [%d, %d)", ErrOffsetOutOfRange, e, start, leo)
	}
	at, found := slices.BinarySearchFunc(es, e.LastOffset, func(x AbortedTxn, off int64) int { return cmpInt64(x.LastOffset, off) })
	if found {
		return nil
	}
	if len(es) >= abortedTxnMaxCount {
		return fmt.Errorf("aborted transaction index of %s is full", s.name())
	}
	// Readers hold slices of s.aborted: change it in place only past
	// their ends.
	next := append(es, e)
	if at < len(es) {
		next = slices.Insert(slices.Clone(es), at, e)
	}
	if err := s.writeAborted(next, at, false); err != nil {
		return fmt.Errorf("write aborted transaction index of %s: %w", s.name(), err)
	}
	l.mu.Lock()
	s.aborted = next
	s.abortedUnsynced = true
	l.mu.Unlock()
	return nil
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// SyncAbortedTxns fsyncs the aborted-transaction index files written since
// they were last synced, and the directory, without holding the log's
// locks during the fsyncs.
func (l *Log) SyncAbortedTxns() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return ErrClosed
	}
	var due []*segment
	for _, s := range l.segs {
		if s.abortedUnsynced {
			s.abortedUnsynced = false
			s.acquire()
			due = append(due, s)
		}
	}
	l.mu.Unlock()
	var errs []error
	for _, s := range due {
		if err := s.syncAborted(); err != nil {
			errs = append(errs, fmt.Errorf("sync aborted transaction index of %s: %w", s.name(), err))
			l.mu.Lock()
			s.abortedUnsynced = true
			l.mu.Unlock()
		}
		s.release()
	}
	if len(due) > 0 && len(errs) == 0 {
		// The files may be new: make their names durable too.
		if err := l.fsys.SyncDir(l.dir); err != nil {
			errs = append(errs, fmt.Errorf("sync dir: %w", err))
		}
	}
	return errors.Join(errs...)
}

func (s *segment) syncAborted() error {
	if s.deleted.Load() {
		return nil
	}
	f, err := s.fsys.OpenFile(s.path(txnIndexSuffix), os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// AbortedTxns returns the aborted transactions that overlap [from, upper):
// those with a record below upper whose marker is at or after from, in
// marker order, as a read_committed fetch of that range reports them. It
// reads the indexes of the segments from the one holding from onwards and
// stops at the first entry whose LastStableOffset is at or above upper: no
// transaction ended after it began below upper.
func (l *Log) AbortedTxns(from, upper int64) []AbortedTxn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []AbortedTxn
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > from })-1, 0)
	for _, s := range l.segs[i:] {
		for _, e := range s.aborted {
			if e.LastOffset >= from && e.FirstOffset < upper {
				out = append(out, e)
			}
			if e.LastStableOffset >= upper {
				return out
			}
		}
	}
	return out
}

// truncateAborted drops s's index entries at or above offset (s.next
// after a truncation). Caller holds appendMu.
func (l *Log) truncateAborted(s *segment, offset int64) error {
	l.mu.RLock()
	es := s.aborted
	l.mu.RUnlock()
	keep := len(es)
	for keep > 0 && es[keep-1].LastOffset >= offset {
		keep--
	}
	if keep == len(es) {
		return nil
	}
	if err := s.writeAborted(es[:keep], keep, true); err != nil {
		return fmt.Errorf("truncate aborted transaction index of %s: %w", s.name(), err)
	}
	l.mu.Lock()
	s.aborted = slices.Clip(es[:keep])
	l.mu.Unlock()
	return nil
}

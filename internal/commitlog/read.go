package commitlog

import (
	"encoding/binary"
	"fmt"
	"sort"

	"github.com/stratalog/strata/internal/recordbatch"
)

// ReadResult is what Read returns.
type ReadResult struct {
	// Data holds whole batches back to back, exactly as stored. The caller
	// owns it.
	Data []byte
	// FirstOffset is the base offset of the first batch in Data, or the
	// requested offset when Data is empty.
	FirstOffset int64
}

// view is a reader's snapshot of the segments from the one containing an
// offset onwards; it holds a reference on each until release.
type view struct {
	segs       []*segment
	idx, tix   []byte // of segs[0]
	start, end int64
}

func (v *view) release() {
	for _, s := range v.segs {
		s.release()
	}
}

// snapshot returns a view from the segment holding offset (the first one
// when offset is below it). Keep to the pattern: defer v.release().
func (l *Log) snapshot(offset int64) (view, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return view{}, ErrClosed
	}
	i := max(sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset })-1, 0)
	v := view{segs: l.segs[i:], idx: l.segs[i].idx, tix: l.segs[i].tix, start: l.start, end: l.leo}
	for _, s := range v.segs {
		s.acquire()
	}
	return v, nil
}

// Read returns the whole batches ReadSlice locates, read into memory.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (ReadResult, error) {
	sl, err := l.ReadSlice(offset, maxBytes, maxOffset)
	if err != nil {
		return ReadResult{FirstOffset: offset}, err
	}
	defer sl.Release()
	res := ReadResult{FirstOffset: sl.FirstOffset()}
	if sl.Len() > 0 {
		res.Data, err = sl.AppendTo(nil)
	}
	return res, err
}

// findBatch returns the position in s of the first batch whose last offset
// is at least off, or the segment size when there is none; idx is a
// snapshot of s.idx.
func findBatch(s *segment, idx []byte, off int64) (int64, error) {
	pos, size := s.lookup(idx, off), s.size.Load()
	var b [27]byte // through lastOffsetDelta
	for pos < size {
		if _, err := s.log.ReadAt(b[:], pos); err != nil {
			return 0, fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
		}
		base := int64(binary.BigEndian.Uint64(b[:]))
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if base+int64(int32(binary.BigEndian.Uint32(b[23:]))) >= off {
			return pos, nil
		}
		if length < recordbatch.HeaderSize-recordbatch.LogOverhead {
			return 0, fmt.Errorf("read %s at %d: %w: batch length %d", s.name(), pos, ErrCorruption, length)
		}
		pos += recordbatch.LogOverhead + length
	}
	return size, nil
}

// eachBatch calls fn with every whole batch of v's segments from the one
// containing offset from on, in order, until fn returns false or an error.
// The batch bytes are valid only during the call.
func (v *view) eachBatch(from int64, fn func(b []byte, h recordbatch.Header) (bool, error)) error {
	pos, err := findBatch(v.segs[0], v.idx, from)
	if err != nil {
		return err
	}
	buf := getScanBuf()
	defer putScanBuf(buf)
	for _, s := range v.segs {
		sc := scanner{f: s.log, end: s.size.Load(), buf: (*buf)[:0]}
		for pos < sc.end {
			b, err := sc.batch(pos)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w: %w", s.name(), pos, ErrCorruption, err)
			}
			h, err := recordbatch.ReadHeader(b)
			if err != nil {
				return fmt.Errorf("read %s at %d: %w: %w", s.name(), pos, ErrCorruption, err)
			}
			if more, err := fn(b, h); err != nil || !more {
				return err
			}
			pos += h.Size()
		}
		*buf, pos = sc.buf, 0
	}
	return nil
}

// Scan calls fn with every batch (its bytes, valid only during the call,
// and its header) from the one containing from (or the first, when from is
// below StartOffset) up to the end of the log, until fn returns false or
// an error, which Scan returns.
func (l *Log) Scan(from int64, fn func(b []byte, h recordbatch.Header) (bool, error)) error {
	v, err := l.snapshot(from)
	if err != nil {
		return err
	}
	defer v.release()
	if from >= v.end {
		return nil
	}
	return v.eachBatch(max(from, v.start), fn)
}

// SizeFrom returns the bytes of the batches from the one containing offset
// (the first, when offset is below StartOffset) to the end of the log:
// what a replica whose log ends at offset has yet to copy. The sparse
// index locates the batch, so it reads at most an index interval of
// batch headers.
func (l *Log) SizeFrom(offset int64) (int64, error) {
	v, err := l.snapshot(offset)
	if err != nil {
		return 0, err
	}
	defer v.release()
	if offset >= v.end {
		return 0, nil
	}
	pos, err := findBatch(v.segs[0], v.idx, max(offset, v.start))
	if err != nil {
		return 0, err
	}
	n := -pos
	for _, s := range v.segs {
		n += s.size.Load()
	}
	return n, nil
}

// OffsetForTimestamp returns the offset and timestamp of the first record
// at or above StartOffset whose timestamp is at least ts (a LogAppendTime
// batch's records all have its MaxTimestamp); ok is false when there is
// none. The time index locates where to start; records are then read.
func (l *Log) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	l.mu.RLock()
	from := int64(-1)
	for _, s := range l.segs {
		if s.maxTS >= ts {
			from = max(s.timeLookup(s.tix, ts)+1, s.base, l.start)
			break
		}
	}
	l.mu.RUnlock()
	if from < 0 {
		return -1, -1, false
	}
	v, err := l.snapshot(from)
	if err != nil {
		return -1, -1, false
	}
	defer v.release()
	var scratch []byte
	offset, timestamp = -1, -1
	err = v.eachBatch(from, func(b []byte, h recordbatch.Header) (bool, error) {
		if h.MaxTimestamp < ts || h.LastOffset() < v.start {
			return true, nil
		}
		if err := recordbatch.Iterate(b, &scratch, func(r *recordbatch.Record) error {
			off, rts := h.BaseOffset+int64(r.OffsetDelta), h.BaseTimestamp+r.TimestampDelta
			if h.LogAppendTime() {
				rts = h.MaxTimestamp
			}
			if off >= v.start && rts >= ts {
				offset, timestamp = off, rts
				return recordbatch.ErrStop
			}
			return nil
		}); err != nil {
			return false, err
		}
		return offset < 0, nil
	})
	if err != nil || offset < 0 {
		return -1, -1, false
	}
	return offset, timestamp, true
}

// MaxTimestamp returns the largest record timestamp in the log and the
// offset of the first record holding it (the batch's last record for a
// LogAppendTime batch, as recordbatch.Validate reports it), or -1, -1 for
// a log without timestamps.
func (l *Log) MaxTimestamp() (timestamp, offset int64) {
	l.mu.RLock()
	timestamp, offset = -1, -1
	for _, s := range l.segs {
		if s.maxTS > timestamp {
			timestamp, offset = s.maxTS, s.maxTSOff
		}
	}
	l.mu.RUnlock()
	if timestamp < 0 {
		return -1, -1
	}
	v, err := l.snapshot(offset)
	if err != nil {
		return timestamp, offset
	}
	defer v.release()
	var scratch []byte
	_ = v.eachBatch(offset, func(b []byte, h recordbatch.Header) (bool, error) {
		if h.LogAppendTime() {
			offset = h.LastOffset()
			return false, nil
		}
		return false, recordbatch.Iterate(b, &scratch, func(r *recordbatch.Record) error {
			if h.BaseTimestamp+r.TimestampDelta == timestamp {
				offset = h.BaseOffset + int64(r.OffsetDelta)
				return recordbatch.ErrStop
			}
			return nil
		})
	})
	return timestamp, offset
}

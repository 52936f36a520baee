package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
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

// Read returns whole batches from the one containing offset: a read from
// the middle of a batch returns all of it. It continues, across segments,
// while the batches fit in maxBytes, but always returns the first batch
// whole (KIP-74), and never a batch whose base offset is at or above
// maxOffset (exclusive; the caller passes the high watermark). offset ==
// EndOffset, or offset >= maxOffset, returns no data. An offset below
// StartOffset or above EndOffset is ErrOffsetOutOfRange. Read never waits
// for an appender's I/O, and a segment deleted meanwhile stays readable
// until the read is done.
func (l *Log) Read(offset int64, maxBytes int32, maxOffset int64) (ReadResult, error) {
	res := ReadResult{FirstOffset: offset}
	v, err := l.snapshot(offset)
	if err != nil {
		return res, err
	}
	defer v.release()
	if offset < v.start || offset > v.end {
		return res, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrOffsetOutOfRange, offset, v.start, v.end)
	}
	if offset == v.end || offset >= maxOffset {
		return res, nil
	}
	pos, err := findBatch(v.segs[0], v.idx, offset)
	if err != nil {
		return res, err
	}
	var data []byte
	for _, s := range v.segs {
		done := false
		if data, done, err = readBatches(s, pos, data, int64(maxBytes), maxOffset); err != nil || done {
			break
		}
		pos = 0
	}
	if err != nil {
		return res, err
	}
	if len(data) > 0 {
		res.FirstOffset = int64(binary.BigEndian.Uint64(data))
	}
	res.Data = data
	return res, nil
}

// readBatches appends to data the whole batches of s from position pos
// that fit in maxBytes (the first batch of data always fits) and start
// below maxOffset. done reports that the read must not go on to the next
// segment.
func readBatches(s *segment, pos int64, data []byte, maxBytes, maxOffset int64) (_ []byte, done bool, _ error) {
	size := s.size.Load()
	if pos >= size {
		return data, false, nil
	}
	old := int64(len(data))
	want := min(size-pos, maxBytes-old)
	if old == 0 {
		want = min(size-pos, max(want, recordbatch.LogOverhead))
	}
	if want < recordbatch.LogOverhead {
		return data, true, nil
	}
	data, err := readInto(s, data, pos, want)
	if err != nil {
		return data[:old], true, err
	}
	p := old
	for int64(len(data))-p >= recordbatch.LogOverhead {
		if int64(binary.BigEndian.Uint64(data[p:])) >= maxOffset {
			return data[:p], true, nil
		}
		length := int64(int32(binary.BigEndian.Uint32(data[p+8:])))
		if length < recordbatch.HeaderSize-recordbatch.LogOverhead {
			return data[:old], true, fmt.Errorf("read %s at %d: %w: batch length %d", s.name(), pos+p-old, ErrCorruption, length)
		}
		bsize := recordbatch.LogOverhead + length
		if p+bsize > int64(len(data)) {
			if p != 0 || pos+bsize > size {
				break
			}
			// The first batch is returned whole whatever maxBytes says.
			if data, err = readInto(s, data, pos+int64(len(data)), bsize-int64(len(data))); err != nil {
				return data[:old], true, err
			}
		}
		p += bsize
	}
	return data[:p], p < int64(len(data)) || pos+want < size, nil
}

// readInto appends n bytes of s's log at position pos to data.
func readInto(s *segment, data []byte, pos, n int64) ([]byte, error) {
	old := len(data)
	data = slices.Grow(data, int(n))[:old+int(n)]
	got, err := s.log.ReadAt(data[old:], pos)
	if got < int(n) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return data[:old], fmt.Errorf("read %s at %d: %w", s.name(), pos, err)
	}
	return data, nil
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
	var buf []byte
	for _, s := range v.segs {
		sc := scanner{f: s.log, end: s.size.Load(), buf: buf[:0]}
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
		buf, pos = sc.buf, 0
	}
	return nil
}

// ScanHeaders calls fn with the header of every batch from the one
// containing from (or the first, when from is below StartOffset) up to
// the end of the log, until fn returns false.
func (l *Log) ScanHeaders(from int64, fn func(h recordbatch.Header) bool) error {
	v, err := l.snapshot(from)
	if err != nil {
		return err
	}
	defer v.release()
	if from >= v.end {
		return nil
	}
	return v.eachBatch(max(from, v.start), func(_ []byte, h recordbatch.Header) (bool, error) {
		return fn(h), nil
	})
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

package commitlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/stratalog/strata/internal/recordbatch"
)

// Slice is a run of whole stored batches that has been located but not
// read: a fetch writes it to a socket straight from the segment files. It
// holds its segments (open, and on disk even if deleted meanwhile) until
// Release. A Slice is not safe for concurrent use.
type Slice struct {
	parts []slicePart
	size  int64
	first int64
}

// slicePart is n bytes of a segment's log from position pos.
type slicePart struct {
	seg    *segment
	pos, n int64
}

// headerReadSize is how much the slice scan reads to see one batch's
// framing: enough for several small batches, little waste on big ones.
const headerReadSize = 4 << 10

// headerBufs recycles the slice scan's read buffers (of headerReadSize):
// a consumer that keeps up makes a scan per partition per fetch.
var headerBufs sync.Pool // of *[]byte

// Len is the number of bytes in the slice.
func (s *Slice) Len() int64 { return s.size }

// FirstOffset is the base offset of the first batch, or the requested
// offset when the slice is empty.
func (s *Slice) FirstOffset() int64 { return s.first }

// Release lets go of the segments; the slice is empty afterwards. It may
// be called more than once.
func (s *Slice) Release() {
	for _, p := range s.parts {
		p.seg.release()
	}
	s.parts, s.size = nil, 0
}

// AppendTo appends the slice's bytes to dst.
func (s *Slice) AppendTo(dst []byte) ([]byte, error) {
	old := len(dst)
	dst = append(dst, make([]byte, s.size)...)
	at := old
	for _, p := range s.parts {
		got, err := p.seg.log.ReadAt(dst[at:at+int(p.n)], p.pos)
		if got < int(p.n) {
			return dst[:old], shortRead(p, got, err)
		}
		at += int(p.n)
	}
	return dst, nil
}

// WriteTo writes the slice's bytes to w: with sendfile(2) when w is a
// socket and the segments are operating system files, else through a
// buffer.
func (s *Slice) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for _, p := range s.parts {
		n, handled, err := sendfile(w, p.seg.log, p.pos, p.n)
		if !handled {
			n, err = copyPart(w, p)
		}
		total += n
		if err != nil {
			return total, fmt.Errorf("write %s at %d: %w", p.seg.name(), p.pos, err)
		}
	}
	return total, nil
}

// copyBufs recycles copyPart's buffers: without sendfile (a TLS
// connection) every fetched partition would allocate one.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// copyPart writes p to w through a buffer.
func copyPart(w io.Writer, p slicePart) (int64, error) {
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	buf := (*bp)[:min(p.n, int64(len(*bp)))]
	var done int64
	for done < p.n {
		chunk := buf[:min(int64(len(buf)), p.n-done)]
		got, err := p.seg.log.ReadAt(chunk, p.pos+done)
		if got < len(chunk) {
			return done, shortRead(slicePart{p.seg, p.pos + done, int64(len(chunk))}, got, err)
		}
		n, err := w.Write(chunk)
		done += int64(n)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func shortRead(p slicePart, got int, err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("read %s at %d (%d of %d bytes): %w", p.seg.name(), p.pos, got, p.n, err)
}

// ReadSlice locates the whole batches from the one containing offset: a
// read from the middle of a batch includes all of it. It continues, across
// segments, while the batches fit in maxBytes, but always includes the
// first batch whole (KIP-74), and never a batch whose base offset is at or
// above maxOffset (exclusive; the caller passes the high watermark).
// offset == EndOffset, or offset >= maxOffset, gives an empty slice. An
// offset below StartOffset or above EndOffset is ErrOffsetOutOfRange.
// ReadSlice never waits for an appender's I/O. The caller must Release the
// slice.
func (l *Log) ReadSlice(offset int64, maxBytes int32, maxOffset int64) (Slice, error) {
	sl := Slice{first: offset}
	v, err := l.snapshot(offset)
	if err != nil {
		return sl, err
	}
	defer v.release()
	if offset < v.start || offset > v.end {
		return sl, fmt.Errorf("%w: offset %d outside [%d, %d]", ErrOffsetOutOfRange, offset, v.start, v.end)
	}
	if offset == v.end || offset >= maxOffset {
		return sl, nil
	}
	if len(v.segs) == 1 && sl.fromRecent(l, v.segs[0], offset, int64(maxBytes), maxOffset) {
		return sl, nil
	}
	pos, err := findBatch(v.segs[0], v.idx, offset)
	if err != nil {
		return sl, err
	}
	for _, s := range v.segs {
		done, err := sl.extend(s, pos, int64(maxBytes), maxOffset)
		if err != nil {
			sl.Release()
			return Slice{first: offset}, err
		}
		if done {
			break
		}
		pos = 0
	}
	return sl, nil
}

// extend adds to sl the whole batches of s from position pos that fit in
// maxBytes (the slice's first batch always fits) and start below
// maxOffset. done reports that the slice must not go on to the next
// segment.
func (sl *Slice) extend(s *segment, pos, maxBytes, maxOffset int64) (done bool, err error) {
	size := s.size.Load()
	buf, _ := headerBufs.Get().(*[]byte)
	if buf == nil {
		b := make([]byte, 0, headerReadSize)
		buf = &b
	}
	sc := scanner{f: s.log, end: size, chunk: headerReadSize, buf: (*buf)[:0]}
	defer func() {
		if cap(sc.buf) == headerReadSize {
			*buf = sc.buf[:0]
			headerBufs.Put(buf)
		}
	}()
	p := pos
	for size-p >= recordbatch.LogOverhead {
		if err := sc.fill(p, recordbatch.LogOverhead); err != nil {
			return true, fmt.Errorf("read %s at %d: %w", s.name(), p, err)
		}
		b := sc.buf[p-sc.bufPos:]
		base := int64(binary.BigEndian.Uint64(b))
		length := int64(int32(binary.BigEndian.Uint32(b[8:])))
		if base >= maxOffset {
			done = true
			break
		}
		if length < recordbatch.HeaderSize-recordbatch.LogOverhead {
			return true, fmt.Errorf("read %s at %d: %w: batch length %d", s.name(), p, ErrCorruption, length)
		}
		bsize := recordbatch.LogOverhead + length
		if p+bsize > size || (sl.size > 0 && sl.size+bsize > maxBytes) {
			done = true
			break
		}
		if sl.size == 0 {
			sl.first = base
		}
		sl.size += bsize
		p += bsize
	}
	if p > pos {
		s.acquire()
		sl.parts = append(sl.parts, slicePart{s, pos, p - pos})
	}
	return done, nil
}

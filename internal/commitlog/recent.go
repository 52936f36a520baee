package commitlog

import (
	"cmp"
	"slices"
)

// recentBatches is how many of its last appended batches the active
// segment remembers the places of. A reader that keeps up (a follower, a
// consumer at the tail) asks for one of them, and is answered without
// reading batch headers from the file to find it.
const recentBatches = 16

// batchPlace is where one batch of a segment lies.
type batchPlace struct {
	base, last, pos int64
}

// noteAppended records the batch just appended to s at pos. Caller holds
// the log's mu for writing.
func (s *segment) noteAppended(base, last, pos int64) {
	if s.recent == nil {
		s.recent = make([]batchPlace, 0, 2*recentBatches)
	}
	if len(s.recent) == cap(s.recent) {
		s.recent = s.recent[:copy(s.recent, s.recent[len(s.recent)-recentBatches:])]
	}
	s.recent = append(s.recent, batchPlace{base, last, pos})
}

// forgetFrom drops the recent places at or past pos, where the segment
// was cut. Caller holds the log's mu for writing.
func (s *segment) forgetFrom(pos int64) {
	for len(s.recent) > 0 && s.recent[len(s.recent)-1].pos >= pos {
		s.recent = s.recent[:len(s.recent)-1]
	}
}

// fromRecent fills the empty sl as extend would when offset is within s's
// recent batches, which reach the end of s, without reading the file; it
// reports whether offset was within them.
func (sl *Slice) fromRecent(l *Log, s *segment, offset, maxBytes, maxOffset int64) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	r := s.recent
	if len(r) == 0 || offset < r[0].base {
		return false
	}
	i, _ := slices.BinarySearchFunc(r, offset, func(b batchPlace, off int64) int { return cmp.Compare(b.last, off) })
	if i == len(r) {
		return false
	}
	start, size := r[i].pos, int64(0)
	for j := i; j < len(r) && r[j].base < maxOffset; j++ {
		end := s.size.Load()
		if j+1 < len(r) {
			end = r[j+1].pos
		}
		if j > i && end-start > maxBytes {
			break
		}
		size = end - start
	}
	if size > 0 {
		sl.first, sl.size = r[i].base, size
		s.acquire()
		sl.parts = append(sl.parts, slicePart{s, start, size})
	}
	return true
}

package txn

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// The binary form of a ProducerState, which a partition stores in its state
// snapshots so that opening it does not read every batch header again. All
// integers are big-endian:
//
//	count  uint32
//	count times, in increasing producer id:
//	  producerId int64, epoch int16, lastOffset int64, lastSeenMs int64,
//	  n uint8 (at most RetainedBatches), then n times, oldest first:
//	    firstSeq int32, lastSeq int32, baseOffset int64, lastOffset int64,
//	    timestamp int64
//
// Unlike Kafka's producer snapshots, which keep a producer's last batch
// only, it holds all RetainedBatches, so retries are recognised after a
// restart as before it.
const (
	producerFixedSize = 8 + 2 + 8 + 8 + 1
	batchMetaSize     = 4 + 4 + 8 + 8 + 8
)

// ErrBadProducerState reports bytes DecodeProducerState cannot read.
var ErrBadProducerState = errors.New("malformed producer state")

// AppendBinary appends the state's binary form to b.
func (s *ProducerState) AppendBinary(b []byte) []byte {
	ids := make([]int64, 0, len(s.producers))
	for id := range s.producers {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		p := s.producers[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(p.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(p.lastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(p.lastSeenMs))
		b = append(b, byte(p.n))
		for _, m := range p.batches[:p.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(m.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.BaseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.Timestamp))
		}
	}
	return b
}

// DecodeProducerState reads a state AppendBinary wrote; b must hold exactly
// that. Errors wrap ErrBadProducerState.
func DecodeProducerState(b []byte) (*ProducerState, error) {
	bad := func(format string, args ...any) (*ProducerState, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadProducerState, fmt.Sprintf(format, args...))
	}
	if len(b) < 4 {
		return bad("%d bytes, want a count", len(b))
	}
	count := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(count)*producerFixedSize > uint64(len(b)) {
		return bad("%d producers cannot fit in %d bytes", count, len(b))
	}
	s := &ProducerState{producers: make(map[int64]*producer, count)}
	prev := int64(-1)
	for i := range count {
		if len(b) < producerFixedSize {
			return bad("producer %d: %d bytes left", i, len(b))
		}
		id := int64(binary.BigEndian.Uint64(b))
		if id <= prev {
			return bad("producer %d: id %d not above %d", i, id, prev)
		}
		prev = id
		p := &producer{
			epoch:      int16(binary.BigEndian.Uint16(b[8:])),
			lastOffset: int64(binary.BigEndian.Uint64(b[10:])),
			lastSeenMs: int64(binary.BigEndian.Uint64(b[18:])),
			n:          int(b[26]),
		}
		b = b[producerFixedSize:]
		if p.n > RetainedBatches || len(b) < p.n*batchMetaSize {
			return bad("producer %d: %d batches in %d bytes", id, p.n, len(b))
		}
		for j := range p.batches[:p.n] {
			p.batches[j] = BatchMeta{
				FirstSeq:   int32(binary.BigEndian.Uint32(b)),
				LastSeq:    int32(binary.BigEndian.Uint32(b[4:])),
				BaseOffset: int64(binary.BigEndian.Uint64(b[8:])),
				LastOffset: int64(binary.BigEndian.Uint64(b[16:])),
				Timestamp:  int64(binary.BigEndian.Uint64(b[24:])),
			}
			b = b[batchMetaSize:]
		}
		s.producers[id] = p
	}
	if len(b) != 0 {
		return bad("%d bytes after the last producer", len(b))
	}
	return s, nil
}

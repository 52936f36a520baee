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
//	  coordinatorEpoch int32, txnFirstOffset int64 (-1: no ongoing
//	  transaction), n uint8 (at most RetainedBatches), then n times, oldest
//	  first:
//	    firstSeq int32, lastSeq int32, baseOffset int64, lastOffset int64,
//	    timestamp int64
//	unreplicated uint32
//	unreplicated times, in marker order (see ProducerState.unreplicated):
//	  producerId int64, firstOffset int64, lastOffset int64,
//	  lastStableOffset int64, aborted uint8 (0 or 1)
//
// Unlike Kafka's producer snapshots, which keep a producer's last batch
// only, it holds all RetainedBatches, so retries are recognised after a
// restart as before it.
const (
	producerFixedSize = 8 + 2 + 8 + 8 + 4 + 8 + 1
	batchMetaSize     = 4 + 4 + 8 + 8 + 8
	completedTxnSize  = 8 + 8 + 8 + 8 + 1
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
		b = binary.BigEndian.AppendUint32(b, uint32(p.coordinatorEpoch))
		first, ongoing := s.txns[id]
		if !ongoing {
			first = -1
		}
		b = binary.BigEndian.AppendUint64(b, uint64(first))
		b = append(b, byte(p.n))
		for _, m := range p.batches[:p.n] {
			b = binary.BigEndian.AppendUint32(b, uint32(m.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.BaseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.LastOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.Timestamp))
		}
	}
	b = binary.BigEndian.AppendUint32(b, uint32(len(s.unreplicated)))
	for _, c := range s.unreplicated {
		b = binary.BigEndian.AppendUint64(b, uint64(c.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(c.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(c.LastOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(c.LastStableOffset))
		aborted := byte(0)
		if c.Aborted {
			aborted = 1
		}
		b = append(b, aborted)
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
	s := &ProducerState{producers: make(map[int64]*producer, count), txns: make(map[int64]int64), verifying: make(map[int64]verification)}
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

			coordinatorEpoch: int32(binary.BigEndian.Uint32(b[26:])),
			n:                int(b[38]),
		}
		if first := int64(binary.BigEndian.Uint64(b[30:])); first >= 0 {
			s.txns[id] = first
		} else if first != -1 {
			return bad("producer %d: transaction first offset %d", id, first)
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
	if len(b) < 4 {
		return bad("%d bytes, want the count of unreplicated transactions", len(b))
	}
	count = binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(count)*completedTxnSize != uint64(len(b)) {
		return bad("%d unreplicated transactions in %d bytes", count, len(b))
	}
	for range count {
		c := CompletedTxn{
			ProducerID:       int64(binary.BigEndian.Uint64(b)),
			FirstOffset:      int64(binary.BigEndian.Uint64(b[8:])),
			LastOffset:       int64(binary.BigEndian.Uint64(b[16:])),
			LastStableOffset: int64(binary.BigEndian.Uint64(b[24:])),
			Aborted:          b[32] == 1,
		}
		if b[32] > 1 {
			return bad("unreplicated transaction of producer %d: aborted flag %d", c.ProducerID, b[32])
		}
		s.unreplicated = append(s.unreplicated, c)
		b = b[completedTxnSize:]
	}
	return s, nil
}

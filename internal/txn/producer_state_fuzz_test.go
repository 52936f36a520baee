package txn

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// FuzzProducerState drives Check and Update (and now and then Expire and
// TruncateBelow) with batches decoded from the input, 6 bytes per
// operation, as a partition would. Inputs are cut at maxFuzzOps operations
// to keep each run short.
//
// Invariants:
//   - nothing panics, and Check never changes the state;
//   - every Check error wraps one of the documented kerr values;
//   - a duplicate Check reports is one of the producer's last
//     RetainedBatches appended batches, with the same epoch and sequences;
//   - what Check accepts keeps each producer's sequences contiguous: within
//     an epoch each batch starts right after the last one (wrapping to 0
//     after math.MaxInt32), a new epoch is higher and starts at 0, and only
//     a producer the state does not know may start anywhere;
//   - the state's binary form decodes to the same state.
func FuzzProducerState(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 1, 0, 0, 0, 2, 0, 1, 0, 0, 0, 2, 0, 1, 0, 1, 0, 0})
	f.Add([]byte{0, 1, 0, 2, 0, 3, 0, 1, 0, 2, 0, 3, 0, 1, 1, 0, 0, 0})
	f.Add([]byte{0, 1, 0, 5, 250, 3, 0, 1, 0, 0, 0, 0, 6, 0, 0, 0, 9, 0})
	f.Add([]byte{0, 2, 1, 1, 7, 0, 0, 2, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 3, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 6, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 6*maxFuzzOps {
			data = data[:6*maxFuzzOps]
		}
		s := NewProducerState()
		m := newModel()
		var next, now int64
		for len(data) >= 6 {
			op := data[:6]
			data = data[6:]
			now += int64(op[5])
			switch op[0] % 8 {
			case 6:
				s.Expire(now, int64(op[1]))
				m.sync(s)
				continue
			case 7:
				s.TruncateBelow(next - int64(op[1]))
				m.sync(s)
				continue
			}
			h := m.header(op)
			before := cloneState(s)
			dup, err := s.Check(h)
			if !reflect.DeepEqual(before, cloneState(s)) {
				t.Fatalf("Check(%+v) changed the state", h)
			}
			switch {
			case err != nil:
				if !isCheckError(err) {
					t.Fatalf("Check(%+v): unexpected error %v", h, err)
				}
			case dup != nil:
				m.checkDup(t, h, *dup)
			default:
				m.checkAccepted(t, h)
				h.BaseOffset = next
				next = h.NextOffset()
				s.Update(h, now)
				m.update(h, now)
			}
		}
		got, err := DecodeProducerState(s.AppendBinary(nil))
		if err != nil {
			t.Fatalf("decode the state's own binary form: %v", err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("decoded state %+v, want %+v", got, s)
		}
	})
}

const maxFuzzOps = 512

func isCheckError(err error) bool {
	for _, want := range []error{kerr.InvalidRecord, kerr.InvalidProducerEpoch, kerr.OutOfOrderSequenceNumber, kerr.InvalidTxnState} {
		if errors.Is(err, want) {
			return true
		}
	}
	return false
}

// model is an independent record of what each producer appended.
type model struct {
	producers map[int64]*modelProducer
}

type modelProducer struct {
	epoch   int16
	batches []BatchMeta // every batch of the current epoch, in order
	inTxn   bool        // a transactional batch was appended (no marker ends it here)
}

func newModel() *model { return &model{producers: make(map[int64]*modelProducer)} }

// header decodes one operation into a batch header. Sequences are mostly
// near the one the model expects so that appends, duplicates and small gaps
// all occur; some are raw, near the wrap, or invalid.
func (m *model) header(op []byte) recordbatch.Header {
	pid := int64(op[1]%4) - 1 // -1 (no producer id) to 2
	epoch := int16(op[2]%4) - 1
	count := int32(op[4]%4) + 1
	var attrs int16
	if op[0]%8 == 5 {
		attrs = int16(op[4]) & (attrTransactional | attrControl)
	}
	var seq int32
	expected := int32(0)
	if p := m.producers[pid]; p != nil && len(p.batches) > 0 {
		expected = nextSequence(p.batches[len(p.batches)-1].LastSeq)
	}
	switch op[3] % 8 {
	case 0, 1, 2, 3:
		seq = expected
	case 4:
		seq = expected - int32(op[3]>>3) // a retry, or older
	case 5:
		seq = expected + int32(op[3]>>3) // a gap
	case 6:
		seq = math.MaxInt32 - int32(op[3]>>3)
	case 7:
		seq = int32(op[3]>>3) - 4 // small, sometimes negative
	}
	return recordbatch.Header{
		Magic:           recordbatch.CurrentMagic,
		Attributes:      attrs,
		LastOffsetDelta: count - 1,
		ProducerID:      pid,
		ProducerEpoch:   epoch,
		BaseSequence:    seq,
		NumRecords:      count,
	}
}

func (m *model) checkDup(t *testing.T, h recordbatch.Header, dup BatchMeta) {
	t.Helper()
	p := m.producers[h.ProducerID]
	if p == nil || p.epoch != h.ProducerEpoch {
		t.Fatalf("duplicate %+v reported for %+v, which the producer never appended in this epoch", dup, h)
	}
	if dup.FirstSeq != h.BaseSequence || dup.LastSeq != lastSequence(h.BaseSequence, h.LastOffsetDelta) {
		t.Fatalf("duplicate %+v does not match the sequences of %+v", dup, h)
	}
	recent := p.batches[max(0, len(p.batches)-RetainedBatches):]
	for _, b := range recent {
		if b == dup {
			return
		}
	}
	t.Fatalf("duplicate %+v is not among the last %d batches %+v", dup, RetainedBatches, recent)
}

func (m *model) checkAccepted(t *testing.T, h recordbatch.Header) {
	t.Helper()
	if h.Control() || h.Transactional() && h.ProducerID < 0 {
		t.Fatalf("Check accepted %+v with attributes %#x", h, h.Attributes)
	}
	if h.ProducerID < 0 {
		return
	}
	if p := m.producers[h.ProducerID]; p != nil && p.inTxn && !h.Transactional() {
		t.Fatalf("Check accepted non-transactional %+v during the producer's transaction", h)
	}
	if h.BaseSequence < 0 {
		t.Fatalf("Check accepted negative sequence in %+v", h)
	}
	p := m.producers[h.ProducerID]
	switch {
	case p == nil || p.epoch == noProducerEpoch:
		// Unknown producers, and the epoch -1 state Kafka also leaves
		// unchecked, start anywhere.
	case h.ProducerEpoch != p.epoch:
		if h.ProducerEpoch < p.epoch || h.BaseSequence != 0 {
			t.Fatalf("Check accepted %+v after epoch %d", h, p.epoch)
		}
	case len(p.batches) == 0:
		if h.BaseSequence != 0 {
			t.Fatalf("Check accepted %+v as the first batch of epoch %d", h, p.epoch)
		}
	default:
		if last := p.batches[len(p.batches)-1].LastSeq; h.BaseSequence != nextSequence(last) {
			t.Fatalf("Check accepted %+v after sequence %d", h, last)
		}
	}
}

func (m *model) update(h recordbatch.Header, ts int64) {
	if h.ProducerID < 0 {
		return
	}
	p := m.producers[h.ProducerID]
	if p == nil {
		p = &modelProducer{epoch: noProducerEpoch}
		m.producers[h.ProducerID] = p
	}
	if p.epoch != h.ProducerEpoch {
		p.epoch, p.batches = h.ProducerEpoch, nil
	}
	p.inTxn = p.inTxn || h.Transactional()
	p.batches = append(p.batches, BatchMeta{
		FirstSeq:   h.BaseSequence,
		LastSeq:    lastSequence(h.BaseSequence, h.LastOffsetDelta),
		BaseOffset: h.BaseOffset,
		LastOffset: h.LastOffset(),
		Timestamp:  ts,
	})
}

// sync forgets the producers the state forgot.
func (m *model) sync(s *ProducerState) {
	for id := range m.producers {
		if _, ok := s.producers[id]; !ok {
			delete(m.producers, id)
		}
	}
}

package txn

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
)

// codecState is a state with a producer holding the full retained window,
// one whose epoch was bumped by a control batch, and one with a wrapped
// sequence range.
func codecState() *ProducerState {
	s := NewProducerState()
	off := int64(0)
	add := func(pid int64, epoch int16, seq, n int32, attrs int16) {
		h := recordbatch.Header{Attributes: attrs, ProducerID: pid, ProducerEpoch: epoch,
			BaseSequence: seq, LastOffsetDelta: n - 1, BaseOffset: off}
		s.Update(h, 1000+off)
		off += int64(n)
	}
	for i := range int32(7) {
		add(9, 2, i*3, 3, 0)
	}
	add(4, 0, 0, 2, 0)
	add(4, 1, -1, 1, attrControl)
	add(1<<40, 5, 2147483646, 4, 0)
	add(6, 0, 0, 2, attrTransactional) // ongoing
	add(7, 0, 0, 1, attrTransactional)
	h := recordbatch.Header{Attributes: attrTransactional | attrControl, ProducerID: 7, BaseSequence: -1, BaseOffset: off}
	s.EndTxn(h, recordbatch.EndTxnMarker{CoordinatorEpoch: 3}, 1000+off) // unreplicated
	return s
}

// TestProducerStateCodec: a state survives its binary form, and every
// shorter or longer form is an error, not a different state.
func TestProducerStateCodec(t *testing.T) {
	s := codecState()
	b := s.AppendBinary(nil)
	got, err := DecodeProducerState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.AppendBinary(nil), b) || got.Len() != 5 {
		t.Fatalf("decoded %d producers re-encode differently", got.Len())
	}
	if dup, err := got.Check(recordbatch.Header{ProducerID: 9, ProducerEpoch: 2, BaseSequence: 9, LastOffsetDelta: 2}); err != nil || dup == nil || dup.BaseOffset != 9 {
		t.Fatalf("retry of producer 9's batch at sequence 9 after decoding: %+v, %v; want the duplicate at offset 9", dup, err)
	}
	for n := range len(b) {
		if _, err := DecodeProducerState(b[:n]); !errors.Is(err, ErrBadProducerState) {
			t.Fatalf("decode of the first %d of %d bytes: %v, want ErrBadProducerState", n, len(b), err)
		}
	}
	if _, err := DecodeProducerState(append(b, 0)); !errors.Is(err, ErrBadProducerState) {
		t.Fatalf("decode with a trailing byte: %v, want ErrBadProducerState", err)
	}
	empty, err := DecodeProducerState(NewProducerState().AppendBinary(nil))
	if err != nil || empty.Len() != 0 {
		t.Fatalf("empty state: %d producers, %v", empty.Len(), err)
	}
}

// FuzzDecodeProducerState: any input decodes without panicking, and what
// decodes is the binary form of the state it decodes to.
func FuzzDecodeProducerState(f *testing.F) {
	f.Add(codecState().AppendBinary(nil))
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeProducerState(b)
		if err != nil {
			if !errors.Is(err, ErrBadProducerState) {
				t.Fatalf("error %v does not wrap ErrBadProducerState", err)
			}
			return
		}
		if !bytes.Equal(s.AppendBinary(nil), b) {
			t.Fatalf("%x decodes to a state whose binary form differs", b)
		}
	})
}

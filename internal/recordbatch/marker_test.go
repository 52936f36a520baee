package recordbatch

import (
	"errors"
	"testing"
)

func TestEndTxnMarkerRoundTrip(t *testing.T) {
	for _, want := range []EndTxnMarker{{Commit: true, CoordinatorEpoch: 3}, {Commit: false, CoordinatorEpoch: -1}} {
		b := BuildEndTxnMarker(7, 2, want, 1000)
		h, err := Check(b)
		if err != nil {
			t.Fatalf("Check: %v", err)
		}
		if !h.Control() || !h.Transactional() || h.ProducerID != 7 || h.ProducerEpoch != 2 || h.BaseSequence != -1 {
			t.Fatalf("got header %+v, want a transactional control batch of producer 7 epoch 2", h)
		}
		got, err := ReadEndTxnMarker(b)
		if err != nil || got != want {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
	}
}

func TestReadEndTxnMarkerRejects(t *testing.T) {
	ctl := BuildOptions{ProducerID: 5, ProducerEpoch: 1, BaseSequence: -1, Transactional: true, Control: true}
	tests := []struct {
		name string
		opts BuildOptions
		recs []Record
	}{
		{"not control", BuildOptions{ProducerID: 5, Transactional: true}, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
		{"not transactional", BuildOptions{ProducerID: 5, Control: true}, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
		{"short key", ctl, []Record{{Key: []byte{0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
		{"key version 1", ctl, []Record{{Key: []byte{0, 1, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
		{"leader change type", ctl, []Record{{Key: []byte{0, 0, 0, 2}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
		{"short value", ctl, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 3}}}},
		{"two records", ctl, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}, {Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustBuild(t, tt.opts, tt.recs)
			if _, err := ReadEndTxnMarker(b); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("got %v, want ErrInvalidRecord", err)
			}
		})
	}
	if _, err := ReadEndTxnMarker(BuildEndTxnMarker(1, 0, EndTxnMarker{}, 0)[:HeaderSize-1]); err == nil {
		t.Fatal("a truncated batch decoded")
	}
}

// FuzzReadEndTxnMarker: any bytes decode without panicking, every error
// is one of the package's, and a marker that decodes builds a batch that
// decodes to it again.
func FuzzReadEndTxnMarker(f *testing.F) {
	f.Add(BuildEndTxnMarker(7, 2, EndTxnMarker{Commit: true, CoordinatorEpoch: 3}, 1000))
	f.Add(BuildEndTxnMarker(1, 0, EndTxnMarker{}, 0))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadEndTxnMarker(b)
		if err != nil {
			for _, want := range []error{ErrInvalidRecord, ErrTruncated, ErrCorrupt, ErrMagic, ErrCodec} {
				if errors.Is(err, want) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		if got, err := ReadEndTxnMarker(BuildEndTxnMarker(1, 0, m, 0)); err != nil || got != m {
			t.Fatalf("rebuilt marker %+v decodes to %+v, %v", m, got, err)
		}
	})
}

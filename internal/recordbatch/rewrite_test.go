package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// rewriteInput builds a batch of n records with keys k0.., values v0..
// (nil for the indexes in tombstones), timestamps 1000+10*i, base offset 500.
func rewriteInput(t *testing.T, opts BuildOptions, n int, tombstones ...int) []byte {
	t.Helper()
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{TimestampDelta: int64(10 * i), Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i),
			Headers: []RecordHeader{{Key: "h", Value: []byte{byte(i)}}}}
	}
	for _, i := range tombstones {
		recs[i].Value = nil
	}
	opts.BaseTimestamp = 1000
	b, err := Build(opts, recs)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	PutBaseOffset(b, 500)
	PutPartitionLeaderEpoch(b, 7)
	return b
}

type rewrittenRecord struct {
	delta int32
	ts    int64
	key   string
	value []byte
}

func decodeRewritten(t *testing.T, b []byte) (Header, []rewrittenRecord) {
	t.Helper()
	h, err := Check(b)
	if err != nil {
		t.Fatalf("check rewritten batch: %v", err)
	}
	var out []rewrittenRecord
	if err := Iterate(b, nil, func(r *Record) error {
		if len(r.Headers) != 1 || r.Headers[0].Key != "h" {
			return fmt.Errorf("headers %v", r.Headers)
		}
		out = append(out, rewrittenRecord{r.OffsetDelta, h.BaseTimestamp + r.TimestampDelta, string(r.Key), bytes.Clone(r.Value)})
		return nil
	}); err != nil {
		t.Fatalf("iterate rewritten batch: %v", err)
	}
	return h, out
}

func TestRewrite(t *testing.T) {
	producer := BuildOptions{ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17}
	tests := []struct {
		name        string
		opts        BuildOptions
		tombstones  []int
		keep        []int // record indexes kept
		horizon     int64
		wantChanged bool
		wantHorizon int64 // -1: no delete horizon
	}{
		{name: "all kept", opts: producer, keep: []int{0, 1, 2, 3}, horizon: -1, wantHorizon: -1},
		{name: "none kept", opts: producer, keep: nil, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "gaps", opts: producer, keep: []int{1, 3}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "last removed", opts: producer, keep: []int{0, 2}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "gzip", opts: BuildOptions{Codec: CodecGzip, ProducerID: -1}, keep: []int{2}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "snappy", opts: BuildOptions{Codec: CodecSnappy, ProducerID: -1}, keep: []int{0, 3}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "lz4", opts: BuildOptions{Codec: CodecLZ4, ProducerID: -1}, keep: []int{1}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "zstd", opts: BuildOptions{Codec: CodecZstd, ProducerID: -1}, keep: []int{0, 1, 2}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "tombstone gets horizon", opts: producer, tombstones: []int{2}, keep: []int{0, 1, 2, 3}, horizon: 99999, wantChanged: true, wantHorizon: 99999},
		{name: "removed tombstone no horizon", opts: producer, tombstones: []int{2}, keep: []int{0, 3}, horizon: 99999, wantChanged: true, wantHorizon: -1},
		{name: "no tombstone no horizon", opts: producer, keep: []int{0, 1, 2, 3}, horizon: 99999, wantHorizon: -1},
		{name: "log append time", opts: BuildOptions{LogAppendTime: true, ProducerID: -1}, keep: []int{0}, horizon: -1, wantChanged: true, wantHorizon: -1},
		{name: "transactional", opts: BuildOptions{Transactional: true, ProducerID: 5}, keep: []int{3}, horizon: -1, wantChanged: true, wantHorizon: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := rewriteInput(t, tt.opts, 4, tt.tombstones...)
			inH, _ := Check(in)
			keep := map[int]bool{}
			for _, i := range tt.keep {
				keep[i] = true
			}
			prefix := []byte("prefix")
			n := 0
			out, res, err := Rewrite(bytes.Clone(prefix), in, tt.horizon, nil, func(r *Record) bool {
				k := keep[int(r.OffsetDelta)]
				n++
				return k
			})
			if err != nil {
				t.Fatalf("rewrite: %v", err)
			}
			wantTombstones := 0
			for _, i := range tt.tombstones {
				if keep[i] {
					wantTombstones++
				}
			}
			if n != 4 || res.Kept != len(tt.keep) || res.Removed != 4-len(tt.keep) || res.Changed != tt.wantChanged || res.KeptTombstones != wantTombstones {
				t.Fatalf("got %d calls, %+v; want 4 calls, kept %d (%d tombstones), changed %v", n, res, len(tt.keep), wantTombstones, tt.wantChanged)
			}
			if !bytes.HasPrefix(out, prefix) {
				t.Fatalf("dst prefix lost")
			}
			out = out[len(prefix):]
			if len(tt.keep) == 0 {
				if len(out) != 0 {
					t.Fatalf("got %d bytes, want none", len(out))
				}
				return
			}
			if !tt.wantChanged && !bytes.Equal(out, in) {
				t.Fatalf("unchanged batch was re-encoded")
			}
			h, recs := decodeRewritten(t, out)
			if h.BaseOffset != 500 || h.LastOffsetDelta != 3 || h.PartitionLeaderEpoch != 7 || h.Codec() != inH.Codec() ||
				h.ProducerID != inH.ProducerID || h.ProducerEpoch != inH.ProducerEpoch || h.BaseSequence != inH.BaseSequence ||
				h.Transactional() != inH.Transactional() || h.LogAppendTime() != inH.LogAppendTime() || int(h.NumRecords) != len(tt.keep) {
				t.Fatalf("got header %+v, from %+v", h, inH)
			}
			if got := h.HasDeleteHorizon(); got != (tt.wantHorizon >= 0) || got && h.BaseTimestamp != tt.wantHorizon {
				t.Fatalf("got delete horizon %v base timestamp %d, want %d", got, h.BaseTimestamp, tt.wantHorizon)
			}
			wantMax := int64(1000 + 10*tt.keep[len(tt.keep)-1])
			if inH.LogAppendTime() {
				wantMax = inH.MaxTimestamp
			}
			if h.MaxTimestamp != wantMax {
				t.Fatalf("got max timestamp %d, want %d", h.MaxTimestamp, wantMax)
			}
			if len(recs) != len(tt.keep) {
				t.Fatalf("got %d records, want %d", len(recs), len(tt.keep))
			}
			tomb := map[int]bool{}
			for _, i := range tt.tombstones {
				tomb[i] = true
			}
			for j, i := range tt.keep {
				r := recs[j]
				wantValue := fmt.Appendf(nil, "v%d", i)
				if tomb[i] {
					wantValue = nil
				}
				if r.delta != int32(i) || r.ts != int64(1000+10*i) || r.key != fmt.Sprintf("k%d", i) || !bytes.Equal(r.value, wantValue) {
					t.Fatalf("record %d: got %+v, want delta %d ts %d", j, r, i, 1000+10*i)
				}
			}
		})
	}
}

func TestRewriteErrors(t *testing.T) {
	good := rewriteInput(t, BuildOptions{ProducerID: -1}, 2)
	badCRC := bytes.Clone(good)
	badCRC[len(badCRC)-1] ^= 1
	for _, tt := range []struct {
		name  string
		batch []byte
		want  error
	}{
		{"truncated", good[:30], ErrTruncated},
		{"bad crc", badCRC, ErrCorrupt},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("x")
			out, _, err := Rewrite(dst, tt.batch, -1, nil, func(*Record) bool { return false })
			if !errors.Is(err, tt.want) || string(out) != "x" {
				t.Fatalf("got %q, %v; want x, %v", out, err, tt.want)
			}
		})
	}
}

// TestAppendEmpty: the empty batch keeps what a producer's state is
// rebuilt from (offsets, producer, epoch, sequence, bits) and passes Check.
func TestAppendEmpty(t *testing.T) {
	in := rewriteInput(t, BuildOptions{Codec: CodecZstd, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17, Transactional: true}, 4)
	h, _ := Check(in)
	prefix := []byte("prefix")
	out := AppendEmpty(bytes.Clone(prefix), h)
	if !bytes.Equal(out[:len(prefix)], prefix) {
		t.Fatalf("prefix changed")
	}
	got, err := Check(out[len(prefix):])
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	if got.BaseOffset != 500 || got.LastOffset() != h.LastOffset() || got.ProducerID != 42 || got.ProducerEpoch != 3 ||
		got.BaseSequence != 17 || got.PartitionLeaderEpoch != 7 || !got.Transactional() || got.Control() ||
		got.Codec() != CodecNone || got.NumRecords != 0 || got.MaxTimestamp != h.MaxTimestamp || got.Size() != HeaderSize {
		t.Fatalf("got %+v from %+v", got, h)
	}
	n := 0
	if err := Iterate(out[len(prefix):], nil, func(*Record) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("iterate: %d records, %v", n, err)
	}
}

// TestWithDeleteHorizon: a marker gets the horizon with its record intact,
// once.
func TestWithDeleteHorizon(t *testing.T) {
	m := BuildEndTxnMarker(42, 3, EndTxnMarker{Commit: true, CoordinatorEpoch: 9}, 1000)
	out, err := WithDeleteHorizon(nil, m, 5000, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Check(out)
	if err != nil || !h.HasDeleteHorizon() || h.BaseTimestamp != 5000 || h.MaxTimestamp != 1000 || !h.Control() {
		t.Fatalf("got %+v, %v; want horizon 5000 on the marker", h, err)
	}
	if got, err := ReadEndTxnMarker(out); err != nil || got != (EndTxnMarker{Commit: true, CoordinatorEpoch: 9}) {
		t.Fatalf("marker after: %+v, %v", got, err)
	}
	again, err := WithDeleteHorizon(nil, out, 9000, nil)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("a second horizon changed the batch: %v", err)
	}
}

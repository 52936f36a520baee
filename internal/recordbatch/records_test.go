package recordbatch

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// cloneRecord deep-copies r so it outlives the Iterate callback.
func cloneRecord(r *Record) Record {
	c := Record{Attributes: r.Attributes, TimestampDelta: r.TimestampDelta, OffsetDelta: r.OffsetDelta,
		Key: bytes.Clone(r.Key), Value: bytes.Clone(r.Value)}
	for _, h := range r.Headers {
		c.Headers = append(c.Headers, RecordHeader{Key: string([]byte(h.Key)), Value: bytes.Clone(h.Value)})
	}
	return c
}

func collect(tb testing.TB, b []byte) []Record {
	tb.Helper()
	var got []Record
	if err := Iterate(b, nil, func(r *Record) error { got = append(got, cloneRecord(r)); return nil }); err != nil {
		tb.Fatalf("Iterate: %v", err)
	}
	return got
}

func equalRecords(a, b []Record) error {
	if len(a) != len(b) {
		return fmt.Errorf("got %d records, want %d", len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Attributes != y.Attributes || x.TimestampDelta != y.TimestampDelta ||
			!bytes.Equal(x.Key, y.Key) || (x.Key == nil) != (y.Key == nil) ||
			!bytes.Equal(x.Value, y.Value) || (x.Value == nil) != (y.Value == nil) || len(x.Headers) != len(y.Headers) {
			return fmt.Errorf("record %d: got %+v, want %+v", i, x, y)
		}
		for j := range x.Headers {
			if x.Headers[j].Key != y.Headers[j].Key || !bytes.Equal(x.Headers[j].Value, y.Headers[j].Value) ||
				(x.Headers[j].Value == nil) != (y.Headers[j].Value == nil) {
				return fmt.Errorf("record %d header %d: got %+v, want %+v", i, j, x.Headers[j], y.Headers[j])
			}
		}
	}
	return nil
}

func TestIterateRoundTrip(t *testing.T) {
	want := simpleRecords()
	want = append(want, Record{TimestampDelta: -7, Value: bytes.Repeat([]byte("v"), 5000),
		Headers: []RecordHeader{{Key: "", Value: nil}, {Key: "trace", Value: []byte{}}}})
	for i := range want {
		want[i].OffsetDelta = int32(i)
	}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := mustBuild(t, noProducer(c), want)
			if err := equalRecords(collect(t, b), want); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestIterateScratchReuseAndStop(t *testing.T) {
	b := mustBuild(t, noProducer(CodecZstd), simpleRecords())
	var scratch []byte
	n := 0
	err := Iterate(b, &scratch, func(r *Record) error {
		n++
		if r.OffsetDelta == 1 {
			return ErrStop
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Fatalf("got err %v after %d records, want nil after 2", err, n)
	}
	if cap(scratch) == 0 {
		t.Fatalf("got empty scratch, want the decompressed records kept for reuse")
	}
	boom := errors.New("boom")
	if err := Iterate(b, &scratch, func(*Record) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the callback's error", err)
	}
}

// withRecords builds a batch around hand-written record bytes.
func withRecords(tb testing.TB, numRecords int32, raw []byte) []byte {
	tb.Helper()
	b := mustBuild(tb, noProducer(CodecNone), []Record{{}})
	b = append(b[:HeaderSize], raw...)
	return resealed(b, func(c []byte) {
		putU32(c, offLength, uint32(len(c)-LogOverhead))
		putU32(c, offRecordCount, uint32(numRecords))
		putU32(c, offLastOffsetDelta, uint32(max(numRecords-1, 0)))
	})
}

func putU32(b []byte, off int, v uint32) {
	b[off], b[off+1], b[off+2], b[off+3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}

func TestIterateMalformed(t *testing.T) {
	// A minimal good record: length 6, attrs 0, ts 0, off 0, key -1, value -1, 0 headers.
	good := []byte{12, 0, 0, 0, 1, 1, 0}
	tests := []struct {
		name string
		n    int32
		raw  []byte
	}{
		{"fewer records than declared", 2, good},
		{"trailing bytes", 1, append(append([]byte(nil), good...), 0)},
		{"length past end", 1, []byte{40, 0, 0, 0, 1, 1, 0}},
		{"negative length", 1, []byte{1}},
		{"length too small", 1, []byte{10, 0, 0, 0, 1, 1, 0}},
		{"length too large", 1, []byte{14, 0, 0, 0, 1, 1, 0, 0}},
		{"bad varint", 1, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"varint overflows int32", 1, []byte{0xfe, 0xff, 0xff, 0xff, 0x7f}},
		{"key length -2", 1, []byte{12, 0, 0, 0, 3, 1, 0}},
		{"key past record", 1, []byte{12, 0, 0, 0, 8, 1, 0}},
		{"null header key", 1, []byte{16, 0, 0, 0, 1, 1, 2, 1, 1}},
		{"header count too big", 1, []byte{12, 0, 0, 0, 1, 1, 20}},
		{"negative header count", 1, []byte{12, 0, 0, 0, 1, 1, 1}},
		{"empty record", 1, []byte{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := withRecords(t, tt.n, tt.raw)
			err := Iterate(b, nil, func(*Record) error { return nil })
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Iterate: got %v, want ErrCorrupt", err)
			}
			if _, err := Validate(b, ValidateOptions{}, nil); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("Validate: got %v, want ErrInvalidRecord", err)
			}
		})
	}
	if err := Iterate(withRecords(t, 1, good), nil, func(*Record) error { return nil }); err != nil {
		t.Fatalf("control case: got %v, want nil", err)
	}
}

func TestIterateZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	recs := benchRecords(100, 1024)
	for i := range recs {
		recs[i].Headers = []RecordHeader{{Key: "a", Value: []byte("b")}, {Key: "c"}}
	}
	b := mustBuild(t, noProducer(CodecNone), recs)
	fn := func(*Record) error { return nil }
	allocs := testing.AllocsPerRun(20, func() {
		if err := Iterate(b, nil, fn); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("got %.0f allocations per batch of 100 records, want 0", allocs)
	}
}

package recordbatch

import (
	"encoding/binary"
	"errors"
	"testing"
)

// mustBuild builds a batch or fails the test.
func mustBuild(tb testing.TB, opts BuildOptions, records []Record) []byte {
	tb.Helper()
	b, err := Build(opts, records)
	if err != nil {
		tb.Fatalf("Build: %v", err)
	}
	return b
}

// noProducer are BuildOptions for a batch without a producer id.
func noProducer(c Codec) BuildOptions {
	return BuildOptions{Codec: c, BaseTimestamp: 1_700_000_000_000, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

func simpleRecords() []Record {
	return []Record{
		{Key: []byte("k0"), Value: []byte("v0")},
		{TimestampDelta: 5, Key: nil, Value: []byte("v1"), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
		{TimestampDelta: 3, Key: []byte{}, Value: nil},
	}
}

// resealed returns a copy of b after mutate, with the CRC recomputed.
func resealed(b []byte, mutate func([]byte)) []byte {
	c := append([]byte(nil), b...)
	mutate(c)
	binary.BigEndian.PutUint32(c[offCRC:], ComputeCRC(c))
	return c
}

func TestReadHeader(t *testing.T) {
	opts := BuildOptions{Codec: CodecNone, BaseTimestamp: 1000, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 9, Transactional: true}
	b := mustBuild(t, opts, simpleRecords())
	PutBaseOffset(b, 42)
	PutPartitionLeaderEpoch(b, 3)
	h, err := ReadHeader(b)
	if err != nil {
		t.Fatalf("ReadHeader: %v", err)
	}
	want := Header{
		BaseOffset: 42, Length: int32(len(b) - LogOverhead), PartitionLeaderEpoch: 3, Magic: 2,
		CRC: ComputeCRC(b), Attributes: transactionalBit, LastOffsetDelta: 2, BaseTimestamp: 1000,
		MaxTimestamp: 1005, ProducerID: 7, ProducerEpoch: 2, BaseSequence: 9, NumRecords: 3,
	}
	if h != want {
		t.Fatalf("got %+v, want %+v", h, want)
	}
	if got := h.Size(); got != int64(len(b)) {
		t.Errorf("Size: got %d, want %d", got, len(b))
	}
	if h.LastOffset() != 44 || h.NextOffset() != 45 {
		t.Errorf("got last %d next %d, want 44 45", h.LastOffset(), h.NextOffset())
	}
	if !h.Transactional() || h.Control() || h.LogAppendTime() || h.HasDeleteHorizon() || h.Codec() != CodecNone {
		t.Errorf("attribute accessors wrong for %#x", h.Attributes)
	}
	if _, err := Check(b); err != nil {
		t.Errorf("Check after patching fields outside the CRC: %v", err)
	}
}

func TestCheck(t *testing.T) {
	good := mustBuild(t, noProducer(CodecNone), simpleRecords())
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"valid", good, nil},
		{"empty", nil, ErrTruncated},
		{"short header", good[:HeaderSize-1], ErrTruncated},
		{"truncated body", good[:len(good)-1], ErrTruncated},
		{"trailing bytes", append(append([]byte(nil), good...), 0), ErrCorrupt},
		{"bad crc", func() []byte { c := append([]byte(nil), good...); c[len(c)-1] ^= 1; return c }(), ErrCorrupt},
		{"magic 1", resealed(good, func(c []byte) { c[offMagic] = 1 }), ErrMagic},
		{"length below header", resealed(good, func(c []byte) { binary.BigEndian.PutUint32(c[offLength:], 48) }), ErrCorrupt},
		{"negative length", resealed(good, func(c []byte) { binary.BigEndian.PutUint32(c[offLength:], 0xffffffff) }), ErrCorrupt},
		{"negative count", resealed(good, func(c []byte) { binary.BigEndian.PutUint32(c[offRecordCount:], 0xffffffff) }), ErrCorrupt},
		{"negative last delta", resealed(good, func(c []byte) { binary.BigEndian.PutUint32(c[offLastOffsetDelta:], 0x80000000) }), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Check(tt.b)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSetLogAppendTime(t *testing.T) {
	b := mustBuild(t, noProducer(CodecNone), simpleRecords())
	SetLogAppendTime(b, 123456)
	h, err := Check(b)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !h.LogAppendTime() || h.MaxTimestamp != 123456 {
		t.Fatalf("got logAppendTime %v max %d, want true 123456", h.LogAppendTime(), h.MaxTimestamp)
	}
	info, err := Validate(b, ValidateOptions{}, nil)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if info.MaxTimestamp != 123456 || info.OffsetOfMaxTimestamp != 2 {
		t.Fatalf("got max %d at %d, want 123456 at 2", info.MaxTimestamp, info.OffsetOfMaxTimestamp)
	}
}

func TestCodecString(t *testing.T) {
	for c, want := range map[Codec]string{CodecNone: "none", CodecGzip: "gzip", CodecSnappy: "snappy", CodecLZ4: "lz4", CodecZstd: "zstd", 6: "codec(6)"} {
		if got := c.String(); got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

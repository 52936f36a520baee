package recordbatch

import (
	"errors"
	"testing"
)

func TestValidate(t *testing.T) {
	recs := simpleRecords()
	keyed := []Record{{Key: []byte("a")}, {Key: []byte{}, TimestampDelta: 9}, {Key: []byte("c"), TimestampDelta: 9}}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			b := mustBuild(t, noProducer(c), recs)
			info, err := Validate(b, ValidateOptions{}, nil)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if info.Header.NumRecords != 3 || info.MaxTimestamp != 1_700_000_000_005 || info.OffsetOfMaxTimestamp != 1 {
				t.Fatalf("got %d records, max %d at %d; want 3, 1700000000005 at 1",
					info.Header.NumRecords, info.MaxTimestamp, info.OffsetOfMaxTimestamp)
			}
			if _, err := Validate(b, ValidateOptions{RequireKeys: true}, nil); !errors.Is(err, ErrMissingKey) {
				t.Fatalf("null key with RequireKeys: got %v, want ErrMissingKey", err)
			}
			kb := mustBuild(t, noProducer(c), keyed)
			info, err = Validate(kb, ValidateOptions{RequireKeys: true}, nil)
			if err != nil {
				t.Fatalf("keyed batch with RequireKeys: %v", err)
			}
			if info.OffsetOfMaxTimestamp != 1 {
				t.Fatalf("got offset of max timestamp %d, want the first of equal ones, 1", info.OffsetOfMaxTimestamp)
			}
		})
	}
}

func TestValidateControlBatch(t *testing.T) {
	opts := BuildOptions{ProducerID: 5, ProducerEpoch: 1, BaseSequence: -1, Transactional: true, Control: true}
	// Commit marker: key version 0 type 1; value version 0, coordinator epoch 3.
	b := mustBuild(t, opts, []Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 3}}})
	info, err := Validate(b, ValidateOptions{RequireKeys: true}, nil)
	if err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if !info.Header.Control() || !info.Header.Transactional() {
		t.Fatalf("got attributes %#x, want control and transactional", info.Header.Attributes)
	}
}

func TestValidateRejects(t *testing.T) {
	good := mustBuild(t, noProducer(CodecNone), simpleRecords())
	// Record bytes with offset deltas 0 then 2 (each record: len 6, attrs, ts 0, delta, null key, null value, 0 headers).
	skip := []byte{12, 0, 0, 0, 1, 1, 0, 12, 0, 0, 4, 1, 1, 0}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"bad crc", func() []byte { c := append([]byte(nil), good...); c[HeaderSize] ^= 0x40; return c }(), ErrCorrupt},
		{"truncated", good[:len(good)-3], ErrTruncated},
		{"magic 0", resealed(good, func(c []byte) { c[offMagic] = 0 }), ErrMagic},
		{"no records", withRecords(t, 0, nil), ErrInvalidRecord},
		{"last offset delta too big", resealed(good, func(c []byte) { putU32(c, offLastOffsetDelta, 3) }), ErrInvalidRecord},
		{"last offset delta too small", resealed(good, func(c []byte) { putU32(c, offLastOffsetDelta, 1) }), ErrInvalidRecord},
		{"count above records", resealed(good, func(c []byte) {
			putU32(c, offRecordCount, 4)
			putU32(c, offLastOffsetDelta, 3)
		}), ErrInvalidRecord},
		{"offset delta gap", resealed(withRecords(t, 2, skip), func([]byte) {}), ErrInvalidRecord},
		{"unknown codec", resealed(good, func(c []byte) { c[offAttributes+1] |= 6 }), ErrCodec},
		{"undecodable gzip", resealed(good, func(c []byte) { c[offAttributes+1] |= byte(CodecGzip) }), ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Validate(tt.b, ValidateOptions{}, nil); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestValidateZipBomb(t *testing.T) {
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			big := []Record{{Value: make([]byte, DefaultMaxDecompressedSize)}}
			b := mustBuild(t, noProducer(c), big)
			if len(b) > DefaultMaxDecompressedSize/8 {
				t.Fatalf("got %d compressed bytes, want a small bomb", len(b))
			}
			if _, err := Validate(b, ValidateOptions{}, nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

// benchRecords returns n keyed records with distinct values of size bytes,
// half of each compressible, as real payloads tend to be.
func benchRecords(n, size int) []Record {
	src := pseudoRandom(n * size)
	recs := make([]Record, n)
	for i := range recs {
		val := src[i*size : (i+1)*size]
		for j := 0; j < size/2; j++ {
			val[j] = 'a' + byte(j%7)
		}
		recs[i] = Record{TimestampDelta: int64(i), Key: []byte("key-0000"), Value: val}
	}
	return recs
}

func BenchmarkValidate(b *testing.B) {
	recs := benchRecords(100, 1024)
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch := mustBuild(b, noProducer(c), recs)
			var scratch []byte
			b.ReportAllocs()
			// Bytes are uncompressed record bytes, so codecs compare.
			b.SetBytes(int64(len(mustBuild(b, noProducer(CodecNone), recs))))
			for b.Loop() {
				if _, err := Validate(batch, ValidateOptions{RequireKeys: true}, &scratch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

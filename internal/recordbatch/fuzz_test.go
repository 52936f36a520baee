package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// fuzzLimit bounds decompression in FuzzDecompress* so each run stays fast.
const fuzzLimit = 256 << 10

// seedBatches returns valid batches of every codec, and broken variants:
// empty input, a bare header, maximal length fields, valid plus garbage.
func seedBatches(tb testing.TB) [][]byte {
	tb.Helper()
	var seeds [][]byte
	for _, c := range allCodecs {
		seeds = append(seeds, mustBuild(tb, noProducer(c), simpleRecords()))
		seeds = append(seeds, mustBuild(tb, BuildOptions{Codec: c, ProducerID: 3, ProducerEpoch: 1, Transactional: true},
			benchRecords(5, 100)))
	}
	valid := seeds[0]
	seeds = append(seeds,
		nil,
		valid[:HeaderSize],
		append(append([]byte(nil), valid...), 0xde, 0xad),
		resealed(valid, func(c []byte) { binary.BigEndian.PutUint32(c[offLength:], 0x7fffffff) }),
		resealed(valid, func(c []byte) { binary.BigEndian.PutUint32(c[offRecordCount:], 0x7fffffff) }),
		resealed(valid, func(c []byte) { binary.BigEndian.PutUint32(c[offLastOffsetDelta:], 0x7fffffff) }),
		mustBuild(tb, BuildOptions{ProducerID: 1, Transactional: true, Control: true}, []Record{{Key: []byte{0, 0, 0, 0}, Value: []byte{0, 0, 0, 0, 0, 0}}}),
	)
	return seeds
}

// FuzzCheck: Check never panics, and whatever it accepts is exactly one
// batch whose CRC matches and whose header reads back the same.
func FuzzCheck(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Check(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrMagic) {
				t.Fatalf("got error %v outside the sentinels", err)
			}
			return
		}
		if h.Size() != int64(len(b)) || ComputeCRC(b) != h.CRC || h.Magic != CurrentMagic {
			t.Fatalf("accepted %+v for %d bytes", h, len(b))
		}
		if h2, err := ReadHeader(b); err != nil || h2 != h {
			t.Fatalf("ReadHeader: got %+v, %v; want %+v", h2, err, h)
		}
	})
}

// FuzzValidate: Validate never panics; a batch it accepts iterates to
// exactly NumRecords records, and rebuilding those records with the same
// options gives a batch that validates and iterates to the same records.
func FuzzValidate(f *testing.F) {
	for _, s := range seedBatches(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var scratch []byte
		info, err := Validate(b, ValidateOptions{}, &scratch)
		if err != nil {
			return
		}
		h := info.Header
		var recs []Record
		if err := Iterate(b, &scratch, func(r *Record) error { recs = append(recs, cloneRecord(r)); return nil }); err != nil {
			t.Fatalf("Iterate after Validate: %v", err)
		}
		if int32(len(recs)) != h.NumRecords {
			t.Fatalf("got %d records, want %d", len(recs), h.NumRecords)
		}
		opts := BuildOptions{
			Codec: h.Codec(), BaseTimestamp: h.BaseTimestamp, ProducerID: h.ProducerID,
			ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
			Transactional: h.Transactional(), Control: h.Control(), LogAppendTime: h.LogAppendTime(),
		}
		rb, err := Build(opts, recs)
		if err != nil {
			t.Fatalf("Build: %v", err)
		}
		if _, err := Validate(rb, ValidateOptions{}, &scratch); err != nil {
			t.Fatalf("Validate of rebuilt batch: %v", err)
		}
		if err := equalRecords(collect(t, rb), recs); err != nil {
			t.Fatalf("rebuilt batch: %v", err)
		}
	})
}

// fuzzDecompress: Decompress of c never panics, never returns more than
// the limit, fails only with ErrCorrupt, and what it yields round-trips
// through Compress.
func fuzzDecompress(f *testing.F, c Codec) {
	f.Helper()
	for _, in := range [][]byte{nil, []byte("x"), bytes.Repeat([]byte("strata"), 1000), pseudoRandom(3000), make([]byte, 2*fuzzLimit)} {
		z, err := Compress(c, nil, in)
		if err != nil {
			f.Fatalf("Compress: %v", err)
		}
		f.Add(z)
		f.Add(append(append([]byte(nil), z...), 0xff, 0x00, 0x13))
		if len(z) > 4 {
			f.Add(z[:len(z)/2])
		}
	}
	if c == CodecSnappy {
		f.Add(xerial([]byte("abc"), pseudoRandom(100)))
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, z []byte) {
		out, err := DecompressLimit(c, nil, z, fuzzLimit)
		if len(out) > fuzzLimit {
			t.Fatalf("got %d bytes, past the limit %d", len(out), fuzzLimit)
		}
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("got error %v, want ErrCorrupt", err)
			}
			return
		}
		again, err := Compress(c, nil, out)
		if err != nil {
			t.Fatalf("Compress: %v", err)
		}
		back, err := DecompressLimit(c, nil, again, fuzzLimit)
		if err != nil || !bytes.Equal(back, out) {
			t.Fatalf("round trip: got %d bytes, %v; want %d bytes", len(back), err, len(out))
		}
	})
}

func FuzzDecompressGzip(f *testing.F)   { fuzzDecompress(f, CodecGzip) }
func FuzzDecompressSnappy(f *testing.F) { fuzzDecompress(f, CodecSnappy) }
func FuzzDecompressLZ4(f *testing.F)    { fuzzDecompress(f, CodecLZ4) }
func FuzzDecompressZstd(f *testing.F)   { fuzzDecompress(f, CodecZstd) }

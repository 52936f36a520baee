package recordbatch

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// kmsgRecords decodes the uncompressed record bytes of a kmsg batch.
func kmsgRecords(tb testing.TB, raw []byte, n int32) []kmsg.Record {
	tb.Helper()
	var out []kmsg.Record
	for i := int32(0); i < n; i++ {
		l, w := binary.Varint(raw)
		if w <= 0 || int(l)+w > len(raw) {
			tb.Fatalf("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(raw[:w+int(l)]); err != nil {
			tb.Fatalf("kmsg record %d: %v", i, err)
		}
		out = append(out, r)
		raw = raw[w+int(l):]
	}
	if len(raw) != 0 {
		tb.Fatalf("got %d bytes after the records, want 0", len(raw))
	}
	return out
}

func TestBuildParsesWithKmsg(t *testing.T) {
	recs := simpleRecords()
	opts := BuildOptions{BaseTimestamp: 99, ProducerID: 12, ProducerEpoch: 3, BaseSequence: 40, Transactional: true}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			opts.Codec = c
			b := mustBuild(t, opts, recs)
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(b); err != nil {
				t.Fatalf("kmsg ReadFrom: %v", err)
			}
			if got := uint32(kb.CRC); got != crc32.Checksum(b[offAttributes:], crc32.MakeTable(crc32.Castagnoli)) {
				t.Fatalf("got kmsg crc %08x, want the checksum of attributes onwards", got)
			}
			if kb.Magic != 2 || kb.NumRecords != 3 || kb.LastOffsetDelta != 2 || kb.FirstTimestamp != 99 ||
				kb.MaxTimestamp != 104 || kb.ProducerID != 12 || kb.ProducerEpoch != 3 || kb.FirstSequence != 40 ||
				kb.Attributes != int16(c)|transactionalBit || int(kb.Length) != len(b)-LogOverhead {
				t.Fatalf("got kmsg batch %+v", kb)
			}
			raw, err := Decompress(c, nil, kb.Records)
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			var got []Record
			for i, kr := range kmsgRecords(t, raw, kb.NumRecords) {
				if kr.OffsetDelta != int32(i) {
					t.Fatalf("record %d: got offset delta %d", i, kr.OffsetDelta)
				}
				r := Record{Attributes: kr.Attributes, TimestampDelta: kr.TimestampDelta64, Key: kr.Key, Value: kr.Value}
				for _, h := range kr.Headers {
					r.Headers = append(r.Headers, RecordHeader{Key: h.Key, Value: h.Value})
				}
				got = append(got, r)
			}
			if err := equalRecords(got, recs); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKmsgBatchValidates(t *testing.T) {
	krecs := []kmsg.Record{
		{TimestampDelta64: 0, OffsetDelta: 0, Key: []byte("a"), Value: []byte("one")},
		{TimestampDelta64: 20, OffsetDelta: 1, Key: []byte("b"), Value: bytes.Repeat([]byte("two"), 500),
			Headers: []kmsg.Header{{Key: "h1", Value: []byte("x")}, {Key: "h2"}}},
		{TimestampDelta64: 10, OffsetDelta: 2, Key: []byte("c"), Value: nil},
	}
	var raw []byte
	for i := range krecs {
		r := &krecs[i]
		body := r.AppendTo(nil)[1:] // Length 0 encodes as one byte; measure the rest
		r.Length = int32(len(body))
		raw = r.AppendTo(raw)
	}
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			z, err := Compress(c, nil, raw)
			if err != nil {
				t.Fatalf("Compress: %v", err)
			}
			kb := kmsg.RecordBatch{
				FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2, Attributes: int16(c),
				LastOffsetDelta: 2, FirstTimestamp: 500, MaxTimestamp: 520, ProducerID: -1,
				ProducerEpoch: -1, FirstSequence: -1, NumRecords: 3, Records: z,
			}
			kb.Length = int32(HeaderSize - LogOverhead + len(z))
			b := kb.AppendTo(nil)
			binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
			info, err := Validate(b, ValidateOptions{RequireKeys: true}, nil)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if info.MaxTimestamp != 520 || info.OffsetOfMaxTimestamp != 1 {
				t.Fatalf("got max %d at %d, want 520 at 1", info.MaxTimestamp, info.OffsetOfMaxTimestamp)
			}
			got := collect(t, b)
			if len(got) != 3 || string(got[1].Headers[0].Key) != "h1" || got[1].Headers[1].Value != nil ||
				!bytes.Equal(got[1].Value, krecs[1].Value) || got[2].Value != nil || got[1].TimestampDelta != 20 {
				t.Fatalf("got records %+v", got)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	if _, err := Build(noProducer(CodecNone), nil); err == nil {
		t.Errorf("no records: got nil error, want one")
	}
	if _, err := Build(noProducer(9), []Record{{}}); err == nil {
		t.Errorf("codec 9: got nil error, want one")
	}
}

func TestVarintLen(t *testing.T) {
	for _, v := range []int64{0, -1, 1, 63, -64, 64, -65, 1 << 20, -(1 << 40), 1<<63 - 1, -1 << 63} {
		if got, want := varintLen(v), len(binary.AppendVarint(nil, v)); got != want {
			t.Errorf("varintLen(%d): got %d, want %d", v, got, want)
		}
	}
}

package recordbatch

import (
	"bytes"
	"testing"
)

func TestRecompress(t *testing.T) {
	in := []Record{
		{TimestampDelta: 0, Key: []byte("a"), Value: []byte("one"), Headers: []RecordHeader{{Key: "h", Value: []byte("x")}}},
		{TimestampDelta: 7, Key: nil, Value: []byte("two")},
		{TimestampDelta: 3, Key: []byte("c"), Value: nil},
	}
	for _, from := range []Codec{CodecNone, CodecGzip, CodecZstd} {
		for _, to := range []Codec{CodecNone, CodecSnappy, CodecLZ4} {
			opts := BuildOptions{Codec: from, BaseTimestamp: 1000, ProducerID: 42, ProducerEpoch: 3, BaseSequence: 17}
			b, err := Build(opts, in)
			if err != nil {
				t.Fatal(err)
			}
			var scratch []byte
			out, err := Recompress(b, to, &scratch)
			if err != nil {
				t.Fatalf("%v->%v: %v", from, to, err)
			}
			info, err := Validate(out, ValidateOptions{}, &scratch)
			if err != nil {
				t.Fatalf("%v->%v: result does not validate: %v", from, to, err)
			}
			h := info.Header
			if h.Codec() != to || h.ProducerID != 42 || h.ProducerEpoch != 3 || h.BaseSequence != 17 ||
				h.BaseTimestamp != 1000 || h.MaxTimestamp != 1007 || h.NumRecords != 3 {
				t.Fatalf("%v->%v: header %+v", from, to, h)
			}
			i := 0
			err = Iterate(out, &scratch, func(r *Record) error {
				w := in[i]
				if r.TimestampDelta != w.TimestampDelta || !bytes.Equal(r.Key, w.Key) || (r.Key == nil) != (w.Key == nil) ||
					!bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) || len(r.Headers) != len(w.Headers) {
					t.Errorf("%v->%v record %d: got %+v, want %+v", from, to, i, *r, w)
				}
				i++
				return nil
			})
			if err != nil || i != 3 {
				t.Fatalf("%v->%v: iterate: %v after %d records", from, to, err, i)
			}
		}
	}
}

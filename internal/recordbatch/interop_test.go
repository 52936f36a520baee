package recordbatch

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// kgoCodecs pairs our codecs with franz-go's.
var kgoCodecs = []struct {
	c  Codec
	kc kgo.CompressionCodec
}{
	{CodecGzip, kgo.GzipCompression()},
	{CodecSnappy, kgo.SnappyCompression()},
	{CodecLZ4, kgo.Lz4Compression()},
	{CodecZstd, kgo.ZstdCompression()},
}

func TestCodecsInteroperateWithKgo(t *testing.T) {
	in := append(bytes.Repeat([]byte("strata record "), 20_000), pseudoRandom(70_000)...)
	dec := kgo.DefaultDecompressor()
	for _, tc := range kgoCodecs {
		t.Run(tc.c.String(), func(t *testing.T) {
			comp, err := kgo.DefaultCompressor(tc.kc)
			if err != nil {
				t.Fatalf("kgo compressor: %v", err)
			}
			var buf bytes.Buffer
			theirs, codec := comp.Compress(&buf, in)
			if Codec(codec) != tc.c {
				t.Fatalf("got kgo codec %d, want %d", codec, tc.c)
			}
			got, err := Decompress(tc.c, nil, theirs)
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("decompressing kgo output: got %d bytes, err %v; want %d bytes", len(got), err, len(in))
			}
			ours, err := Compress(tc.c, nil, in)
			if err != nil {
				t.Fatalf("Compress: %v", err)
			}
			got, err = dec.Decompress(ours, kgo.CompressionCodecType(tc.c))
			if err != nil || !bytes.Equal(got, in) {
				t.Fatalf("kgo decompressing ours: got %d bytes, err %v; want %d bytes", len(got), err, len(in))
			}
		})
	}
}

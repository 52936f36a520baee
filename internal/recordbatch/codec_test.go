package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
)

var allCodecs = []Codec{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd}

func TestCompressRoundTrip(t *testing.T) {
	inputs := map[string][]byte{
		"empty":  {},
		"small":  []byte("hello, strata"),
		"zeros":  make([]byte, 300_000),
		"random": pseudoRandom(200_000),
	}
	for _, c := range allCodecs {
		for name, in := range inputs {
			t.Run(c.String()+"/"+name, func(t *testing.T) {
				z, err := Compress(c, nil, in)
				if err != nil {
					t.Fatalf("Compress: %v", err)
				}
				scratch := make([]byte, 0, 16)
				out, err := Decompress(c, scratch, z)
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(out, in) {
					t.Fatalf("got %d bytes, want the %d input bytes", len(out), len(in))
				}
			})
		}
	}
}

func TestDecompressLimit(t *testing.T) {
	in := make([]byte, 1<<20)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			z, err := Compress(c, nil, in)
			if err != nil {
				t.Fatalf("Compress: %v", err)
			}
			if _, err := DecompressLimit(c, nil, z, len(in)); err != nil {
				t.Fatalf("at the limit: got %v, want nil", err)
			}
			out, err := DecompressLimit(c, nil, z, len(in)-1)
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("past the limit: got %v, want ErrCorrupt", err)
			}
			if len(out) >= len(in) {
				t.Fatalf("past the limit: got %d bytes out, want fewer than %d", len(out), len(in))
			}
		})
	}
}

func TestDecompressErrors(t *testing.T) {
	for _, c := range allCodecs[1:] {
		t.Run(c.String(), func(t *testing.T) {
			for _, in := range [][]byte{{1, 2, 3, 4, 5, 6, 7, 8, 9}, bytes.Repeat([]byte{0xff}, 40)} {
				if _, err := Decompress(c, nil, in); !errors.Is(err, ErrCorrupt) {
					t.Errorf("garbage %x: got %v, want ErrCorrupt", in, err)
				}
			}
		})
	}
	for _, c := range []Codec{5, 6, 7, -1} {
		if _, err := Decompress(c, nil, []byte("x")); !errors.Is(err, ErrCodec) {
			t.Errorf("codec %d: got %v, want ErrCodec", c, err)
		}
		if _, err := Compress(c, nil, []byte("x")); !errors.Is(err, ErrCodec) {
			t.Errorf("compress codec %d: got %v, want ErrCodec", c, err)
		}
	}
}

// xerial frames blocks as the Java client's SnappyOutputStream does.
func xerial(blocks ...[]byte) []byte {
	out := append([]byte(nil), xerialMagic...)
	out = binary.BigEndian.AppendUint32(out, 1)
	out = binary.BigEndian.AppendUint32(out, 1)
	for _, b := range blocks {
		z := snappy.Encode(nil, b)
		out = binary.BigEndian.AppendUint32(out, uint32(len(z)))
		out = append(out, z...)
	}
	return out
}

func TestSnappyXerial(t *testing.T) {
	a, b := bytes.Repeat([]byte("abc"), 30_000), pseudoRandom(5000)
	tests := []struct {
		name    string
		in      []byte
		want    []byte
		wantErr bool
	}{
		{"two blocks", xerial(a, b), append(append([]byte(nil), a...), b...), false},
		{"no blocks", xerial(), []byte{}, false},
		{"empty block", xerial([]byte{}), []byte{}, false},
		{"truncated length", xerial(a)[:xerialHeaderSize+2], nil, true},
		{"block past end", xerial(a)[:xerialHeaderSize+10], nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decompress(CodecSnappy, nil, tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("got %v, want ErrCorrupt", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decompress: %v", err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("got %d bytes, want %d", len(got), len(tt.want))
			}
		})
	}
	if _, err := DecompressLimit(CodecSnappy, nil, xerial(a, a), len(a)+10); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("xerial past limit: got %v, want ErrCorrupt", err)
	}
}

// pseudoRandom returns n deterministic incompressible-ish bytes.
func pseudoRandom(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

func TestCodecsConcurrent(t *testing.T) {
	in := append(bytes.Repeat([]byte("concurrent "), 5000), pseudoRandom(20_000)...)
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) {
			t.Parallel()
			errs := make(chan error, 8)
			for range 8 {
				go func() {
					var z, out []byte
					var err error
					for range 20 {
						if z, err = Compress(c, z, in); err != nil {
							break
						}
						if out, err = Decompress(c, out, z); err != nil {
							break
						}
						if !bytes.Equal(out, in) {
							err = errors.New("round trip mismatch")
							break
						}
					}
					errs <- err
				}()
			}
			for range 8 {
				if err := <-errs; err != nil {
					t.Fatalf("got %v, want nil", err)
				}
			}
		})
	}
}

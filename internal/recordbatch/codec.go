package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// DefaultMaxDecompressedSize bounds what Decompress produces, so that a small
// compressed batch (a "zip bomb") cannot exhaust memory.
const DefaultMaxDecompressedSize = 64 << 20

// ErrCodec reports a compression codec Strata does not know (attribute
// values 5 to 7). The protocol edge maps it to UNSUPPORTED_COMPRESSION_TYPE.
var ErrCodec = errors.New("unsupported compression codec")

// errTooLarge is wrapped in ErrCorrupt when output would pass the limit.
var errTooLarge = errors.New("decompressed size exceeds limit")

// xerialMagic opens snappy data framed the way the Java client's xerial
// SnappyOutputStream writes it: the magic, a version and a compatible-version
// int32, then blocks each prefixed with a big-endian int32 length.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderSize = 16

// Decompress decompresses src, compressed with c, into dst[:0] and returns
// the result, which reuses dst's storage when large enough. Output is bounded
// by DefaultMaxDecompressedSize; see DecompressLimit.
func Decompress(c Codec, dst, src []byte) ([]byte, error) {
	return DecompressLimit(c, dst, src, DefaultMaxDecompressedSize)
}

// DecompressLimit is Decompress with an explicit output bound: when the
// output would be longer than limit bytes it stops and returns an error
// wrapping ErrCorrupt. Malformed input returns an error wrapping ErrCorrupt;
// an unknown codec returns ErrCodec. CodecNone copies src.
func DecompressLimit(c Codec, dst, src []byte, limit int) ([]byte, error) {
	dst = dst[:0]
	var err error
	switch c {
	case CodecNone:
		if len(src) > limit {
			return dst, fmt.Errorf("%w: %w", ErrCorrupt, errTooLarge)
		}
		return append(dst, src...), nil
	case CodecGzip:
		dst, err = gunzip(dst, src, limit)
	case CodecSnappy:
		dst, err = unsnappy(dst, src, limit)
	case CodecLZ4:
		dst, err = unlz4(dst, src, limit)
	case CodecZstd:
		dst, err = unzstd(dst, src, limit)
	default:
		return dst, fmt.Errorf("%w: %v", ErrCodec, c)
	}
	if err != nil {
		if errors.Is(err, ErrCorrupt) {
			return dst, err
		}
		return dst, fmt.Errorf("%w: %v: %w", ErrCorrupt, c, err)
	}
	return dst, nil
}

// Compress compresses src with c into dst[:0] and returns the result.
// CodecNone copies src. An unknown codec returns ErrCodec.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	dst = dst[:0]
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		return compressStream(w, dst, src)
	case CodecSnappy:
		// Raw snappy blocks: every client and Kafka itself read them.
		n := snappy.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, fmt.Errorf("snappy: input of %d bytes too large", len(src))
		}
		if cap(dst) < n {
			dst = make([]byte, n)
		}
		return snappy.Encode(dst[:n], src), nil
	case CodecLZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		return compressStream(w, dst, src)
	case CodecZstd:
		return zstdEncoder.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: %v", ErrCodec, c)
}

// resettableWriter is a pooled stream compressor.
type resettableWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

func compressStream(w resettableWriter, dst, src []byte) ([]byte, error) {
	out := appendWriter{b: dst}
	w.Reset(&out)
	_, err := w.Write(src)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	w.Reset(nil) // drop the reference to dst
	return out.b, err
}

// appendWriter is an io.Writer appending to b.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// readLimited appends everything r yields to dst, failing once more than
// limit bytes have been produced.
func readLimited(dst []byte, r io.Reader, limit int) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			dst = append(dst, 0)[:len(dst)]
		}
		room := dst[len(dst):cap(dst)]
		if over := len(dst) + len(room) - (limit + 1); over > 0 {
			room = room[:len(room)-over]
		}
		n, err := r.Read(room)
		dst = dst[:len(dst)+n]
		if len(dst) > limit {
			return dst[:limit], fmt.Errorf("%w: %w", ErrCorrupt, errTooLarge)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// decoder is a pooled stream decompressor with the reader it consumes, so
// a decompression allocates nothing once the pool is warm.
type decoder[D any] struct {
	src bytes.Reader
	d   D
}

var (
	gzipReaders = sync.Pool{New: func() any { return &decoder[*gzip.Reader]{d: new(gzip.Reader)} }}
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	lz4Readers  = sync.Pool{New: func() any { return &decoder[*lz4.Reader]{d: lz4.NewReader(nil)} }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		// Kafka's own LZ4 stream writes 64 KiB blocks without checksums
		// beyond the header's; Java readers expect no more than that.
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false), lz4.ConcurrencyOption(1))
		return w
	}}
	// zstdDecoders maps an output limit to a shared decoder enforcing it:
	// DecodeAll is safe for concurrent use and, unlike stream decoding,
	// allocates no window ring, so memory follows the output size alone.
	// Callers use a handful of limits, so the map stays small.
	zstdDecoders sync.Map // int -> *zstd.Decoder
	// zstdEncoder is shared: EncodeAll is safe for concurrent use, with up
	// to GOMAXPROCS calls running at once.
	zstdEncoder = mustZstdEncoder()
)

func mustZstdEncoder() *zstd.Encoder {
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		panic(fmt.Sprintf("recordbatch: zstd encoder: %v", err)) // static options; cannot fail
	}
	return e
}

func gunzip(dst, src []byte, limit int) ([]byte, error) {
	z := gzipReaders.Get().(*decoder[*gzip.Reader])
	defer gzipReaders.Put(z)
	z.src.Reset(src)
	defer z.src.Reset(nil)
	if err := z.d.Reset(&z.src); err != nil {
		return dst, err
	}
	return readLimited(dst, z.d, limit)
}

func unlz4(dst, src []byte, limit int) ([]byte, error) {
	z := lz4Readers.Get().(*decoder[*lz4.Reader])
	defer lz4Readers.Put(z)
	z.src.Reset(src)
	defer z.src.Reset(nil)
	z.d.Reset(&z.src)
	return readLimited(dst, z.d, limit)
}

func unzstd(dst, src []byte, limit int) ([]byte, error) {
	d, err := zstdDecoder(limit)
	if err != nil {
		return dst, err
	}
	out, err := d.DecodeAll(src, dst)
	if errors.Is(err, zstd.ErrDecoderSizeExceeded) || errors.Is(err, zstd.ErrWindowSizeExceeded) || len(out) > limit {
		return dst, fmt.Errorf("%w: %w", ErrCorrupt, errTooLarge)
	}
	if err != nil {
		return dst, err
	}
	return out, nil
}

// zstdDecoder returns the shared decoder for limit, creating it once.
func zstdDecoder(limit int) (*zstd.Decoder, error) {
	if d, ok := zstdDecoders.Load(limit); ok {
		return d.(*zstd.Decoder), nil
	}
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(uint64(max(limit, 1))))
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	if prev, loaded := zstdDecoders.LoadOrStore(limit, d); loaded {
		d.Close()
		return prev.(*zstd.Decoder), nil
	}
	return d, nil
}

// unsnappy decodes a raw snappy block or xerial-framed blocks.
func unsnappy(dst, src []byte, limit int) ([]byte, error) {
	if len(src) < xerialHeaderSize || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyBlock(dst, src, limit)
	}
	rest := src[xerialHeaderSize:]
	for len(rest) > 0 {
		if len(rest) < 4 {
			return dst, errors.New("xerial snappy: truncated block length")
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return dst, fmt.Errorf("xerial snappy: block of %d bytes, %d left", n, len(rest))
		}
		var err error
		if dst, err = snappyBlock(dst, rest[:n], limit); err != nil {
			return dst, err
		}
		rest = rest[n:]
	}
	return dst, nil
}

// snappyBlock appends the decoding of one raw snappy block to dst.
func snappyBlock(dst, block []byte, limit int) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n > limit-len(dst) {
		return dst, fmt.Errorf("%w: %w", ErrCorrupt, errTooLarge)
	}
	start := len(dst)
	if cap(dst)-start < n {
		grown := make([]byte, start, start+n)
		copy(grown, dst)
		dst = grown
	}
	out, err := snappy.Decode(dst[start:start+n], block)
	if err != nil {
		return dst, err
	}
	return dst[:start+len(out)], nil
}

package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// BuildOptions describe the batch Build writes.
type BuildOptions struct {
	Codec         Codec
	BaseTimestamp int64
	// ProducerID -1 means no producer (then ProducerEpoch and BaseSequence
	// should be -1 too, as clients send them). The zero value is producer 0.
	ProducerID    int64
	ProducerEpoch int16
	BaseSequence  int32
	Transactional bool
	Control       bool
	LogAppendTime bool
}

// Build encodes records as one batch with base offset 0, partition leader
// epoch -1 and the CRC set. Record i gets offset delta i whatever its
// OffsetDelta field says; its timestamp is BaseTimestamp + TimestampDelta,
// and the header's MaxTimestamp is the largest of them. Build serves tests,
// tools and fuzz seeds, and Recompress; the common produce path never
// re-encodes. It fails for no records, an
// unknown codec (ErrCodec) or a batch larger than an int32 can describe.
func Build(opts BuildOptions, records []Record) ([]byte, error) {
	if len(records) == 0 {
		return nil, errors.New("build batch: no records")
	}
	if len(records) > math.MaxInt32 {
		return nil, fmt.Errorf("build batch: %d records", len(records))
	}
	var body []byte
	maxTS := int64(math.MinInt64)
	for i := range records {
		r := &records[i]
		body = appendRecord(body, r, int32(i))
		maxTS = max(maxTS, opts.BaseTimestamp+r.TimestampDelta)
	}
	attrs := int16(opts.Codec) & codecMask
	if int16(opts.Codec) != attrs {
		return nil, fmt.Errorf("build batch: %w: %v", ErrCodec, opts.Codec)
	}
	if opts.LogAppendTime {
		attrs |= timestampTypeBit
	}
	if opts.Transactional {
		attrs |= transactionalBit
	}
	if opts.Control {
		attrs |= controlBit
	}
	if opts.Codec != CodecNone {
		var err error
		if body, err = Compress(opts.Codec, nil, body); err != nil {
			return nil, fmt.Errorf("build batch: %w", err)
		}
	}
	if len(body) > math.MaxInt32-HeaderSize {
		return nil, fmt.Errorf("build batch: %d bytes of records", len(body))
	}
	b := make([]byte, HeaderSize, HeaderSize+len(body))
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], 0)
	be.PutUint32(b[offLength:], uint32(HeaderSize-LogOverhead+len(body)))
	be.PutUint32(b[offLeaderEpoch:], math.MaxUint32) // -1
	b[offMagic] = CurrentMagic
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(len(records)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(opts.BaseTimestamp))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], uint64(opts.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(opts.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(opts.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(len(records)))
	b = append(b, body...)
	be.PutUint32(b[offCRC:], ComputeCRC(b))
	return b, nil
}

// appendRecord appends r's encoding, with the given offset delta, to dst.
func appendRecord(dst []byte, r *Record, offsetDelta int32) []byte {
	n := 1 + varintLen(r.TimestampDelta) + varintLen(int64(offsetDelta)) +
		bytesLen(r.Key) + bytesLen(r.Value) + varintLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		n += varintLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	dst = binary.AppendVarint(dst, int64(n))
	dst = append(dst, byte(r.Attributes))
	dst = binary.AppendVarint(dst, r.TimestampDelta)
	dst = binary.AppendVarint(dst, int64(offsetDelta))
	dst = appendBytes(dst, r.Key)
	dst = appendBytes(dst, r.Value)
	dst = binary.AppendVarint(dst, int64(len(r.Headers)))
	for _, h := range r.Headers {
		dst = binary.AppendVarint(dst, int64(len(h.Key)))
		dst = append(dst, h.Key...)
		dst = appendBytes(dst, h.Value)
	}
	return dst
}

// appendBytes appends a varint length (-1 for nil) and b.
func appendBytes(dst, b []byte) []byte {
	if b == nil {
		return binary.AppendVarint(dst, -1)
	}
	dst = binary.AppendVarint(dst, int64(len(b)))
	return append(dst, b...)
}

// bytesLen is the encoded size of b as appendBytes writes it.
func bytesLen(b []byte) int {
	if b == nil {
		return 1
	}
	return varintLen(int64(len(b))) + len(b)
}

// varintLen is the size of v as a zigzag varint.
func varintLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

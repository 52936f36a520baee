// Package recordbatch reads and checks Kafka record batches (magic 2) in place.
//
// A batch on the wire and on disk is the same byte string:
//
//	offset  size  field
//	0       8     baseOffset
//	8       4     batchLength (bytes after this field)
//	12      4     partitionLeaderEpoch
//	16      1     magic (2)
//	17      4     crc (CRC-32C of bytes [21, end))
//	21      2     attributes
//	23      4     lastOffsetDelta
//	27      8     baseTimestamp
//	35      8     maxTimestamp
//	43      8     producerId
//	51      2     producerEpoch
//	53      4     baseSequence
//	57      4     recordCount
//	61            records...
//
// The broker patches baseOffset and partitionLeaderEpoch, which lie outside
// the CRC, and otherwise stores the bytes exactly as the producer sent them.
package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
)

// Field positions and sizes within a batch.
const (
	// LogOverhead is the baseOffset and batchLength prefix that batchLength
	// does not count.
	LogOverhead = 12
	// HeaderSize is the size of the fixed batch header, records excluded.
	HeaderSize = 61

	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// CurrentMagic is the only batch format Strata accepts.
	CurrentMagic = 2
)

// Attribute bits.
const (
	codecMask        = 0x07
	timestampTypeBit = 0x08
	transactionalBit = 0x10
	controlBit       = 0x20
	deleteHorizonBit = 0x40
)

// Codec is the compression codec in the low attribute bits.
type Codec int8

// Codecs, numbered as Kafka numbers them.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Sentinel errors. Callers map them to Kafka error codes at the protocol edge:
// ErrCorrupt and ErrTruncated to CORRUPT_MESSAGE, ErrMagic to
// UNSUPPORTED_FOR_MESSAGE_FORMAT.
var (
	ErrTruncated = errors.New("record batch truncated")
	ErrCorrupt   = errors.New("record batch corrupt")
	ErrMagic     = errors.New("record batch magic not supported")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Header is the decoded fixed header of one batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// ReadHeader decodes the fixed header at the start of b. It checks only that
// the header is present and that the length field is large enough to hold
// it; it does not check the magic or the CRC (see Check).
func ReadHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, ErrTruncated
	}
	h := Header{
		BaseOffset:           int64(binary.BigEndian.Uint64(b[offBaseOffset:])),
		Length:               int32(binary.BigEndian.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  binary.BigEndian.Uint32(b[offCRC:]),
		Attributes:           int16(binary.BigEndian.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])),
		BaseTimestamp:        int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])),
		MaxTimestamp:         int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(binary.BigEndian.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(binary.BigEndian.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(binary.BigEndian.Uint32(b[offRecordCount:])),
	}
	if h.Length < HeaderSize-LogOverhead {
		return h, fmt.Errorf("%w: batch length %d below header size", ErrCorrupt, h.Length)
	}
	return h, nil
}

// Size is the whole batch's size in bytes, prefix included.
func (h Header) Size() int64 { return LogOverhead + int64(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset just after the batch.
func (h Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression codec.
func (h Header) Codec() Codec { return Codec(h.Attributes & codecMask) }

// LogAppendTime reports whether the batch's timestamps are broker-assigned.
func (h Header) LogAppendTime() bool { return h.Attributes&timestampTypeBit != 0 }

// Transactional reports whether the batch is part of a transaction.
func (h Header) Transactional() bool { return h.Attributes&transactionalBit != 0 }

// Control reports whether the batch holds control records (transaction markers).
func (h Header) Control() bool { return h.Attributes&controlBit != 0 }

// HasDeleteHorizon reports whether baseTimestamp holds the compaction delete horizon.
func (h Header) HasDeleteHorizon() bool { return h.Attributes&deleteHorizonBit != 0 }

// Check verifies that b holds exactly one complete magic-2 batch whose CRC
// matches. It does not look inside the records; see Validate.
func Check(b []byte) (Header, error) {
	h, err := readFrame(b)
	if err != nil {
		return h, err
	}
	if got := ComputeCRC(b); got != h.CRC {
		return h, fmt.Errorf("%w: crc %08x, computed %08x", ErrCorrupt, h.CRC, got)
	}
	return h, nil
}

// readFrame reads the header of b and checks everything Check does but the
// CRC: magic, that b is exactly one batch, and non-negative counts.
func readFrame(b []byte) (Header, error) {
	h, err := ReadHeader(b)
	if err != nil {
		return h, err
	}
	if h.Magic != CurrentMagic {
		return h, fmt.Errorf("%w: magic %d", ErrMagic, h.Magic)
	}
	if h.Size() != int64(len(b)) {
		if h.Size() > int64(len(b)) {
			return h, fmt.Errorf("%w: batch length %d, have %d bytes", ErrTruncated, h.Length, len(b)-LogOverhead)
		}
		return h, fmt.Errorf("%w: batch length %d, but %d bytes given", ErrCorrupt, h.Length, len(b)-LogOverhead)
	}
	if h.LastOffsetDelta < 0 || h.NumRecords < 0 {
		return h, fmt.Errorf("%w: negative last offset delta or record count", ErrCorrupt)
	}
	return h, nil
}

// ComputeCRC computes the CRC-32C that covers b[21:] (attributes onwards).
// b must hold at least HeaderSize bytes.
func ComputeCRC(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// PutBaseOffset overwrites the batch's base offset. It lies outside the CRC.
func PutBaseOffset(b []byte, off int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off)) }

// PutPartitionLeaderEpoch overwrites the batch's partition leader epoch. It
// lies outside the CRC.
func PutPartitionLeaderEpoch(b []byte, epoch int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(epoch))
}

// SetLogAppendTime marks the batch's timestamps as broker-assigned with the
// given time in milliseconds, as Kafka does for topics with
// message.timestamp.type=LogAppendTime, and recomputes the CRC.
func SetLogAppendTime(b []byte, ms int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:]) | timestampTypeBit
	binary.BigEndian.PutUint16(b[offAttributes:], attrs)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ms))
	binary.BigEndian.PutUint32(b[offCRC:], ComputeCRC(b))
}

package recordbatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// A record inside a batch (after decompression) is:
//
//	length          varint  bytes of the record after this field
//	attributes      int8    unused
//	timestampDelta  varlong from the batch's baseTimestamp
//	offsetDelta     varint  from the batch's baseOffset
//	keyLength       varint  -1 for a null key
//	key             bytes
//	valueLength     varint  -1 for a null value
//	value           bytes
//	headerCount     varint
//	headers         headerCount × (keyLength varint, key, valueLength varint, value)
//
// Varints are zigzag-encoded, as in protobuf.

// ErrStop, returned by an Iterate callback, ends the walk early; Iterate then
// returns nil.
var ErrStop = errors.New("stop iteration")

// Record is one record of a batch. Its byte fields alias the batch (or the
// decompression scratch buffer) and are valid only during the Iterate
// callback that received it; copy what must outlive it.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte // nil for a null key
	Value          []byte // nil for a null value
	Headers        []RecordHeader
}

// RecordHeader is one record header. Key aliases the batch bytes like the
// Record's other fields (strings.Clone it to keep it).
type RecordHeader struct {
	Key   string
	Value []byte // nil for a null value
}

// Iterate calls fn for each record of batch, a whole magic-2 batch, in
// order. Iterate checks the framing (see Check) but not the CRC. A compressed
// batch is decompressed into *scratch, which Iterate grows and stores back
// so the caller can reuse it; scratch may be nil.
//
// fn receives the same *Record each time; see Record for how long its
// fields are valid. If fn returns ErrStop, Iterate stops and returns nil;
// any other error stops it and is returned as is.
//
// Iterate yields exactly the header's NumRecords records. Malformed record
// bytes, fewer records than declared, or bytes left after the last one
// return an error wrapping ErrCorrupt; an unknown codec returns ErrCodec.
// For an uncompressed batch Iterate allocates nothing per record.
func Iterate(batch []byte, scratch *[]byte, fn func(r *Record) error) error {
	h, err := readFrame(batch)
	if err != nil {
		return err
	}
	return iterate(h, batch, scratch, ErrCorrupt, fn)
}

// iterate walks the records of a framed batch, wrapping malformed-record
// errors in kind.
func iterate(h Header, batch []byte, scratch *[]byte, kind error, fn func(r *Record) error) error {
	data := batch[HeaderSize:]
	if c := h.Codec(); c != CodecNone {
		var buf []byte
		if scratch != nil {
			buf = *scratch
		}
		var err error
		buf, err = Decompress(c, buf, data)
		if scratch != nil {
			*scratch = buf
		}
		if err != nil {
			return err
		}
		data = buf
	}
	r := recordPool.Get().(*Record)
	defer putRecord(r)
	for i := int32(0); i < h.NumRecords; i++ {
		if len(data) == 0 {
			return fmt.Errorf("%w: %d records declared, %d found", kind, h.NumRecords, i)
		}
		var err error
		if data, err = readRecord(data, r); err != nil {
			return fmt.Errorf("%w: record %d: %w", kind, i, err)
		}
		if err := fn(r); err != nil {
			if errors.Is(err, ErrStop) {
				return nil
			}
			return err
		}
	}
	if len(data) != 0 {
		return fmt.Errorf("%w: %d bytes after record %d", kind, len(data), h.NumRecords)
	}
	return nil
}

// recordPool recycles the Record (and its Headers storage) Iterate hands to
// callbacks, so a steady stream of batches allocates nothing.
var recordPool = sync.Pool{New: func() any { return new(Record) }}

// putRecord drops r's references into batch bytes and pools it.
func putRecord(r *Record) {
	h := r.Headers[:cap(r.Headers)]
	clear(h)
	*r = Record{Headers: h[:0]}
	recordPool.Put(r)
}

// Problems readRecord reports; iterate wraps them with their kind.
var (
	errVarint    = errors.New("malformed varint")
	errShort     = errors.New("field runs past the record")
	errNegLength = errors.New("negative length")
)

// readRecord decodes the record at the start of b into r, reusing r.Headers,
// and returns the bytes after it.
func readRecord(b []byte, r *Record) ([]byte, error) {
	length, b, ok := readVarint(b)
	if !ok {
		return nil, fmt.Errorf("length: %w", errVarint)
	}
	if length < 0 {
		return nil, fmt.Errorf("length %d: %w", length, errNegLength)
	}
	if int(length) > len(b) {
		return nil, fmt.Errorf("length %d, %d bytes left: %w", length, len(b), errShort)
	}
	rec, rest := b[:length], b[length:]
	if len(rec) < 1 {
		return nil, fmt.Errorf("attributes: %w", errShort)
	}
	r.Attributes = int8(rec[0])
	rec = rec[1:]
	if r.TimestampDelta, rec, ok = readVarlong(rec); !ok {
		return nil, fmt.Errorf("timestamp delta: %w", errVarint)
	}
	if r.OffsetDelta, rec, ok = readVarint(rec); !ok {
		return nil, fmt.Errorf("offset delta: %w", errVarint)
	}
	var err error
	if r.Key, rec, err = readBytes(rec); err != nil {
		return nil, fmt.Errorf("key: %w", err)
	}
	if r.Value, rec, err = readBytes(rec); err != nil {
		return nil, fmt.Errorf("value: %w", err)
	}
	n, rec, ok := readVarint(rec)
	if !ok {
		return nil, fmt.Errorf("header count: %w", errVarint)
	}
	// Each header takes at least two bytes; this bounds the slice growth.
	if n < 0 || int(n) > len(rec)/2 {
		return nil, fmt.Errorf("header count %d with %d bytes left: %w", n, len(rec), errShort)
	}
	r.Headers = r.Headers[:0]
	for i := int32(0); i < n; i++ {
		var k, v []byte
		if k, rec, err = readBytes(rec); err != nil {
			return nil, fmt.Errorf("header %d key: %w", i, err)
		}
		if k == nil {
			return nil, fmt.Errorf("header %d key: null", i)
		}
		if v, rec, err = readBytes(rec); err != nil {
			return nil, fmt.Errorf("header %d value: %w", i, err)
		}
		r.Headers = append(r.Headers, RecordHeader{Key: unsafe.String(unsafe.SliceData(k), len(k)), Value: v})
	}
	if len(rec) != 0 {
		return nil, fmt.Errorf("%d bytes left inside record of length %d", len(rec), length)
	}
	return rest, nil
}

// readVarlong reads a zigzag varint of at most 10 bytes.
func readVarlong(b []byte) (int64, []byte, bool) {
	u, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, b, false
	}
	return int64(u>>1) ^ -int64(u&1), b[n:], true
}

// readVarint reads a zigzag varint that must fit an int32 (at most 5 bytes).
func readVarint(b []byte) (int32, []byte, bool) {
	// Fast path: one byte.
	if len(b) > 0 && b[0] < 0x80 {
		u := uint32(b[0])
		return int32(u>>1) ^ -int32(u&1), b[1:], true
	}
	u, n := binary.Uvarint(b)
	if n <= 0 || n > 5 || u > 0xffffffff {
		return 0, b, false
	}
	return int32(uint32(u)>>1) ^ -int32(uint32(u)&1), b[n:], true
}

// readBytes reads a varint length and that many bytes; length -1 is nil.
// A non-nil empty slice stands for a zero-length field.
func readBytes(b []byte) ([]byte, []byte, error) {
	n, b, ok := readVarint(b)
	switch {
	case !ok:
		return nil, b, errVarint
	case n == -1:
		return nil, b, nil
	case n < -1:
		return nil, b, fmt.Errorf("length %d: %w", n, errNegLength)
	case int(n) > len(b):
		return nil, b, fmt.Errorf("length %d, %d bytes left: %w", n, len(b), errShort)
	}
	return b[:n:n], b[n:], nil
}

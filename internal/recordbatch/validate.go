package recordbatch

import (
	"errors"
	"fmt"
	"math"
)

// Sentinel errors of Validate. The protocol edge maps both to INVALID_RECORD
// (87); ErrMissingKey carries Kafka's message "Compacted topic cannot accept
// message without key".
var (
	ErrInvalidRecord = errors.New("invalid record")
	ErrMissingKey    = errors.New("compacted topic cannot accept message without key")
)

// ValidateOptions are the topic-dependent checks of Validate.
type ValidateOptions struct {
	// RequireKeys rejects records with a null key, as Kafka does for
	// topics with cleanup.policy=compact.
	RequireKeys bool
}

// Info is what Validate learns about a batch.
type Info struct {
	Header Header
	// MaxTimestamp is the largest record timestamp, or the header's
	// MaxTimestamp for a LogAppendTime batch.
	MaxTimestamp int64
	// OffsetOfMaxTimestamp is the offset delta of the first record holding
	// MaxTimestamp (the last record for a LogAppendTime batch).
	OffsetOfMaxTimestamp int32
	// MinTimestamp is the smallest record timestamp (the header's
	// MaxTimestamp for a LogAppendTime batch).
	MinTimestamp int64
}

// Validate checks that b is one complete, well-formed magic-2 batch, as the
// broker does before appending produced data:
//
//   - Check's framing, magic and CRC, with its errors (ErrTruncated,
//     ErrCorrupt, ErrMagic);
//   - a compressed batch's codec (ErrCodec) and decompression (ErrCorrupt,
//     also when the output passes DefaultMaxDecompressedSize);
//   - at least one record, exactly NumRecords records well-formed to their
//     declared lengths, no bytes after the last, offset deltas 0..n-1 in
//     order and LastOffsetDelta n-1: otherwise ErrInvalidRecord, since the
//     CRC already vouches for the bytes and a retry cannot help;
//   - with opts.RequireKeys, a key on every record (ErrMissingKey).
//
// Control batches pass. scratch is as for Iterate. For an uncompressed batch
// Validate allocates nothing per record.
func Validate(b []byte, opts ValidateOptions, scratch *[]byte) (Info, error) {
	h, err := Check(b)
	info := Info{Header: h, MaxTimestamp: -1, OffsetOfMaxTimestamp: -1, MinTimestamp: -1}
	if err != nil {
		return info, err
	}
	if h.NumRecords == 0 {
		return info, fmt.Errorf("%w: batch has no records", ErrInvalidRecord)
	}
	if h.LastOffsetDelta != h.NumRecords-1 {
		return info, fmt.Errorf("%w: last offset delta %d with %d records", ErrInvalidRecord, h.LastOffsetDelta, h.NumRecords)
	}
	v := validator{opts: opts, base: h.BaseTimestamp, max: -1, maxAt: -1, min: math.MaxInt64}
	if err := iterate(h, b, scratch, ErrInvalidRecord, v.record); err != nil {
		return info, err
	}
	if h.LogAppendTime() {
		info.MaxTimestamp, info.OffsetOfMaxTimestamp = h.MaxTimestamp, h.LastOffsetDelta
		info.MinTimestamp = h.MaxTimestamp
	} else {
		info.MaxTimestamp, info.OffsetOfMaxTimestamp, info.MinTimestamp = v.max, v.maxAt, v.min
	}
	return info, nil
}

// validator holds Validate's per-record state.
type validator struct {
	opts  ValidateOptions
	base  int64
	next  int32 // expected offset delta
	max   int64
	maxAt int32
	min   int64
}

func (v *validator) record(r *Record) error {
	if r.OffsetDelta != v.next {
		return fmt.Errorf("%w: record %d has offset delta %d", ErrInvalidRecord, v.next, r.OffsetDelta)
	}
	if v.opts.RequireKeys && r.Key == nil {
		return fmt.Errorf("%w: record %d", ErrMissingKey, v.next)
	}
	ts := v.base + r.TimestampDelta
	if ts > v.max {
		v.max, v.maxAt = ts, v.next
	}
	v.min = min(v.min, ts)
	v.next++
	return nil
}

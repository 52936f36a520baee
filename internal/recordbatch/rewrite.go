package recordbatch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// RewriteResult says what Rewrite did with one batch.
type RewriteResult struct {
	Kept           int  // records in the appended batch
	KeptTombstones int  // of those, records with a null value
	Removed        int  // records keep rejected
	Changed        bool // the appended bytes differ from the input (or nothing was appended)
}

// Rewrite appends to dst a copy of batch holding only the records keep
// accepts, as Kafka's log cleaner rewrites a batch during compaction:
//
//   - offsets never change: the copy keeps the batch's base offset and last
//     offset delta (so a producer's last sequence stays where it was), and
//     every kept record its offset delta, so offset deltas may have gaps
//     and need not start at 0;
//   - the codec, timestamp type, transactional and control bits, partition
//     leader epoch, producer id, epoch and base sequence are kept; the
//     record count, MaxTimestamp (for CreateTime, the largest kept record
//     timestamp; LogAppendTime keeps it) and the CRC are recomputed;
//   - record timestamps are kept: each is re-based when the base timestamp
//     changes, which happens only when the copy gets a delete horizon: if
//     horizon >= 0, the batch has none yet (Header.HasDeleteHorizon) and a
//     kept record is a tombstone (null value), the copy's base timestamp is
//     horizon and its delete-horizon attribute is set (KIP-534).
//
// keep is called once per record, in order, with Iterate's *Record (valid
// only during the call). When every record is kept and no horizon is set,
// the input bytes are appended unchanged (Changed false); when none is kept,
// nothing is appended. batch must pass Check; its errors, Iterate's and
// Compress's are returned, and dst is then returned as it came. scratch is
// as for Iterate.
func Rewrite(dst, batch []byte, horizon int64, scratch *[]byte, keep func(r *Record) bool) ([]byte, RewriteResult, error) {
	return rewrite(dst, batch, horizon, false, scratch, keep)
}

// WithDeleteHorizon appends to dst a copy of batch with delete horizon
// horizon and every record kept, as Rewrite gives one to a batch with a
// tombstone: the cleaner's first step in removing a transaction marker
// whose transaction has no records left (KIP-534 reuses the tombstone
// horizon for markers). A batch that has a horizon is appended unchanged.
func WithDeleteHorizon(dst, batch []byte, horizon int64, scratch *[]byte) ([]byte, error) {
	dst, _, err := rewrite(dst, batch, horizon, true, scratch, func(*Record) bool { return true })
	return dst, err
}

// AppendEmpty appends to dst a batch with h's base offset, last offset
// delta, producer id, epoch, base sequence, leader epoch, timestamp type,
// transactional and control bits and MaxTimestamp (also its base
// timestamp), no codec, and no records: what Kafka's cleaner keeps of a
// producer's last batch when none of its records stay, so that the
// producer's last sequence and epoch survive in the log.
func AppendEmpty(dst []byte, h Header) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, HeaderSize)...)
	out := dst[start:]
	be := binary.BigEndian
	be.PutUint64(out[offBaseOffset:], uint64(h.BaseOffset))
	be.PutUint32(out[offLength:], HeaderSize-LogOverhead)
	be.PutUint32(out[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	out[offMagic] = CurrentMagic
	be.PutUint16(out[offAttributes:], uint16(h.Attributes)&(timestampTypeBit|transactionalBit|controlBit))
	be.PutUint32(out[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	be.PutUint64(out[offBaseTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(out[offMaxTimestamp:], uint64(h.MaxTimestamp))
	be.PutUint64(out[offProducerID:], uint64(h.ProducerID))
	be.PutUint16(out[offProducerEpoch:], uint16(h.ProducerEpoch))
	be.PutUint32(out[offBaseSequence:], uint32(h.BaseSequence))
	be.PutUint32(out[offCRC:], ComputeCRC(out))
	return dst
}

// rewrite is Rewrite; force gives the copy a horizon even without a kept
// tombstone.
func rewrite(dst, batch []byte, horizon int64, force bool, scratch *[]byte, keep func(r *Record) bool) ([]byte, RewriteResult, error) {
	var res RewriteResult
	h, err := Check(batch)
	if err != nil {
		return dst, res, err
	}
	var kept []bool
	err = iterate(h, batch, scratch, ErrCorrupt, func(r *Record) error {
		k := keep(r)
		kept = append(kept, k)
		if k {
			res.Kept++
			if r.Value == nil {
				res.KeptTombstones++
			}
		} else {
			res.Removed++
		}
		return nil
	})
	if err != nil {
		return dst, RewriteResult{}, err
	}
	setHorizon := horizon >= 0 && !h.HasDeleteHorizon() && (force || res.KeptTombstones > 0)
	if res.Removed == 0 && !setHorizon {
		return append(dst, batch...), res, nil
	}
	res.Changed = true
	if res.Kept == 0 {
		return dst, res, nil
	}

	base := h.BaseTimestamp
	if setHorizon {
		base = horizon
	}
	var body []byte
	maxTS := int64(math.MinInt64)
	i := 0
	err = iterate(h, batch, scratch, ErrCorrupt, func(r *Record) error {
		if kept[i] {
			ts := h.BaseTimestamp + r.TimestampDelta
			maxTS = max(maxTS, ts)
			c := *r
			c.TimestampDelta = ts - base
			body = appendRecord(body, &c, r.OffsetDelta)
		}
		i++
		return nil
	})
	if err != nil {
		return dst, RewriteResult{}, err
	}
	if c := h.Codec(); c != CodecNone {
		if body, err = Compress(c, nil, body); err != nil {
			return dst, RewriteResult{}, fmt.Errorf("rewrite batch: %w", err)
		}
	}
	if len(body) > math.MaxInt32-HeaderSize {
		return dst, RewriteResult{}, fmt.Errorf("rewrite batch: %d bytes of records", len(body))
	}
	if h.LogAppendTime() {
		maxTS = h.MaxTimestamp
	}
	attrs := uint16(h.Attributes)
	if setHorizon {
		attrs |= deleteHorizonBit
	}
	start := len(dst)
	dst = append(dst, batch[:HeaderSize]...)
	out := dst[start:]
	be := binary.BigEndian
	be.PutUint32(out[offLength:], uint32(HeaderSize-LogOverhead+len(body)))
	be.PutUint16(out[offAttributes:], attrs)
	be.PutUint64(out[offBaseTimestamp:], uint64(base))
	be.PutUint64(out[offMaxTimestamp:], uint64(maxTS))
	be.PutUint32(out[offRecordCount:], uint32(res.Kept))
	dst = append(dst, body...)
	be.PutUint32(dst[start+offCRC:], ComputeCRC(dst[start:]))
	return dst, res, nil
}

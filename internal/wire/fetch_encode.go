package wire

import (
	"encoding/binary"
	"slices"

	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/commitlog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// spliceMin is the smallest record set sent from its file by a splice;
// smaller ones are read into the frame, which costs less than the extra
// write they would take.
var spliceMin int64 = 64 << 10

// appendFetchFrame encodes a Fetch response (versions 4-17) as kmsg would,
// but with each partition's record set from resp.Records: small ones read
// into the frame, big ones left in the log as splices. A read error is
// returned; the frame's record sets are then already released.
//
// It encodes no tagged fields but the empty tag buffers, which is all the
// broker sets; a response with any (a leader hint, a diverging epoch, node
// endpoints) goes through kmsg with every record set read.
func appendFetchFrame(dst []byte, correlationID int32, resp *broker.FetchResponse) (Frame, error) {
	v := resp.Version
	flex := v >= 12
	if hasTaggedFields(resp.FetchResponse) {
		return appendFetchFrameKmsg(dst, correlationID, resp)
	}
	f := Frame{}
	dst = slices.Grow(dst, fetchFrameEstimate(resp))
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = appendResponseHeader(dst, correlationID, flex)
	if v >= 1 {
		dst = binary.BigEndian.AppendUint32(dst, uint32(resp.ThrottleMillis))
	}
	if v >= 7 {
		dst = binary.BigEndian.AppendUint16(dst, uint16(resp.ErrorCode))
		dst = binary.BigEndian.AppendUint32(dst, uint32(resp.SessionID))
	}
	dst = appendArrayLen(dst, len(resp.Topics), flex)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if v <= 12 {
			dst = appendString(dst, t.Topic, flex)
		} else {
			dst = append(dst, t.TopicID[:]...)
		}
		dst = appendArrayLen(dst, len(t.Partitions), flex)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			dst = binary.BigEndian.AppendUint32(dst, uint32(p.Partition))
			dst = binary.BigEndian.AppendUint16(dst, uint16(p.ErrorCode))
			dst = binary.BigEndian.AppendUint64(dst, uint64(p.HighWatermark))
			if v >= 4 {
				dst = binary.BigEndian.AppendUint64(dst, uint64(p.LastStableOffset))
			}
			if v >= 5 {
				dst = binary.BigEndian.AppendUint64(dst, uint64(p.LogStartOffset))
			}
			if v >= 4 {
				dst = appendAborted(dst, p.AbortedTransactions, flex)
			}
			if v >= 11 {
				dst = binary.BigEndian.AppendUint32(dst, uint32(p.PreferredReadReplica))
			}
			// Empty, never null: librdkafka fails to parse a null record set.
			rs := &resp.Records[ti][pi]
			n := rs.Len()
			if flex {
				dst = binary.AppendUvarint(dst, uint64(n)+1)
			} else {
				dst = binary.BigEndian.AppendUint32(dst, uint32(n))
			}
			if n >= spliceMin {
				f.Splices = append(f.Splices, Splice{At: len(dst), Records: *rs})
				*rs = commitlog.Slice{} // the splice owns it now
			} else if n > 0 {
				var err error
				dst, err = rs.AppendTo(dst)
				rs.Release()
				if err != nil {
					f.Release()
					resp.Release()
					return Frame{}, err
				}
			}
			if flex {
				dst = append(dst, 0) // partition tags
			}
		}
		if flex {
			dst = append(dst, 0) // topic tags
		}
	}
	if flex {
		dst = append(dst, 0) // response tags
	}
	f.Bytes = dst
	binary.BigEndian.PutUint32(dst[start:], uint32(f.Len()-start-4))
	return f, nil
}

// fetchFrameEstimate is a little more than the bytes appendFetchFrame
// appends, so that the frame is allocated once.
func fetchFrameEstimate(resp *broker.FetchResponse) int {
	n := 64
	for ti := range resp.Topics {
		n += 32 + len(resp.Topics[ti].Topic)
		for pi := range resp.Topics[ti].Partitions {
			n += 64 + 24*len(resp.Topics[ti].Partitions[pi].AbortedTransactions)
			if l := resp.Records[ti][pi].Len(); l < spliceMin {
				n += int(l)
			}
		}
	}
	return n
}

// appendFetchFrameKmsg reads every record set into the response and
// encodes it with kmsg.
func appendFetchFrameKmsg(dst []byte, correlationID int32, resp *broker.FetchResponse) (Frame, error) {
	defer resp.Release()
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			b, err := resp.Records[ti][pi].AppendTo([]byte{})
			if err != nil {
				return Frame{}, err
			}
			resp.Topics[ti].Partitions[pi].RecordBatches = b
		}
	}
	return Frame{Bytes: appendFrame(dst, correlationID, resp.FetchResponse, resp.IsFlexible())}, nil
}

// hasTaggedFields reports whether r sets a tagged field, which
// appendFetchFrame does not encode.
func hasTaggedFields(r *kmsg.FetchResponse) bool {
	if len(r.Brokers) > 0 || r.UnknownTags.Len() > 0 {
		return true
	}
	for ti := range r.Topics {
		t := &r.Topics[ti]
		if t.UnknownTags.Len() > 0 {
			return true
		}
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			if p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1 ||
				p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1 ||
				p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1 ||
				p.UnknownTags.Len() > 0 {
				return true
			}
		}
	}
	return false
}

func appendArrayLen(dst []byte, n int, flex bool) []byte {
	if flex {
		return binary.AppendUvarint(dst, uint64(n)+1)
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

func appendString(dst []byte, s string, flex bool) []byte {
	if flex {
		dst = binary.AppendUvarint(dst, uint64(len(s))+1)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(s)))
	}
	return append(dst, s...)
}

// appendAborted appends the nullable aborted-transactions array.
func appendAborted(dst []byte, aborted []kmsg.FetchResponseTopicPartitionAbortedTransaction, flex bool) []byte {
	switch {
	case aborted == nil && flex:
		return append(dst, 0)
	case aborted == nil:
		return binary.BigEndian.AppendUint32(dst, 0xffffffff)
	}
	dst = appendArrayLen(dst, len(aborted), flex)
	for _, a := range aborted {
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.ProducerID))
		dst = binary.BigEndian.AppendUint64(dst, uint64(a.FirstOffset))
		if flex {
			dst = append(dst, 0)
		}
	}
	return dst
}

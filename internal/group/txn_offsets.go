package group

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

// ValidateTxnCommit checks who may commit offsets in a transaction, as
// Kafka's doTxnCommitOffsets does, and returns 0 or the error code for every
// partition: a Dead group is COORDINATOR_NOT_AVAILABLE, a static member
// fenced by another member id FENCED_INSTANCE_ID, a member id the group
// does not have UNKNOWN_MEMBER_ID, and a generation (>= 0) other than the
// group's ILLEGAL_GENERATION. Unlike OffsetCommit, an empty member id and
// generation -1 (TxnOffsetCommit below v3) pass, and a rebalance does not
// refuse the commit: the transaction's own fencing is the producer epoch.
func (g *Group) ValidateTxnCommit(memberID string, instanceID *string, generation int32) int16 {
	switch {
	case g.state == Dead:
		return kerr.CoordinatorNotAvailable.Code
	case g.fencedInstance(instanceID, memberID):
		return kerr.FencedInstanceID.Code
	case memberID != "" && g.members[memberID] == nil:
		return kerr.UnknownMemberID.Code
	case generation >= 0 && generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	return 0
}

// ApplyTxnCommit holds offsets that producer id's transaction appended:
// invisible to OffsetFetch until CompleteTxn commits them.
func (g *Group) ApplyTxnCommit(producerID int64, offsets map[TopicPartition]Offset) {
	pending := g.txnOffsets[producerID]
	if pending == nil {
		pending = map[TopicPartition]Offset{}
		g.txnOffsets[producerID] = pending
	}
	for tp, o := range offsets {
		g.seq++
		o.seq = g.seq
		pending[tp] = o
	}
}

// CompleteTxn ends producer id's transaction in the group, as its marker
// does in the log: a commit makes its offsets the committed ones, except
// where an offset was committed after them; an abort drops them. It reports
// whether the producer had offsets pending.
func (g *Group) CompleteTxn(producerID int64, commit bool) bool {
	pending, ok := g.txnOffsets[producerID]
	delete(g.txnOffsets, producerID)
	if ok && commit {
		installNewer(g.offsets, pending)
	}
	return ok
}

// HasPendingTxnOffset reports whether an open transaction committed an
// offset for tp (OffsetFetch with RequireStable answers
// UNSTABLE_OFFSET_COMMIT then).
func (g *Group) HasPendingTxnOffset(tp TopicPartition) bool {
	for _, pending := range g.txnOffsets {
		if _, ok := pending[tp]; ok {
			return true
		}
	}
	return false
}

// TxnOffsetCommit serves TxnOffsetCommit (key 28): the offsets are
// appended to the group's __consumer_offsets partition as one
// transactional batch of the request's producer id and epoch, and stay
// pending until the transaction's marker reaches that partition
// (CompleteTxn). A group that does not exist is created. Member checks are
// ValidateTxnCommit's; partitions are checked as in OffsetCommit. The
// append's INVALID_PRODUCER_EPOCH (a producer fenced on the partition)
// is answered as it is; other append failures COORDINATOR_NOT_AVAILABLE.
// guard is the transaction's verification with the transaction
// coordinator (txn.Unverified: none), which the append passes on.
func (c *Coordinator) TxnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest, guard txn.Guard) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	code := c.withGroup(ctx, req.Group, true, func(g *Group, now time.Time, s Store) {
		if code := g.ValidateTxnCommit(req.MemberID, req.InstanceID, req.Generation); code != 0 {
			setCodes(codes, code)
			return
		}
		offsets := map[TopicPartition]Offset{}
		var recs []Record
		for i, t := range req.Topics {
			for j, p := range t.Partitions {
				tp := TopicPartition{Topic: t.Topic, Partition: p.Partition}
				o, code := c.checkOffset(tp, p.Offset, p.LeaderEpoch, p.Metadata, now)
				if codes[i][j] = code; code == 0 {
					offsets[tp] = o
					recs = append(recs, g.CommitRecord(tp, o))
				}
			}
		}
		if len(recs) == 0 {
			return
		}
		if err := s.AppendTxn(context.WithoutCancel(ctx), req.ProducerID, req.ProducerEpoch, guard, recs); err != nil {
			c.logger.Error("append transactional offset commit to __consumer_offsets", "group", g.ID, "producer_id", req.ProducerID, "err", err)
			code := kerr.CoordinatorNotAvailable.Code
			if errors.Is(err, kerr.InvalidProducerEpoch) {
				code = kerr.InvalidProducerEpoch.Code
			}
			failCodes(codes, code)
			return
		}
		g.ApplyTxnCommit(req.ProducerID, offsets)
	})
	if code != 0 {
		setCodes(codes, code)
	}
	for i, t := range req.Topics {
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// CompleteTxn applies a transaction marker of producer id that was written
// to __consumer_offsets partition p: the broker calls it once the marker is
// replicated. Markers that arrive while p loads are applied after the
// replay (which may have seen them already: a second application finds
// nothing pending).
func (c *Coordinator) CompleteTxn(p int32, producerID int64, commit bool) {
	c.mu.Lock()
	ps := c.partitions[p]
	if ps == nil {
		c.mu.Unlock()
		return
	}
	if ps.loading {
		ps.markers = append(ps.markers, marker{producerID, commit})
		c.mu.Unlock()
		return
	}
	var es []*entry
	for id, e := range c.groups {
		if c.PartitionFor(id) == p {
			es = append(es, e)
		}
	}
	c.mu.Unlock()
	for _, e := range es {
		e.mu.Lock()
		if e.g.State() != Dead {
			e.g.CompleteTxn(producerID, commit)
		}
		e.mu.Unlock()
	}
}

// marker is a transaction marker CompleteTxn received during a load.
type marker struct {
	producerID int64
	commit     bool
}

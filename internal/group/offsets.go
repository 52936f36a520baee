package group

import (
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ValidateCommit checks who may commit offsets (Kafka's rules for the
// classic protocol) and returns 0 or the error code for every partition of
// the request:
//   - a Dead group: COORDINATOR_NOT_AVAILABLE;
//   - a request naming a member (generation >= 0, a member id or an
//     instance id): FENCED_INSTANCE_ID, UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION;
//   - a simple commit (generation < 0, no member id) to a group with
//     members: UNKNOWN_MEMBER_ID;
//   - during CompletingRebalance: REBALANCE_IN_PROGRESS.
//
// A valid commit from a member restarts its session.
func (g *Group) ValidateCommit(now time.Time, memberID string, instanceID *string, generation int32) int16 {
	if g.state == Dead {
		return kerr.CoordinatorNotAvailable.Code
	}
	if generation >= 0 || memberID != "" || instanceID != nil {
		switch {
		case g.fencedInstance(instanceID, memberID):
			return kerr.FencedInstanceID.Code
		case g.members[memberID] == nil:
			return kerr.UnknownMemberID.Code
		case generation != g.generation:
			return kerr.IllegalGeneration.Code
		}
	} else if g.state != Empty {
		return kerr.UnknownMemberID.Code
	}
	if g.state == CompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	if m := g.members[memberID]; m != nil {
		m.deadline = now.Add(m.SessionTimeout)
	}
	return 0
}

// CommitRecord returns the __consumer_offsets record for committing o to tp.
func (g *Group) CommitRecord(tp TopicPartition, o Offset) Record {
	return offsetRecord(g.ID, tp, &o)
}

// ApplyCommit stores committed offsets; the driver calls it once their
// records are appended.
func (g *Group) ApplyCommit(offsets map[TopicPartition]Offset) {
	for tp, o := range offsets {
		g.seq++
		o.seq = g.seq
		g.offsets[tp] = o
	}
}

// Offset returns the committed offset of tp.
func (g *Group) Offset(tp TopicPartition) (Offset, bool) {
	o, ok := g.offsets[tp]
	return o, ok
}

// Offsets returns every committed partition, sorted by topic then partition.
func (g *Group) Offsets() []TopicPartition {
	tps := make([]TopicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition) - int(b.Partition)
	})
	return tps
}

// subscribed returns the topics the members subscribe to under the selected
// protocol, and false if the group is not a consumer group or a
// subscription cannot be decoded (then every topic counts as subscribed).
func (g *Group) subscribed() (map[string]bool, bool) {
	if g.protocolType != "consumer" || g.protocol == "" {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(m.metadataFor(g.protocol)); err != nil {
			return nil, false
		}
		for _, t := range meta.Topics {
			topics[t] = true
		}
	}
	return topics, true
}

// DeleteOffsets handles OffsetDelete. It returns a group-level error code
// (GROUP_ID_NOT_FOUND for a Dead group, NON_EMPTY_GROUP for a non-empty group
// that is not a consumer group), else per-partition codes
// (GROUP_SUBSCRIBED_TO_TOPIC for a topic an active member subscribes to),
// deleting the others and queueing their tombstones.
func (g *Group) DeleteOffsets(tps []TopicPartition) (int16, []int16) {
	if g.state == Dead {
		return kerr.GroupIDNotFound.Code, nil
	}
	var subs map[string]bool // nil in a non-empty group: every topic is subscribed
	if g.state != Empty {
		if g.protocolType != "consumer" {
			return kerr.NonEmptyGroup.Code, nil
		}
		subs, _ = g.subscribed()
	}
	codes := make([]int16, len(tps))
	for i, tp := range tps {
		if g.state != Empty && (subs == nil || subs[tp.Topic]) {
			codes[i] = kerr.GroupSubscribedToTopic.Code
			continue
		}
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			g.out.Records = append(g.out.Records, offsetRecord(g.ID, tp, nil))
		}
	}
	return 0, codes
}

// Delete handles DeleteGroups for this group: NON_EMPTY_GROUP unless Empty;
// otherwise the group becomes Dead and tombstones for its offsets and
// metadata are queued.
func (g *Group) Delete(now time.Time) int16 {
	switch g.state {
	case Dead:
		return kerr.GroupIDNotFound.Code
	case Empty:
	default:
		return kerr.NonEmptyGroup.Code
	}
	for _, tp := range g.Offsets() {
		g.out.Records = append(g.out.Records, offsetRecord(g.ID, tp, nil))
	}
	clear(g.offsets)
	g.out.Records = append(g.out.Records, Record{Key: groupKey(g.ID)})
	g.transition(Dead, now)
	return 0
}

// ExpireOffsets removes offsets older than retention (KIP-211): in an Empty
// group that used group management, all offsets once the group has been
// empty for retention; in a group that never had members, each offset
// retention after its commit. Tombstones are queued. An Empty group left
// with no offsets becomes Dead (its metadata tombstoned); the returned bool
// reports that.
func (g *Group) ExpireOffsets(now time.Time, retention time.Duration) bool {
	if g.state != Empty {
		return false
	}
	for _, tp := range g.Offsets() {
		base := g.offsets[tp].CommitTime
		if g.protocolType != "" {
			base = g.stateSince
		}
		if !now.Before(base.Add(retention)) {
			delete(g.offsets, tp)
			g.out.Records = append(g.out.Records, offsetRecord(g.ID, tp, nil))
		}
	}
	if len(g.offsets) > 0 || len(g.pending) > 0 || len(g.txnOffsets) > 0 {
		return false
	}
	g.out.Records = append(g.out.Records, Record{Key: groupKey(g.ID)})
	g.transition(Dead, now)
	return true
}

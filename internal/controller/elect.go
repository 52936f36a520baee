package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// ElectionType is the kind of leader election ElectLeaders runs, numbered
// as Kafka's ElectLeaders request numbers them.
type ElectionType int8

const (
	// ElectPreferred makes each partition's preferred replica (the first
	// of its replicas) its leader, if it is alive and in sync.
	ElectPreferred ElectionType = 0
	// ElectUnclean gives a leaderless partition a leader: an in-sync
	// replica if one is alive, else any live replica, accepting the loss
	// of what only the others held.
	ElectUnclean ElectionType = 1
)

// PartitionRef names one partition of a topic.
type PartitionRef struct {
	Topic     string
	Partition int32
}

// ElectLeaders runs an election of typ for each partition of parts, or for
// every partition of the cluster when parts is nil, and returns each
// partition's outcome: nil when it got the leader the election wanted, else
// Kafka's error: UNKNOWN_TOPIC_OR_PARTITION, ELECTION_NOT_NEEDED (it has
// that leader already), PREFERRED_LEADER_NOT_AVAILABLE (the preferred
// replica is fenced or out of sync), ELIGIBLE_LEADERS_NOT_AVAILABLE (no
// replica is alive), or the context's or log's error. For every partition,
// the outcomes leave ELECTION_NOT_NEEDED out, as Kafka's do.
func (c *Controller) ElectLeaders(ctx context.Context, typ ElectionType, parts []PartitionRef) map[PartitionRef]error {
	c.barrier(ctx)
	all := parts == nil
	if all {
		parts = allPartitions(c.store.Current())
	}
	decide := func(img *metadata.Image, ref PartitionRef) (metadata.PartitionChange, error) {
		return decideElection(img, typ, ref)
	}
	record := func(changes []metadata.PartitionChange) metadata.Record {
		return metadata.ChangePartitions{Changes: changes}
	}
	out := decideAndPropose(ctx, c, parts, decide, record)
	if all {
		for ref, err := range out {
			if errors.Is(err, kerr.ElectionNotNeeded) {
				delete(out, ref)
			}
		}
	}
	return out
}

// SortedRefs returns the partitions of results sorted by topic, then
// partition.
func SortedRefs(results map[PartitionRef]error) []PartitionRef {
	return slices.SortedFunc(maps.Keys(results), func(a, b PartitionRef) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
}

// allPartitions lists every partition of img.
func allPartitions(img *metadata.Image) []PartitionRef {
	var refs []PartitionRef
	for _, t := range img.Topics() {
		for i := range t.Partitions {
			refs = append(refs, PartitionRef{Topic: t.Name, Partition: int32(i)})
		}
	}
	return refs
}

// decideElection returns the change an election of typ makes to ref's
// partition, or why it makes none.
func decideElection(img *metadata.Image, typ ElectionType, ref PartitionRef) (metadata.PartitionChange, error) {
	t, ok := img.Topic(ref.Topic)
	if !ok || ref.Partition < 0 || int(ref.Partition) >= len(t.Partitions) {
		return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d does not exist", kerr.UnknownTopicOrPartition, ref.Topic, ref.Partition)
	}
	p := &t.Partitions[ref.Partition]
	change := func(leader int32, isr []int32) metadata.PartitionChange {
		return metadata.PartitionChange{TopicID: t.ID, Partition: p.Index, Epoch: p.Epoch, Leader: leader, LeaderEpoch: p.LeaderEpoch + 1, ISR: isr}
	}
	switch typ {
	case ElectPreferred:
		preferred := p.Replicas[0]
		if p.Leader == preferred {
			return metadata.PartitionChange{}, fmt.Errorf("%w: broker %d already leads %s-%d", kerr.ElectionNotNeeded, preferred, ref.Topic, ref.Partition)
		}
		if !img.Unfenced(preferred) || !p.InISR(preferred) {
			return metadata.PartitionChange{}, fmt.Errorf("%w: the preferred replica %d of %s-%d is not alive and in sync",
				kerr.PreferredLeaderNotAvailable, preferred, ref.Topic, ref.Partition)
		}
		return change(preferred, slices.Clone(p.ISR)), nil
	case ElectUnclean:
		if p.Leader >= 0 && img.Unfenced(p.Leader) {
			return metadata.PartitionChange{}, fmt.Errorf("%w: %s-%d has a live leader, %d", kerr.ElectionNotNeeded, ref.Topic, ref.Partition, p.Leader)
		}
		for _, r := range p.Replicas {
			if p.InISR(r) && img.Unfenced(r) {
				return change(r, slices.Clone(p.ISR)), nil
			}
		}
		for _, r := range p.Replicas {
			if img.Unfenced(r) {
				return change(r, []int32{r}), nil
			}
		}
		return metadata.PartitionChange{}, fmt.Errorf("%w: no replica of %s-%d is alive", kerr.EligibleLeadersNotAvailable, ref.Topic, ref.Partition)
	}
	return metadata.PartitionChange{}, fmt.Errorf("%w: unknown election type %d", kerr.InvalidRequest, typ)
}

// decideRebalance returns the preferred-leader elections that bring
// leadership back in balance, as Kafka's auto.leader.rebalance.enable does:
// a broker that is the preferred replica of P partitions but leads only
// P-N of them, with N/P above percent (leader.imbalance.per.broker.percentage),
// gets back every one of them whose preferred replica (itself) is alive and
// in sync.
func decideRebalance(img *metadata.Image, percent int) []metadata.PartitionChange {
	preferred := map[int32]int{}
	lost := map[int32][]PartitionRef{}
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			b := p.Replicas[0]
			preferred[b]++
			if p.Leader != b {
				lost[b] = append(lost[b], PartitionRef{Topic: t.Name, Partition: p.Index})
			}
		}
	}
	var changes []metadata.PartitionChange
	for _, b := range slices.Sorted(maps.Keys(lost)) {
		if len(lost[b])*100 <= percent*preferred[b] {
			continue
		}
		for _, ref := range lost[b] {
			if ch, err := decideElection(img, ElectPreferred, ref); err == nil {
				changes = append(changes, ch)
			}
		}
	}
	return changes
}

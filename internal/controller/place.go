package controller

import (
	"slices"

	"github.com/stratalog/strata/internal/metadata"
)

// rackAlternated returns the unfenced brokers ordered so that neighbours are
// in different racks where the racks allow it, as Kafka's rack-aware
// assignment orders them: the first broker of each rack (racks by name,
// brokers by id), then the second of each, and so on. Brokers without a rack
// form one rack of their own. Fenced brokers get no new replicas, so the
// replication factor is bounded by the live brokers.
func rackAlternated(img *metadata.Image) []int32 {
	byRack := map[string][]int32{}
	for _, b := range img.Brokers() {
		if !b.Fenced {
			byRack[b.Rack] = append(byRack[b.Rack], b.ID)
		}
	}
	racks := make([]string, 0, len(byRack))
	for r := range byRack {
		racks = append(racks, r)
	}
	slices.Sort(racks)
	var out []int32
	for i := 0; ; i++ {
		added := false
		for _, r := range racks {
			if i < len(byRack[r]) {
				out = append(out, byRack[r][i])
				added = true
			}
		}
		if !added {
			return out
		}
	}
}

// placePartitions places partitions first to first+count-1 with rf replicas
// each on brokers (rackAlternated order, rf <= len(brokers)): partition p's
// replicas are the rf brokers from position (start+p) on, wrapping, so
// leaders go round robin and a partition's replicas span as many racks as
// they can.
func placePartitions(img *metadata.Image, brokers []int32, first, count, rf, start int) []metadata.Partition {
	parts := make([]metadata.Partition, count)
	for i := range parts {
		p := first + i
		replicas := make([]int32, rf)
		for j := range replicas {
			replicas[j] = brokers[(start+p+j)%len(brokers)]
		}
		parts[i] = newPartition(img, int32(p), replicas)
	}
	return parts
}

// newPartition is a new partition on replicas: its ISR is the unfenced
// replicas (all of them when none is, so that one returning later can
// lead), and its leader the first of those that is unfenced, or none.
func newPartition(img *metadata.Image, index int32, replicas []int32) metadata.Partition {
	isr := slices.DeleteFunc(slices.Clone(replicas), func(r int32) bool { return !img.Unfenced(r) })
	leader := int32(-1)
	if len(isr) > 0 {
		leader = isr[0]
	} else {
		isr = slices.Clone(replicas)
	}
	return metadata.Partition{Index: index, Leader: leader, Replicas: replicas, ISR: isr}
}

// decideRepairs returns the changes that bring every partition in line with
// its brokers' state, as Kafka's controller does when brokers are fenced,
// unfenced or unregistered:
//   - fenced and unregistered brokers leave the ISR, unless they are all of
//     it: the last in-sync replicas stay, so that one of them leads again
//     when it returns, since only they surely hold every committed record;
//   - a partition whose leader is fenced, unregistered or out of the ISR
//     gets as leader the first replica (in replica order) that is in the
//     ISR and unfenced, or none;
//   - with unclean.leader.election.enable (unclean reports it per topic), a
//     partition with no such replica takes the first unfenced replica and
//     an ISR of it alone, accepting the loss of what only the others held.
//
// A new leader comes with the next leader epoch.
func decideRepairs(img *metadata.Image, unclean func(*metadata.Topic) bool) []metadata.PartitionChange {
	var changes []metadata.PartitionChange
	for _, t := range img.Topics() {
		for i := range t.Partitions {
			if c, ok := repair(img, t, &t.Partitions[i], unclean); ok {
				changes = append(changes, c)
			}
		}
	}
	return changes
}

func repair(img *metadata.Image, t *metadata.Topic, p *metadata.Partition, unclean func(*metadata.Topic) bool) (metadata.PartitionChange, bool) {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !img.Unfenced(r) })
	if len(isr) == 0 {
		isr = slices.Clone(p.ISR)
	}
	leader := p.Leader
	if leader == -1 || !img.Unfenced(leader) || !slices.Contains(isr, leader) {
		leader = -1
		for _, r := range p.Replicas {
			if slices.Contains(isr, r) && img.Unfenced(r) {
				leader = r
				break
			}
		}
		if leader == -1 && unclean != nil && unclean(t) {
			for _, r := range p.Replicas {
				if img.Unfenced(r) {
					leader, isr = r, []int32{r}
					break
				}
			}
		}
	}
	if leader == p.Leader && slices.Equal(isr, p.ISR) {
		return metadata.PartitionChange{}, false
	}
	c := metadata.PartitionChange{TopicID: t.ID, Partition: p.Index, Epoch: p.Epoch, Leader: leader, LeaderEpoch: p.LeaderEpoch, ISR: isr}
	if leader != p.Leader {
		c.LeaderEpoch++
	}
	return c, true
}

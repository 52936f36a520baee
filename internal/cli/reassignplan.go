package cli

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// reassignPlan is a partition reassignment in the JSON of Kafka's
// kafka-reassign-partitions.sh, which Strata's command reads and writes
// alike: {"version":1,"partitions":[{"topic":..,"partition":..,"replicas":[..]}]}.
type reassignPlan struct {
	Version    int                 `json:"version"`
	Partitions []reassignPartition `json:"partitions"`
}

type reassignPartition struct {
	Topic     string   `json:"topic"`
	Partition int32    `json:"partition"`
	Replicas  []int32  `json:"replicas"`
	LogDirs   []string `json:"log_dirs,omitempty"`
}

// parseReassignPlan reads a plan, checking that it names each partition
// once and gives each some replicas, none twice.
func parseReassignPlan(data []byte) (reassignPlan, error) {
	var p reassignPlan
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("not a reassignment plan: %w", err)
	}
	if p.Version != 1 {
		return p, fmt.Errorf("plan version %d: only version 1 is known", p.Version)
	}
	seen := map[planKey]bool{}
	for _, rp := range p.Partitions {
		k := planKey{rp.Topic, rp.Partition}
		switch {
		case rp.Topic == "":
			return p, errors.New("the plan names a partition without a topic")
		case seen[k]:
			return p, fmt.Errorf("the plan names %s-%d twice", rp.Topic, rp.Partition)
		case len(rp.Replicas) == 0:
			return p, fmt.Errorf("the plan gives %s-%d no replicas", rp.Topic, rp.Partition)
		}
		for i, b := range rp.Replicas {
			if slices.Contains(rp.Replicas[:i], b) {
				return p, fmt.Errorf("the plan lists broker %d twice for %s-%d", b, rp.Topic, rp.Partition)
			}
		}
		seen[k] = true
	}
	return p, nil
}

type planKey struct {
	topic     string
	partition int32
}

// planInput is what generatePlan balances: every partition to place, with
// its current replicas and size, and the brokers to place them on.
type planInput struct {
	partitions []planPartition
	brokers    []int32          // the brokers replicas may go to
	racks      map[int32]string // rack of each broker ("" for none)
	// evacuateOnly moves only the replicas on brokers not in brokers
	// (pass 1 below), as a decommission does.
	evacuateOnly bool
}

type planPartition struct {
	topic     string
	partition int32
	replicas  []int32
	size      int64 // bytes, the largest of its replicas
}

// planSummary says what a plan does.
type planSummary struct {
	moves      int   // replicas placed on a broker that did not hold them
	movedBytes int64 // their size
	before     map[int32]brokerLoad
	after      map[int32]brokerLoad
}

type brokerLoad struct {
	replicas, leaders int
	bytes             int64
}

// generatePlan places every replica of in.partitions on in.brokers,
// moving as little as it can, in four passes:
//  1. replicas on brokers not in the list move to the broker with the
//     fewest replicas (in a rack the partition does not use yet, where there
//     is one);
//  2. while one broker has two replicas more than another, a replica moves
//     from the one with the most to the one with the fewest: of those it
//     could move, the one that evens their bytes best;
//  3. while swapping a replica of the broker with the most bytes for one of
//     the broker with the fewest narrows the gap between them, they swap
//     (counts stay even);
//  4. preferred leaderships (first replicas) are evened out by reordering
//     replicas, which moves no data.
//
// A move never puts two replicas of a partition on one broker, nor takes
// a partition's replicas into fewer racks. It returns the partitions whose
// replicas change, and what the plan does.
func generatePlan(in planInput) (reassignPlan, planSummary) {
	g := &planner{in: in, allowed: map[int32]bool{}, count: map[int32]int{}, bytes: map[int32]int64{}}
	for _, b := range in.brokers {
		g.allowed[b] = true
		g.count[b], g.bytes[b] = 0, 0
	}
	g.parts = make([]planPartition, len(in.partitions))
	for i, p := range in.partitions {
		g.parts[i] = p
		g.parts[i].replicas = slices.Clone(p.replicas)
		for _, r := range p.replicas {
			if g.allowed[r] {
				g.count[r]++
				g.bytes[r] += p.size
			}
		}
	}
	g.order = make([]int, len(g.parts))
	for i := range g.order {
		g.order[i] = i
	}
	// Largest first: they find the emptiest brokers, and are tried first.
	slices.SortStableFunc(g.order, func(a, b int) int { return cmp.Compare(g.parts[b].size, g.parts[a].size) })
	g.evacuate()
	if !in.evacuateOnly {
		g.evenCounts()
		g.evenBytes()
		g.evenLeaders()
	}

	plan := reassignPlan{Version: 1, Partitions: []reassignPartition{}}
	sum := planSummary{before: loads(in.partitions), after: loads(g.parts)}
	for i, p := range g.parts {
		old := in.partitions[i].replicas
		if slices.Equal(p.replicas, old) {
			continue
		}
		plan.Partitions = append(plan.Partitions, reassignPartition{Topic: p.topic, Partition: p.partition, Replicas: p.replicas})
		for _, r := range p.replicas {
			if !slices.Contains(old, r) {
				sum.moves++
				sum.movedBytes += p.size
			}
		}
	}
	slices.SortFunc(plan.Partitions, func(a, b reassignPartition) int {
		return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
	})
	return plan, sum
}

// planner holds generatePlan's state: the partitions as placed so far and
// each allowed broker's replica count and bytes.
type planner struct {
	in      planInput
	allowed map[int32]bool
	parts   []planPartition
	order   []int // indexes of parts, largest first
	count   map[int32]int
	bytes   map[int32]int64
}

// move puts partition i's replica in slot on broker to.
func (g *planner) move(i, slot int, to int32) {
	p := &g.parts[i]
	if from := p.replicas[slot]; g.allowed[from] {
		g.count[from]--
		g.bytes[from] -= p.size
	}
	p.replicas[slot] = to
	g.count[to]++
	g.bytes[to] += p.size
}

// racksUsed counts partition i's replicas per rack, leaving slot out, and
// those on brokers not allowed.
func (g *planner) racksUsed(i, slot int) map[string]int {
	used := map[string]int{}
	for j, r := range g.parts[i].replicas {
		if j != slot && g.allowed[r] {
			used[g.in.racks[r]]++
		}
	}
	return used
}

// canMove reports whether partition i's replica in slot may go to broker
// to: to holds no replica of it, and its racks do not shrink.
func (g *planner) canMove(i, slot int, to int32) bool {
	p := &g.parts[i]
	if slices.Contains(p.replicas, to) {
		return false
	}
	used := g.racksUsed(i, slot)
	from := p.replicas[slot]
	return used[g.in.racks[to]] == 0 || (g.allowed[from] && used[g.in.racks[from]] > 0)
}

// evacuate moves the replicas on brokers not allowed.
func (g *planner) evacuate() {
	for _, i := range g.order {
		for slot, r := range g.parts[i].replicas {
			if g.allowed[r] {
				continue
			}
			used := g.racksUsed(i, slot)
			best := int32(-1)
			for _, b := range g.in.brokers {
				if slices.Contains(g.parts[i].replicas, b) {
					continue
				}
				if best == -1 || cmp.Or(cmp.Compare(used[g.in.racks[b]], used[g.in.racks[best]]),
					cmp.Compare(g.count[b], g.count[best]), cmp.Compare(g.bytes[b], g.bytes[best])) < 0 {
					best = b
				}
			}
			if best != -1 { // else fewer brokers than replicas: it stays
				g.move(i, slot, best)
			}
		}
	}
}

// evenCounts moves replicas from the broker with the most to the one with
// the fewest until no two differ by more than one.
func (g *planner) evenCounts() {
	for range len(g.parts) * len(g.in.brokers) {
		src, dst := extremes(g.in.brokers, g.count, g.bytes)
		if g.count[src]-g.count[dst] < 2 {
			return
		}
		gap := g.bytes[src] - g.bytes[dst]
		bestI, bestSlot := -1, -1
		for _, i := range g.order {
			slot := slices.Index(g.parts[i].replicas, src)
			if slot < 0 || !g.canMove(i, slot, dst) {
				continue
			}
			if bestI == -1 || abs(gap-2*g.parts[i].size) < abs(gap-2*g.parts[bestI].size) {
				bestI, bestSlot = i, slot
			}
		}
		if bestI == -1 {
			return
		}
		g.move(bestI, bestSlot, dst)
	}
}

// swapCandidates bounds how many replicas of each broker evenBytes pairs
// up per round, so a round stays quick with thousands of partitions.
const swapCandidates = 64

// evenBytes swaps replicas between the brokers with the most and the
// fewest bytes while that narrows the gap between them.
func (g *planner) evenBytes() {
	for range len(g.parts) {
		src, dst := extremes(g.in.brokers, g.bytes, g.count)
		gap := g.bytes[src] - g.bytes[dst]
		if gap <= 0 {
			return
		}
		var onSrc, onDst []int // partitions on one of the two only
		for _, i := range g.order {
			rs := g.parts[i].replicas
			switch hasSrc, hasDst := slices.Contains(rs, src), slices.Contains(rs, dst); {
			case hasSrc && !hasDst && len(onSrc) < swapCandidates:
				onSrc = append(onSrc, i)
			case hasDst && !hasSrc:
				onDst = append(onDst, i) // smallest last
			}
		}
		onDst = onDst[max(0, len(onDst)-swapCandidates):]
		bestA, bestB, best := -1, -1, gap
		for _, a := range onSrc {
			sa := slices.Index(g.parts[a].replicas, src)
			for _, b := range onDst {
				d := g.parts[a].size - g.parts[b].size
				sb := slices.Index(g.parts[b].replicas, dst)
				if d <= 0 || abs(gap-2*d) >= best || !g.canMove(a, sa, dst) || !g.canMove(b, sb, src) {
					continue
				}
				bestA, bestB, best = a, b, abs(gap-2*d)
			}
		}
		if bestA == -1 {
			return
		}
		g.move(bestA, slices.Index(g.parts[bestA].replicas, src), dst)
		g.move(bestB, slices.Index(g.parts[bestB].replicas, dst), src)
	}
}

// evenLeaders swaps first replicas with others until no broker prefers to
// lead two partitions more than another.
func (g *planner) evenLeaders() {
	leaders := map[int32]int{}
	for _, b := range g.in.brokers {
		leaders[b] = 0
	}
	for _, p := range g.parts {
		leaders[p.replicas[0]]++
	}
	for range len(g.parts) {
		src, dst := extremes(g.in.brokers, leaders, g.count)
		if leaders[src]-leaders[dst] < 2 {
			return
		}
		moved := false
		for _, i := range g.order {
			p := &g.parts[i]
			if j := slices.Index(p.replicas, dst); p.replicas[0] == src && j > 0 {
				p.replicas[0], p.replicas[j] = p.replicas[j], p.replicas[0]
				leaders[src]--
				leaders[dst]++
				moved = true
				break
			}
		}
		if !moved {
			return
		}
	}
}

// extremes returns the brokers with the most and the least by key, then
// by tie, then the lower id first.
func extremes[K, T cmp.Ordered](brokers []int32, key map[int32]K, tie map[int32]T) (most, least int32) {
	order := func(a, b int32) int { return cmp.Or(cmp.Compare(key[a], key[b]), cmp.Compare(tie[a], tie[b])) }
	most, least = brokers[0], brokers[0]
	for _, b := range brokers[1:] {
		if order(b, most) > 0 {
			most = b
		}
		if order(b, least) < 0 {
			least = b
		}
	}
	return most, least
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// loads sums the replicas, preferred leaderships and bytes per broker.
func loads(parts []planPartition) map[int32]brokerLoad {
	out := map[int32]brokerLoad{}
	for _, p := range parts {
		for i, r := range p.replicas {
			l := out[r]
			l.replicas++
			l.bytes += p.size
			if i == 0 {
				l.leaders++
			}
			out[r] = l
		}
	}
	return out
}

// brokersOf lists the brokers of both summaries' loads, sorted.
func (s planSummary) brokersOf() []int32 {
	all := maps.Clone(s.before)
	maps.Copy(all, s.after)
	return slices.Sorted(maps.Keys(all))
}

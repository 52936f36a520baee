package partition

import (
	"fmt"
	"slices"
	"time"
)

// pendingTimeout is how long an ISR change may stay proposed without
// reaching the metadata before the leader forgets it and decides again.
const pendingTimeout = 5 * time.Second

// leaderState is what the leader of a partition knows of its followers,
// and the rules Kafka's Partition applies to it: a pure state machine, with
// no I/O, no clock and no lock of its own. The Partition calls it under its
// lock, passing the time, and carries out what it decides (advance the high
// watermark, propose an ISR change).
type leaderState struct {
	self      int32
	epoch     int32 // leader epoch
	partEpoch int32 // partition epoch of isr
	replicas  []int32
	isr       []int32 // as the metadata has it
	// pending is an ISR change proposed and not yet in the metadata (nil
	// when none). Until it lands, the high watermark waits for the union
	// of isr and pending (Kafka's maximal ISR): a member being added
	// counts at once, one being removed still counts.
	pending   []int32
	pendingAt time.Time
	// epochStart is the leader's log end offset when it took this epoch:
	// a follower joins the ISR only once it has reached it.
	epochStart int64
	followers  map[int32]*follower
}

// follower is one follower's replication state.
type follower struct {
	leo int64 // its log end offset, from its last fetch; -1 before one
	// caughtUp is the last time it had everything the leader had
	// (Kafka's lastCaughtUpTimeMs).
	caughtUp     time.Time
	prevFetchLEO int64 // the leader's log end offset at its previous fetch
	prevFetchAt  time.Time
}

// newLeaderState starts a leader's state for a new leader epoch. The
// members of the ISR count as caught up now, so that none is dropped
// before it had a chance to fetch.
func newLeaderState(self int32, st LeaderAndISR, leo int64, now time.Time) *leaderState {
	s := &leaderState{self: self, epoch: st.LeaderEpoch, epochStart: leo, followers: map[int32]*follower{}}
	s.update(st, now)
	return s
}

// update takes a new state of the partition from the metadata within the
// same leader epoch: a new ISR or replica set and partition epoch.
func (s *leaderState) update(st LeaderAndISR, now time.Time) {
	if st.PartitionEpoch != s.partEpoch || s.replicas == nil {
		s.pending = nil
	}
	s.partEpoch, s.replicas, s.isr = st.PartitionEpoch, slices.Clone(st.Replicas), slices.Clone(st.ISR)
	for _, r := range s.replicas {
		if r == s.self {
			continue
		}
		f := s.followers[r]
		if f == nil {
			f = &follower{leo: -1, prevFetchLEO: -1}
			s.followers[r] = f
		}
		if slices.Contains(s.isr, r) && f.caughtUp.IsZero() {
			f.caughtUp = now
		}
	}
	for id := range s.followers {
		if !slices.Contains(s.replicas, id) {
			delete(s.followers, id)
		}
	}
}

// fetched records a fetch by follower id at offset, the leader's log end
// offset being leo: the follower holds everything below offset. It is
// caught up if offset reaches leo, or the leader's log end at its previous
// fetch (it had then what the leader had then).
func (s *leaderState) fetched(id int32, offset, leo int64, now time.Time) {
	f := s.followers[id]
	if f == nil {
		return
	}
	switch {
	case offset >= leo:
		f.caughtUp = now
	case f.prevFetchLEO >= 0 && offset >= f.prevFetchLEO && f.prevFetchAt.After(f.caughtUp):
		f.caughtUp = f.prevFetchAt
	}
	f.leo, f.prevFetchLEO, f.prevFetchAt = offset, leo, now
}

// highWatermark returns the offset every member of the maximal ISR holds,
// pos being the leader's own position (its log end offset, or the end of
// what it has flushed when records count only once on disk). A member that
// has not fetched yet holds it at -1; the caller keeps the larger of this
// and its current high watermark.
func (s *leaderState) highWatermark(pos int64) int64 {
	hw := pos
	for _, id := range s.maximalISR() {
		if id == s.self {
			continue
		}
		if f := s.followers[id]; f != nil {
			hw = min(hw, f.leo)
		}
	}
	return hw
}

// maximalISR is isr and pending together.
func (s *leaderState) maximalISR() []int32 {
	if s.pending == nil {
		return s.isr
	}
	out := slices.Clone(s.isr)
	for _, id := range s.pending {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// inSync reports whether follower id may join the ISR: it has reached the
// high watermark and the start of this leader epoch.
func (s *leaderState) inSync(id int32, hw int64) bool {
	f := s.followers[id]
	return f != nil && f.leo >= hw && f.leo >= s.epochStart
}

// isrChange decides whether the ISR should change now, as Kafka's leader
// does: members (other than the leader) that have not been caught up for
// lagMax leave; replicas in sync that eligible accepts (registered and
// unfenced brokers) join. It returns the new ISR in replica order and why,
// and records it as pending; nothing while another change is pending.
func (s *leaderState) isrChange(hw int64, now time.Time, lagMax time.Duration, eligible func(int32) bool) ([]int32, string, bool) {
	if s.pending != nil {
		if now.Sub(s.pendingAt) < pendingTimeout {
			return nil, "", false
		}
		s.pending = nil
	}
	var out, in []int32
	for _, id := range s.isr {
		if f := s.followers[id]; id != s.self && f != nil && now.Sub(f.caughtUp) > lagMax {
			out = append(out, id)
		}
	}
	for _, id := range s.replicas {
		if id != s.self && !slices.Contains(s.isr, id) && s.inSync(id, hw) && eligible(id) {
			in = append(in, id)
		}
	}
	if len(out) == 0 && len(in) == 0 {
		return nil, "", false
	}
	var isr []int32
	for _, id := range s.replicas {
		if slices.Contains(in, id) || slices.Contains(s.isr, id) && !slices.Contains(out, id) {
			isr = append(isr, id)
		}
	}
	var reason string
	switch {
	case len(out) > 0 && len(in) > 0:
		reason = fmt.Sprintf("replicas %v have not caught up within replica.lag.time.max.ms=%d; replicas %v caught up", out, lagMax.Milliseconds(), in)
	case len(out) > 0:
		reason = fmt.Sprintf("replicas %v have not caught up within replica.lag.time.max.ms=%d", out, lagMax.Milliseconds())
	default:
		reason = fmt.Sprintf("replicas %v caught up to the high watermark %d", in, hw)
	}
	s.pending, s.pendingAt = isr, now
	return isr, reason, true
}

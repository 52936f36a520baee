package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// Reassignment asks for one partition's replicas to become Target, as
// Kafka's AlterPartitionReassignments does (KIP-455): the new replicas
// join and catch up, then the ones left out are removed. A nil Target
// cancels the partition's reassignment in progress.
type Reassignment struct {
	PartitionRef
	Target []int32
	// KeepFactor refuses a Target whose length differs from the
	// partition's replication factor (AllowReplicationFactorChange off).
	KeepFactor bool
}

// AlterPartitionReassignments starts, replaces or cancels the
// reassignment of each partition of reqs and returns each one's outcome:
// nil once the change is in the metadata log (the new replicas then catch
// up, and the active controller completes the reassignment when they are
// all in the ISR), else Kafka's error: UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR,
// NO_REASSIGNMENT_IN_PROGRESS (a cancel of none), or the context's or log's
// error. A partition named twice is INVALID_REQUEST.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, reqs []Reassignment) map[PartitionRef]error {
	c.barrier(ctx)
	out := map[PartitionRef]error{}
	byRef := map[PartitionRef]Reassignment{}
	var refs []PartitionRef
	for _, r := range reqs {
		if _, dup := byRef[r.PartitionRef]; dup {
			out[r.PartitionRef] = fmt.Errorf("%w: %s-%d is named twice", kerr.InvalidRequest, r.Topic, r.Partition)
			continue
		}
		byRef[r.PartitionRef] = r
		refs = append(refs, r.PartitionRef)
	}
	refs = slices.DeleteFunc(refs, func(ref PartitionRef) bool { return out[ref] != nil })
	decide := func(img *metadata.Image, ref PartitionRef) (metadata.PartitionReassignment, error) {
		r := byRef[ref]
		return decideReassignment(img, r)
	}
	record := func(changes []metadata.PartitionReassignment) metadata.Record {
		return metadata.ReassignPartitions{Changes: changes}
	}
	for ref, err := range decideAndPropose(ctx, c, refs, decide, record) {
		if errors.Is(err, errNoChange) {
			err = nil
		}
		out[ref] = err
	}
	return out
}

// errNoChange is what a decision returns when the partition is already
// as asked: success, with nothing to propose.
var errNoChange = errors.New("no change needed")

// decideAndPropose decides a change for each partition of refs on the
// current image, proposes them maxChangesPerRecord to a record (made by
// record), and decides again, up to decideAttempts times in all, those
// whose record another change overtook (a partition epoch moved on, a
// chosen leader was fenced). It returns each partition's outcome: the
// decision's error, or the proposal's.
func decideAndPropose[C any](ctx context.Context, c *Controller, refs []PartitionRef,
	decide func(*metadata.Image, PartitionRef) (C, error), record func([]C) metadata.Record) map[PartitionRef]error {
	out := make(map[PartitionRef]error, len(refs))
	pending := refs
	for attempt := 0; len(pending) > 0; attempt++ {
		img := c.store.Current()
		var changes []C
		var decided []PartitionRef
		for _, ref := range pending {
			ch, err := decide(img, ref)
			if err != nil {
				out[ref] = err
				continue
			}
			changes, decided = append(changes, ch), append(decided, ref)
		}
		pending = nil
		for len(changes) > 0 {
			n := min(len(changes), maxChangesPerRecord)
			rec := record(changes[:n])
			err := c.propose(ctx, img, rec)
			if err == nil {
				c.logRecord(img, rec)
			}
			for _, ref := range decided[:n] {
				if errors.Is(err, errOvertaken) && attempt+1 < decideAttempts {
					pending = append(pending, ref)
					continue
				}
				out[ref] = err
			}
			changes, decided = changes[n:], decided[n:]
		}
	}
	return out
}

// barrierTimeout bounds how long a decision waits for this node's image to
// catch up with the quorum.
const barrierTimeout = 2 * time.Second

// barrier waits, for at most barrierTimeout, until this node's image holds
// every change the quorum committed before the call, when its Proposer can
// tell (a Raft ReadIndex). Decisions that answer without proposing, such as
// "the preferred replica is not in sync yet", are then made on what the
// active controller knows, not on a node lagging behind it; the records
// proposed are guarded by partition epochs either way.
func (c *Controller) barrier(ctx context.Context) {
	rb, ok := c.node.(interface{ ReadBarrier(context.Context) error })
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, barrierTimeout)
	defer cancel()
	if err := rb.ReadBarrier(ctx); err != nil {
		c.logger.Debug("deciding on this node's metadata: the quorum did not confirm it in time", "err", err)
	}
}

// logRecord logs the partition changes of rec, applied on top of img, and
// counts its leader elections.
func (c *Controller) logRecord(img *metadata.Image, rec metadata.Record) {
	switch r := rec.(type) {
	case metadata.ChangePartitions:
		c.logChanges(img, r.Changes)
	case metadata.ReassignPartitions:
		c.logReassignments(img, r.Changes)
	}
	c.countElections(img, rec)
}

// logReassignments logs each reassignment change, one line each.
func (c *Controller) logReassignments(img *metadata.Image, changes []metadata.PartitionReassignment) {
	for _, ch := range changes {
		t, _ := img.TopicByID(ch.TopicID)
		p := t.Partitions[ch.Partition]
		what := "reassignment started"
		switch {
		case len(ch.Adding)+len(ch.Removing) == 0 && slices.Equal(ch.Replicas, p.Original()) && p.Reassigning():
			what = "reassignment cancelled"
		case len(ch.Adding)+len(ch.Removing) == 0:
			what = "reassignment completed"
		}
		c.logger.Info(what, "topic", t.Name, "partition", ch.Partition, "replicas", ch.Replicas, "adding", ch.Adding,
			"removing", ch.Removing, "old_replicas", p.Replicas, "leader", ch.Leader, "isr", ch.ISR)
	}
}

// decideReassignment returns the change that starts, replaces or cancels
// (nil r.Target) the reassignment of r's partition: with every target
// replica in sync already, the change completes it at once.
func decideReassignment(img *metadata.Image, r Reassignment) (metadata.PartitionReassignment, error) {
	var none metadata.PartitionReassignment
	t, ok := img.Topic(r.Topic)
	if !ok || r.Partition < 0 || int(r.Partition) >= len(t.Partitions) {
		return none, fmt.Errorf("%w: %s-%d does not exist", kerr.UnknownTopicOrPartition, r.Topic, r.Partition)
	}
	p := t.Partitions[r.Partition]
	if r.Target == nil {
		if !p.Reassigning() {
			return none, fmt.Errorf("%w: %s-%d has no reassignment in progress", kerr.NoReassignmentInProgress, r.Topic, r.Partition)
		}
		return settle(img, t, p, p.Original(), "none of the original replicas is in sync")
	}
	if err := checkTarget(img, r.Target); err != nil {
		return none, fmt.Errorf("%s-%d: %w", r.Topic, r.Partition, err)
	}
	orig := p.Original()
	if r.KeepFactor && len(r.Target) != len(orig) {
		return none, fmt.Errorf("%w: %s-%d has %d replicas, the target %d, and replication factor changes are not allowed",
			kerr.InvalidReplicationFactor, r.Topic, r.Partition, len(orig), len(r.Target))
	}
	if !p.Reassigning() && slices.Equal(r.Target, p.Replicas) {
		return none, errNoChange
	}
	adding := minus(r.Target, orig)
	removing := minus(orig, r.Target)
	if len(adding) == 0 {
		// Only removals or a new order: done once the target is in sync.
		next := p
		next.Replicas, next.Adding, next.Removing = append(slices.Clone(r.Target), removing...), nil, removing
		if ch, ok := completion(img, t, next); ok {
			return ch, nil
		}
	}
	replicas := append(slices.Clone(r.Target), removing...)
	ch, err := withLeader(img, t, p, replicas, "no in-sync replica would remain")
	ch.Adding, ch.Removing = adding, removing
	return ch, err
}

// checkTarget checks a reassignment's target replicas: some, distinct,
// registered brokers.
func checkTarget(img *metadata.Image, target []int32) error {
	if len(target) == 0 {
		return fmt.Errorf("%w: an empty replica list", kerr.InvalidReplicaAssignment)
	}
	for i, b := range target {
		if slices.Contains(target[:i], b) {
			return fmt.Errorf("%w: broker %d is listed twice", kerr.InvalidReplicaAssignment, b)
		}
		if _, ok := img.Broker(b); !ok {
			return fmt.Errorf("%w: broker %d is not registered", kerr.InvalidReplicaAssignment, b)
		}
	}
	return nil
}

// completion returns the change that completes p's reassignment, once
// every target replica is in its ISR: the target becomes its replicas, the
// removed replicas leave the ISR, and a removed leader hands over to the
// first live in-sync target replica.
func completion(img *metadata.Image, t *metadata.Topic, p metadata.Partition) (metadata.PartitionReassignment, bool) {
	if !p.Reassigning() {
		return metadata.PartitionReassignment{}, false
	}
	target := p.Target()
	for _, r := range target {
		if !p.InISR(r) {
			return metadata.PartitionReassignment{}, false
		}
	}
	ch, err := settle(img, t, p, target, "")
	return ch, err == nil
}

// settle returns the change that ends p's reassignment with replicas as
// its replicas (the target to complete it, the original ones to cancel
// it); why says what it means that no in-sync replica is among them.
func settle(img *metadata.Image, t *metadata.Topic, p metadata.Partition, replicas []int32, why string) (metadata.PartitionReassignment, error) {
	ch, err := withLeader(img, t, p, replicas, why)
	ch.Replicas = slices.Clone(replicas)
	return ch, err
}

// withLeader returns a change of p to replicas: its ISR kept to those
// replicas, its leader kept if it is among them, else the first live
// in-sync one of them (or none), with a new leader epoch if it changes.
func withLeader(img *metadata.Image, t *metadata.Topic, p metadata.Partition, replicas []int32, why string) (metadata.PartitionReassignment, error) {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	if len(isr) == 0 {
		return metadata.PartitionReassignment{}, fmt.Errorf("%w: %s-%d: %s", kerr.InvalidReplicaAssignment, t.Name, p.Index, why)
	}
	leader := p.Leader
	if !slices.Contains(isr, leader) {
		leader = -1
		for _, r := range replicas {
			if slices.Contains(isr, r) && img.Unfenced(r) {
				leader = r
				break
			}
		}
	}
	ch := metadata.PartitionReassignment{
		PartitionChange: metadata.PartitionChange{TopicID: t.ID, Partition: p.Index, Epoch: p.Epoch, Leader: leader, LeaderEpoch: p.LeaderEpoch, ISR: isr},
		Replicas:        replicas,
	}
	if leader != p.Leader {
		ch.LeaderEpoch++
	}
	return ch, nil
}

// minus returns the ids of a not in b, in a's order.
func minus(a, b []int32) []int32 {
	var out []int32
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// decideCompletions returns the changes completing every reassignment
// whose target replicas are all in sync.
func decideCompletions(img *metadata.Image) []metadata.PartitionReassignment {
	var out []metadata.PartitionReassignment
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if ch, ok := completion(img, t, p); ok {
				out = append(out, ch)
			}
		}
	}
	return out
}

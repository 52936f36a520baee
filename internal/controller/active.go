package controller

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// Quorum is the metadata Raft group as the active controller needs it.
// *raft.Node implements it.
type Quorum interface {
	Proposer
	// ProposeAsLeader proposes data only while this node leads, and has
	// it applied only in the term it was proposed in (raft.ErrNotLeader
	// otherwise), so a deposed controller's decision never applies.
	ProposeAsLeader(ctx context.Context, data []byte) (uint64, error)
	// Leader returns the node id of the Raft leader (0 when none is
	// known) and whether it is this node.
	Leader() (id uint64, self bool)
	// Members returns the voters and the learners (broker-only nodes).
	Members() (voters, learners []uint64)
	// AddLearner proposes adding node id as a learner and returns once
	// raft took the proposal (not once it is applied).
	AddLearner(ctx context.Context, id uint64) error
	// RemoveLearner proposes removing learner id, as AddLearner adds one.
	RemoveLearner(ctx context.Context, id uint64) error
}

// ActiveConfig are the settings of the active controller, by Kafka's names.
type ActiveConfig struct {
	// SessionTimeout is broker.session.timeout.ms: a broker not heard from
	// for this long is fenced.
	SessionTimeout time.Duration
	// HeartbeatInterval is broker.heartbeat.interval.ms: how often the
	// controller checks for expired sessions.
	HeartbeatInterval time.Duration
	// LeaderRebalance is leader.imbalance.check.interval.seconds when
	// auto.leader.rebalance.enable is on (0 when off): how often the
	// controller gives imbalanced brokers their preferred leaderships
	// back.
	LeaderRebalance time.Duration
	// ImbalancePercent is leader.imbalance.per.broker.percentage.
	ImbalancePercent int
}

// maxChangesPerRecord bounds the partition changes in one record, so a
// fence of a broker with many partitions does not make an entry larger
// than raft's message size.
const maxChangesPerRecord = 2000

// active is the state of the controller while its node leads the quorum.
type active struct {
	c    *Controller
	q    Quorum
	live *Liveness
	cfg  ActiveConfig
	// since is when this node became the leader (zero while it is not);
	// brokers it has no heartbeat from since get until since+session.
	since time.Time
	// prevLeader is the last other leader this node knew; when this node
	// takes over, that one is judged by its own heartbeats alone: a
	// controller that died is fenced as soon as its session has run out.
	prevLeader, lastLeader int32
	repaired               uint64    // image index the repairs were last decided on
	lastStep               time.Time // when step last ran
	rebalanced             time.Time // when leader balance was last checked
}

// RunActive acts as the cluster's controller whenever this node leads the
// metadata quorum, until ctx ends: it fences brokers whose heartbeats
// stopped, unfences brokers that are heard and caught up, elects leaders
// and cleans ISRs after every such change, and keeps the quorum's learners
// in line with the broker-only nodes. live must receive every heartbeat
// this node gets.
func (c *Controller) RunActive(ctx context.Context, q Quorum, live *Liveness, cfg ActiveConfig) {
	a := &active{c: c, q: q, live: live, cfg: cfg}
	changed := make(chan struct{}, 1)
	c.store.Subscribe(func(_, _ *metadata.Image) {
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	tick := time.NewTicker(cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-changed:
		case <-live.news:
		}
		a.step(ctx, time.Now())
	}
}

// step does one round of the controller's work.
func (a *active) step(ctx context.Context, now time.Time) {
	stalled := !a.lastStep.IsZero() && now.Sub(a.lastStep) > a.cfg.SessionTimeout/2
	last := a.lastStep
	a.lastStep = now
	leader, self := a.q.Leader()
	if !self {
		if a.since != (time.Time{}) {
			a.c.logger.Info("no longer the active controller", "leader", leader)
		}
		a.since = time.Time{}
		if leader != 0 {
			a.lastLeader = int32(leader)
		}
		return
	}
	if a.since == (time.Time{}) {
		a.since, a.prevLeader, a.repaired, a.rebalanced = now, a.lastLeader, 0, now
		a.c.logger.Info("active controller", "previous", a.prevLeader)
	} else if stalled {
		// This process did not run for a while (paused, starved): the
		// heartbeats it holds are old through no fault of the brokers.
		a.since, a.prevLeader = now, 0
		a.c.logger.Warn("the active controller stalled; every broker gets a new session", "for", now.Sub(last))
	}
	img := a.c.store.Current()
	fence, unfence := decideLiveness(img, now, a.since, a.prevLeader, a.cfg.SessionTimeout, a.live.last)
	for _, f := range fence {
		if f.shutdown {
			a.c.logger.Info("fencing broker: controlled shutdown, its leaderships move to other in-sync replicas", "broker", f.b.ID, "epoch", f.b.Epoch)
		} else {
			a.c.logger.Warn("fencing broker: no heartbeat within broker.session.timeout.ms",
				"broker", f.b.ID, "epoch", f.b.Epoch, "silent_for", f.silent.Round(time.Millisecond), "session_timeout", a.cfg.SessionTimeout)
		}
		a.proposeWithRepairs(ctx, metadata.FenceBroker{ID: f.b.ID, Epoch: f.b.Epoch})
	}
	for _, b := range unfence {
		a.c.logger.Info("unfencing broker: heard from and caught up", "broker", b.ID, "epoch", b.Epoch)
		a.proposeWithRepairs(ctx, metadata.UnfenceBroker{ID: b.ID, Epoch: b.Epoch})
	}
	if img = a.c.store.Current(); img.AppliedIndex != a.repaired {
		a.repaired = img.AppliedIndex
		a.proposeChanges(ctx, img, decideRepairs(img, a.c.cfg.Unclean))
		img = a.c.store.Current()
		if done := decideCompletions(img); len(done) > 0 {
			rec := metadata.ReassignPartitions{Changes: done[:min(len(done), maxChangesPerRecord)]}
			if a.propose(ctx, rec) {
				a.c.logRecord(img, rec)
			}
		}
	}
	if a.cfg.LeaderRebalance > 0 && now.Sub(a.rebalanced) >= a.cfg.LeaderRebalance {
		a.rebalanced = now
		img = a.c.store.Current()
		if changes := decideRebalance(img, a.cfg.ImbalancePercent); len(changes) > 0 {
			a.c.logger.Info("leader rebalance: preferred replicas lead again", "partitions", len(changes))
			a.proposeChanges(ctx, img, changes)
		}
	}
	a.syncLearners(ctx, now)
}

// proposeWithRepairs proposes rec with the elections and ISR changes it
// makes necessary, in one record.
func (a *active) proposeWithRepairs(ctx context.Context, rec metadata.Record) {
	img := a.c.store.Current()
	full, err := a.c.withRepairs(img, rec)
	if err != nil {
		a.c.logger.Debug("controller decision overtaken", "err", err)
		return
	}
	if a.propose(ctx, full) {
		a.c.countElections(img, full)
	}
}

// proposeChanges proposes changes decided on img, maxChangesPerRecord to a
// record: the repairs the image needs should a broker's change have been
// applied without them, or a leader rebalance.
func (a *active) proposeChanges(ctx context.Context, img *metadata.Image, changes []metadata.PartitionChange) {
	for len(changes) > 0 {
		n := min(len(changes), maxChangesPerRecord)
		a.c.logChanges(img, changes[:n])
		rec := metadata.ChangePartitions{Changes: changes[:n]}
		if a.propose(ctx, rec) {
			a.c.countElections(img, rec)
		}
		changes = changes[n:]
	}
}

// maxChangeLines is how many partition changes of one decision are logged
// a line each at info level; more are summed up in one line (and each
// logged at debug), so a restart with thousands of partitions does not
// write thousands of lines.
const maxChangeLines = 50

// logChanges logs each partition change of one decision on img, saying why.
func (c *Controller) logChanges(img *metadata.Image, changes []metadata.PartitionChange) {
	level, leaders := slog.LevelInfo, 0
	if len(changes) > maxChangeLines {
		level = slog.LevelDebug
	}
	for _, ch := range changes {
		t, _ := img.TopicByID(ch.TopicID)
		p := t.Partitions[ch.Partition]
		if ch.Leader != p.Leader {
			leaders++
		}
		c.logger.Log(context.Background(), level, "partition change", "topic", t.Name, "partition", ch.Partition,
			"reason", changeReason(img, p, ch), "leader", ch.Leader, "leader_epoch", ch.LeaderEpoch, "isr", ch.ISR,
			"old_leader", p.Leader, "old_isr", p.ISR)
	}
	if level == slog.LevelDebug {
		c.logger.Info("partition changes", "partitions", len(changes), "leaders_changed", leaders)
	}
}

// syncLearners adds nodes heard within the session that are not in the
// quorum (broker-only nodes joining) as learners, and removes learners
// that are neither registered brokers nor heard within the session (nodes
// decommissioned and stopped). Raft takes one membership change at a time,
// so one per round.
func (a *active) syncLearners(ctx context.Context, now time.Time) {
	voters, learners := a.q.Members()
	heard := a.live.heard(now.Add(-a.cfg.SessionTimeout))
	for _, id := range heard {
		if slices.Contains(voters, uint64(id)) || slices.Contains(learners, uint64(id)) {
			continue
		}
		a.c.logger.Info("adding a broker-only node to the metadata quorum as a learner", "node", id)
		if err := a.q.AddLearner(ctx, uint64(id)); err != nil {
			a.c.logger.Warn("add learner", "node", id, "err", err)
		}
		return
	}
	if now.Sub(a.since) < a.cfg.SessionTimeout {
		return // a new controller has not heard everyone yet
	}
	img := a.c.store.Current()
	for _, id := range learners {
		if _, registered := img.Broker(int32(id)); registered || slices.Contains(heard, int32(id)) {
			continue
		}
		a.c.logger.Info("removing an unregistered, silent learner from the metadata quorum", "node", id)
		if err := a.q.RemoveLearner(ctx, id); err != nil {
			a.c.logger.Warn("remove learner", "node", id, "err", err)
		}
		return
	}
}

// propose proposes rec and reports whether it was applied.
func (a *active) propose(ctx context.Context, rec metadata.Record) bool {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.SessionTimeout)
	defer cancel()
	_, err := a.q.ProposeAsLeader(ctx, metadata.EncodeRecord(rec))
	_, self := a.q.Leader()
	switch {
	case err == nil:
		return true
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
	case !self:
		a.c.logger.Info("controller decision dropped: no longer the leader", "err", err)
	case errors.Is(err, kerr.InvalidUpdateVersion), errors.Is(err, kerr.StaleBrokerEpoch):
		a.c.logger.Debug("controller decision overtaken; deciding again", "err", err)
	default:
		a.c.logger.Warn("controller proposal failed", "err", err)
	}
	return false
}

// fencing is a broker to fence, and why: it asked to (controlled
// shutdown), or it has been silent for so long.
type fencing struct {
	b        metadata.Broker
	shutdown bool
	silent   time.Duration
}

// decideLiveness returns the unfenced brokers to fence and the fenced ones
// to unfence at now. A broker is fenced when its session expired or when
// the registered process asks to shut down (Kafka's controlled shutdown:
// fencing moves its leaderships to other in-sync replicas and takes it out
// of every ISR, so its stop holds up no acks=all produce). A fenced broker
// is unfenced when heard from within the session, by the registered
// process, with the registration applied, and not stopping. last gives a
// node's latest heartbeat. A broker not heard from since the controller
// became active at since gets a full session from then, except the
// previous controller prev, whose own heartbeats count: every voter
// received them.
func decideLiveness(img *metadata.Image, now, since time.Time, prev int32, session time.Duration,
	last func(int32) (seen, bool)) (fence []fencing, unfence []metadata.Broker) {
	for _, b := range img.Brokers() {
		s, ok := last(b.ID)
		current := ok && s.hb.Incarnation == b.Incarnation
		stopping := current && s.hb.Epoch == b.Epoch && s.hb.WantShutdown
		if b.Fenced {
			if current && s.hb.Epoch == b.Epoch && s.hb.Applied >= uint64(b.Epoch) && now.Sub(s.at) < session && !stopping {
				unfence = append(unfence, b)
			}
			continue
		}
		if stopping {
			fence = append(fence, fencing{b: b, shutdown: true})
			continue
		}
		heard := since
		if current && (s.at.After(since) || b.ID == prev) {
			heard = s.at
		}
		if silent := now.Sub(heard); silent >= session {
			fence = append(fence, fencing{b: b, silent: silent})
		}
	}
	return fence, unfence
}

// changeReason says in words why a repair changes a partition.
func changeReason(img *metadata.Image, p metadata.Partition, c metadata.PartitionChange) string {
	switch {
	case c.Leader == -1:
		return "no in-sync replica is available to lead"
	case c.Leader != p.Leader && !p.InISR(c.Leader):
		return "unclean election: no in-sync replica is alive"
	case p.Leader == -1:
		return "an in-sync replica is available to lead"
	case c.Leader != p.Leader && !img.Unfenced(p.Leader):
		return "the leader is fenced"
	case c.Leader != p.Leader && p.InISR(p.Leader) && c.Leader == p.Replicas[0]:
		return "preferred leader election"
	case c.Leader != p.Leader:
		return "the leader left the ISR"
	case len(c.ISR) < len(p.ISR):
		return "fenced replicas leave the ISR"
	}
	return "repair"
}

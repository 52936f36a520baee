package broker

import (
	"context"
	"slices"
	"time"

	"github.com/stratalog/strata/internal/metadata"
)

// ControlledShutdown prepares this node to stop, as Kafka's controlled
// shutdown does: its heartbeats ask the controller to fence it, which moves
// each partition it leads to another in-sync replica and takes it out of
// every ISR in one metadata record; once its replicas follow that record it
// hands the metadata quorum's leadership to another voter if it holds it,
// and, if it led partitions, goes on answering while clients still ask it
// for them (drain). Clients then meet only
// NOT_LEADER_OR_FOLLOWER (retriable, naming the new leader) and acks=all
// produces wait for no replica that is about to vanish. It returns when
// done, or when a bound (two broker sessions and two election timeouts) or
// ctx ends, so a node cut off from the quorum still stops. It does nothing
// when controlled.shutdown.enable is off, before the node is ready, or when
// no other broker could take over.
func (b *Broker) ControlledShutdown(ctx context.Context) {
	select {
	case <-b.ready:
	default:
		return
	}
	s := b.cfg.Settings
	if !s.ControlledShutdownEnable() || !b.othersUnfenced(b.store.Current()) {
		return
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, 2*s.BrokerSessionTimeout()+2*s.ElectionTimeout())
	defer cancel()
	leading := b.parts.Stats().Leaders
	b.wantShutdown.Store(true)
	b.heartbeatNow()
	b.logger.Info("controlled shutdown: asking the controller to move this node's leaderships", "leading", leading)
	if !b.awaitImage(ctx, func(img *metadata.Image) bool { return !img.Unfenced(b.cfg.NodeID) }) {
		b.logger.Warn("controlled shutdown: the controller did not fence this node in time; stopping anyway", "waited", time.Since(start))
		return
	}
	if err := b.parts.WaitReconciled(ctx, b.store.Current().AppliedIndex); err != nil {
		b.logger.Warn("controlled shutdown: replicas not in their new roles in time; stopping anyway", "waited", time.Since(start))
		return
	}
	b.resignQuorumLeadership(ctx)
	b.logger.Info("controlled shutdown done", "took", time.Since(start).Round(time.Millisecond),
		"leading", b.parts.Stats().Leaders)
	if leading > 0 {
		b.drain(ctx) // no leadership moved: no client needs telling
	}
}

// Clients that send to this node after its leaderships moved learn the new
// leaders from the answer (KIP-951); once its listener is closed, they
// must wait for a metadata refresh instead, which franz-go spaces 5 s
// apart. So a stopping node goes on answering until no request has needed
// such an answer for drainQuiet (every active producer and consumer has
// moved), for at most drainMax.
const (
	drainQuiet = 500 * time.Millisecond
	drainMax   = 3 * time.Second
)

// drain waits until clients have stopped asking this node for partitions
// it no longer leads, as drainQuiet and drainMax bound it, or ctx ends.
func (b *Broker) drain(ctx context.Context) {
	start := time.Now()
	b.lastHint.Store(start.UnixNano())
	end := start.Add(drainMax)
	t := time.NewTimer(drainQuiet)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
		now := time.Now()
		quietAt := time.Unix(0, b.lastHint.Load()).Add(drainQuiet)
		if !now.Before(quietAt) || !now.Before(end) {
			b.logger.Info("controlled shutdown: clients have moved to the new leaders", "drained", now.Sub(start).Round(time.Millisecond))
			return
		}
		t.Reset(min(quietAt.Sub(now), end.Sub(now)))
	}
}

// othersUnfenced reports whether a broker other than this node is unfenced
// in img, one that could take this node's leaderships.
func (b *Broker) othersUnfenced(img *metadata.Image) bool {
	return slices.ContainsFunc(img.Brokers(), func(br metadata.Broker) bool { return br.ID != b.cfg.NodeID && !br.Fenced })
}

// resignQuorumLeadership hands the metadata quorum's leadership, if this
// node holds it, to the voter whose log is furthest along among those the
// leader heard from lately, and waits until another node leads or ctx ends.
// Stopping a leader without it costs the quorum an election timeout.
func (b *Broker) resignQuorumLeadership(ctx context.Context) {
	st := b.node.Status()
	if st.Leader != uint64(b.cfg.NodeID) {
		return
	}
	var to, match uint64
	for _, p := range st.Progress {
		if p.ID != st.ID && !p.Learner && p.RecentActive && (to == 0 || p.Match > match) {
			to, match = p.ID, p.Match
		}
	}
	if to == 0 {
		return
	}
	b.logger.Info("controlled shutdown: handing the metadata quorum's leadership over", "to", to)
	if !b.transferLeadership(ctx, st.ID, to) {
		b.logger.Warn("controlled shutdown: the metadata quorum's leadership did not move in time", "to", to)
	}
}

// transferLeadership asks the quorum's leader, from, to hand its
// leadership to voter to, and reports whether another node leads before
// ctx ends.
func (b *Broker) transferLeadership(ctx context.Context, from, to uint64) bool {
	if err := b.node.TransferLeadership(ctx, to); err != nil {
		return false
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if l, _ := b.node.Leader(); l != from && l != 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
}

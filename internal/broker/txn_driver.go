package broker

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

// txnIO is what the transaction coordinator's driver needs from the
// cluster: its __transaction_state partitions and the partition leaders
// that take transaction markers.
type txnIO interface {
	// appendTxn appends rec to __transaction_state partition p with acks=all.
	appendTxn(ctx context.Context, p int32, rec txn.Record) error
	// replayTxn reads partition p, which this node leads, from its start,
	// and returns what it holds and the leader epoch it was read at.
	replayTxn(ctx context.Context, p int32) (*txn.Replay, int32, error)
	// markerLeader returns the leader of tp (-1: none now); exists is
	// false when the partition is gone, so that its marker counts as done.
	markerLeader(tp txn.TopicPartition) (leader int32, exists bool)
	// writeMarkers sends req to broker leader and returns its answer.
	writeMarkers(ctx context.Context, leader int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error)
	// nextProducerID reserves a producer id (IDAllocator.Next).
	nextProducerID(ctx context.Context) (int64, error)
}

// Marker retries back off from markerBackoff, doubling up to
// maxMarkerBackoff (Kafka retries every retry.backoff.ms, 100 ms).
const (
	markerBackoff    = 100 * time.Millisecond
	maxMarkerBackoff = 5 * time.Second
)

// errNoSpareID is what the core gets if it asks for a producer id twice in
// one call; it answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
var errNoSpareID = errors.New("no producer id reserved for this call")

// txnTask is one piece of I/O an effect asks for, run by Run on its own
// goroutine after the delay.
type txnTask struct {
	after time.Duration
	run   func(ctx context.Context)
}

// txnDriver drives the pure transaction coordinator (internal/txn): it
// serialises calls into it, performs its effects (appends to
// __transaction_state, WriteTxnMarkers to partition leaders), delivers its
// replies to the waiting request handlers, runs its timers and loads and
// unloads __transaction_state partitions as this node gains and loses
// their leadership.
//
// Order of work, as etcd raft's node: call the core under mu, take its
// effects, release mu, then deliver replies and queue the I/O. mu is never
// held across an append, a replay or a network round trip.
type txnDriver struct {
	io     txnIO
	now    func() time.Time
	logger *slog.Logger

	mu      sync.Mutex
	core    *txn.Coordinator
	lead    map[int32]txnLead // the __transaction_state partitions led here
	gen     uint64
	waiters map[uint64]chan txn.Reply
	token   uint64
	// spare is a producer id reserved outside mu for the core to take
	// (-1: none); callID/callErr is the one offered to the current call.
	spare   int64
	callID  int64
	callErr error

	qmu   sync.Mutex
	queue []txnTask
	wake  chan struct{}
}

// txnLead is one __transaction_state partition this node leads: gen tells
// a replay that finished after the leadership changed from a current one.
type txnLead struct {
	gen    uint64
	epoch  int32
	loaded bool
}

// newTxnDriver returns a driver whose core gets its producer ids through
// io; cfg.NextProducerID is set here.
func newTxnDriver(cfg txn.CoordinatorConfig, io txnIO, now func() time.Time, logger *slog.Logger) *txnDriver {
	d := &txnDriver{
		io: io, now: now, logger: logger,
		lead: map[int32]txnLead{}, waiters: map[uint64]chan txn.Reply{},
		spare: -1, callID: -1, wake: make(chan struct{}, 1),
	}
	cfg.NextProducerID = d.takeID
	d.core = txn.NewCoordinator(cfg)
	return d
}

// PartitionFor returns the __transaction_state partition of a
// transactional id. It reads only the core's immutable configuration.
func (d *txnDriver) PartitionFor(id string) int32 { return d.core.PartitionFor(id) }

// step calls fn on the core under mu and then acts on the effects.
func (d *txnDriver) step(fn func(c *txn.Coordinator, nowMs int64)) {
	type delivery struct {
		ch chan txn.Reply
		r  txn.Reply
	}
	d.mu.Lock()
	fn(d.core, d.now().UnixMilli())
	eff := d.core.TakeEffects()
	var out []delivery
	for _, r := range eff.Replies {
		if ch, ok := d.waiters[r.Token]; ok {
			delete(d.waiters, r.Token)
			out = append(out, delivery{ch, r})
		}
	}
	d.mu.Unlock()
	for _, o := range out {
		o.ch <- o.r // buffered for its one reply
	}
	for _, w := range eff.Writes {
		d.enqueue(d.writeTask(w))
	}
	for _, m := range eff.Markers {
		d.enqueue(d.markersTask(m, m.Partitions, 0))
	}
}

// writeTask appends w and tells the core the outcome. A failed Complete
// write is asked for again after markerBackoff (see txn.Write.Complete);
// the core ignores the request once the partition is no longer led here at
// w's epoch or the transaction has moved on.
func (d *txnDriver) writeTask(w txn.Write) txnTask {
	return txnTask{run: func(ctx context.Context) {
		err := d.io.appendTxn(ctx, w.Partition, w.Record)
		d.step(func(c *txn.Coordinator, _ int64) { c.WriteDone(w, err) })
		if err == nil || !w.Complete || ctx.Err() != nil {
			return
		}
		d.logger.Debug("transaction completion not logged; retrying", "id", w.TransactionalID, "err", err)
		d.enqueue(txnTask{after: markerBackoff, run: func(context.Context) {
			d.step(func(c *txn.Coordinator, now int64) { c.MarkersWritten(w.TransactionalID, w.CoordinatorEpoch, now) })
		}})
	}}
}

// request calls fn with a token and waits for the reply to it, or for ctx.
// withID first reserves a producer id (outside mu) that the core may take:
// InitProducerId and EndTxn may need one.
func (d *txnDriver) request(ctx context.Context, withID bool, fn func(c *txn.Coordinator, token uint64, nowMs int64)) (txn.Reply, error) {
	token, ch := d.submit(ctx, withID, fn)
	select {
	case r := <-ch:
		return r, nil
	case <-ctx.Done():
		d.mu.Lock()
		delete(d.waiters, token)
		d.mu.Unlock()
		return txn.Reply{}, ctx.Err()
	}
}

// submit calls fn with a new token and returns the channel its one reply
// comes on.
func (d *txnDriver) submit(ctx context.Context, withID bool, fn func(c *txn.Coordinator, token uint64, nowMs int64)) (uint64, <-chan txn.Reply) {
	id, idErr := int64(-1), errNoSpareID
	if withID {
		id, idErr = d.reserveID(ctx)
	}
	ch := make(chan txn.Reply, 1)
	var token uint64
	d.step(func(c *txn.Coordinator, now int64) {
		d.token++
		token = d.token
		d.waiters[token] = ch
		d.callID, d.callErr = id, idErr
		fn(c, token, now)
		if d.callID >= 0 {
			d.spare = d.callID // not needed: keep it for the next call
		}
		d.callID, d.callErr = -1, nil
	})
	return token, ch
}

// reserveID returns the spare producer id, or reserves one.
func (d *txnDriver) reserveID(ctx context.Context) (int64, error) {
	d.mu.Lock()
	id := d.spare
	d.spare = -1
	d.mu.Unlock()
	if id >= 0 {
		return id, nil
	}
	return d.io.nextProducerID(ctx)
}

// takeID is the core's NextProducerID, called under mu: the id reserved
// for the current call.
func (d *txnDriver) takeID() (int64, error) {
	if d.callID < 0 {
		if d.callErr != nil {
			return -1, d.callErr
		}
		return -1, errNoSpareID
	}
	id := d.callID
	d.callID = -1
	return id, nil
}

// read calls fn on the core under mu, for the calls that answer at once
// (Describe, List, VerifyPartitions).
func (d *txnDriver) read(fn func(c *txn.Coordinator, nowMs int64)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fn(d.core, d.now().UnixMilli())
}

// leadership is called when this node gains or loses the leadership of a
// __transaction_state partition: on gain, the partition answers
// COORDINATOR_LOAD_IN_PROGRESS at once and a replay is queued; on loss it
// is unloaded.
func (d *txnDriver) leadership(p int32, leader bool) {
	var gen uint64
	d.step(func(c *txn.Coordinator, _ int64) {
		if !leader {
			delete(d.lead, p)
			c.Unload(p)
			return
		}
		d.gen++
		gen = d.gen
		d.lead[p] = txnLead{gen: gen}
		c.BeginLoad(p)
	})
	if leader {
		d.enqueue(txnTask{run: func(ctx context.Context) { d.load(ctx, p, gen) }})
	}
}

// load replays partition p and installs it, unless the leadership changed
// meanwhile.
func (d *txnDriver) load(ctx context.Context, p int32, gen uint64) {
	start := d.now()
	r, epoch, err := d.io.replayTxn(ctx, p)
	if err != nil {
		if ctx.Err() == nil {
			logLoadError(d.logger, txnStateTopic, p, err)
		}
		return
	}
	d.step(func(c *txn.Coordinator, _ int64) {
		if l, ok := d.lead[p]; !ok || l.gen != gen {
			return
		}
		d.lead[p] = txnLead{gen: gen, epoch: epoch, loaded: true}
		for _, id := range c.Load(p, epoch, r) {
			d.logger.Warn("transactional id replayed from the wrong __transaction_state partition", "id", id, "partition", p)
		}
	})
	d.logger.Debug("loaded __transaction_state partition", "partition", p, "ids", r.Len(), "took", d.now().Sub(start))
}

// markersCurrent reports whether m is still wanted: its partition is led
// here at m's coordinator epoch and its transaction is still prepared
// with m's producer id and epoch. A stale m stops being retried.
func (d *txnDriver) markersCurrent(m txn.Markers) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l, ok := d.lead[d.core.PartitionFor(m.TransactionalID)]; !ok || !l.loaded || l.epoch != m.CoordinatorEpoch {
		return false
	}
	desc, err := d.core.Describe(m.TransactionalID)
	want := txn.PrepareAbort
	if m.Commit {
		want = txn.PrepareCommit
	}
	return err == nil && desc.State == want && desc.ProducerID == m.ProducerID && desc.ProducerEpoch == m.ProducerEpoch
}

// markersTask is one attempt to write m's markers to the partitions in
// pending. What is left is retried after a backoff; once nothing is, the
// core hears MarkersWritten.
func (d *txnDriver) markersTask(m txn.Markers, pending []txn.TopicPartition, attempt int) txnTask {
	after := time.Duration(0)
	if attempt > 0 {
		after = min(markerBackoff<<min(attempt-1, 16), maxMarkerBackoff)
	}
	return txnTask{after: after, run: func(ctx context.Context) {
		if !d.markersCurrent(m) {
			return
		}
		left, stop := d.sendMarkers(ctx, m, pending)
		switch {
		case stop:
		case len(left) == 0:
			d.step(func(c *txn.Coordinator, now int64) { c.MarkersWritten(m.TransactionalID, m.CoordinatorEpoch, now) })
		case ctx.Err() == nil:
			d.enqueue(d.markersTask(m, left, attempt+1))
		}
	}}
}

// sendMarkers sends m's marker for the pending partitions to their leaders
// and returns those to retry. stop means another coordinator or producer
// epoch took over: the markers are not this coordinator's to write.
// Partition errors are handled as Kafka's TransactionMarkerRequestCompletionHandler:
//   - none, UNSUPPORTED_FOR_MESSAGE_FORMAT, UNSUPPORTED_VERSION: done (the
//     producer could not have written there);
//   - INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED: stop;
//   - anything else, no answer, no leader: retry (Kafka gives up only on
//     errors that cannot happen, which here are logged and retried).
//
// A partition whose topic is gone counts as done, as in Kafka.
func (d *txnDriver) sendMarkers(ctx context.Context, m txn.Markers, pending []txn.TopicPartition) (left []txn.TopicPartition, stop bool) {
	byLeader := map[int32][]txn.TopicPartition{}
	for _, tp := range pending {
		switch leader, exists := d.io.markerLeader(tp); {
		case !exists:
		case leader < 0:
			left = append(left, tp)
		default:
			byLeader[leader] = append(byLeader[leader], tp)
		}
	}
	leaders := make([]int32, 0, len(byLeader))
	for l := range byLeader {
		leaders = append(leaders, l)
	}
	slices.Sort(leaders)
	for _, leader := range leaders {
		tps := byLeader[leader]
		resp, err := d.io.writeMarkers(ctx, leader, markersRequest(m, tps))
		if err != nil {
			d.logger.Debug("write transaction markers", "leader", leader, "id", m.TransactionalID, "err", err)
			left = append(left, tps...)
			continue
		}
		got := map[txn.TopicPartition]int16{}
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					got[txn.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = rp.ErrorCode
				}
			}
		}
		for _, tp := range tps {
			code, ok := got[tp]
			switch err := kerr.ErrorForCode(code); {
			case !ok:
				left = append(left, tp)
			case err == nil, err == kerr.UnsupportedForMessageFormat, err == kerr.UnsupportedVersion:
			case err == kerr.InvalidProducerEpoch, err == kerr.TransactionCoordinatorFenced:
				d.logger.Info("transaction markers refused: fenced", "id", m.TransactionalID, "partition", tp, "err", err)
				return nil, true
			default:
				d.logger.Debug("transaction marker not written", "id", m.TransactionalID, "partition", tp, "err", err)
				left = append(left, tp)
			}
		}
	}
	return left, false
}

// markersRequest is a WriteTxnMarkers request for m's marker on tps.
func markersRequest(m txn.Markers, tps []txn.TopicPartition) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1 // flexible; served by Kafka 2.8 and later
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	byTopic(tps, func(topic string, partitions []int32) {
		mk.Topics = append(mk.Topics, kmsg.WriteTxnMarkersRequestMarkerTopic{Topic: topic, Partitions: partitions})
	})
	req.Markers = []kmsg.WriteTxnMarkersRequestMarker{mk}
	return req
}

// byTopic calls fn for each run of partitions of one topic in tps (sorted
// by topic, as the core keeps them).
func byTopic(tps []txn.TopicPartition, fn func(topic string, partitions []int32)) {
	for i := 0; i < len(tps); {
		j := i
		var ps []int32
		for ; j < len(tps) && tps[j].Topic == tps[i].Topic; j++ {
			ps = append(ps, tps[j].Partition)
		}
		fn(tps[i].Topic, ps)
		i = j
	}
}

func (d *txnDriver) enqueue(t txnTask) {
	d.qmu.Lock()
	d.queue = append(d.queue, t)
	d.qmu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// take returns and clears the queued tasks.
func (d *txnDriver) take() []txnTask {
	d.qmu.Lock()
	defer d.qmu.Unlock()
	q := d.queue
	d.queue = nil
	return q
}

// Run performs the queued I/O, each task on its own goroutine, and aborts
// timed-out transactions and expires idle ids every abortEvery and
// expireEvery, until ctx ends; it returns when its goroutines have.
func (d *txnDriver) Run(ctx context.Context, abortEvery, expireEvery time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	abort := time.NewTicker(abortEvery)
	defer abort.Stop()
	expire := time.NewTicker(expireEvery)
	defer expire.Stop()
	for {
		for _, t := range d.take() {
			wg.Go(func() {
				if t.after > 0 {
					timer := time.NewTimer(t.after)
					defer timer.Stop()
					select {
					case <-ctx.Done():
						return
					case <-timer.C:
					}
				}
				t.run(ctx)
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-abort.C:
			d.step(func(c *txn.Coordinator, now int64) { c.AbortTimedOut(now) })
		case <-expire.C:
			d.step(func(c *txn.Coordinator, now int64) { c.ExpireIDs(now) })
		}
	}
}

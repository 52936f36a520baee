// Package partition is one partition replica and the replicas of a node: the
// log, the high watermark, the idempotent-producer state and the leader
// epoch cache (kept in state snapshots beside the log); the leader's
// replication state (leader.go: follower positions, ISR changes) and the
// waiting of acks=all produces and long-poll fetches; the follower's
// fetchers (fetcher.go); and the Manager that opens, closes and converts a
// node's replicas as the metadata image changes (manager.go).
//
// Lock order: Partition.mu, then Partition.waitMu.
package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

// role is what a replica does for its partition.
type role int8

const (
	roleNone     role = iota // neither leads nor follows: no leader, or this broker is fenced
	roleLeader               // takes produces and serves fetches
	roleFollower             // copies the leader's log
)

// LeaderAndISR is a partition's state in the metadata, as a replica needs
// it.
type LeaderAndISR struct {
	Leader         int32 // -1: none
	LeaderEpoch    int32
	PartitionEpoch int32
	Replicas       []int32
	ISR            []int32
}

// Partition is one partition replica. Appends, truncations and role changes
// are serialized by its lock; reads run concurrently with them, and no fsync
// or wait for followers happens under the lock.
type Partition struct {
	Topic string
	Index int32

	self   int32 // this node's broker id
	dir    string
	logger *slog.Logger
	log    *commitlog.Log
	epochs *epochCache
	saveMu sync.Mutex // serializes writes of the state snapshots

	mu        sync.Mutex // serializes appends, truncations, role changes and producer state
	producers *txn.ProducerState
	role      role
	epoch     int32        // the leader epoch of the current role
	leaderID  int32        // the leader a follower follows; -1 for none
	leader    *leaderState // role leader only
	// sinceState is the size of the batches after the newest state
	// snapshot: what Open would read again.
	sinceState int64
	// onFollowerCaughtUp is called, without the lock, when a follower
	// outside the ISR reaches the high watermark, so the ISR can grow at
	// once rather than at the next periodic check.
	onFollowerCaughtUp func()

	// leaderThrottled and followerThrottled say whether this replica's
	// replication is throttled on the leader's and the follower's side
	// (the topic's *.replication.throttled.replicas name it); inISR is
	// whether the metadata has this replica in the ISR.
	leaderThrottled, followerThrottled, inISR atomic.Bool

	hw  atomic.Int64
	lso atomic.Int64 // last stable offset: at most hw; set with it under mu (storeHW)
	// epochStart is the log end offset at which this replica took its
	// leader epoch; 0 while it does not lead.
	epochStart atomic.Int64
	leading    atomic.Bool  // role == roleLeader, for reads that take no lock
	leaderHW   atomic.Int64 // a follower's view of its leader's high watermark, from its last fetch
	waitMu     sync.Mutex
	changed    chan struct{} // closed and replaced when the high watermark moves or the role changes
	appended   chan struct{} // closed and replaced when the log end moves or the role changes
	// changedTaken and appendedTaken say whether anyone holds the channel:
	// one nobody waits on need not be replaced, which saves an allocation
	// per append.
	changedTaken, appendedTaken bool
}

// Options configure Open.
type Options struct {
	Logger *slog.Logger
	Clean  bool  // the previous shutdown was clean
	Self   int32 // this node's broker id
	// OnFollowerCaughtUp: see Partition.onFollowerCaughtUp.
	OnFollowerCaughtUp func()
}

// Open opens (or creates) the partition's log in dir and rebuilds its
// producer state and leader epochs: from the newest usable state snapshot
// and the batch headers after it, or from every batch header in the log.
// The replica neither leads nor follows until BecomeLeader or
// BecomeFollower.
func Open(dir, topic string, index int32, cfg commitlog.Config, opts Options) (*Partition, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := commitlog.Open(dir, cfg, commitlog.Options{Logger: opts.Logger, Clean: opts.Clean})
	if err != nil {
		return nil, err
	}
	p := &Partition{
		Topic:              topic,
		Index:              index,
		self:               opts.Self,
		dir:                dir,
		logger:             opts.Logger,
		log:                l,
		leaderID:           -1,
		onFollowerCaughtUp: opts.OnFollowerCaughtUp,
		changed:            make(chan struct{}),
		appended:           make(chan struct{}),
	}
	if err := p.restore(); err != nil {
		l.Close()
		return nil, err
	}
	// Only what a leader computes from its followers is known committed;
	// until then the high watermark is the log start.
	p.storeHW(l.StartOffset())
	return p, nil
}

// storeHW sets the high watermark and the last stable offset that follows
// from it. Caller holds p.mu (or owns p, in Open).
func (p *Partition) storeHW(hw int64) {
	p.hw.Store(hw)
	p.lso.Store(p.producers.FirstUnstableOffset(hw))
}

// observeLocked records in the producer state a batch now in the log at
// h.BaseOffset (timestamp ts, see txn.ProducerState.Update). An abort
// marker adds its transaction to the log's aborted-transaction index (again,
// when restore reads it a second time: that does nothing). A control batch
// that is not a transaction marker only moves its producer's epoch. Caller
// holds p.mu.
func (p *Partition) observeLocked(batch []byte, h recordbatch.Header, ts int64) error {
	if !h.Control() || h.ProducerID < 0 {
		p.producers.Update(h, ts)
		return nil
	}
	m, err := recordbatch.ReadEndTxnMarker(batch)
	if err != nil { // another kind of control record: only its epoch counts
		p.producers.Update(h, ts)
		return nil
	}
	c := p.producers.EndTxn(h, m, ts)
	if !c.Aborted {
		return nil
	}
	return p.log.AddAbortedTxn(commitlog.AbortedTxn{ProducerID: c.ProducerID, FirstOffset: c.FirstOffset,
		LastOffset: c.LastOffset, LastStableOffset: c.LastStableOffset})
}

// restore sets the producer state and the leader epoch cache from the
// newest state snapshot at or below the log end offset (or from nothing)
// and the batch headers after it.
func (p *Partition) restore() error {
	end := p.log.EndOffset()
	st, found, err := loadState(p.dir, end, p.logger)
	if err != nil {
		return fmt.Errorf("load state snapshot: %w", err)
	}
	p.epochs, p.producers, p.sinceState = &epochCache{}, txn.NewProducerState(), 0
	from := p.log.StartOffset()
	if found {
		p.epochs.entries, p.producers = st.epochs, st.producers
		from = max(from, st.offset)
	}
	p.epochs.truncateFrom(end)
	if err := p.log.Scan(from, func(b []byte, h recordbatch.Header) (bool, error) {
		if err := p.observeLocked(b, h, h.MaxTimestamp); err != nil {
			return false, err
		}
		p.epochs.assign(h.PartitionLeaderEpoch, h.BaseOffset)
		p.sinceState += h.Size()
		return true, nil
	}); err != nil {
		return fmt.Errorf("rebuild producer state: %w", err)
	}
	p.storeHW(p.hw.Load())
	return nil
}

// BecomeLeader makes this replica the leader as st describes, or takes a
// new ISR or partition epoch within the epoch it already leads. A leader
// whose ISR is itself alone has everything committed at once.
func (p *Partition) BecomeLeader(st LeaderAndISR, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role == roleLeader && p.epoch == st.LeaderEpoch {
		p.leader.update(st, now)
		p.advanceLocked()
		return
	}
	p.role, p.epoch, p.leaderID = roleLeader, st.LeaderEpoch, p.self
	p.leading.Store(true)
	p.leader = newLeaderState(p.self, st, p.log.EndOffset(), now)
	p.epochStart.Store(p.leader.epochStart)
	p.advanceLocked()
	p.signal(true, true)
}

// BecomeFollower makes this replica follow st.Leader (none when -1: it then
// waits, neither leading nor fetching). Waiting produces of an earlier
// leadership fail.
func (p *Partition) BecomeFollower(st LeaderAndISR) {
	p.inISR.Store(slices.Contains(st.ISR, p.self))
	p.mu.Lock()
	defer p.mu.Unlock()
	r := roleFollower
	if st.Leader == -1 || st.Leader == p.self {
		r = roleNone
	}
	if p.role == r && p.epoch == st.LeaderEpoch && p.leaderID == st.Leader {
		return
	}
	p.role, p.epoch, p.leaderID, p.leader = r, st.LeaderEpoch, st.Leader, nil
	p.leading.Store(false)
	p.epochStart.Store(0)
	p.storeHW(min(p.hw.Load(), p.log.EndOffset()))
	p.signal(true, true)
}

// IsLeader reports whether this replica leads its partition.
func (p *Partition) IsLeader() bool { return p.leading.Load() }

// errNotLeader is NOT_LEADER_OR_FOLLOWER for a replica that does not lead.
var errNotLeader = fmt.Errorf("%w: this replica does not lead the partition", kerr.NotLeaderForPartition)

// AppendResult is the outcome of one append.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset int64
	LeaderEpoch    int32 // the epoch it was appended in, for WaitCommitted
	Duplicate      bool  // the batch was a retry of one already appended
	// Unsynced says the flush policy wants the records fsynced before
	// they count: the caller calls Sync(LastOffset+1), outside its own
	// locks and alongside other partitions' syncs, before it answers.
	Unsynced bool
}

// Append appends one validated batch as the leader (the caller gives up the
// slice). With logAppendTime >= 0 the batch's timestamps are set to it. An
// idempotent producer's duplicate is not appended again: its original
// offsets are returned. A replica that does not lead answers
// NOT_LEADER_OR_FOLLOWER. Errors from the producer state wrap kerr values.
// Append never waits for an fsync: see AppendResult.Unsynced. The records
// are committed once WaitCommitted says so.
func (p *Partition) Append(batch []byte, h recordbatch.Header, logAppendTime int64) (AppendResult, error) {
	return p.append(batch, h, logAppendTime, txn.Unverified, false)
}

// AppendVerified is Append for a batch whose transaction was verified with
// guard g (StartVerification): a transactional batch that neither
// continues an ongoing transaction nor holds the producer's current guard
// is INVALID_TXN_STATE (txn.ProducerState.CheckVerified).
func (p *Partition) AppendVerified(batch []byte, h recordbatch.Header, logAppendTime int64, g txn.Guard) (AppendResult, error) {
	return p.append(batch, h, logAppendTime, g, false)
}

// AppendCoordinator appends a batch a coordinator built (a transactional
// offset commit): like AppendVerified, but the producer's sequence is not
// checked, only its epoch (txn.ProducerState.CheckCoordinator), as Kafka
// appends with origin COORDINATOR.
func (p *Partition) AppendCoordinator(batch []byte, h recordbatch.Header, g txn.Guard) (AppendResult, error) {
	return p.append(batch, h, -1, g, true)
}

func (p *Partition) append(batch []byte, h recordbatch.Header, logAppendTime int64, g txn.Guard, coordinator bool) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	p.mu.Lock()
	if p.role != roleLeader {
		p.mu.Unlock()
		return res, errNotLeader
	}
	res.LeaderEpoch = p.epoch
	if coordinator {
		err := p.producers.CheckCoordinator(h)
		if err == nil {
			err = p.producers.CheckVerified(h, g)
		}
		if err != nil {
			p.mu.Unlock()
			return res, err
		}
	} else if dup, err := p.producers.Check(h); err != nil {
		p.mu.Unlock()
		return res, err
	} else if dup == nil {
		if err := p.producers.CheckVerified(h, g); err != nil {
			p.mu.Unlock()
			return res, err
		}
	} else {
		res.BaseOffset, res.LastOffset, res.Duplicate = dup.BaseOffset, dup.BaseOffset+int64(h.LastOffsetDelta), true
		if logAppendTime >= 0 {
			res.LogAppendTime = dup.Timestamp
		}
		res.LogStartOffset = p.log.StartOffset()
		p.mu.Unlock()
		return res, nil
	}
	if logAppendTime >= 0 {
		recordbatch.SetLogAppendTime(batch, logAppendTime)
		res.LogAppendTime = logAppendTime
	}
	recordbatch.PutPartitionLeaderEpoch(batch, p.epoch)
	ar, needSync, err := p.log.AppendUnsynced(batch)
	if err != nil {
		p.mu.Unlock()
		return res, err
	}
	h.BaseOffset = ar.BaseOffset
	ts := h.MaxTimestamp
	if logAppendTime >= 0 {
		ts = logAppendTime
	}
	p.producers.Update(h, ts)
	p.afterAppendLocked(ar, needSync, len(batch))
	res.BaseOffset, res.LastOffset, res.Unsynced = ar.BaseOffset, ar.LastOffset, needSync
	res.LogStartOffset = p.log.StartOffset()
	p.mu.Unlock()
	p.signal(false, true)
	return res, nil
}

// afterAppendLocked does what follows every leader append of n bytes at
// ar once the producer state has it: the epoch cache, the snapshot
// accounting and the high watermark. Caller holds p.mu.
func (p *Partition) afterAppendLocked(ar commitlog.AppendResult, needSync bool, n int) {
	p.epochs.assign(p.epoch, ar.BaseOffset)
	p.sinceState += int64(n)
	if !needSync {
		p.advanceLocked()
	}
}

// WriteTxnMarker appends, as the leader, the marker that ends producer
// producerID's transaction (commit or abort) as coordinator epoch
// coordinatorEpoch asks (WriteTxnMarkers). The marker carries the
// producer's epoch. Errors: NOT_LEADER_OR_FOLLOWER, and those of
// txn.ProducerState.CheckMarker. Like Append it never waits for an fsync
// (AppendResult.Unsynced) nor for the followers (WaitCommitted).
func (p *Partition) WriteTxnMarker(producerID int64, epoch int16, coordinatorEpoch int32, commit bool, nowMs int64) (AppendResult, error) {
	res := AppendResult{LogAppendTime: -1}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return res, errNotLeader
	}
	res.LeaderEpoch = p.epoch
	if err := p.producers.CheckMarker(producerID, epoch, coordinatorEpoch); err != nil {
		return res, err
	}
	batch := recordbatch.BuildEndTxnMarker(producerID, epoch, recordbatch.EndTxnMarker{Commit: commit, CoordinatorEpoch: coordinatorEpoch}, nowMs)
	recordbatch.PutPartitionLeaderEpoch(batch, p.epoch)
	ar, needSync, err := p.log.AppendUnsynced(batch)
	if err != nil {
		return res, err
	}
	h, err := recordbatch.ReadHeader(batch)
	if err == nil {
		err = p.observeLocked(batch, h, nowMs)
	}
	// Before the high watermark moves, so that the last stable offset it
	// sets knows the transaction ended.
	p.afterAppendLocked(ar, needSync, len(batch))
	if err != nil {
		// The marker is in the log but its abort is not indexed: a
		// restart's rebuild indexes it. Meanwhile answer the failure.
		return res, err
	}
	res.BaseOffset, res.LastOffset, res.Unsynced = ar.BaseOffset, ar.LastOffset, needSync
	res.LogStartOffset = p.log.StartOffset()
	p.signal(false, true)
	return res, nil
}

// Sync makes every record below end durable (an fsync shared with
// concurrent callers) and then counts them toward the high watermark, as a
// leader does with flush.messages=1 before it acknowledges.
func (p *Partition) Sync(end int64) error {
	if err := p.log.SyncTo(end); err != nil {
		return err
	}
	p.mu.Lock()
	p.advanceLocked()
	p.mu.Unlock()
	return nil
}

// position is the leader's own log end as far as the high watermark is
// concerned: with a flush after every message (flush.messages=1) only what
// is on disk counts, so that an acknowledged record survives losing power
// to every replica at once.
func (p *Partition) position() int64 {
	if p.log.Config().FlushMessages <= 1 {
		return p.log.Flushed()
	}
	return p.log.EndOffset()
}

// advanceLocked raises the high watermark to what the leader state allows
// and wakes waiters if it moved. Caller holds p.mu.
func (p *Partition) advanceLocked() {
	if p.role != roleLeader {
		return
	}
	hw := p.leader.highWatermark(p.position())
	if hw > p.hw.Load() {
		p.storeHW(hw)
		p.signal(true, false)
	}
}

// signal wakes the waiters on the high watermark or role (hw) and on the
// log end (end).
func (p *Partition) signal(hw, end bool) {
	p.waitMu.Lock()
	if hw && p.changedTaken {
		close(p.changed)
		p.changed, p.changedTaken = make(chan struct{}), false
	}
	if end && p.appendedTaken {
		close(p.appended)
		p.appended, p.appendedTaken = make(chan struct{}), false
	}
	p.waitMu.Unlock()
}

// Changed returns a channel closed the next time the high watermark moves or
// the replica's role changes.
func (p *Partition) Changed() <-chan struct{} {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	p.changedTaken = true
	return p.changed
}

// Appended returns a channel closed the next time the log end moves or the
// replica's role changes.
func (p *Partition) Appended() <-chan struct{} {
	p.waitMu.Lock()
	defer p.waitMu.Unlock()
	p.appendedTaken = true
	return p.appended
}

// WaitCommitted waits until the records below end, appended in leader epoch
// epoch, are committed (the high watermark reached end), as an acks=all
// produce does. It returns nil; NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR
// is then smaller than minISR; NOT_LEADER_OR_FOLLOWER if this replica stopped
// leading in that epoch first (the records may be lost); or ctx's error.
func (p *Partition) WaitCommitted(ctx context.Context, end int64, epoch int32, minISR int) error {
	for {
		ch := p.Changed()
		p.mu.Lock()
		lost := p.role != roleLeader || p.epoch != epoch
		isr := 0
		if !lost {
			isr = len(p.leader.isr)
		}
		p.mu.Unlock()
		switch {
		case lost:
			return fmt.Errorf("%w: leadership moved before the records were replicated", kerr.NotLeaderForPartition)
		case p.hw.Load() >= end:
			if isr < minISR {
				return fmt.Errorf("%w: the ISR has %d replicas, min.insync.replicas is %d", kerr.NotEnoughReplicasAfterAppend, isr, minISR)
			}
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CheckMinISR returns NOT_ENOUGH_REPLICAS if this leader's ISR is smaller
// than minISR, as Kafka refuses an acks=all produce before appending.
func (p *Partition) CheckMinISR(minISR int) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return errNotLeader
	}
	if n := len(p.leader.isr); n < minISR {
		return fmt.Errorf("%w: the ISR has %d replicas, min.insync.replicas is %d", kerr.NotEnoughReplicas, n, minISR)
	}
	return nil
}

// ReadResult is what a fetch reads from the partition.
type ReadResult struct {
	Records          commitlog.Slice // whole batches, not yet read; the caller releases it
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64
	// Aborted are, for a read_committed read, the aborted transactions
	// with records among those read (and possibly after them, up to the
	// last stable offset), oldest marker first.
	Aborted []commitlog.AbortedTxn
}

// Read locates whole batches from offset up to maxBytes (at least one
// whole batch) below the high watermark, or with committed (isolation
// level read_committed) below the last stable offset, as a consumer reads
// from the leader; the caller must Release res.Records. A replica that
// does not lead answers NOT_LEADER_OR_FOLLOWER. An offset outside [log
// start, log end] is commitlog.ErrOffsetOutOfRange; one between the bound
// and the log end reads nothing.
func (p *Partition) Read(offset int64, maxBytes int32, committed bool) (ReadResult, error) {
	if !p.leading.Load() {
		return ReadResult{HighWatermark: -1, LastStableOffset: -1, LogStartOffset: -1}, errNotLeader
	}
	res := p.bounds()
	if offset > p.log.EndOffset() {
		return res, commitlog.ErrOffsetOutOfRange
	}
	return p.readBelow(res, offset, maxBytes, committed)
}

// bounds returns a ReadResult with the high watermark, last stable offset
// and log start offset, read in an order that keeps the last stable
// offset at most the high watermark.
func (p *Partition) bounds() ReadResult {
	lso := p.lso.Load()
	return ReadResult{HighWatermark: max(p.hw.Load(), lso), LastStableOffset: lso, LogStartOffset: p.log.StartOffset()}
}

// readBelow reads from offset up to the high watermark of res, or its last
// stable offset with committed, which then also collects the aborted
// transactions of that range.
func (p *Partition) readBelow(res ReadResult, offset int64, maxBytes int32, committed bool) (ReadResult, error) {
	end := res.HighWatermark
	if committed {
		end = res.LastStableOffset
	}
	if offset >= end && offset >= res.LogStartOffset {
		return res, nil
	}
	var err error
	if res.Records, err = p.log.ReadSlice(offset, maxBytes, end); err != nil || !committed {
		return res, err
	}
	res.Aborted = p.log.AbortedTxns(res.Records.FirstOffset(), end)
	return res, nil
}

// ReadAsFollower is Read for a consumer reading from this replica while it
// follows (KIP-392): up to the high watermark it learned from its leader.
// An offset at or above that, or beyond its log, reads nothing yet (it may
// be behind the leader); one below its log start is
// commitlog.ErrOffsetOutOfRange. A replica that neither leads nor follows
// answers NOT_LEADER_OR_FOLLOWER.
func (p *Partition) ReadAsFollower(offset int64, maxBytes int32, committed bool) (ReadResult, error) {
	p.mu.Lock()
	following := p.role == roleFollower
	p.mu.Unlock()
	if !following {
		return p.Read(offset, maxBytes, committed)
	}
	res := p.bounds()
	if offset < res.LogStartOffset {
		return res, commitlog.ErrOffsetOutOfRange
	}
	return p.readBelow(res, offset, maxBytes, committed)
}

// ReadLog locates whole batches from offset up to maxBytes below end,
// whatever the replica's role or high watermark: for the broker's own
// reads of a log it leads, such as loading the groups of an offsets
// partition. The caller must Release res.Records.
func (p *Partition) ReadLog(offset int64, maxBytes int32, end int64) (ReadResult, error) {
	res := ReadResult{HighWatermark: p.hw.Load(), LogStartOffset: p.log.StartOffset()}
	var err error
	res.Records, err = p.log.ReadSlice(offset, maxBytes, end)
	return res, err
}

// ReplicaRead is what the leader answers a follower's fetch.
type ReplicaRead struct {
	ReadResult
	// Diverging is set when the follower's log has records the leader's
	// does not: it must truncate to DivergingEndOffset (the end of epoch
	// DivergingEpoch here) before fetching again; Records is empty then.
	Diverging          bool
	DivergingEpoch     int32
	DivergingEndOffset int64
}

// ReadReplica serves follower id's fetch from offset as the leader: it
// checks the follower's log against the leader's epochs (lastFetchedEpoch
// is the epoch of the follower's last batch, -1 for none), records the
// follower's position, advances the high watermark, and reads from offset
// up to the log end. currentEpoch is checked as for any fetch (-1 skips).
// A follower out of the ISR of a replica throttled on the leader's side
// reads through quota: nothing while it is exceeded.
func (p *Partition) ReadReplica(id int32, offset int64, lastFetchedEpoch, currentEpoch int32, maxBytes int32, quota *Quota, now time.Time) (ReplicaRead, error) {
	var res ReplicaRead
	p.mu.Lock()
	if p.role != roleLeader {
		p.mu.Unlock()
		return res, errNotLeader
	}
	if err := CheckLeaderEpoch(currentEpoch, p.epoch); err != nil {
		p.mu.Unlock()
		return res, err
	}
	if !slices.Contains(p.leader.replicas, id) {
		p.mu.Unlock()
		return res, fmt.Errorf("%w: broker %d holds no replica of %s-%d", kerr.NotLeaderForPartition, id, p.Topic, p.Index)
	}
	leo, start := p.log.EndOffset(), p.log.StartOffset()
	if lastFetchedEpoch >= 0 {
		epoch, end := p.epochs.endOffsetFor(lastFetchedEpoch, leo)
		if epoch != lastFetchedEpoch || end < offset {
			p.mu.Unlock()
			res.HighWatermark, res.LogStartOffset = p.hw.Load(), start
			res.Diverging, res.DivergingEpoch, res.DivergingEndOffset = true, epoch, end
			return res, nil
		}
	}
	if offset < start || offset > leo {
		p.mu.Unlock()
		res.HighWatermark, res.LogStartOffset = p.hw.Load(), start
		return res, commitlog.ErrOffsetOutOfRange
	}
	p.leader.fetched(id, offset, leo, now)
	p.advanceLocked()
	hw := p.hw.Load()
	outside := !slices.Contains(p.leader.isr, id)
	joins := outside && p.leader.inSync(id, hw)
	p.mu.Unlock()
	if joins && p.onFollowerCaughtUp != nil {
		p.onFollowerCaughtUp()
	}
	res.HighWatermark, res.LogStartOffset = hw, start
	throttled := outside && quota != nil && p.leaderThrottled.Load()
	if offset == leo || throttled && quota.Exceeded(now) {
		return res, nil
	}
	var err error
	res.Records, err = p.log.ReadSlice(offset, maxBytes, leo)
	if throttled {
		quota.Record(res.Records.Len(), now)
	}
	return res, err
}

// SetThrottled says whether this replica's replication is throttled on the
// leader's side and on the follower's side.
func (p *Partition) SetThrottled(leader, follower bool) {
	p.leaderThrottled.Store(leader)
	p.followerThrottled.Store(follower)
}

// throttledFollower reports whether this replica, following, fetches
// through the follower quota: it is throttled and out of the ISR.
func (p *Partition) throttledFollower() bool { return p.followerThrottled.Load() && !p.inISR.Load() }

// isrProposal returns the ISR change this leader wants now and why (see
// leaderState.isrChange), as a change of the partition without its topic
// id, and records it as pending.
func (p *Partition) isrProposal(now time.Time, lag time.Duration, eligible func(int32) bool) (metadata.PartitionChange, string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return metadata.PartitionChange{}, "", false
	}
	isr, reason, ok := p.leader.isrChange(p.hw.Load(), now, lag, eligible)
	if !ok {
		return metadata.PartitionChange{}, "", false
	}
	return metadata.PartitionChange{Partition: p.Index, Epoch: p.leader.partEpoch, Leader: p.self, LeaderEpoch: p.epoch, ISR: isr}, reason, true
}

// isrProposalFailed forgets a pending ISR change the metadata refused, so
// that the next round decides again from the current state.
func (p *Partition) isrProposalFailed() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role == roleLeader {
		p.leader.pending = nil
	}
}

// CheckLeaderEpoch fences requests made against another leader epoch
// (KIP-320): a newer one than current is UNKNOWN_LEADER_EPOCH, an older one
// FENCED_LEADER_EPOCH; -1 skips the check.
func CheckLeaderEpoch(requested, current int32) error {
	switch {
	case requested == -1 || requested == current:
		return nil
	case requested > current:
		return kerr.UnknownLeaderEpoch
	default:
		return kerr.FencedLeaderEpoch
	}
}

// fetchPosition is where a follower of leader epoch epoch fetches from: its
// log end offset and the leader epoch of its last batch (-1 for none). ok is
// false when the replica no longer follows in that epoch.
func (p *Partition) fetchPosition(epoch int32) (offset int64, lastEpoch int32, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleFollower || p.epoch != epoch {
		return 0, 0, false
	}
	return p.log.EndOffset(), p.epochs.last(), true
}

// errStaleFetch reports a fetch response for an epoch the replica no
// longer follows in; it is dropped.
var errStaleFetch = errors.New("fetch response for an earlier leader epoch")

// appendFromLeader appends batches a follower fetched in leader epoch
// epoch, keeping their offsets. A batch that fails its checks stops the
// append with an error; the batches before it stay. It returns the offset
// below which the flush policy wants the log fsynced (Sync) before the
// follower fetches again, or -1; then the caller has it take the leader's
// high watermark and log start offset (followLeader).
func (p *Partition) appendFromLeader(records []byte, epoch int32) (syncTo int64, err error) {
	p.mu.Lock()
	if p.role != roleFollower || p.epoch != epoch {
		p.mu.Unlock()
		return -1, errStaleFetch
	}
	var last int64 = -1
	needSync := false
	for len(records) > 0 {
		var h recordbatch.Header
		if h, err = recordbatch.ReadHeader(records); err != nil {
			break
		}
		if h.Size() > int64(len(records)) {
			break // a partial batch at the end of the fetch response
		}
		batch := records[:h.Size()]
		records = records[h.Size():]
		if h.NextOffset() <= p.log.EndOffset() {
			continue
		}
		if _, err = recordbatch.Check(batch); err != nil {
			err = fmt.Errorf("batch at %d from the leader: %w", h.BaseOffset, err)
			break
		}
		var ar commitlog.AppendResult
		var sync bool
		if ar, sync, err = p.log.AppendReplica(batch); err != nil {
			break
		}
		needSync = needSync || sync
		p.epochs.assign(h.PartitionLeaderEpoch, ar.BaseOffset)
		p.sinceState += h.Size()
		last = ar.LastOffset
		if err = p.observeLocked(batch, h, h.MaxTimestamp); err != nil {
			break
		}
	}
	p.mu.Unlock()
	if last >= 0 {
		p.signal(false, true)
	}
	if needSync {
		return last + 1, err
	}
	return -1, err
}

// followLeader takes the leader's high watermark, bounded by this log's end
// (its flushed end with flush.messages=1), and advances the log start
// offset to the leader's.
func (p *Partition) followLeader(epoch int32, leaderHW, leaderStart int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleFollower || p.epoch != epoch {
		return
	}
	p.leaderHW.Store(leaderHW)
	if hw := min(leaderHW, p.position()); hw != p.hw.Load() {
		p.storeHW(hw)
		p.signal(true, false)
	}
	if start := min(leaderStart, p.log.EndOffset()); start > p.log.StartOffset() {
		if err := p.log.SetStartOffset(start); err != nil {
			p.logger.Error("advance the log start offset to the leader's", "offset", start, "err", err)
		}
	}
}

// truncateTo drops a follower's records at and above offset (a tail the
// leader does not have) and rebuilds the producer state and epochs.
func (p *Partition) truncateTo(offset int64, epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleFollower || p.epoch != epoch {
		return errStaleFetch
	}
	before := p.log.EndOffset()
	if err := p.log.Truncate(offset); err != nil {
		return err
	}
	p.logger.Info("truncated a divergent tail to the leader's log", "from", before, "to", p.log.EndOffset(), "leader_epoch", epoch)
	p.hw.Store(min(p.hw.Load(), p.log.EndOffset()))
	err := p.restore() // sets the last stable offset
	p.signal(true, true)
	return err
}

// resetTo empties a follower's log to start at offset, the leader's log
// start, when the two logs have nothing in common.
func (p *Partition) resetTo(offset int64, epoch int32) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleFollower || p.epoch != epoch {
		return errStaleFetch
	}
	p.logger.Info("emptying the log to start at the leader's log start offset", "from", p.log.StartOffset(), "end", p.log.EndOffset(), "to", offset)
	if err := p.log.Reset(offset); err != nil {
		return err
	}
	p.hw.Store(offset)
	err := p.restore() // sets the last stable offset
	p.signal(true, true)
	return err
}

// Replication is what a replica tells about its partition's replication,
// for metrics.
type Replication struct {
	Leading         bool
	UnderReplicated bool  // leading, with an ISR smaller than the replicas
	Lag             int64 // following: records its leader had committed that it lacks
}

// Replication returns the replica's replication state.
func (p *Partition) Replication() Replication {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.role {
	case roleLeader:
		return Replication{Leading: true, UnderReplicated: len(p.leader.isr) < len(p.leader.replicas)}
	case roleFollower:
		return Replication{Lag: max(p.leaderHW.Load()-p.log.EndOffset(), 0)}
	}
	return Replication{}
}

// BytesBehind returns how many bytes of this leader's log follower id
// lacks: from its log end offset as of its last fetch (the log start before
// its first) to the end, so a reassignment's progress shows on the leader.
// ok is false when this replica does not lead or id is no follower of it.
// The log is read outside the lock.
func (p *Partition) BytesBehind(id int32) (n int64, ok bool) {
	p.mu.Lock()
	var leo int64
	if p.role == roleLeader {
		if f := p.leader.followers[id]; f != nil {
			leo, ok = f.leo, true
		}
	}
	p.mu.Unlock()
	if !ok {
		return 0, false
	}
	n, err := p.log.SizeFrom(leo)
	return n, err == nil
}

// HighWatermark is the offset below which records are committed.
func (p *Partition) HighWatermark() int64 { return p.hw.Load() }

// HighWatermarkSettled reports whether the high watermark has reached the
// log end this replica had when it took its leader epoch. A new leader's
// high watermark starts where it last learned it as a follower, below what
// the previous leader may have acknowledged, until its followers fetch.
func (p *Partition) HighWatermarkSettled() bool { return p.hw.Load() >= p.epochStart.Load() }

// LastStableOffset is the offset below which every transaction has ended
// and its marker is committed: the end of what read_committed consumers
// see. Without transactions it is the high watermark.
func (p *Partition) LastStableOffset() int64 { return p.lso.Load() }

// LogStartOffset is the first offset still in the log.
func (p *Partition) LogStartOffset() int64 { return p.log.StartOffset() }

// LogEndOffset is the next offset to be assigned.
func (p *Partition) LogEndOffset() int64 { return p.log.EndOffset() }

// LeaderEpoch is the leader epoch of the replica's current role.
func (p *Partition) LeaderEpoch() int32 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epoch
}

// Size is the log's size on disk in bytes.
func (p *Partition) Size() int64 { return p.log.Size() }

// OffsetForTimestamp returns the first offset whose timestamp is at least ts.
func (p *Partition) OffsetForTimestamp(ts int64) (offset, timestamp int64, ok bool) {
	return p.log.OffsetForTimestamp(ts)
}

// MaxTimestamp returns the largest timestamp in the log and its offset.
func (p *Partition) MaxTimestamp() (timestamp, offset int64) { return p.log.MaxTimestamp() }

// DeleteRecordsBefore advances the log start offset to offset (DeleteRecords)
// on the leader. offset -1 means the high watermark. It returns the new log
// start offset; followers take it from their next fetch.
func (p *Partition) DeleteRecordsBefore(offset int64) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return p.log.StartOffset(), errNotLeader
	}
	hw := p.hw.Load()
	if offset == -1 {
		offset = hw
	}
	if offset < 0 || offset > hw {
		return p.log.StartOffset(), commitlog.ErrOffsetOutOfRange
	}
	if offset <= p.log.StartOffset() {
		return p.log.StartOffset(), nil
	}
	// Producer state is kept (as Kafka does since 2.5): a retry of a
	// deleted batch is still recognised as a duplicate until it expires.
	if err := p.log.SetStartOffset(offset); err != nil {
		return p.log.StartOffset(), err
	}
	return offset, nil
}

// EndOffsetForEpoch answers OffsetForLeaderEpoch: the largest epoch at most
// the requested one and the offset where the next epoch starts (or the log
// end offset for the current epoch).
func (p *Partition) EndOffsetForEpoch(epoch int32) (int32, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.epochs.endOffsetFor(epoch, p.log.EndOffset())
}

// StartVerification returns, as the leader, the guard a transactional
// batch of producerID at epoch is appended with (AppendVerified), and
// whether the transaction coordinator must first confirm that the
// partition is in the producer's transaction
// (txn.ProducerState.StartVerification).
func (p *Partition) StartVerification(producerID int64, epoch int16, nowMs int64) (txn.Guard, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return txn.Unverified, false, errNotLeader
	}
	g, need := p.producers.StartVerification(producerID, epoch, nowMs)
	return g, need, nil
}

// ActiveProducers returns, as the leader, the producers the partition
// remembers (DescribeProducers).
func (p *Partition) ActiveProducers() ([]txn.ProducerInfo, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.role != roleLeader {
		return nil, errNotLeader
	}
	return p.producers.Producers(), nil
}

// ExpireProducers forgets the producers whose latest batch timestamp is
// maxIdleMs or more before nowMs, and returns how many.
func (p *Partition) ExpireProducers(nowMs, maxIdleMs int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := p.producers.Len()
	p.producers.Expire(nowMs, maxIdleMs)
	return n - p.producers.Len()
}

// SetConfig applies a new log configuration.
func (p *Partition) SetConfig(cfg commitlog.Config) { p.log.SetConfig(cfg) }

// EnforceRetention deletes segments past retention that lie below the high
// watermark, as Kafka does.
func (p *Partition) EnforceRetention() error {
	_, err := p.log.EnforceRetentionBelow(p.hw.Load())
	return err
}

// Clean runs one compaction pass if the log is compacted and due, over the
// segments below the last stable offset (which is at most the high
// watermark): an open transaction's records may yet be aborted. The pass
// keeps each producer's last batch as of the last stable offset it reads
// with them: later batches lie above it.
func (p *Partition) Clean(ctx context.Context, opts commitlog.CleanOptions) (commitlog.CleanStats, error) {
	p.mu.Lock()
	last, lso := p.producers.LastBatches(), p.lso.Load()
	p.mu.Unlock()
	opts.Producers = make(map[int64]commitlog.ProducerLast, len(last))
	for id, b := range last {
		opts.Producers[id] = commitlog.ProducerLast{LastDataOffset: b.LastDataOffset, Epoch: b.Epoch}
	}
	return p.log.CleanBelow(ctx, lso, opts)
}

// Tick runs time-based flushes and rolls, and writes a state snapshot when
// tickStateBytes were appended since the last.
func (p *Partition) Tick() error {
	if err := p.log.Tick(); err != nil {
		return err
	}
	return p.saveState(tickStateBytes)
}

// stop ends the replica's role, failing waiting produces, before it is
// closed or deleted.
func (p *Partition) stop() {
	p.mu.Lock()
	p.role, p.leader, p.leaderID = roleNone, nil, -1
	p.leading.Store(false)
	p.mu.Unlock()
	p.signal(true, true)
}

// Close writes a state snapshot (when closeStateBytes were appended since
// the last) and closes the log; Delete closes it and removes its directory.
func (p *Partition) Close() error {
	p.stop()
	return errors.Join(p.saveState(closeStateBytes), p.log.Close())
}

// CloseAll closes parts as Close closes each, with their file system
// synced as a whole rather than file by file (commitlog.CloseAll): the
// state snapshots are written first, unsynced, and made durable by the
// logs' syncs.
func CloseAll(parts []*Partition) error {
	errs := make([]error, 0, len(parts)+1)
	logs := make([]*commitlog.Log, len(parts))
	for i, p := range parts {
		p.stop()
		if err := p.saveState(closeStateBytes); err != nil {
			errs = append(errs, fmt.Errorf("%s-%d: %w", p.Topic, p.Index, err))
		}
		logs[i] = p.log
	}
	return errors.Join(append(errs, commitlog.CloseAll(logs))...)
}

// Delete closes the partition and removes its data.
func (p *Partition) Delete() error {
	p.stop()
	return p.log.Delete()
}

// IsOffsetOutOfRange reports whether err means the offset is outside the log.
func IsOffsetOutOfRange(err error) bool { return errors.Is(err, commitlog.ErrOffsetOutOfRange) }

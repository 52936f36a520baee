package partition

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// replicaFetchVersion is the Fetch version followers send: the first with
// LastFetchedEpoch and DivergingEpoch (KIP-595), so a follower learns in
// its fetch where its log diverges from the leader's, and topic names.
const replicaFetchVersion = 12

// maxFetchResponse bounds a fetch response a follower reads.
const maxFetchResponse = 256 << 20

// FetchConfig configures the follower fetchers, with Kafka's settings.
type FetchConfig struct {
	Self int32
	// BrokerEpoch returns this broker's epoch, sent with its fetches.
	BrokerEpoch func() int64
	// MaxWait is replica.fetch.wait.max.ms, MinBytes replica.fetch.min.bytes,
	// MaxBytes replica.fetch.response.max.bytes, PartitionMaxBytes
	// replica.fetch.max.bytes, Backoff replica.fetch.backoff.ms.
	MaxWait           time.Duration
	MinBytes          int32
	MaxBytes          int32
	PartitionMaxBytes int32
	Backoff           time.Duration
	// Dial connects to a leader's Kafka listener; nil: net.Dialer.
	Dial   func(ctx context.Context, addr string) (net.Conn, error)
	Logger *slog.Logger
}

// fetchers runs one fetcher per leader broker this node follows partitions
// of, as Kafka's replica fetcher threads do (num.replica.fetchers=1).
type fetchers struct {
	cfg FetchConfig
	// quota throttles the fetches of throttled replicas out of the ISR.
	quota *Quota
	ctx   context.Context
	wg    sync.WaitGroup

	mu       sync.Mutex
	byLeader map[int32]*fetcher
	of       map[*Partition]*fetcher
}

func newFetchers(ctx context.Context, cfg FetchConfig, quota *Quota) *fetchers {
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 5 * time.Second}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return &fetchers{cfg: cfg, quota: quota, ctx: ctx, byLeader: map[int32]*fetcher{}, of: map[*Partition]*fetcher{}}
}

// follow makes p fetch from leader at addr in leader epoch epoch.
func (fs *fetchers) follow(p *Partition, leader int32, addr string, epoch int32) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.of[p]; f != nil && (f.leader != leader || f.addr != addr) {
		f.remove(p)
		delete(fs.of, p)
	}
	f := fs.byLeader[leader]
	if f != nil && f.addr != addr {
		f.stop()
		delete(fs.byLeader, leader)
		f = nil
	}
	if f == nil {
		ctx, cancel := context.WithCancel(fs.ctx)
		f = &fetcher{fs: fs, leader: leader, addr: addr, cancel: cancel, parts: map[*Partition]*fetchState{}, wake: make(chan struct{}, 1),
			logger: fs.cfg.Logger.With("leader", leader, "addr", addr)}
		fs.byLeader[leader] = f
		fs.wg.Go(func() { f.run(ctx) })
	}
	f.add(p, epoch)
	fs.of[p] = f
}

// unfollow stops fetching for p.
func (fs *fetchers) unfollow(p *Partition) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.of[p]; f != nil {
		f.remove(p)
		delete(fs.of, p)
	}
}

// wait returns once every fetcher has stopped (after the context of
// newFetchers ends).
func (fs *fetchers) wait() { fs.wg.Wait() }

// fetcher fetches the partitions this node follows from one leader.
type fetcher struct {
	fs     *fetchers
	leader int32
	addr   string
	cancel context.CancelFunc
	logger *slog.Logger

	mu    sync.Mutex
	parts map[*Partition]*fetchState
	wake  chan struct{}
	// added is set when a partition is added (or follows a new epoch) after
	// the last snapshot of due partitions; interrupt ends the request in
	// flight, so the newcomer does not wait out another's long poll.
	added     bool
	interrupt context.CancelFunc
}

// fetchState is one followed partition in a fetcher.
type fetchState struct {
	epoch    int32     // the leader epoch it follows in
	retryAt  time.Time // after an error, when to fetch it again
	failures int
}

// add follows p in epoch; a partition it follows in that epoch already
// keeps its state.
func (f *fetcher) add(p *Partition, epoch int32) {
	f.mu.Lock()
	if st := f.parts[p]; st != nil && st.epoch == epoch {
		f.mu.Unlock()
		return
	}
	f.parts[p] = &fetchState{epoch: epoch}
	f.added = true
	if f.interrupt != nil {
		f.interrupt()
	}
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) remove(p *Partition) {
	f.mu.Lock()
	delete(f.parts, p)
	f.mu.Unlock()
	f.poke()
}

func (f *fetcher) stop() { f.cancel() }

func (f *fetcher) poke() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// fetchItem is one partition of one fetch request.
type fetchItem struct {
	p         *Partition
	epoch     int32
	offset    int64
	lastEpoch int32
}

// run fetches until ctx ends: one request in flight, all partitions due in
// it.
func (f *fetcher) run(ctx context.Context) {
	var conn *Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	var connFailures int
	for ctx.Err() == nil {
		items, next := f.due(time.Now())
		if len(items) == 0 {
			f.sleep(ctx, next)
			continue
		}
		if conn == nil {
			c, err := f.fs.cfg.Dial(ctx, f.addr)
			if err != nil {
				connFailures++
				if connFailures == 1 || connFailures%20 == 0 {
					f.logger.Warn("cannot reach the partition leader to replicate", "err", err, "attempts", connFailures)
				}
				f.sleep(ctx, time.Now().Add(f.fs.cfg.Backoff))
				continue
			}
			conn = NewConn(c, fmt.Sprintf("strata-replica-%d", f.fs.cfg.Self))
		}
		req := f.request(items, next)
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		round, interrupt := context.WithCancel(ctx)
		f.mu.Lock()
		if f.added {
			f.mu.Unlock()
			interrupt()
			continue
		}
		f.interrupt = interrupt
		f.mu.Unlock()
		err := conn.RoundTrip(round, req, resp, f.fs.cfg.MaxWait+10*time.Second, maxFetchResponse)
		f.mu.Lock()
		f.interrupt = nil
		f.mu.Unlock()
		interrupted := round.Err() != nil
		interrupt()
		if err != nil {
			conn.Close()
			conn = nil
			if ctx.Err() != nil || interrupted {
				continue
			}
			f.logger.Debug("replica fetch failed", "err", err)
			f.sleep(ctx, time.Now().Add(min(f.fs.cfg.Backoff, 100*time.Millisecond)))
			continue
		}
		connFailures = 0
		f.handle(items, resp)
	}
}

// sleep waits until t, a poke or the end of ctx; a zero t waits for a poke.
func (f *fetcher) sleep(ctx context.Context, t time.Time) {
	var timer <-chan time.Time
	if !t.IsZero() {
		tm := time.NewTimer(time.Until(t))
		defer tm.Stop()
		timer = tm.C
	}
	select {
	case <-ctx.Done():
	case <-f.wake:
	case <-timer:
	}
}

// due returns the partitions to fetch now, or when the next one is due
// (zero when none is followed).
func (f *fetcher) due(now time.Time) ([]fetchItem, time.Time) {
	f.mu.Lock()
	f.added = false
	type entry struct {
		p  *Partition
		st fetchState
	}
	all := make([]entry, 0, len(f.parts))
	for p, st := range f.parts {
		all = append(all, entry{p, *st})
	}
	f.mu.Unlock()
	var items []fetchItem
	var next time.Time
	for _, e := range all {
		if e.st.retryAt.After(now) {
			if next.IsZero() || e.st.retryAt.Before(next) {
				next = e.st.retryAt
			}
			continue
		}
		off, last, ok := e.p.fetchPosition(e.st.epoch)
		if !ok {
			continue
		}
		if e.p.throttledFollower() && f.fs.quota.Exceeded(now) {
			if at := f.fs.quota.ReadyAt(now); next.IsZero() || at.Before(next) {
				next = at
			}
			continue
		}
		items = append(items, fetchItem{p: e.p, epoch: e.st.epoch, offset: off, lastEpoch: last})
	}
	return items, next
}

// request builds the Fetch request for items. Its long poll ends by retry,
// when a partition backing off after an error is due again (zero: none).
func (f *fetcher) request(items []fetchItem, retry time.Time) *kmsg.FetchRequest {
	cfg := f.fs.cfg
	req := kmsg.NewPtrFetchRequest()
	req.Version = replicaFetchVersion
	req.ReplicaID = cfg.Self
	wait := cfg.MaxWait
	if !retry.IsZero() {
		wait = max(0, min(wait, time.Until(retry)))
	}
	req.MaxWaitMillis = int32(wait.Milliseconds())
	req.MinBytes, req.MaxBytes = cfg.MinBytes, cfg.MaxBytes
	req.SessionID, req.SessionEpoch = 0, -1
	byTopic := map[string]int{}
	for _, it := range items {
		i, ok := byTopic[it.p.Topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = it.p.Topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[it.p.Topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.FetchOffset = it.p.Index, it.epoch, it.offset
		rp.LastFetchedEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = it.lastEpoch, it.p.LogStartOffset(), cfg.PartitionMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	return req
}

// handle applies a fetch response to the partitions it answers.
func (f *fetcher) handle(items []fetchItem, resp *kmsg.FetchResponse) {
	type key struct {
		topic string
		index int32
	}
	byKey := make(map[key]fetchItem, len(items))
	for _, it := range items {
		byKey[key{it.p.Topic, it.p.Index}] = it
	}
	if resp.ErrorCode != 0 {
		f.logger.Warn("replica fetch refused", "err", kerr.ErrorForCode(resp.ErrorCode))
		for _, it := range items {
			f.backoff(it.p, it.epoch)
		}
		return
	}
	// Every partition's records are appended first, then the fsyncs the
	// flush policy wants run together (the file system's journal commits
	// concurrent ones together), and only then does each partition take
	// the leader's high watermark and fetch again.
	type appended struct {
		it     fetchItem
		rp     *kmsg.FetchResponseTopicPartition
		syncTo int64
		err    error
	}
	var done []appended
	for ti := range resp.Topics {
		rt := &resp.Topics[ti]
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			it, ok := byKey[key{rt.Topic, rp.Partition}]
			if !ok {
				continue
			}
			if it.p.throttledFollower() {
				f.fs.quota.Record(int64(len(rp.RecordBatches)), time.Now())
			}
			syncTo, err := f.apply(it, rp)
			done = append(done, appended{it, rp, syncTo, err})
		}
	}
	var toSync []*appended
	for i := range done {
		if done[i].syncTo >= 0 {
			toSync = append(toSync, &done[i])
		}
	}
	syncAll(len(toSync), func(i int) {
		a := toSync[i]
		if err := a.it.p.log.SyncTo(a.syncTo); err != nil && a.err == nil {
			a.err = err
		}
	})
	for _, a := range done {
		if a.err == nil || a.syncTo >= 0 {
			a.it.p.followLeader(a.it.epoch, a.rp.HighWatermark, a.rp.LogStartOffset)
		}
		if a.err != nil {
			f.logFetchError(a.it.p, a.err)
			f.backoff(a.it.p, a.it.epoch)
			continue
		}
		f.succeeded(a.it.p)
	}
}

// logFetchError logs a partition's fetch error: at debug level those a
// change of leadership or a deleted topic causes for a moment, until this
// node applies the metadata that ends them.
func (f *fetcher) logFetchError(p *Partition, err error) {
	switch {
	case errors.Is(err, errStaleFetch):
	case errors.Is(err, kerr.NotLeaderForPartition), errors.Is(err, kerr.UnknownTopicOrPartition),
		errors.Is(err, kerr.FencedLeaderEpoch), errors.Is(err, kerr.UnknownLeaderEpoch), errors.Is(err, kerr.UnknownTopicID):
		f.logger.Debug("replica fetch", "topic", p.Topic, "partition", p.Index, "err", err)
	default:
		f.logger.Warn("replica fetch", "topic", p.Topic, "partition", p.Index, "err", err)
	}
}

// syncAll runs fn(0..n-1), concurrently when there are several: each
// fsyncs one partition's log.
func syncAll(n int, fn func(i int)) {
	if n <= 1 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { fn(i) })
	}
	wg.Wait()
}

// apply handles one partition of a fetch response. It returns the offset
// the appended records must be fsynced up to before they count (-1: none).
func (f *fetcher) apply(it fetchItem, rp *kmsg.FetchResponseTopicPartition) (int64, error) {
	p := it.p
	switch err := kerr.ErrorForCode(rp.ErrorCode); {
	case err == nil:
	case errors.Is(err, kerr.OffsetOutOfRange):
		// Below the leader's log start: start afresh there. Past its log
		// end (without an epoch to tell where the logs part): back to its
		// high watermark, which this log holds too unless it starts later.
		switch {
		case it.offset < rp.LogStartOffset:
			return -1, p.resetTo(rp.LogStartOffset, it.epoch)
		case rp.HighWatermark < p.LogStartOffset():
			return -1, p.resetTo(rp.HighWatermark, it.epoch)
		}
		return -1, p.truncateTo(rp.HighWatermark, it.epoch)
	default:
		return -1, err
	}
	if rp.DivergingEpoch.EndOffset >= 0 {
		return -1, f.truncateDiverging(it, rp)
	}
	return p.appendFromLeader(rp.RecordBatches, it.epoch)
}

// truncateDiverging truncates a follower whose log diverges from the
// leader's: to where the leader's epoch ends, or its own end of that epoch
// if earlier; without that epoch, to its own end of the epoch before
// (the next fetch checks again); with no common epoch at all, to the
// leader's log start.
func (f *fetcher) truncateDiverging(it fetchItem, rp *kmsg.FetchResponseTopicPartition) error {
	p := it.p
	leaderEpoch, leaderEnd := rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset
	if leaderEpoch < 0 {
		if rp.LogStartOffset > p.LogStartOffset() {
			return p.resetTo(rp.LogStartOffset, it.epoch)
		}
		return p.truncateTo(rp.LogStartOffset, it.epoch)
	}
	mine, myEnd := p.EndOffsetForEpoch(leaderEpoch)
	target := myEnd
	if mine == leaderEpoch {
		target = min(leaderEnd, myEnd)
	}
	if target < 0 {
		target = rp.LogStartOffset
	}
	return p.truncateTo(target, it.epoch)
}

func (f *fetcher) backoff(p *Partition, epoch int32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.parts[p]; st != nil && st.epoch == epoch {
		st.failures++
		st.retryAt = time.Now().Add(min(f.fs.cfg.Backoff, time.Duration(st.failures)*50*time.Millisecond))
	}
}

func (f *fetcher) succeeded(p *Partition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if st := f.parts[p]; st != nil {
		st.failures = 0
	}
}

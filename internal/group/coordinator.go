package group

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/txn"
)

// Store is one __consumer_offsets partition as the coordinator sees it.
type Store interface {
	// Append appends recs as one batch and returns once they are appended
	// (durability is the log's).
	Append(ctx context.Context, recs []Record) error
	// AppendTxn appends recs as one transactional batch of the producer id
	// and epoch, as Append, with the guard of the transaction's verification
	// (txn.Guard; txn.Unverified: none). An epoch below the producer's on
	// the partition is an error wrapping kerr.InvalidProducerEpoch; a guard
	// the partition no longer holds one wrapping kerr.InvalidTxnState.
	AppendTxn(ctx context.Context, producerID int64, epoch int16, guard txn.Guard, recs []Record) error
	// Replay calls fn for every record from the log start, in order, and
	// once for every transaction marker. A nil value is a tombstone.
	Replay(ctx context.Context, fn func(LogRecord) error) error
}

// Config holds the coordinator's settings, named after Kafka's. Zero values
// take Kafka's defaults, except InitialRebalanceDelay (0 is a valid setting).
type Config struct {
	NumPartitions         int32         // offsets.topic.num.partitions (50)
	MinSessionTimeout     time.Duration // group.min.session.timeout.ms (6s)
	MaxSessionTimeout     time.Duration // group.max.session.timeout.ms (1800s)
	InitialRebalanceDelay time.Duration // group.initial.rebalance.delay.ms
	OffsetsRetention      time.Duration // offsets.retention.minutes (7 days)
	// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms
	// (10 minutes).
	OffsetsRetentionCheckInterval time.Duration
	MaxMetadataBytes              int              // offset.metadata.max.bytes (4096)
	MaxGroupSize                  int              // group.max.size (MaxInt32)
	Now                           func() time.Time // nil = time.Now
	// TopicPartitionExists reports whether an OffsetCommit may name the
	// partition; false answers UNKNOWN_TOPIC_OR_PARTITION. nil allows all.
	TopicPartitionExists func(topic string, partition int32) bool
}

func (c *Config) setDefaults() {
	setDur := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	setDur(&c.MinSessionTimeout, 6*time.Second)
	setDur(&c.MaxSessionTimeout, 1800*time.Second)
	setDur(&c.OffsetsRetention, 7*24*time.Hour)
	setDur(&c.OffsetsRetentionCheckInterval, 10*time.Minute)
	c.InitialRebalanceDelay = max(c.InitialRebalanceDelay, 0)
	if c.MaxMetadataBytes <= 0 {
		c.MaxMetadataBytes = 4096
	}
	if c.MaxGroupSize <= 0 {
		c.MaxGroupSize = math.MaxInt32
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Coordinator is the group coordinator of this broker: the groups of the
// __consumer_offsets partitions loaded here. Methods are safe for concurrent
// use.
//
// Lock order: entry.mu, then Coordinator.mu or Coordinator.wmu; never the
// other way round. Appends to a Store happen under the group's entry.mu, so
// records of one group reach the log in the order the state changed.
type Coordinator struct {
	cfg    Config
	lim    Limits
	logger *slog.Logger

	mu         sync.Mutex
	partitions map[int32]*partition
	groups     map[string]*entry

	wmu     sync.Mutex
	waiters map[uint64]chan Reply
	token   atomic.Uint64

	wake chan struct{}
}

type partition struct {
	store   Store
	loading bool
	markers []marker // CompleteTxn calls during the load
}

type entry struct {
	mu    sync.Mutex
	g     *Group
	store Store
}

// New returns a coordinator with no partitions loaded. It starts no
// goroutine; Run drives the timers.
func New(cfg Config, logger *slog.Logger) *Coordinator {
	cfg.setDefaults()
	return &Coordinator{
		cfg: cfg,
		lim: Limits{
			MinSessionTimeout:     cfg.MinSessionTimeout,
			MaxSessionTimeout:     cfg.MaxSessionTimeout,
			InitialRebalanceDelay: cfg.InitialRebalanceDelay,
			MaxGroupSize:          cfg.MaxGroupSize,
		},
		logger:     logger,
		partitions: map[int32]*partition{},
		groups:     map[string]*entry{},
		waiters:    map[uint64]chan Reply{},
		wake:       make(chan struct{}, 1),
	}
}

// PartitionFor returns the __consumer_offsets partition of a group, as Kafka
// computes it: Java's String.hashCode over UTF-16 code units, masked to be
// non-negative, modulo NumPartitions.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	var h int32
	for _, r := range groupID {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return (h & 0x7fffffff) % c.cfg.NumPartitions
}

// Load makes this coordinator the coordinator of a __consumer_offsets
// partition: it replays s and installs the groups and offsets found. Until
// it returns, requests for the partition's groups get
// COORDINATOR_LOAD_IN_PROGRESS. Records that do not decode are logged and
// skipped. Loading an already loaded partition reloads it.
func (c *Coordinator) Load(ctx context.Context, p int32, s Store) error {
	c.Unload(p)
	ps := &partition{store: s, loading: true}
	c.mu.Lock()
	c.partitions[p] = ps
	c.mu.Unlock()

	r := newReplay()
	skipped := 0
	err := s.Replay(ctx, func(rec LogRecord) error {
		if err := r.applyRecord(rec); err != nil {
			skipped++
			c.logger.Warn("skipping __consumer_offsets record", "partition", p, "err", err)
		}
		return nil
	})
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.partitions[p] != ps {
		return fmt.Errorf("load __consumer_offsets partition %d: unloaded while loading", p)
	}
	if err != nil {
		delete(c.partitions, p)
		return fmt.Errorf("load __consumer_offsets partition %d: %w", p, err)
	}
	for _, m := range ps.markers {
		r.endTxn(m.producerID, m.commit)
	}
	groups := r.groups(c.cfg.Now())
	for id, g := range groups {
		if c.PartitionFor(id) != p {
			c.logger.Warn("group replayed from the wrong __consumer_offsets partition", "group", id, "partition", p)
			continue
		}
		c.groups[id] = &entry{g: g, store: s}
	}
	ps.loading = false
	c.logger.Info("loaded __consumer_offsets partition", "partition", p, "groups", len(groups), "skipped", skipped)
	c.signal()
	return nil
}

// Loading announces that Load will follow for a partition: until it
// completes, requests for the partition's groups get
// COORDINATOR_LOAD_IN_PROGRESS (retriable) rather than NOT_COORDINATOR, as
// Kafka answers while it loads. The broker calls it as soon as it leads the
// partition, then loads in the background.
func (c *Coordinator) Loading(p int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.partitions[p]; !ok {
		c.partitions[p] = &partition{loading: true}
	}
}

// Unload stops coordinating a partition's groups: their waiting requests
// are answered NOT_COORDINATOR and later requests get NOT_COORDINATOR.
func (c *Coordinator) Unload(p int32) {
	c.mu.Lock()
	delete(c.partitions, p)
	var gone []*entry
	for id, e := range c.groups {
		if c.PartitionFor(id) == p {
			gone = append(gone, e)
			delete(c.groups, id)
		}
	}
	c.mu.Unlock()
	for _, e := range gone {
		e.mu.Lock()
		e.g.Close(c.cfg.Now(), kerr.NotCoordinator.Code)
		c.deliver(e.g.TakeEffects().Replies)
		e.mu.Unlock()
	}
}

// errNotHere carries a coordinator-level error code from lookup.
var errNotHere = errors.New("group not served here")

// withGroup runs fn on the group locked (with its Store, for appends fn
// makes itself), creating it first if create is
// set, then applies fn's effects: appends the records (under the lock) and
// delivers the replies. It returns 0, or NOT_COORDINATOR,
// COORDINATOR_LOAD_IN_PROGRESS, or GROUP_ID_NOT_FOUND when the group does
// not exist and create is false (fn is not called then).
func (c *Coordinator) withGroup(ctx context.Context, id string, create bool, fn func(g *Group, now time.Time, s Store)) int16 {
	for {
		e, code := c.lookup(id, create)
		if code != 0 {
			return code
		}
		e.mu.Lock()
		if e.g.State() == Dead {
			e.mu.Unlock()
			continue // deleted or unloaded meanwhile: look again
		}
		now := c.cfg.Now()
		fn(e.g, now, e.store)
		c.apply(ctx, e)
		if e.g.unused() || e.g.State() == Dead {
			c.remove(id, e)
		}
		e.mu.Unlock()
		c.signal() // deadlines may have moved earlier
		return 0
	}
}

func (c *Coordinator) lookup(id string, create bool) (*entry, int16) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.partitions[c.PartitionFor(id)]
	switch {
	case ps == nil:
		return nil, kerr.NotCoordinator.Code
	case ps.loading:
		return nil, kerr.CoordinatorLoadInProgress.Code
	}
	e := c.groups[id]
	if e == nil {
		if !create {
			return nil, kerr.GroupIDNotFound.Code
		}
		e = &entry{g: NewGroup(id, c.cfg.Now()), store: ps.store}
		c.groups[id] = e
	}
	return e, 0
}

// remove drops the group from the map; the caller holds e.mu.
func (c *Coordinator) remove(id string, e *entry) {
	e.g.state = Dead
	c.mu.Lock()
	if c.groups[id] == e {
		delete(c.groups, id)
	}
	c.mu.Unlock()
}

// apply appends the group's pending records and delivers its replies. If
// the append fails, the replies carry COORDINATOR_NOT_AVAILABLE instead and
// the group is told (StoreFailed).
// The caller holds e.mu.
func (c *Coordinator) apply(ctx context.Context, e *entry) {
	eff := e.g.TakeEffects()
	if len(eff.Records) > 0 {
		if err := e.store.Append(context.WithoutCancel(ctx), eff.Records); err != nil {
			c.logger.Error("append to __consumer_offsets", "group", e.g.ID, "err", err)
			for _, r := range eff.Replies {
				if r.Join != nil {
					r.Join.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
				if r.Sync != nil {
					r.Sync.ErrorCode = kerr.CoordinatorNotAvailable.Code
				}
			}
			e.g.StoreFailed(c.cfg.Now(), c.lim)
			eff.Replies = append(eff.Replies, e.g.TakeEffects().Replies...)
		}
	}
	c.deliver(eff.Replies)
}

// register returns a new token and the channel its Reply will arrive on.
func (c *Coordinator) register() (uint64, chan Reply) {
	t := c.token.Add(1)
	ch := make(chan Reply, 1)
	c.wmu.Lock()
	c.waiters[t] = ch
	c.wmu.Unlock()
	return t, ch
}

func (c *Coordinator) unregister(t uint64) {
	c.wmu.Lock()
	delete(c.waiters, t)
	c.wmu.Unlock()
}

func (c *Coordinator) deliver(rs []Reply) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	for _, r := range rs {
		if ch := c.waiters[r.Token]; ch != nil {
			ch <- r
			delete(c.waiters, r.Token)
		}
	}
}

// wait returns the Reply for token t, or ok false when ctx ends first.
func (c *Coordinator) wait(ctx context.Context, t uint64, ch chan Reply) (Reply, bool) {
	select {
	case r := <-ch:
		return r, true
	case <-ctx.Done():
		c.unregister(t)
		select {
		case r := <-ch: // delivered meanwhile
			return r, true
		default:
			return Reply{}, false
		}
	}
}

func (c *Coordinator) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// newMemberID returns "<clientID>-<uuid>", as Kafka names members.
func newMemberID(clientID string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%s-%x-%x-%x-%x-%x", clientID, b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// Run drives the timers (session expiry, rebalance timeouts, initial
// delays, pending member ids, offsets retention) until ctx ends, and
// returns nil then.
func (c *Coordinator) Run(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	nextExpiry := c.cfg.Now().Add(c.cfg.OffsetsRetentionCheckInterval)
	for {
		now := c.cfg.Now()
		expire := !now.Before(nextExpiry)
		if expire {
			nextExpiry = now.Add(c.cfg.OffsetsRetentionCheckInterval)
		}
		next := c.tick(now, expire)
		if next.IsZero() || nextExpiry.Before(next) {
			next = nextExpiry
		}
		timer.Reset(max(next.Sub(c.cfg.Now()), time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-timer.C:
		case <-c.wake:
		}
	}
}

// tick runs the due timers of every group (and offsets expiry when
// expire is set) and returns the earliest next deadline, zero if none.
func (c *Coordinator) tick(now time.Time, expire bool) time.Time {
	c.mu.Lock()
	ids := make([]string, 0, len(c.groups))
	es := make([]*entry, 0, len(c.groups))
	for id, e := range c.groups {
		ids = append(ids, id)
		es = append(es, e)
	}
	c.mu.Unlock()
	var next time.Time
	for i, e := range es {
		e.mu.Lock()
		if e.g.State() != Dead {
			e.g.Tick(now, c.lim)
			if expire {
				e.g.ExpireOffsets(now, c.cfg.OffsetsRetention)
			}
			c.apply(context.Background(), e)
			if e.g.State() == Dead || e.g.unused() {
				c.remove(ids[i], e)
			} else if d, ok := e.g.NextDeadline(); ok && (next.IsZero() || d.Before(next)) {
				next = d
			}
		}
		e.mu.Unlock()
	}
	return next
}

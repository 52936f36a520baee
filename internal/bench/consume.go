package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrIdle is returned when no record arrived for the idle timeout while a
// workload still waited for records.
var ErrIdle = errors.New("no record arrived within the idle timeout")

// ConsumeConfig configures Consume.
type ConsumeConfig struct {
	Topic string
	// Records ends the run after this many records. With neither Records
	// nor Duration the run reads every partition from its log start up to
	// the end it had when the run started: the high watermark, or the
	// last stable offset with ReadCommitted. Transaction markers and, with
	// ReadCommitted, aborted records take offsets but are not records.
	Records  int64
	Duration time.Duration // 0: no limit
	// Consumers is the number of clients, > 0. Without Group each reads
	// its share of the partitions (round-robin; extra consumers beyond the
	// partition count are not started). With Group all join that group.
	Consumers int
	Group     string
	// FetchSize is the most a fetch returns per partition
	// (max.partition.fetch.bytes, Kafka's perf tool's --fetch-size); 0
	// keeps the client's 1 MiB.
	FetchSize int32
	// ReadCommitted reads with isolation level read_committed: records of
	// open and aborted transactions are not returned.
	ReadCommitted bool
	// IdleTimeout fails the run with ErrIdle when no record arrives for
	// this long while records are still expected; 0 waits forever. It does
	// not apply to a run bounded only by Duration.
	IdleTimeout time.Duration
	NewClient   ClientFunc
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
}

func (c *ConsumeConfig) validate() error {
	switch {
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrConfig)
	case c.Records < 0 || c.Duration < 0 || c.IdleTimeout < 0 || c.FetchSize < 0:
		return fmt.Errorf("%w: records, duration, idle timeout and fetch size must not be negative", ErrConfig)
	case c.Consumers <= 0:
		return fmt.Errorf("%w: consumers must be positive, got %d", ErrConfig, c.Consumers)
	}
	return nil
}

// Consume runs the catch-up consumer workload: it reads the topic from the
// log start of every partition and counts records and bytes; there is no
// latency. Seconds run from when the consumers start (including a group
// join with Group) until the last counted record or the end of Duration.
// The group commits no offsets, so a group that has committed offsets
// resumes from them and may never see Records records. When ctx ends
// Consume returns the summary so far with a nil error. It returns ErrNoTopic
// for a missing topic, ErrIdle when records stop arriving, or the first
// fetch error.
func Consume(ctx context.Context, cfg ConsumeConfig) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	ranges, err := listRanges(ctx, cfg.NewClient, cfg.Topic, cfg.ReadCommitted)
	if err != nil {
		return Summary{}, err
	}
	var ends *endOffsets // nil unless reading up to the ends
	if cfg.Records == 0 && cfg.Duration == 0 {
		if ends = newEndOffsets(ranges); ends.reached() {
			return NewSummary(ModeConsume, cfg.Topic, Snapshot{}, 0), nil
		}
	}

	var clients []*kgo.Client
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	pool := &recordPool{}
	for _, opts := range consumerOpts(cfg, ranges) {
		cl, err := cfg.NewClient(append(opts, kgo.WithPools(pool))...)
		if err != nil {
			return Summary{}, err
		}
		clients = append(clients, cl)
	}

	stats := NewStats()
	budget := NewBudget(cfg.Records)
	done := func() bool { return budget.Spent() || ends != nil && ends.reached() }
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Duration > 0 {
		runCtx, cancel = context.WithTimeout(runCtx, cfg.Duration)
		defer cancel()
	}
	fail := NewFailure(cancel)
	notify := make(chan struct{}, 1)
	start := time.Now()
	stopProgress := StartProgress(cfg.Progress, ModeConsume, stats, start, progressInterval)
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Go(func() {
			pollLoop(runCtx, cl, fail, func(fs kgo.Fetches) {
				stats.Add(countFetch(fs, budget, ends))
				signal(notify)
				if done() {
					cancel()
				}
			})
		})
	}
	idle := cfg.IdleTimeout
	if cfg.Records == 0 && ends == nil {
		idle = 0
	}
	if err := AwaitProgress(runCtx, notify, idle, done); err != nil {
		fail.Set(fmt.Errorf("consume %q: %d records, %s: %w", cfg.Topic, stats.Snapshot().Records, ends.describe(cfg.Records), err))
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	stopProgress()
	if err := fail.Get(); err != nil {
		return Summary{}, err
	}
	return NewSummary(ModeConsume, cfg.Topic, stats.Snapshot(), elapsed), nil
}

// countFetch counts the records of fs that the run wants: data records
// (not markers) below their partition's end in ends (nil: no end), as many
// as budget gives. It recycles the records and moves ends on. It returns
// the records and their key plus value bytes.
func countFetch(fs kgo.Fetches, budget *Budget, ends *endOffsets) (records, bytes int64) {
	var want int64
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		end := ends.end(p.Partition)
		for _, r := range p.Records {
			if r.Offset < end && !r.Attrs.IsControl() {
				want++
			}
		}
	})
	got := budget.Take(want)
	fs.EachPartition(func(p kgo.FetchTopicPartition) {
		end := ends.end(p.Partition)
		for _, r := range p.Records {
			if records < got && r.Offset < end && !r.Attrs.IsControl() {
				records++
				bytes += int64(len(r.Key) + len(r.Value))
			}
		}
		if n := len(p.Records); n > 0 {
			ends.advance(p.Partition, p.Records[n-1].Offset+1)
		}
		for _, r := range p.Records {
			r.Recycle()
		}
	})
	return records, bytes
}

// endOffsets is how far each partition has been read, against the end it
// is read up to. It is safe for concurrent use; a nil *endOffsets has no
// ends and is never reached.
type endOffsets struct {
	slot map[int32]int // partition -> index; read-only
	ends []int64
	pos  []atomic.Int64 // the next offset to read
	left atomic.Int64   // partitions not yet read up to their end
}

func newEndOffsets(ranges []partitionRange) *endOffsets {
	e := &endOffsets{slot: map[int32]int{}, ends: make([]int64, len(ranges)), pos: make([]atomic.Int64, len(ranges))}
	for i, r := range ranges {
		e.slot[r.partition], e.ends[i] = i, r.end
		e.pos[i].Store(r.start)
		if r.start < r.end {
			e.left.Add(1)
		}
	}
	return e
}

// end returns the offset partition p is read up to (exclusive);
// math.MaxInt64 when there is none.
func (e *endOffsets) end(p int32) int64 {
	if e == nil {
		return math.MaxInt64
	}
	if i, ok := e.slot[p]; ok {
		return e.ends[i]
	}
	return math.MaxInt64
}

// advance records that partition p was read up to next (exclusive).
func (e *endOffsets) advance(p int32, next int64) {
	if e == nil {
		return
	}
	i, ok := e.slot[p]
	if !ok {
		return
	}
	for {
		cur := e.pos[i].Load()
		if next <= cur {
			return
		}
		if e.pos[i].CompareAndSwap(cur, next) {
			if cur < e.ends[i] && next >= e.ends[i] {
				e.left.Add(-1)
			}
			return
		}
	}
}

// reached reports whether every partition was read up to its end.
func (e *endOffsets) reached() bool { return e != nil && e.left.Load() == 0 }

// describe says what a run that stalled still waited for: records of a
// count, or partitions to reach their ends.
func (e *endOffsets) describe(records int64) string {
	if e == nil {
		return fmt.Sprintf("want %d", records)
	}
	return fmt.Sprintf("%d of %d partitions not read to their end", e.left.Load(), len(e.ends))
}

// consumerOpts returns the client options of each consumer of cfg over the
// partitions ranges. Every consumer keeps control records (transaction
// markers), so that it sees how far a partition ending in a marker was read.
func consumerOpts(cfg ConsumeConfig, ranges []partitionRange) [][]kgo.Opt {
	common := []kgo.Opt{kgo.KeepControlRecords()}
	if cfg.ReadCommitted {
		common = append(common, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	}
	if cfg.FetchSize > 0 {
		common = append(common, kgo.FetchMaxPartitionBytes(cfg.FetchSize))
	}
	var out [][]kgo.Opt
	if cfg.Group != "" {
		for range cfg.Consumers {
			out = append(out, append([]kgo.Opt{
				kgo.ConsumerGroup(cfg.Group),
				kgo.ConsumeTopics(cfg.Topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
				kgo.DisableAutoCommit(),
			}, common...))
		}
		return out
	}
	n := min(cfg.Consumers, len(ranges))
	shares := make([]map[int32]kgo.Offset, n)
	for i, r := range ranges {
		if shares[i%n] == nil {
			shares[i%n] = map[int32]kgo.Offset{}
		}
		shares[i%n][r.partition] = kgo.NewOffset().AtStart()
	}
	for _, share := range shares {
		out = append(out, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: share})}, common...))
	}
	return out
}

// recordPool lends franz-go the slices it decodes fetched records into
// (kgo.PoolRecords): a consumer that recycles every record once counted
// allocates nothing per record, so the load generator costs less than the
// broker it measures.
type recordPool struct{ p sync.Pool }

// GetRecords implements kgo.PoolRecords.
func (rp *recordPool) GetRecords(n int) []kgo.Record {
	if s, ok := rp.p.Get().(*[]kgo.Record); ok && cap(*s) >= n {
		return (*s)[:0]
	}
	return make([]kgo.Record, 0, n)
}

// PutRecords implements kgo.PoolRecords.
func (rp *recordPool) PutRecords(s []kgo.Record) { rp.p.Put(&s) }

// pollLoop polls cl until ctx ends, handing every non-empty fetch to got
// and the first fetch error to fail.
func pollLoop(ctx context.Context, cl *kgo.Client, fail *Failure, got func(kgo.Fetches)) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		for _, fe := range fs.Errors() {
			if errors.Is(fe.Err, context.Canceled) || errors.Is(fe.Err, context.DeadlineExceeded) || errors.Is(fe.Err, kgo.ErrClientClosed) {
				return
			}
			fail.Set(fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err))
			return
		}
		if !fs.Empty() {
			got(fs)
		}
	}
}

// signal wakes a waiter on notify without blocking.
func signal(notify chan<- struct{}) {
	select {
	case notify <- struct{}{}:
	default:
	}
}

// AwaitProgress waits until done reports true (checked at the start and
// after each signal on notify), ctx ends, or idle passes without a signal.
// It returns ErrIdle in the last case and nil otherwise; idle 0 waits
// without limit.
func AwaitProgress(ctx context.Context, notify <-chan struct{}, idle time.Duration, done func() bool) error {
	var timeout <-chan time.Time
	var timer *time.Timer
	if idle > 0 {
		timer = time.NewTimer(idle)
		defer timer.Stop()
		timeout = timer.C
	}
	for !done() {
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
			if timer != nil {
				timer.Reset(idle)
			}
		case <-timeout:
			return ErrIdle
		}
	}
	return nil
}

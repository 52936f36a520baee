package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// E2EConfig configures EndToEnd.
type E2EConfig struct {
	TopicSpec
	ProducerSpec         // RecordSize must be at least StampSize
	Rate         float64 // records per second, > 0
	Duration     time.Duration
	// Warmup runs the same schedule this long first, until every record of
	// it is acknowledged, and leaves its records out of the summary: the
	// clients' connections, metadata and fetch sessions are then set up
	// and the figures are the steady state's.
	Warmup time.Duration
	// IdleTimeout bounds the wait, after the producer stopped, for the
	// consumer to receive every acknowledged record: the run fails with
	// ErrIdle when no record arrives for this long; 0 waits forever.
	IdleTimeout time.Duration
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
}

func (c *E2EConfig) validate() error {
	switch {
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrConfig)
	case c.RecordSize < StampSize:
		return fmt.Errorf("%w: record size must be at least %d to carry the send time, got %d", ErrConfig, StampSize, c.RecordSize)
	case c.Rate <= 0:
		return fmt.Errorf("%w: rate must be positive, got %g", ErrConfig, c.Rate)
	case c.Duration <= 0:
		return fmt.Errorf("%w: duration must be positive, got %s", ErrConfig, c.Duration)
	case c.Warmup < 0:
		return fmt.Errorf("%w: warm-up must not be negative, got %s", ErrConfig, c.Warmup)
	case c.IdleTimeout < 0:
		return fmt.Errorf("%w: idle timeout must not be negative", ErrConfig)
	}
	return nil
}

// EndToEnd runs the end-to-end latency workload: one producer sends at Rate
// records per second for Duration, each value stamped with its intended
// send time on the schedule (so latency includes any time the producer fell
// behind: no coordinated omission), while one consumer reads every
// partition from the offsets the topic had at the start. A record's latency
// is its receipt time minus its stamp. After the producer stops, EndToEnd
// waits until every acknowledged record was received. Records, bytes and
// latency in the summary are the consumer's, without the records of the
// Warmup that comes first. When ctx ends it returns the
// summary so far with a nil error; it returns the first produce or fetch
// error, or ErrIdle.
func EndToEnd(ctx context.Context, cfg E2EConfig) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	prod, err := cfg.NewClient(cfg.ProducerOpts...)
	if err != nil {
		return Summary{}, err
	}
	defer prod.Close()
	if err := createTopic(ctx, cfg.NewClient, cfg.TopicSpec); err != nil {
		return Summary{}, err
	}
	ranges, err := listRanges(ctx, cfg.NewClient, cfg.Topic, false)
	if err != nil {
		return Summary{}, err
	}
	from := map[int32]kgo.Offset{}
	for _, r := range ranges {
		from[r.partition] = kgo.NewOffset().At(r.end)
	}
	cons, err := cfg.NewClient(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{cfg.Topic: from}), kgo.WithPools(&recordPool{}))
	if err != nil {
		return Summary{}, err
	}
	defer cons.Close()

	stats := NewStats()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := NewFailure(cancel)
	notify := make(chan struct{}, 1)
	var received atomic.Int64
	// Records stamped before measureFrom (Unix nanoseconds) are the
	// warm-up's: received, but not measured.
	var measureFrom atomic.Int64
	measureFrom.Store(math.MaxInt64)
	var wg sync.WaitGroup
	wg.Go(func() {
		var lat []time.Duration
		pollLoop(runCtx, cons, fail, func(fs kgo.Fetches) {
			now := time.Now()
			lat = lat[:0]
			var bytes, n int64
			from := measureFrom.Load()
			for _, r := range fs.Records() {
				sent, err := StampTime(r.Value)
				if err != nil {
					fail.Set(fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
					return
				}
				n++
				if sent.UnixNano() >= from {
					lat = append(lat, now.Sub(sent))
					bytes += int64(len(r.Key) + len(r.Value))
				}
				r.Recycle()
			}
			stats.AddLatencies(bytes, lat)
			received.Add(n)
			signal(notify)
		})
	})

	values := NewValues(cfg.RecordSize, cfg.Compressible, uint64(time.Now().UnixNano())) // before the clock starts
	var acked atomic.Int64
	send := func(start time.Time, d time.Duration) {
		s := &sender{
			cl:     prod,
			topic:  cfg.Topic,
			pacer:  NewPacer(start, cfg.Rate),
			values: values,
			budget: NewBudget(0),
			end:    start.Add(d),
			stamp:  true,
			acked:  func(*kgo.Record) { acked.Add(1) },
			fail:   fail,
		}
		s.run(runCtx)
	}
	if cfg.Warmup > 0 {
		send(time.Now(), cfg.Warmup)
	}
	start := time.Now()
	measureFrom.Store(start.UnixNano())
	stopProgress := StartProgress(cfg.Progress, ModeE2E, stats, start, progressInterval)
	send(start, cfg.Duration)
	want := acked.Load()
	if err := AwaitProgress(runCtx, notify, cfg.IdleTimeout, func() bool { return received.Load() >= want }); err != nil {
		fail.Set(fmt.Errorf("e2e %q: received %d of %d records: %w", cfg.Topic, received.Load(), want, err))
	}
	elapsed := time.Since(start)
	cancel()
	wg.Wait()
	stopProgress()
	if err := fail.Get(); err != nil {
		return Summary{}, err
	}
	return NewSummary(ModeE2E, cfg.Topic, stats.Snapshot(), elapsed), nil
}

package bench

import (
	"context"
	"fmt"
	"io"
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
// latency in the summary are the consumer's. When ctx ends it returns the
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
	ranges, err := listRanges(ctx, cfg.NewClient, cfg.Topic)
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
	var wg sync.WaitGroup
	wg.Go(func() {
		var lat []time.Duration
		pollLoop(runCtx, cons, fail, func(fs kgo.Fetches) {
			now := time.Now()
			lat = lat[:0]
			var bytes int64
			for _, r := range fs.Records() {
				sent, err := StampTime(r.Value)
				if err != nil {
					fail.Set(fmt.Errorf("record %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, err))
					return
				}
				lat = append(lat, now.Sub(sent))
				bytes += int64(len(r.Key) + len(r.Value))
				r.Recycle()
			}
			stats.AddLatencies(bytes, lat)
			received.Add(int64(len(lat)))
			signal(notify)
		})
	})

	values := NewValues(cfg.RecordSize, cfg.Compressible, uint64(time.Now().UnixNano())) // before the clock starts
	start := time.Now()
	stopProgress := StartProgress(cfg.Progress, ModeE2E, stats, start, progressInterval)
	var acked atomic.Int64
	s := &sender{
		cl:     prod,
		topic:  cfg.Topic,
		pacer:  NewPacer(start, cfg.Rate),
		values: values,
		budget: NewBudget(0),
		end:    start.Add(cfg.Duration),
		stamp:  true,
		acked:  func(*kgo.Record) { acked.Add(1) },
		fail:   fail,
	}
	s.run(runCtx)
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

package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// ClientFunc returns a new client of the cluster under test: the caller's
// common options (seed brokers, client ID, ...) plus opts. The caller of a
// ClientFunc closes the client.
type ClientFunc func(opts ...kgo.Opt) (*kgo.Client, error)

// ErrConfig is wrapped by every error about an invalid workload config.
var ErrConfig = errors.New("invalid benchmark config")

// TopicSpec names the topic a producing workload writes to and how to
// create it if it does not exist.
type TopicSpec struct {
	Topic string
	// Partitions and ReplicationFactor apply only when the topic is
	// created; -1 means the broker's default.
	Partitions        int32
	ReplicationFactor int16
}

// ProducerSpec is how a producing workload makes records and clients.
type ProducerSpec struct {
	RecordSize   int  // value bytes per record, > 0
	Compressible bool // text values instead of random bytes
	NewClient    ClientFunc
	// ProducerOpts are added to every producer client: acks, compression,
	// linger, batch size, delivery timeout.
	ProducerOpts []kgo.Opt
}

// ProduceConfig configures Produce. The run ends when Records records were
// acknowledged or Duration passed, whichever comes first; at least one of
// the two must be set.
type ProduceConfig struct {
	TopicSpec
	ProducerSpec
	Records   int64         // total over all producers; 0: no limit
	Duration  time.Duration // 0: no limit
	Producers int           // separate clients sending concurrently, > 0
	Rate      float64       // records per second over all producers; 0: unthrottled
	Txn       TxnSpec       // zero: not transactional
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
}

func (c *ProduceConfig) validate() error {
	switch {
	case c.Topic == "":
		return fmt.Errorf("%w: no topic", ErrConfig)
	case c.RecordSize <= 0:
		return fmt.Errorf("%w: record size must be positive, got %d", ErrConfig, c.RecordSize)
	case c.Records < 0 || c.Duration < 0:
		return fmt.Errorf("%w: records and duration must not be negative", ErrConfig)
	case c.Records == 0 && c.Duration == 0:
		return fmt.Errorf("%w: set a record count or a duration", ErrConfig)
	case c.Producers <= 0:
		return fmt.Errorf("%w: producers must be positive, got %d", ErrConfig, c.Producers)
	case c.Rate < 0:
		return fmt.Errorf("%w: rate must not be negative, got %g", ErrConfig, c.Rate)
	}
	return c.Txn.validate()
}

// Produce runs the producer workload: Producers clients send records of
// RecordSize bytes to the topic, created first if missing, and the latency
// of each record is its acknowledgement time minus its send time (its
// intended send time when Rate is set). With Txn.Interval set each producer
// has its own transactional id and ends a transaction every interval; the
// summary then has Transactions. When ctx ends the producers stop
// sending, wait for what they sent, and Produce returns the summary so far
// with a nil error. It returns the first produce error otherwise.
func Produce(ctx context.Context, cfg ProduceConfig) (Summary, error) {
	if err := cfg.validate(); err != nil {
		return Summary{}, err
	}
	clients := make([]*kgo.Client, 0, cfg.Producers)
	defer func() {
		for _, cl := range clients {
			cl.Close()
		}
	}()
	for i := range cfg.Producers {
		opts := cfg.ProducerOpts
		if cfg.Txn.Interval > 0 {
			opts = append(slices.Clone(opts), kgo.TransactionalID(fmt.Sprintf("%s-%d", cfg.Txn.IDPrefix, i)))
		}
		cl, err := cfg.NewClient(opts...)
		if err != nil {
			return Summary{}, err
		}
		clients = append(clients, cl)
	}
	if err := createTopic(ctx, cfg.NewClient, cfg.TopicSpec); err != nil {
		return Summary{}, err
	}

	stats := NewStats()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := NewFailure(cancel)
	budget := NewBudget(cfg.Records)
	var tally *txnTally
	if cfg.Txn.Interval > 0 {
		tally = newTxnTally()
	}
	// Values are made before the clock starts: making a pool takes a while.
	seed := uint64(time.Now().UnixNano())
	values := make([]*Values, len(clients))
	for i := range values {
		values[i] = NewValues(cfg.RecordSize, cfg.Compressible, seed+uint64(i))
	}
	start := time.Now()
	var end time.Time
	if cfg.Duration > 0 {
		end = start.Add(cfg.Duration)
	}
	stopProgress := StartProgress(cfg.Progress, ModeProduce, stats, start, progressInterval)
	var wg sync.WaitGroup
	for i, cl := range clients {
		s := &sender{
			cl:     cl,
			topic:  cfg.Topic,
			pacer:  NewPacer(start, cfg.Rate/float64(cfg.Producers)),
			values: values[i],
			budget: budget,
			end:    end,
			acked: func(r *kgo.Record) {
				stats.AddLatency(int64(len(r.Key)+len(r.Value)), time.Since(r.Timestamp))
			},
			fail: fail,
		}
		if tally != nil {
			s.txn = &txnSender{spec: cfg.Txn, tally: tally}
		}
		wg.Go(func() { s.run(runCtx) })
	}
	wg.Wait()
	elapsed := time.Since(start)
	stopProgress()
	if err := fail.Get(); err != nil {
		return Summary{}, err
	}
	sum := NewSummary(ModeProduce, cfg.Topic, stats.Snapshot(), elapsed)
	if tally != nil {
		sum.Transactions = tally.summary()
	}
	return sum, nil
}

// sender is one producer's send loop.
type sender struct {
	cl     *kgo.Client
	topic  string
	pacer  *Pacer
	values *Values
	budget *Budget
	end    time.Time // zero: no end
	stamp  bool      // stamp each value with its send time
	acked  func(*kgo.Record)
	fail   *Failure
	txn    *txnSender // nil: not transactional
}

// stopGrace is how long a stopped run still waits for acknowledgements of
// the records it already sent.
const stopGrace = 5 * time.Second

// run sends records until the budget is spent, the pacer reaches end or
// ctx ends, then waits until every record sent was acknowledged or failed.
// Each record's Timestamp is its send time; acked is called with every
// acknowledged record, the first failure goes to fail. Records are sent
// with a context that ctx ending does not cancel, so stopping does not fail
// records already handed to the client; but once ctx has ended, the wait
// for them lasts stopGrace at most (a dead broker never answers), and
// what is still unacknowledged then is dropped without a failure. A
// transactional sender ends its transaction every interval, and the last
// one when it stops.
func (s *sender) run(ctx context.Context) {
	sendCtx := context.WithoutCancel(ctx)
	// Stamped values are copies, reused once acknowledged (the client
	// keeps no reference after the promise): the load generator shares
	// the machine with the brokers it measures.
	var stamped chan []byte
	if s.stamp {
		stamped = make(chan []byte, 1<<12)
	}
	promise := func(r *kgo.Record, err error) {
		switch {
		case errors.Is(err, kgo.ErrClientClosed) && ctx.Err() != nil:
		case err != nil:
			s.fail.Set(fmt.Errorf("produce to %q: %w", r.Topic, err))
		default:
			s.acked(r)
		}
		if stamped != nil {
			select {
			case stamped <- r.Value:
			default:
			}
		}
	}
	if s.txn != nil {
		if err := s.txn.begin(s.cl); err != nil {
			s.fail.Set(err)
			return
		}
	}
	for s.budget.Take(1) == 1 {
		due, ok := s.pacer.Wait(ctx, s.end)
		if !ok {
			break
		}
		if s.txn != nil && s.txn.due() && !s.endTxn(ctx, true) {
			return
		}
		v := s.values.Next()
		if stamped != nil {
			var b []byte
			select {
			case b = <-stamped:
			default:
			}
			v = append(b[:0], v...)
			Stamp(v, due)
		}
		s.cl.Produce(sendCtx, &kgo.Record{Topic: s.topic, Value: v, Timestamp: due}, promise)
		if s.txn != nil {
			s.txn.records++
		}
	}
	if s.txn != nil {
		s.endTxn(ctx, false)
		return
	}
	flushCtx, done := graceful(ctx)
	defer done()
	// A stopped run that gave up leaves the rest to the client's Close,
	// which fails it with ErrClientClosed.
	if err := s.cl.Flush(flushCtx); err != nil && ctx.Err() == nil {
		s.fail.Set(fmt.Errorf("flush: %w", err))
	}
}

// endTxn ends the open transaction and, with next, begins another. It
// reports whether that worked; a failure fails the run unless ctx has
// ended (a stopped run that gave up waiting, as for its last flush).
func (s *sender) endTxn(ctx context.Context, next bool) bool {
	g, done := graceful(ctx)
	defer done()
	err := s.txn.end(g, s.cl)
	if err == nil && next {
		err = s.txn.begin(s.cl)
	}
	if err != nil && ctx.Err() == nil {
		s.fail.Set(err)
	}
	return err == nil
}

// graceful returns a context that ctx ending does not cancel at once, but
// stopGrace later; call done when finished with it.
func graceful(ctx context.Context) (g context.Context, done func()) {
	g, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(stopGrace, cancel)
		context.AfterFunc(g, func() { t.Stop() })
	})
	return g, func() {
		stop()
		cancel()
	}
}

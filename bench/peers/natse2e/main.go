// Command natse2e is the NATS JetStream peer of `strata bench e2e`, for
// workload 5 of Strata's benchmark suite (bench/run.sh). It measures what
// that command measures against a Kafka broker:
//
//   - one producer publishes to a JetStream stream at a fixed rate for a
//     fixed duration, on an absolute schedule (send i is due at
//     start + i/rate); a producer that falls behind sends at once;
//   - every message is stamped, in its first 8 bytes, with its scheduled
//     send time, so time spent behind schedule counts as latency (no
//     coordinated omission);
//   - one ordered consumer, created before the first publish, reads the
//     stream from the sequence after its last message at the start;
//   - a message's latency is its receipt time minus its stamp, recorded in
//     microseconds in an HDR histogram;
//   - after the producer stops, the run waits until every acknowledged
//     message was received, failing when none arrives for --idle-timeout.
//
// Publishes are asynchronous with a bounded number pending, and a message
// counts as sent only once the server acknowledged storing it: on one node
// that is what acks=all means to a Kafka producer. Records, bytes and
// latency in the summary are the consumer's; the summary has the JSON shape
// of Strata's bench.Summary, with the stream name as "topic".
//
//	natse2e -s nats://127.0.0.1:4222 --stream w5 --rate 5120 --duration 30s --size 1024 --json
//
// It exits 1 with a message on standard error when the connection, a
// publish, the consumer or the idle timeout fails, and 2 on bad flags. On
// SIGINT or SIGTERM it stops and prints the summary so far.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// config is the command line.
type config struct {
	url         string
	stream      string
	subject     string
	rate        float64       // messages per second, > 0
	duration    time.Duration // how long the producer sends, > 0
	size        int           // message bytes, >= minSize
	idleTimeout time.Duration // 0: wait for the consumer without limit
	json        bool
	progress    bool
}

// minSize is the smallest message: the 8-byte stamp plus some payload.
const minSize = 16

// maxPending bounds the publishes sent but not yet acknowledged; a publish
// beyond it blocks until an acknowledgement frees a slot. It is franz-go's
// default bound on buffered records, the Kafka side's equivalent.
const maxPending = 10000

func parseFlags() (config, error) {
	var c config
	flag.StringVar(&c.url, "s", nats.DefaultURL, "NATS server URL")
	flag.StringVar(&c.stream, "stream", "natse2e", "JetStream stream, created if absent (file storage, 1 replica)")
	flag.StringVar(&c.subject, "subject", "", "subject to publish to; default the stream name")
	flag.Float64Var(&c.rate, "rate", 1000, "messages per second")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to publish")
	flag.IntVar(&c.size, "size", 1024, fmt.Sprintf("message bytes, at least %d", minSize))
	flag.DurationVar(&c.idleTimeout, "idle-timeout", 10*time.Second,
		"after publishing, fail when no message arrives for this long; 0 waits forever")
	flag.BoolVar(&c.json, "json", false, "print the summary as one JSON line")
	flag.BoolVar(&c.progress, "progress", false, "print a progress line every second to stderr")
	flag.Parse()
	if c.subject == "" {
		c.subject = c.stream
	}
	switch {
	case flag.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", flag.Args())
	case c.stream == "":
		return c, errors.New("no stream")
	case c.rate <= 0:
		return c, fmt.Errorf("rate must be positive, got %g", c.rate)
	case c.duration <= 0:
		return c, fmt.Errorf("duration must be positive, got %s", c.duration)
	case c.size < minSize:
		return c, fmt.Errorf("size must be at least %d, got %d", minSize, c.size)
	case c.idleTimeout < 0:
		return c, errors.New("idle timeout must not be negative")
	}
	return c, nil
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natse2e: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	sum, err := run(ctx, cfg)
	stop()
	if err == nil {
		if cfg.json {
			err = sum.writeJSON(os.Stdout)
		} else {
			err = sum.writeText(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "natse2e: %v\n", err)
		os.Exit(1)
	}
}

// failure keeps the first error of concurrent workers and cancels their
// shared context when it happens. Safe for concurrent use.
type failure struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

func (f *failure) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
		f.cancel()
	}
}

func (f *failure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// run does one end-to-end run and returns its summary. When ctx ends it
// stops and returns the summary so far with a nil error; otherwise it
// returns the first error of the connection, a publish or the consumer, or
// an idle timeout error.
func run(ctx context.Context, cfg config) (summary, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := &failure{cancel: cancel}

	// No reconnects: a benchmark connection that drops is a failed run, not
	// something to paper over with buffered retries.
	nc, err := nats.Connect(cfg.url, nats.Name("strata-bench-natse2e"), nats.NoReconnect())
	if err != nil {
		return summary{}, fmt.Errorf("connect to %s: %w", cfg.url, err)
	}
	defer nc.Close()

	var acked atomic.Int64
	jsOpts := []jetstream.JetStreamOpt{
		jetstream.WithPublishAsyncMaxPending(maxPending),
		// Counted only on the server's acknowledgement that it stored the
		// message (a PubAck without an error).
		jetstream.WithPublishAsyncAckHandler(func(jetstream.JetStream, *nats.Msg, *jetstream.PubAck) {
			acked.Add(1)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			if ctx.Err() == nil { // failures while stopping on a signal are expected
				fail.set(fmt.Errorf("publish to %q: %w", m.Subject, err))
			}
		}),
	}
	if cfg.idleTimeout > 0 {
		// An acknowledgement that takes longer than the idle timeout fails
		// the run, as a silent server would in the consumer's wait.
		jsOpts = append(jsOpts, jetstream.WithPublishAsyncTimeout(cfg.idleTimeout))
	}
	js, err := jetstream.New(nc, jsOpts...)
	if err != nil {
		return summary{}, fmt.Errorf("jetstream: %w", err)
	}

	stream, err := ensureStream(ctx, js, cfg.stream, cfg.subject)
	if err != nil {
		return summary{}, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return summary{}, fmt.Errorf("stream %q info: %w", cfg.stream, err)
	}
	// The consumer starts after the last message the stream held at the
	// start, like the Kafka side's consumer from each partition's end offset.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cfg.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	})
	if err != nil {
		return summary{}, fmt.Errorf("ordered consumer on %q: %w", cfg.stream, err)
	}

	st := newStats()
	var received atomic.Int64
	notify := make(chan struct{}, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		data := m.Data()
		sent, ok := stampTime(data)
		if !ok {
			fail.set(fmt.Errorf("message on %q: %d bytes, too short for a send time stamp", m.Subject(), len(data)))
			return
		}
		received.Store(st.add(int64(len(data)), now.Sub(sent)))
		select { // wake the final wait without blocking
		case notify <- struct{}{}:
		default:
		}
	}, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		// The ordered consumer recreates itself after heartbeat losses and
		// sequence gaps; a consumer that stays stuck fails the idle wait.
		if runCtx.Err() == nil {
			fmt.Fprintf(os.Stderr, "natse2e: consumer: %v\n", err)
		}
	}))
	if err != nil {
		return summary{}, fmt.Errorf("consume %q: %w", cfg.stream, err)
	}
	defer cc.Stop()

	vals := newValues(cfg.size, uint64(time.Now().UnixNano())) // before the clock starts
	start := time.Now()
	stopProgress := func() {}
	if cfg.progress {
		stopProgress = startProgress(os.Stderr, st, start)
	}
	publish(runCtx, js, cfg, vals, &pacer{start: start, perSec: cfg.rate}, start.Add(cfg.duration), fail)

	// Wait for every acknowledgement (or its failure or timeout), then for
	// the consumer to receive every acknowledged message.
	select {
	case <-js.PublishAsyncComplete():
	case <-runCtx.Done():
	}
	want := acked.Load()
	if err := awaitReceived(runCtx, notify, cfg.idleTimeout, func() bool { return received.Load() >= want }); err != nil {
		fail.set(fmt.Errorf("e2e %q: received %d of %d messages: %w", cfg.stream, received.Load(), want, err))
	}
	elapsed := time.Since(start)
	cancel()
	cc.Stop()
	stopProgress()
	if err := fail.get(); err != nil {
		return summary{}, err
	}
	return newSummary(cfg.stream, st.snapshot(), elapsed), nil
}

// ensureStream returns the stream named name, first creating it with file
// storage, one replica and subject when it does not exist.
func ensureStream(ctx context.Context, js jetstream.JetStream, name, subject string) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, name)
	if err == nil {
		return s, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %q: %w", name, err)
	}
	s, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name:     name,
		Subjects: []string{subject},
		Storage:  jetstream.FileStorage,
		Replicas: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("create stream %q: %w", name, err)
	}
	return s, nil
}

// publish sends messages on p's schedule until end or until ctx ends, each
// a copy of the next value stamped with its due time. A publish that cannot
// be handed to the client goes to fail and ends the loop; acknowledgements
// and their failures arrive through the JetStream handlers.
func publish(ctx context.Context, js jetstream.JetStream, cfg config, vals *values, p *pacer, end time.Time, fail *failure) {
	// With maxPending unacknowledged, PublishAsync blocks for a free slot
	// up to the stall wait and then fails: allow as long as an
	// acknowledgement may take.
	stall := jetstream.WithStallWait(cfg.idleTimeout)
	if cfg.idleTimeout == 0 {
		stall = jetstream.WithStallWait(24 * time.Hour)
	}
	for {
		due, ok := p.wait(ctx, end)
		if !ok {
			return
		}
		v := bytes.Clone(vals.next())
		stamp(v, due)
		if _, err := js.PublishAsync(cfg.subject, v, stall); err != nil {
			if ctx.Err() == nil {
				fail.set(fmt.Errorf("publish to %q: %w", cfg.subject, err))
			}
			return
		}
	}
}

// errIdle is wrapped by the error of a run whose consumer received nothing
// for the idle timeout while acknowledged messages were outstanding.
var errIdle = errors.New("no message received within the idle timeout")

// awaitReceived waits until done reports true (checked at the start and
// after each signal on notify), ctx ends, or idle passes without a signal.
// It returns errIdle in the last case and nil otherwise; idle 0 waits
// without limit.
func awaitReceived(ctx context.Context, notify <-chan struct{}, idle time.Duration, done func() bool) error {
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
			return errIdle
		}
	}
	return nil
}

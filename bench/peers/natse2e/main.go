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
//     message was received, failing when none arrives for --idle-timeout;
//   - with --warmup the same schedule runs that long first, until every
//     message of it is acknowledged, and its messages are left out of the
//     summary, as `strata bench e2e --warmup` does.
//
// Publishes are asynchronous with a bounded number pending, and a message
// counts as sent only once the server acknowledged storing it: on one node
// that is what acks=all means to a Kafka producer. With --replicas 3 on a
// cluster the stream's leader acknowledges once a quorum of its replicas
// stored the message, as a Kafka leader acknowledges acks=all once the ISR
// has it. Records, bytes and latency in the summary are the consumer's; the
// summary has the JSON shape of Strata's bench.Summary, with the stream name
// as "topic".
//
//	natse2e -s nats://127.0.0.1:4222 --stream w5 --rate 5120 --duration 30s --size 1024 --json
//	natse2e -s nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224 --replicas 3 --stream r3 --rate 51200 --duration 20s --json
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
	"io"
	"math"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/bench"
)

// config is the command line.
type config struct {
	url         string
	stream      string
	subject     string
	replicas    int           // of the stream if it is created, 1 to 5
	rate        float64       // messages per second, > 0
	duration    time.Duration // how long the producer sends, > 0
	warmup      time.Duration // how long it sends first without measuring, >= 0
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
	flag.StringVar(&c.url, "s", nats.DefaultURL, "NATS server URL; comma-separated URLs of a cluster's servers")
	flag.StringVar(&c.stream, "stream", "natse2e", "JetStream stream, created if absent (file storage, --replicas replicas)")
	flag.IntVar(&c.replicas, "replicas", 1, "replicas of the stream if it is created (3 on a three-server cluster)")
	flag.StringVar(&c.subject, "subject", "", "subject to publish to; default the stream name")
	flag.Float64Var(&c.rate, "rate", 1000, "messages per second")
	flag.DurationVar(&c.duration, "duration", 10*time.Second, "how long to publish")
	flag.DurationVar(&c.warmup, "warmup", 0, "how long to publish first without measuring")
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
	case c.warmup < 0:
		return c, fmt.Errorf("warm-up must not be negative, got %s", c.warmup)
	case c.size < minSize:
		return c, fmt.Errorf("size must be at least %d, got %d", minSize, c.size)
	case c.replicas < 1 || c.replicas > 5:
		return c, fmt.Errorf("replicas must be between 1 and 5, got %d", c.replicas)
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
			err = sum.WriteJSON(os.Stdout)
		} else {
			err = sum.WriteText(os.Stdout)
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "natse2e: %v\n", err)
		os.Exit(1)
	}
}

// run does one end-to-end run and returns its summary. When ctx ends it
// stops and returns the summary so far with a nil error; otherwise it
// returns the first error of the connection, a publish or the consumer, or
// an idle timeout error.
func run(ctx context.Context, cfg config) (bench.Summary, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := bench.NewFailure(cancel)

	// No reconnects: a benchmark connection that drops is a failed run, not
	// something to paper over with buffered retries.
	nc, err := nats.Connect(cfg.url, nats.Name("strata-bench-natse2e"), nats.NoReconnect())
	if err != nil {
		return bench.Summary{}, fmt.Errorf("connect to %s: %w", cfg.url, err)
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
				fail.Set(fmt.Errorf("publish to %q: %w", m.Subject, err))
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
		return bench.Summary{}, fmt.Errorf("jetstream: %w", err)
	}

	stream, err := ensureStream(ctx, js, cfg.stream, cfg.subject, cfg.replicas)
	if err != nil {
		return bench.Summary{}, err
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return bench.Summary{}, fmt.Errorf("stream %q info: %w", cfg.stream, err)
	}
	// The consumer starts after the last message the stream held at the
	// start, like the Kafka side's consumer from each partition's end offset.
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{cfg.subject},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    info.State.LastSeq + 1,
	})
	if err != nil {
		return bench.Summary{}, fmt.Errorf("ordered consumer on %q: %w", cfg.stream, err)
	}

	st := bench.NewStats()
	var received atomic.Int64
	// Messages stamped before measureFrom (Unix nanoseconds) are the
	// warm-up's: received, but not measured.
	var measureFrom atomic.Int64
	measureFrom.Store(math.MaxInt64)
	notify := make(chan struct{}, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		now := time.Now()
		data := m.Data()
		sent, err := bench.StampTime(data)
		if err != nil {
			fail.Set(fmt.Errorf("message on %q: %w", m.Subject(), err))
			return
		}
		if sent.UnixNano() >= measureFrom.Load() {
			st.AddLatency(int64(len(data)), now.Sub(sent))
		}
		received.Add(1)
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
		return bench.Summary{}, fmt.Errorf("consume %q: %w", cfg.stream, err)
	}
	defer cc.Stop()

	vals := bench.NewValues(cfg.size, false, uint64(time.Now().UnixNano())) // before the clock starts
	// send publishes for d from start and waits for every acknowledgement
	// (or its failure or timeout).
	send := func(start time.Time, d time.Duration) {
		publish(runCtx, js, cfg, vals, bench.NewPacer(start, cfg.rate), start.Add(d), fail)
		select {
		case <-js.PublishAsyncComplete():
		case <-runCtx.Done():
		}
	}
	if cfg.warmup > 0 {
		send(time.Now(), cfg.warmup)
	}
	start := time.Now()
	measureFrom.Store(start.UnixNano())
	var progress io.Writer
	if cfg.progress {
		progress = os.Stderr
	}
	stopProgress := bench.StartProgress(progress, bench.ModeE2E, st, start, time.Second)
	send(start, cfg.duration)

	// Then wait for the consumer to receive every acknowledged message.
	want := acked.Load()
	if err := bench.AwaitProgress(runCtx, notify, cfg.idleTimeout, func() bool { return received.Load() >= want }); err != nil {
		fail.Set(fmt.Errorf("e2e %q: received %d of %d messages: %w", cfg.stream, received.Load(), want, err))
	}
	elapsed := time.Since(start)
	cancel()
	cc.Stop()
	stopProgress()
	if err := fail.Get(); err != nil {
		return bench.Summary{}, err
	}
	return bench.NewSummary(bench.ModeE2E, cfg.stream, st.Snapshot(), elapsed), nil
}

// ensureStream returns the stream named name, first creating it with file
// storage, replicas replicas and subject when it does not exist.
func ensureStream(ctx context.Context, js jetstream.JetStream, name, subject string, replicas int) (jetstream.Stream, error) {
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
		Replicas: replicas,
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
func publish(ctx context.Context, js jetstream.JetStream, cfg config, vals *bench.Values, p *bench.Pacer, end time.Time, fail *bench.Failure) {
	// With maxPending unacknowledged, PublishAsync blocks for a free slot
	// up to the stall wait and then fails: allow as long as an
	// acknowledgement may take.
	stall := jetstream.WithStallWait(cfg.idleTimeout)
	if cfg.idleTimeout == 0 {
		stall = jetstream.WithStallWait(24 * time.Hour)
	}
	for {
		due, ok := p.Wait(ctx, end)
		if !ok {
			return
		}
		v := bytes.Clone(vals.Next())
		bench.Stamp(v, due)
		if _, err := js.PublishAsync(cfg.subject, v, stall); err != nil {
			if ctx.Err() == nil {
				fail.Set(fmt.Errorf("publish to %q: %w", cfg.subject, err))
			}
			return
		}
	}
}

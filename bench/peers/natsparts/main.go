// Command natsparts is the NATS JetStream peer of workload 6 of Strata's
// benchmark suite (bench/run.sh): one topic of many partitions on one node.
// A Kafka partition is a separate log; in JetStream the separate log is a
// stream, so the topic becomes --streams streams named PREFIX-0 ..
// PREFIX-(N-1), stream i taking subject PREFIX.i, each with file storage and
// one replica.
//
//	natsparts create  -s URL --prefix w6 --streams 10000
//	natsparts publish -s URL --prefix w6 --streams 10000 --records 200000 --size 1024
//
// create makes the streams one at a time, each request waiting for the
// server's reply, and prints {"streams":N,"seconds":S}: the time from the
// first request to the last reply.
//
// publish sends --records messages of --size random (incompressible) bytes
// round-robin over the streams' subjects, message i to stream i mod N,
// with asynchronous publishes and a bounded number pending. A message
// counts only once the server acknowledged storing it: on one node that is
// what acks=all means to a Kafka producer. Its latency is the
// acknowledgement's arrival minus the time it was handed to the client,
// which the first 8 bytes of the message carry. It prints the JSON shape of
// Strata's bench.Summary (mode "produce", the prefix as "topic"); seconds run
// from the first publish to the last acknowledgement.
//
// It exits 1 with a message on standard error when the connection, a stream
// creation or a publish fails, and 2 on bad arguments. On SIGINT or SIGTERM
// publish stops and prints the summary so far; create stops with an error.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stratalog/strata/internal/bench"
)

// config is the command line.
type config struct {
	cmd     string // "create" or "publish"
	url     string
	prefix  string
	streams int           // > 0
	records int64         // publish only, > 0
	size    int           // publish only, >= bench.StampSize
	timeout time.Duration // per request or acknowledgement, > 0
}

// maxPending bounds the publishes sent but not yet acknowledged; a publish
// beyond it blocks until an acknowledgement frees a slot. It is franz-go's
// default bound on buffered records, the Kafka side's equivalent, and
// natse2e's.
const maxPending = 10000

const usage = "usage: natsparts create|publish [flags]"

func parseArgs(args []string) (config, error) {
	if len(args) == 0 || (args[0] != "create" && args[0] != "publish") {
		return config{}, errors.New(usage)
	}
	c := config{cmd: args[0]}
	fs := flag.NewFlagSet("natsparts "+c.cmd, flag.ContinueOnError)
	fs.StringVar(&c.url, "s", nats.DefaultURL, "NATS server URL")
	fs.StringVar(&c.prefix, "prefix", "w6", "stream i is PREFIX-i with subject PREFIX.i")
	fs.IntVar(&c.streams, "streams", 10000, "number of streams")
	fs.Int64Var(&c.records, "records", 200000, "publish: messages, over all streams")
	fs.IntVar(&c.size, "size", 1024, fmt.Sprintf("publish: message bytes, at least %d", bench.StampSize))
	fs.DurationVar(&c.timeout, "timeout", time.Minute, "longest wait for one stream creation or acknowledgement")
	if err := fs.Parse(args[1:]); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() > 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case c.prefix == "":
		return c, errors.New("no prefix")
	case c.streams <= 0:
		return c, fmt.Errorf("streams must be positive, got %d", c.streams)
	case c.records <= 0:
		return c, fmt.Errorf("records must be positive, got %d", c.records)
	case c.size < bench.StampSize:
		return c, fmt.Errorf("size must be at least %d, got %d", bench.StampSize, c.size)
	case c.timeout <= 0:
		return c, fmt.Errorf("timeout must be positive, got %s", c.timeout)
	}
	return c, nil
}

func main() {
	cfg, err := parseArgs(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsparts: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err = run(ctx, cfg)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "natsparts: %v\n", err)
		os.Exit(1)
	}
}

// run connects, does cfg's command and prints its JSON result.
func run(ctx context.Context, cfg config) error {
	// No reconnects: a benchmark connection that drops is a failed run.
	nc, err := nats.Connect(cfg.url, nats.Name("strata-bench-natsparts"), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", cfg.url, err)
	}
	defer nc.Close()
	if cfg.cmd == "create" {
		secs, err := create(ctx, nc, cfg)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(struct {
			Streams int     `json:"streams"`
			Seconds float64 `json:"seconds"`
		}{cfg.streams, secs})
	}
	sum, err := publish(ctx, nc, cfg)
	if err != nil {
		return err
	}
	return sum.WriteJSON(os.Stdout)
}

// streamName and subject name stream i of cfg and the subject it takes.
func streamName(cfg config, i int) string { return cfg.prefix + "-" + strconv.Itoa(i) }
func subject(cfg config, i int) string    { return cfg.prefix + "." + strconv.Itoa(i) }

// create makes cfg.streams streams one after the other and returns the
// seconds from the first request to the last reply. It returns the first
// failure, naming the stream.
func create(ctx context.Context, nc *nats.Conn, cfg config) (float64, error) {
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(cfg.timeout))
	if err != nil {
		return 0, fmt.Errorf("jetstream: %w", err)
	}
	start := time.Now()
	for i := range cfg.streams {
		name := streamName(cfg, i)
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{
			Name:     name,
			Subjects: []string{subject(cfg, i)},
			Storage:  jetstream.FileStorage,
			Replicas: 1,
		})
		if err != nil {
			return 0, fmt.Errorf("create stream %q (%d of %d): %w", name, i+1, cfg.streams, err)
		}
	}
	return time.Since(start).Seconds(), nil
}

// publish sends cfg.records messages round-robin over the streams'
// subjects and returns the summary of what the server acknowledged. When
// ctx ends it stops sending and returns the summary so far with a nil
// error; otherwise it returns the first publish failure.
func publish(ctx context.Context, nc *nats.Conn, cfg config) (bench.Summary, error) {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := bench.NewFailure(cancel)
	st := bench.NewStats()
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPending),
		jetstream.WithPublishAsyncTimeout(cfg.timeout),
		// Counted only on the server's acknowledgement that it stored the
		// message (a PubAck without an error).
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			now := time.Now()
			sent, err := bench.StampTime(m.Data)
			if err != nil { // cannot happen: every message is stamped
				fail.Set(fmt.Errorf("acknowledged message on %q: %w", m.Subject, err))
				return
			}
			st.AddLatency(int64(len(m.Data)), now.Sub(sent))
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			if ctx.Err() == nil { // failures while stopping on a signal are expected
				fail.Set(fmt.Errorf("publish to %q: %w", m.Subject, err))
			}
		}),
	)
	if err != nil {
		return bench.Summary{}, fmt.Errorf("jetstream: %w", err)
	}
	subjects := make([]string, cfg.streams)
	for i := range subjects {
		subjects[i] = subject(cfg, i)
	}
	vals := bench.NewValues(cfg.size, false, uint64(time.Now().UnixNano())) // before the clock starts
	// With maxPending unacknowledged, PublishAsync blocks for a free slot up
	// to the stall wait and then fails: allow as long as an acknowledgement
	// may take.
	stall := jetstream.WithStallWait(cfg.timeout)
	start := time.Now()
	for i := range cfg.records {
		if runCtx.Err() != nil {
			break
		}
		// The client keeps the message until its acknowledgement, and
		// Values shares its buffers: stamp a copy.
		v := bytes.Clone(vals.Next())
		bench.Stamp(v, time.Now())
		subj := subjects[i%int64(cfg.streams)]
		if _, err := js.PublishAsync(subj, v, stall); err != nil {
			if ctx.Err() == nil {
				fail.Set(fmt.Errorf("publish to %q: %w", subj, err))
			}
			break
		}
	}
	// Every acknowledgement, failure or timeout ends a pending publish.
	select {
	case <-js.PublishAsyncComplete():
	case <-runCtx.Done():
	}
	elapsed := time.Since(start)
	if err := fail.Get(); err != nil {
		return bench.Summary{}, err
	}
	return bench.NewSummary(bench.ModeProduce, cfg.prefix, st.Snapshot(), elapsed), nil
}

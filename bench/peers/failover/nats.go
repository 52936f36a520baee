package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTarget is a JetStream stream with file storage and 3 replicas, one
// subject (the stream's name), written with asynchronous publishes. Node
// ids map to server names "n<id>".
type natsTarget struct {
	stream   string
	settings map[string]string
	nc       *nats.Conn
	js       jetstream.JetStream
	ackWait  time.Duration
}

func newNATSTarget(ctx context.Context, cfg config, done func([]byte, error)) (*natsTarget, error) {
	t := &natsTarget{stream: cfg.topic, ackWait: cfg.natsAckWait}
	// Reconnect at once to another server when the one we are connected to
	// dies; publishes meanwhile wait in the client's reconnect buffer.
	const reconnectWait = 20 * time.Millisecond
	nc, err := nats.Connect(cfg.natsURLs, nats.Name("strata-bench-failover"),
		nats.MaxReconnects(-1), nats.ReconnectWait(reconnectWait), nats.ReconnectJitter(0, 0))
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.natsURLs, err)
	}
	t.nc = nc
	t.settings = map[string]string{
		"client":           "nats.go jetstream, async publish",
		"ack":              "PubAck from the stream leader once a quorum stored the message",
		"ack_timeout":      cfg.natsAckWait.String() + " (then the publish counts as failed; not retried)",
		"max_pending":      strconv.Itoa(maxPending),
		"reconnect_wait":   reconnectWait.String() + ", no jitter, unlimited reconnects",
		"servers":          "all three in the URL list",
		"stall_wait":       cfg.natsAckWait.String(),
		"republish_failed": "no",
	}
	t.js, err = jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(maxPending),
		jetstream.WithPublishAsyncTimeout(cfg.natsAckWait),
		jetstream.WithPublishAsyncAckHandler(func(_ jetstream.JetStream, m *nats.Msg, _ *jetstream.PubAck) {
			done(m.Data, nil)
		}),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			done(m.Data, err)
		}),
	)
	if err != nil {
		nc.Close()
		return nil, err
	}
	_, err = t.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:     cfg.topic,
		Subjects: []string{cfg.topic},
		Storage:  jetstream.FileStorage,
		Replicas: 3,
	})
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("create stream %q: %w", cfg.topic, err)
	}
	return t, nil
}

func (t *natsTarget) Settings() map[string]string { return t.settings }

func (t *natsTarget) Produce(_ context.Context, v []byte) error {
	_, err := t.js.PublishAsync(t.stream, v, jetstream.WithStallWait(t.ackWait))
	return err
}

func (t *natsTarget) Flush(ctx context.Context) error {
	select {
	case <-t.js.PublishAsyncComplete():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (t *natsTarget) info(ctx context.Context) (*jetstream.StreamInfo, error) {
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	s, err := t.js.Stream(rctx, t.stream)
	if err != nil {
		return nil, err
	}
	return s.CachedInfo(), nil
}

// nodeID maps a server name "n<id>" to id, or -1.
func nodeID(name string) int {
	id, err := strconv.Atoi(strings.TrimPrefix(name, "n"))
	if err != nil || !strings.HasPrefix(name, "n") {
		return -1
	}
	return id
}

// Leader: the stream's Raft leader; the meta leader is not looked up.
func (t *natsTarget) Leader(ctx context.Context) (int, int, error) {
	info, err := t.info(ctx)
	if err != nil {
		return -1, -1, err
	}
	if info.Cluster == nil || info.Cluster.Leader == "" {
		return -1, -1, nil
	}
	return nodeID(info.Cluster.Leader), -1, nil
}

// InSync: the stream has a leader, its two other replicas are current and
// online, and id (unless -1) is the leader or one of them.
func (t *natsTarget) InSync(ctx context.Context, id int) (bool, error) {
	info, err := t.info(ctx)
	if err != nil {
		return false, err
	}
	c := info.Cluster
	if c == nil || c.Leader == "" || len(c.Replicas) != 2 {
		return false, nil
	}
	found := id < 0 || nodeID(c.Leader) == id
	for _, r := range c.Replicas {
		if !r.Current || r.Offline {
			return false, nil
		}
		found = found || nodeID(r.Name) == id
	}
	return found, nil
}

func (t *natsTarget) ReadAll(ctx context.Context, fn func([]byte)) error {
	info, err := t.info(ctx)
	if err != nil {
		return err
	}
	last := info.State.LastSeq
	if info.State.Msgs == 0 {
		return nil
	}
	s, err := t.js.Stream(ctx, t.stream)
	if err != nil {
		return err
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		fn(m.Data())
		meta, err := m.Metadata()
		if err != nil {
			return err
		}
		if meta.Sequence.Stream >= last {
			return nil
		}
	}
}

func (t *natsTarget) Close() { t.nc.Close() }

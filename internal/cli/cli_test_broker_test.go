package cli

import (
	"context"
	"io"
	"log/slog"
	"testing"
)

// startBroker starts a one-node cluster in-process for one test, on
// 127.0.0.1 port 0, stops it in t.Cleanup, and returns its Kafka address.
func startBroker(t *testing.T) (addr string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	n, err := StartNode(ctx, ServeOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
		NodeID: 1, Settings: map[string]string{"group.initial.rebalance.delay.ms": "0"}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := n.Wait(); err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
	})
	return n.KafkaAddr.String()
}

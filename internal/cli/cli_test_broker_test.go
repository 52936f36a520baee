package cli

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"testing"
)

// startBroker starts a one-node cluster in-process for one test, on
// 127.0.0.1 port 0, stops it in t.Cleanup, and returns its Kafka address.
func startBroker(t *testing.T) (addr string) {
	t.Helper()
	return startBrokerWith(t, nil)
}

// startBrokerWith is startBroker with extra broker settings.
func startBrokerWith(t *testing.T, settings map[string]string) (addr string) {
	t.Helper()
	return startNodeWith(t, settings).KafkaAddr.String()
}

// startNodeWith is startBrokerWith returning the node, for its listeners.
func startNodeWith(t *testing.T, settings map[string]string) *Node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	all := map[string]string{"group.initial.rebalance.delay.ms": "0"}
	maps.Copy(all, settings)
	n, err := StartNode(ctx, ServeOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
		NodeID: 1, Settings: all}, slog.New(slog.NewTextHandler(io.Discard, nil)))
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
	return n
}

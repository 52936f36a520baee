package cli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// brokerID returns the node ID of the only broker of the cluster at addr.
func brokerID(t *testing.T, addr string) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	brokers, err := kadm.NewClient(newTestClient(t, addr)).ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("list brokers: got %v, %v; want one broker", brokers, err)
	}
	return brokers[0].NodeID
}

func TestClusterStatus(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "a", 3)
	createTopic(t, addr, "b", 1)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	meta, err := kadm.NewClient(newTestClient(t, addr)).BrokerMetadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(meta.Brokers) != 1 {
		t.Fatalf("got %d brokers, want 1", len(meta.Brokers))
	}
	b := meta.Brokers[0]
	rack := "-"
	if b.Rack != nil && *b.Rack != "" {
		rack = *b.Rack
	}
	id := fmt.Sprint(b.NodeID)
	idW, addrW := max(len("ID"), len(id)), max(len("ADDRESS"), len(addr))
	want := fmt.Sprintf("Cluster ID:  %s\n"+
		"Controller:  %d\n"+
		"Topics:      2 (4 partitions)\n"+
		"Internal:    0 (0 partitions)\n"+
		"Brokers:     1\n"+
		"%-*s  %-*s  RACK\n"+
		"%-*s  %-*s  %s\n", meta.Cluster, meta.Controller, idW, "ID", addrW, "ADDRESS", idW, id, addrW, addr, rack)
	if got := mustRun(t, cli, "", "cluster", "status"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

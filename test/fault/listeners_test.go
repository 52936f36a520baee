package fault

import (
	"context"
	"maps"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/test/cluster"
)

// TestNamedListeners runs a 3-node cluster whose nodes each have a second
// listener, EXTERNAL, besides the PLAINTEXT one they replicate over. A
// client that bootstraps on EXTERNAL is told only EXTERNAL addresses, and
// produces with acks=all and reads back through them while a partition
// leader is killed.
func TestNamedListeners(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	const topic, parts = "listeners", 3
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: maps.Clone(clusterSettings),
		Listeners: []cluster.Listener{{Name: "EXTERNAL", Protocol: "PLAINTEXT"}}})
	c.WaitReady(30 * time.Second)
	ext := c.ListenerClient(t, "EXTERNAL")
	adm := kadm.NewClient(ext)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}

	// Metadata and FindCoordinator on each listener name that listener's
	// addresses.
	for name, cl := range map[string]*kadm.Client{"EXTERNAL": adm, "PLAINTEXT": kadm.NewClient(c.Client(t))} {
		md, err := cl.BrokerMetadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 3 {
			t.Fatalf("%s: %d brokers, want 3", name, len(md.Brokers))
		}
		for _, b := range md.Brokers {
			want := c.Node(b.NodeID).KafkaAddr()
			if name == "EXTERNAL" {
				want = c.Node(b.NodeID).ListenerAddr(name)
			}
			if got := net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))); got != want {
				t.Errorf("%s: broker %d at %s, want %s", name, b.NodeID, got, want)
			}
		}
	}

	p := startProducer(t, ext, topic)
	p.waitAcked(t, 1000, 30*time.Second, "acks through EXTERNAL")
	killLeaderAndCheck(t, c, ext, p, topic, parts)
}

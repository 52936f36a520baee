package fault

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// TestDynamicListenersAcrossNodes changes node 1's listeners in a 3-node
// cluster of strata processes through IncrementalAlterConfigs: removing
// its EXTERNAL listener closes that port and takes node 1 out of what the
// other nodes answer on EXTERNAL; adding it back on another port puts it
// back at that port, clients produce through it, and a restart of node 1
// keeps the change (the metadata log holds it).
func TestDynamicListenersAcrossNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: clusterSettings,
		Listeners: []cluster.Listener{{Name: "EXTERNAL", Protocol: "PLAINTEXT"}}})
	c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.Client(t))
	n1 := c.Node(1)
	// Node 2's EXTERNAL listener answers for the cluster on that name.
	cl2, err := kgo.NewClient(kgo.SeedBrokers(c.Node(2).ListenerAddr("EXTERNAL")))
	if err != nil {
		t.Fatal(err)
	}
	defer cl2.Close()
	external := func() (string, bool) {
		// Asked of node 2 alone: a client's own metadata is cached.
		resp, err := cl2.Broker(2).RetriableRequest(ctx, kmsg.NewPtrMetadataRequest())
		if err != nil {
			t.Fatalf("metadata on node 2's EXTERNAL: %v", err)
		}
		for _, b := range resp.(*kmsg.MetadataResponse).Brokers {
			if b.NodeID == 1 {
				return net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port))), true
			}
		}
		return "", false
	}
	alter := func(listeners string) {
		t.Helper()
		rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "listeners", Value: &listeners}}, 1)
		if err != nil || len(rs) != 1 || rs[0].Err != nil {
			t.Fatalf("set listeners %s: %v %+v", listeners, err, rs)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		cluster.Eventually(t, 30*time.Second, what, cond)
	}
	refuses := func(addr string) bool {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	}

	oldExt := n1.ListenerAddr("EXTERNAL")
	if got, ok := external(); !ok || got != oldExt {
		t.Fatalf("before: node 1 on EXTERNAL at %q (%v), want %s", got, ok, oldExt)
	}
	alter("PLAINTEXT://" + n1.KafkaAddr())
	waitFor("node 1 gone from EXTERNAL metadata", func() bool { _, ok := external(); return !ok })
	waitFor("node 1's EXTERNAL port closed", func() bool { return refuses(oldExt) })

	ports, err := cluster.FreePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	newExt := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	alter("PLAINTEXT://" + n1.KafkaAddr() + ",EXTERNAL://" + newExt)
	waitFor("node 1 on EXTERNAL at "+newExt, func() bool { got, _ := external(); return got == newExt })

	// A client that knows only the EXTERNAL addresses reaches node 1 there.
	const topic = "dynlisteners"
	if res, err := adm.CreateTopic(ctx, 3, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	ext := c.ListenerClient(t, "EXTERNAL", kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ledger := cluster.NewLedger()
	for p := range int32(3) {
		v := []byte(fmt.Sprintf("dynlisteners-%d", p))
		ledger.Attempted(v)
		r := &kgo.Record{Topic: topic, Partition: p, Value: v}
		err := ext.ProduceSync(ctx, r).FirstErr()
		ledger.Promise(r, err)
		if err != nil {
			t.Fatalf("produce to partition %d through EXTERNAL: %v", p, err)
		}
	}

	n1.Stop()
	n1.Restart()
	n1.WaitReady(30 * time.Second)
	waitFor("node 1 on EXTERNAL at "+newExt+" after its restart", func() bool { got, _ := external(); return got == newExt })
	waitFor("the old EXTERNAL port closed after the restart", func() bool { return refuses(oldExt) })
	ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, ext, topic, 3))
}

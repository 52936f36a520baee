package fault

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// TestReadCommittedAfterFailover: transactions written on a leader (one
// committed, one aborted, one left open) read the same with read_committed
// from the follower that becomes leader when the old one is killed -9, and
// from the old leader again once it has recovered and leads once more.
func TestReadCommittedAfterFailover(t *testing.T) {
	const topic = "txn-failover"
	// Its hand-made transactions are known to no coordinator.
	c, cl := startClusterWith(t, topic, 1, map[string]string{"transaction.partition.verification.enable": "false"})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	txnID := kmsg.StringPtr("etl")
	v1 := c.Client(t, cluster.TxnV1())
	var ps [3]*cluster.TxnProducer
	for i := range ps {
		p, err := cluster.InitProducer(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	a, b, open := ps[0], ps[1], ps[2]
	for _, step := range []struct {
		p      *cluster.TxnProducer
		values []string
	}{{a, []string{"a1", "a2"}}, {b, []string{"b1"}}, {a, []string{"a3"}}, {open, []string{"c1"}}} {
		// A retriable error (the new topic's leader not known yet)
		// appended nothing: sending again is safe.
		cluster.Eventually(t, 30*time.Second, "produce "+step.values[0], func() bool {
			err := step.p.Produce(ctx, v1, topic, 0, txnID, step.values...)
			if err != nil && !kerr.IsRetriable(err) {
				t.Fatalf("produce %v: %v", step.values, err)
			}
			return err == nil
		})
	}
	for _, end := range []struct {
		p      *cluster.TxnProducer
		commit bool
	}{{a, true}, {b, false}} {
		resp, err := cluster.EndTxnRequest(end.p.ID, end.p.Epoch, end.commit, topic, 0).RequestWith(ctx, cl)
		if err == nil {
			err = cluster.EndTxnError(resp)
		}
		if err != nil {
			t.Fatalf("marker (commit %v): %v", end.commit, err)
		}
	}
	// Offsets: a1 a2 0-1, b1 2, a3 3, c1 4 (open), markers 5 and 6.
	old := c.Node(leaderOfNow(t, cl, topic, 0))
	check := func(stage string) {
		t.Helper()
		adm := kadm.NewClient(cl)
		cluster.Eventually(t, 30*time.Second, stage+": high watermark 7 and last stable offset 4", func() bool {
			hw, err1 := adm.ListEndOffsets(ctx, topic)
			lso, err2 := adm.ListCommittedOffsets(ctx, topic)
			h, _ := hw.Lookup(topic, 0)
			l, _ := lso.Lookup(topic, 0)
			return err1 == nil && err2 == nil && h.Err == nil && l.Err == nil && h.Offset == 7 && l.Offset == 4
		})
		for _, tt := range []struct {
			level kgo.IsolationLevel
			want  []string
		}{
			{kgo.ReadCommitted(), []string{"a1", "a2", "a3"}},
			{kgo.ReadUncommitted(), []string{"a1", "a2", "b1", "a3", "c1"}},
		} {
			if got := consumeAll(ctx, t, c, topic, tt.level, len(tt.want)); !slices.Equal(got, tt.want) {
				t.Fatalf("%s: consumed %q, want %q", stage, got, tt.want)
			}
		}
	}
	check("on the first leader")
	old.Kill()
	cluster.Eventually(t, 30*time.Second, "a new leader", func() bool {
		l := leaderOf(t, cl, topic, 0)
		return l > 0 && l != old.ID()
	})
	check("on the new leader")

	old.Restart()
	old.WaitReady(30 * time.Second)
	cluster.Eventually(t, 30*time.Second, "the killed node back in the ISR", func() bool { return inISR(t, cl, topic, 0, old.ID()) })
	cluster.Eventually(t, 30*time.Second, "the killed node leading again", func() bool {
		if leaderOf(t, cl, topic, 0) == old.ID() {
			return true
		}
		_, _ = kadm.NewClient(cl).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}})
		return false
	})
	check("on the recovered node")
}

// consumeAll reads n values from partition 0 of topic at the isolation
// level with a new consumer of c (see cluster.ConsumeValues).
func consumeAll(ctx context.Context, t *testing.T, c *cluster.Cluster, topic string, level kgo.IsolationLevel, n int) []string {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	return cluster.ConsumeValues(ctx, t, cl, n)
}

// Package fault tests a Strata cluster of real processes on 127.0.0.1
// under faults (kill -9, SIGSTOP, restarts with divergent logs): each test
// produces with acks=all through franz-go while it inflicts the fault, and
// ends by reading every partition back and checking that every
// acknowledged record is there exactly once, in order, at its offset.
package fault

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/stratalog/strata/test/cluster"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(cluster.WithCleanup(m))
}

// clusterSettings are the broker settings of the fault tests' clusters:
// RF 3 with acks=all needing 2 in-sync replicas, and a short session so a
// dead node is fenced fast.
var clusterSettings = map[string]string{
	"default.replication.factor":       "3",
	"min.insync.replicas":              "2",
	"offsets.topic.replication.factor": "3",
	"offsets.topic.num.partitions":     "3",
	"group.initial.rebalance.delay.ms": "0",
}

// startCluster starts a 3-node cluster and creates topic with partitions
// partitions, replication factor 3.
func startCluster(t *testing.T, topic string, partitions int32) (*cluster.Cluster, *kgo.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := adm.CreateTopic(ctx, partitions, 3, nil, topic)
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}
	return c, cl
}

// producer produces unique values to topic with acks=all from its own
// goroutine until stop, recording every outcome in a ledger.
type producer struct {
	ledger *cluster.Ledger
	acked  atomic.Int64
	errs   atomic.Int64
	cancel context.CancelFunc
	done   chan struct{}
}

func startProducer(t *testing.T, cl *kgo.Client, topic string) *producer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &producer{ledger: cluster.NewLedger(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			v := []byte(fmt.Sprintf("v-%08d", i))
			p.ledger.Attempted(v)
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Topic: topic, Value: v}, func(r *kgo.Record, err error) {
				defer wg.Done()
				<-sem
				p.ledger.Promise(r, err)
				if err != nil {
					p.errs.Add(1)
				} else {
					p.acked.Add(1)
				}
			})
		}
		wg.Wait()
	}()
	return p
}

func (p *producer) stop() {
	p.cancel()
	<-p.done
}

// waitAcked waits until n more records than now are acknowledged.
func (p *producer) waitAcked(t *testing.T, n int64, timeout time.Duration, what string) {
	t.Helper()
	want := p.acked.Load() + n
	eventually(t, timeout, what, func() bool { return p.acked.Load() >= want })
}

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// leaderOf returns the leader of topic's partition p, as node id.
func leaderOf(t *testing.T, cl *kgo.Client, topic string, p int32) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md, err := kadm.NewClient(cl).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	return md.Topics[topic].Partitions[p].Leader
}

// check reads every partition back and checks the ledger against it.
func check(t *testing.T, c *cluster.Cluster, cl *kgo.Client, p *producer, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recs := cluster.ReadAll(ctx, t, cl, topic, partitions)
	p.ledger.CheckAgainst(t, recs)
	t.Logf("%d records acknowledged, %d produce errors; all present once at their offsets", p.ledger.NumAcked(), p.errs.Load())
}

// TestKillLeaderDuringProduce kills -9 the leader of a partition while
// producers write with acks=all, waits for writes to go on without it,
// restarts it, and checks that nothing acknowledged was lost.
func TestKillLeaderDuringProduce(t *testing.T) {
	const topic, parts = "kill-leader", 3
	c, cl := startCluster(t, topic, parts)
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 2000, 30*time.Second, "acks before the fault")

	victim := c.Node(leaderOf(t, cl, topic, 0))
	victim.Kill()
	p.waitAcked(t, 2000, 30*time.Second, "acks with the leader dead")
	victim.Restart()
	victim.WaitReady(30 * time.Second)
	p.waitAcked(t, 2000, 30*time.Second, "acks after the restart")
	p.stop()
	check(t, c, cl, p, topic, parts)
}

package fault

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/test/cluster"
)

// BenchmarkControlledShutdown stops (SIGTERM) a node of a 3-node cluster
// that leads a third of 3,000 partitions while a franz-go producer writes
// 3,000 records/s round robin over all of them with acks=all, and reports
// how long the node took to exit and the longest produce the producer saw
// among the 12,000 records sent after the stop (about 4 s) and the 12,000
// before it:
//
//	go test -run '^$' -bench ControlledShutdown -benchtime 1x ./test/fault
func BenchmarkControlledShutdown(b *testing.B) {
	for range b.N {
		c := cluster.Start(b, cluster.Options{Nodes: 3, Settings: clusterSettings})
		c.WaitReady(30 * time.Second)
		cl := c.Client(b, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.DefaultProduceTopic("cs"))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		res, err := kadm.NewClient(cl).CreateTopic(ctx, 3000, 3, nil, "cs")
		if err == nil {
			err = res.Err
		}
		if err != nil {
			b.Fatal(err)
		}
		var mu sync.Mutex
		var before, after []time.Duration
		var stoppedAt time.Time
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Go(func() {
			tick := time.NewTicker(time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				for range 3 {
					sent := time.Now()
					cl.Produce(ctx, &kgo.Record{Value: []byte("x")}, func(_ *kgo.Record, err error) {
						d := time.Since(sent)
						mu.Lock()
						defer mu.Unlock()
						if err != nil {
							b.Errorf("produce: %v", err)
						}
						if stoppedAt.IsZero() || sent.Before(stoppedAt) {
							before = append(before, d)
						} else {
							after = append(after, d)
						}
					})
				}
			}
		})
		count := func(of *[]time.Duration) func() int {
			return func() int { mu.Lock(); defer mu.Unlock(); return len(*of) }
		}
		// Windows of acknowledgements, about 4 s each at 3,000 records/s:
		// the first warms the client up.
		waitAcks(b, count(&before), 12000, "acks of the warm-up")
		mu.Lock()
		before = before[:0]
		mu.Unlock()
		waitAcks(b, count(&before), 12000, "acks before the stop")
		victim := c.Node(2)
		mu.Lock()
		stoppedAt = time.Now()
		mu.Unlock()
		victim.Stop()
		took := time.Since(stoppedAt)
		waitAcks(b, count(&after), 12000, "acks after the stop")
		close(stop)
		wg.Wait()
		if err := cl.Flush(ctx); err != nil {
			b.Fatal(err)
		}
		cancel()
		mu.Lock()
		b.ReportMetric(took.Seconds(), "stop-s")
		b.ReportMetric(float64(slices.Max(after).Milliseconds()), "max-produce-after-ms")
		b.ReportMetric(float64(slices.Max(before).Milliseconds()), "max-produce-before-ms")
		mu.Unlock()
	}
}

// waitAcks waits until n() reaches want, for at most a minute.
func waitAcks(b *testing.B, n func() int, want int, what string) {
	b.Helper()
	cluster.Eventually(b, time.Minute, what, func() bool { return n() >= want })
}

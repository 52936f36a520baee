package fault

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// BenchmarkReassignment fills a 3-node cluster's 6-partition topic (RF 2)
// with 300 MiB, then moves one replica of every partition to a fourth node
// while a producer writes as fast as 16 requests in flight let it with
// acks=all, once without a throttle and once throttled to 20 MiB/s. It
// reports the MiB/s moved, the producer's throughput during the move as a
// share of its throughput over the 1,000 records before, and its p99 and
// longest produce during the move:
//
//	go test -run '^$' -bench Reassignment -benchtime 1x ./test/fault
func BenchmarkReassignment(b *testing.B) {
	for _, throttle := range []int64{0, 20 << 20} {
		name := "unthrottled"
		if throttle > 0 {
			name = fmt.Sprintf("throttle=%dMB", throttle>>20)
		}
		b.Run(name, func(b *testing.B) {
			for range b.N {
				r := reassignOnce(b, throttle)
				b.ReportMetric(r.movedMBps, "moved-MB/s")
				b.ReportMetric(r.share*100, "produce-throughput-%-of-before")
				b.ReportMetric(float64(r.p99.Microseconds())/1000, "produce-p99-ms")
				b.ReportMetric(float64(r.max.Microseconds())/1000, "produce-max-ms")
			}
		})
	}
}

// moveResult is what one reassignOnce measured.
type moveResult struct {
	movedMBps float64
	share     float64 // produce throughput during the move / before it
	p99, max  time.Duration
}

func reassignOnce(b *testing.B, throttle int64) moveResult {
	c := cluster.Start(b, cluster.Options{Nodes: 4, Voters: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	c.Node(4).Stop()
	const topic, parts, fill = "move", 6, 300 << 20
	cl := c.Client(b, kgo.DefaultProduceTopic(topic), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	assign := map[int32][]int32{}
	for p := range int32(parts) {
		assign[p] = []int32{p%3 + 1, (p+1)%3 + 1}
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := range int32(parts) {
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = p, assign[p]
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	}
	create.Topics = append(create.Topics, rt)
	if resp, err := create.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create %s: %v %v", topic, err, resp)
	}
	v := make([]byte, 64<<10)
	_, _ = rand.Read(v)
	for range fill / len(v) {
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil {
				b.Errorf("fill: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	c.Node(4).Restart()
	c.Node(4).WaitReady(30 * time.Second)
	if throttle > 0 {
		r := fmt.Sprint(throttle)
		if _, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.rate", Value: &r},
			{Name: "follower.replication.throttled.rate", Value: &r}}); err != nil {
			b.Fatal(err)
		}
		star := "*"
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "leader.replication.throttled.replicas", Value: &star},
			{Name: "follower.replication.throttled.replicas", Value: &star}}, topic); err != nil {
			b.Fatal(err)
		}
	}
	var mu sync.Mutex
	var lats []time.Duration
	var acked int64
	recordMoving := false
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		small := make([]byte, 10<<10)
		inflight := make(chan struct{}, 16)
		for {
			select {
			case <-stop:
				return
			case inflight <- struct{}{}:
			}
			sent := time.Now()
			cl.Produce(ctx, &kgo.Record{Value: small}, func(_ *kgo.Record, err error) {
				<-inflight
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					b.Errorf("produce during the move: %v", err)
				}
				acked++
				if recordMoving {
					lats = append(lats, time.Since(sent))
				}
			})
		}
	})
	ackedNow := func() int { mu.Lock(); defer mu.Unlock(); return int(acked) }
	waitAcks(b, ackedNow, 200, "acks of the warm-up")
	mu.Lock()
	acked = 0
	mu.Unlock()
	measured := time.Now()
	waitAcks(b, ackedNow, 1000, "acks before the move")
	mu.Lock()
	before := float64(acked) / time.Since(measured).Seconds()
	acked, recordMoving = 0, true
	mu.Unlock()
	move := kadm.AlterPartitionAssignmentsReq{}
	for p := range int32(parts) {
		move.Assign(topic, p, []int32{4, assign[p][1]})
	}
	start := time.Now()
	if _, err := adm.AlterPartitionAssignments(ctx, move); err != nil {
		b.Fatal(err)
	}
	set := kadm.TopicsSet{}
	set.Add(topic, 0, 1, 2, 3, 4, 5)
	cluster.Eventually(b, 4*time.Minute, "the moves done", func() bool {
		moving, err := adm.ListPartitionReassignments(ctx, set)
		return err == nil && len(moving) == 0
	})
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err := cl.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lats)
	return moveResult{movedMBps: float64(fill>>20) / took.Seconds(), share: float64(acked) / took.Seconds() / before,
		p99: lats[len(lats)*99/100], max: lats[len(lats)-1]}
}

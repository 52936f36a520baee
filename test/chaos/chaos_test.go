package chaos

import (
	"context"
	"fmt"
	"log"
	"math/rand/v2"
	"os"
	"strconv"
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
	goleak.VerifyTestMain(m,
		// franz-go keeps a dial goroutine past Close while a dial to a
		// cut link times out.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// settings of the chaos clusters: RF 3, acks=all needing 2 in-sync
// replicas, short timeouts so that faults are noticed within the run.
var settings = map[string]string{
	"default.replication.factor":            "3",
	"min.insync.replicas":                   "2",
	"offsets.topic.replication.factor":      "3",
	"broker.session.timeout.ms":             "1000",
	"controller.quorum.election.timeout.ms": "500",
	"replica.lag.time.max.ms":               "3000",
}

// envInt reads a positive integer from the environment, or def.
func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// TestLinearizableUnderFaults runs CHAOS_SEEDS seeds (default 2) of
// CHAOS_SECONDS seconds (default 6) each: producers and readers on one
// partition with RF 3 while the seed's faults come and go.
func TestLinearizableUnderFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("runs clusters for seconds")
	}
	seeds := envInt("CHAOS_SEEDS", 2)
	first := envInt("CHAOS_FIRST_SEED", 1)
	dur := time.Duration(envInt("CHAOS_SECONDS", 6)) * time.Second
	for seed := first; seed < first+seeds; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { runSeed(t, uint64(seed), dur) })
	}
}

// fault is one thing the schedule does, and how it is undone.
type fault struct {
	name string
	do   func()
	undo func()
}

func runSeed(t *testing.T, seed uint64, dur time.Duration) {
	nw := newNetwork(seed)
	c := startCluster(t, 3, nw, settings)
	const topic = "lin"
	admin := c.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), dur+90*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(admin).CreateTopic(ctx, 1, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}

	hist := cluster.NewLogHistory()
	ledger := cluster.NewLedger()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var errs atomic.Int64
	for w := range 3 {
		cl := c.client(t, kgo.DefaultProduceTopic(topic))
		wg.Go(func() { produceLoop(ctx, cl, hist, ledger, w, stop, &errs, true) })
	}
	// An acks=1 producer: what it writes may be lost or truncated, so its
	// records' outcome is unknown, but they make leaders append records
	// their followers do not have, which a failover must truncate.
	loose := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	wg.Go(func() { produceLoop(ctx, loose, hist, ledger, 3, stop, &errs, false) })
	for r := range 2 {
		wg.Go(func() { readLoop(ctx, t, c, topic, hist, 10+r, stop) })
	}

	rng := rand.New(rand.NewPCG(seed, 7))
	ids := c.ids()
	faults := []func() fault{
		func() fault {
			id := ids[rng.IntN(len(ids))]
			return fault{fmt.Sprintf("isolate node %d", id), func() { nw.isolate(id, ids, true) }, func() { nw.isolate(id, ids, false) }}
		},
		func() fault {
			return fault{"lossy raft network", func() { nw.setLossy(0.2, 0.1, 20*time.Millisecond) }, func() { nw.setLossy(0, 0, 0) }}
		},
		func() fault {
			nd := c.nodes[rng.IntN(len(c.nodes))]
			return fault{fmt.Sprintf("restart node %d", nd.id), func() { nd.stop(t) }, func() { nd.start(t) }}
		},
		func() fault { return fault{"nothing", func() {}, func() {}} },
	}
	end := time.Now().Add(dur)
	for time.Now().Before(end) {
		f := faults[rng.IntN(len(faults))]()
		hold := time.Duration(500+rng.IntN(1500)) * time.Millisecond
		t.Logf("%v: %s for %v", time.Since(end.Add(-dur)).Round(time.Millisecond), f.name, hold)
		f.do()
		// The fault's duration is what the test exercises, not a wait for a
		// condition; the test's deadline cuts it short.
		select {
		case <-time.After(hold):
		case <-ctx.Done():
		}
		f.undo()
	}
	nw.healAll()
	close(stop)
	wg.Wait()

	// Every offset up to the end, read once the faults are over, ends the
	// history: it pins or rules out every produce of unknown outcome.
	recs := cluster.ReadAll(ctx, t, c.client(t), topic, 1)
	tp := cluster.TopicPartition{Topic: topic, Partition: 0}
	for _, r := range recs[tp] {
		hist.Fetch(99, r.Offset).Got(r.Value)
	}
	if n := len(recs[tp]); n > 0 {
		hist.Fetch(99, recs[tp][n-1].Offset+1).NothingYet()
	}
	ledger.CheckAgainst(t, recs)
	if cluster.CheckLinearizable(t, hist, 60*time.Second) {
		t.Logf("seed %d: %d operations, %d records acknowledged, %d produces failed; linearizable", seed, hist.Len(), ledger.NumAcked(), errs.Load())
	}
	if ledger.NumAcked() == 0 {
		t.Fatal("nothing was acknowledged: the cluster made no progress")
	}
}

// produceLoop produces unique values one at a time until stop, recording
// each produce in the history and, when the client waits for all in-sync
// replicas (acksAll), the ledger; acks=1 acknowledgements promise nothing,
// so they are unknown outcomes.
func produceLoop(ctx context.Context, cl *kgo.Client, hist *cluster.LogHistory, ledger *cluster.Ledger, client int, stop <-chan struct{}, errs *atomic.Int64, acksAll bool) {
	// Paced, so that a cluster that carries on through the faults does
	// not make a history too long to check: acks=1 answers at once, so it
	// goes slower still.
	every := 2 * time.Millisecond
	if !acksAll {
		every = 5 * time.Millisecond
	}
	pace := time.NewTicker(every)
	defer pace.Stop()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-pace.C:
		}
		v := []byte(fmt.Sprintf("p%d-%06d", client, i))
		ledger.Attempted(v)
		call := hist.Produce(client, v)
		r := &kgo.Record{Value: v}
		start := time.Now()
		err := cl.ProduceSync(ctx, r).FirstErr()
		if !acksAll {
			call.Unknown()
			continue
		}
		ledger.Promise(r, err)
		if err != nil {
			call.Unknown()
			errs.Add(1)
			if errs.Load() <= 5 {
				log.Printf("chaos: produce %s failed after %v: %v", v, time.Since(start).Round(time.Millisecond), err)
			}
			continue
		}
		if d := time.Since(start); d > 500*time.Millisecond {
			log.Printf("chaos: produce %s took %v", v, d.Round(time.Millisecond))
		}
		call.Acked(r.Offset)
	}
}

// readLoop reads the partition from its start until stop, as a consumer
// tails it, recording every record read as a fetch of its offset. A fetch
// is recorded once its record is in hand, a window later than the read
// itself: that can only hide a violation, never make one up.
func readLoop(ctx context.Context, t *testing.T, c *testCluster, topic string, hist *cluster.LogHistory, client int, stop <-chan struct{}) {
	cl := c.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchMaxWait(200*time.Millisecond))
	for {
		select {
		case <-stop:
			return
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		fs.EachRecord(func(r *kgo.Record) { hist.Fetch(client, r.Offset).Got(r.Value) })
		if ctx.Err() != nil {
			return
		}
	}
}

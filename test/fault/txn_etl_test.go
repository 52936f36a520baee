package fault

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// etlPartitions is the number of partitions of the ETL's input and output.
const etlPartitions = 3

// etl is the exactly-once pipeline of test/e2e's TestExactlyOnceETL run
// against a cluster under faults: GroupTransactSession members of one group
// read topic in (pre-filled with the numbers 0..total-1), write each
// record as "out-N" to topic out and commit their input offsets in the
// same transaction. A member whose transaction cannot end starts a new
// session with the same transactional id; what the old one left open is
// aborted by the new one's InitProducerId or by its timeout, whichever
// comes first.
type etl struct {
	c              *cluster.Cluster
	name           string // the members' transactional ids are name-1, name-2, ...
	in, out, group string
	total          int
	endTxns        chan commitPhase // see endTxnHook
	failures       chan error
	stop           context.CancelFunc
	wg             sync.WaitGroup
	uncommitted    atomic.Int64    // transactions aborted or failed
	memberOpts     []kgo.Opt       // the members' client options after the ETL's own
	inputs         *cluster.Ledger // where the input records were acknowledged

	mu         sync.Mutex
	committers map[string]bool // transactional ids that committed a transaction
}

// etlSettings are the broker settings of the ETL tests: timed-out
// transactions (see member) are aborted within a second.
var etlSettings = map[string]string{
	"group.initial.rebalance.delay.ms":                            "0",
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
}

// commitPhase is a moment of a member's commit.
type commitPhase int

const (
	// endTxnSent: the EndTxn request is written to the coordinator,
	// which is logging PrepareCommit.
	endTxnSent commitPhase = iota
	// endTxnAnswered: PrepareCommit is logged and answered; the markers
	// are on their way to the partition leaders, and CompleteCommit is
	// logged after them.
	endTxnAnswered
)

func (p commitPhase) String() string { return [...]string{"EndTxn sent", "EndTxn answered"}[p] }

// endTxnHook signals each commitPhase of the members' EndTxn requests.
type endTxnHook chan commitPhase

func (h endTxnHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.signal(key, err, endTxnSent)
}

func (h endTxnHook) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	h.signal(key, err, endTxnAnswered)
}

// signal drops the phase when the channel is full: only the next ones
// matter.
func (h endTxnHook) signal(key int16, err error, p commitPhase) {
	if key == int16(kmsg.EndTxn) && err == nil {
		select {
		case h <- p:
		default:
		}
	}
}

// startETL creates the topics (replication factor rf), fills the input
// and starts members members, whose clients get memberOpts after the
// ETL's own options; they run until check, or until ctx ends.
func startETL(ctx context.Context, t *testing.T, c *cluster.Cluster, name string, rf int16, total, members int, memberOpts ...kgo.Opt) *etl {
	t.Helper()
	e := &etl{c: c, name: name, in: name + "-a", out: name + "-b", group: name + "-g", total: total, memberOpts: memberOpts,
		inputs: cluster.NewLedger(), committers: map[string]bool{}, endTxns: make(chan commitPhase, 64), failures: make(chan error, members)}
	cl := c.Client(t, kgo.DefaultProduceTopic(e.in))
	for _, topic := range []string{e.in, e.out} {
		res, err := kadm.NewClient(cl).CreateTopic(ctx, etlPartitions, rf, nil, topic)
		if err == nil {
			err = res.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	recs := make([]*kgo.Record, total)
	for i := range recs {
		recs[i] = kgo.StringRecord(strconv.Itoa(i))
	}
	res := cl.ProduceSync(ctx, recs...)
	for _, r := range res {
		e.inputs.Promise(r.Record, r.Err)
	}
	if err := res.FirstErr(); err != nil {
		t.Fatalf("fill %s: %v", e.in, err)
	}
	stopCtx, stop := context.WithCancel(ctx)
	e.stop = stop
	// Also when the test fails before check.
	t.Cleanup(func() { e.stop(); e.wg.Wait() })
	for i := range members {
		id := fmt.Sprintf("%s-%d", name, i+1)
		e.wg.Add(1)
		go e.member(ctx, stopCtx, id)
	}
	return e
}

// member runs sessions of transactional id until stopCtx ends; ctx bounds
// the requests of a transaction, which stops only between transactions.
func (e *etl) member(ctx, stopCtx context.Context, id string) {
	defer e.wg.Done()
	for stopCtx.Err() == nil {
		opts := []kgo.Opt{
			kgo.TransactionalID(id),
			// A session that failed leaves its transaction and its
			// member behind; both hold the group until they time out.
			kgo.TransactionTimeout(6 * time.Second),
			kgo.ConsumerGroup(e.group),
			kgo.SessionTimeout(6 * time.Second),
			kgo.HeartbeatInterval(time.Second),
			kgo.ConsumeTopics(e.in),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.DefaultProduceTopic(e.out),
			kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.FetchMaxWait(100 * time.Millisecond),
			kgo.WithHooks(endTxnHook(e.endTxns)),
		}
		sess, err := kgo.NewGroupTransactSession(e.c.ClientOpts(append(opts, e.memberOpts...)...)...)
		if err != nil {
			e.failures <- fmt.Errorf("%s: %w", id, err)
			return
		}
		err = e.transact(ctx, stopCtx, id, sess)
		sess.Close()
		if err != nil && ctx.Err() != nil {
			e.failures <- fmt.Errorf("%s: %w", id, err)
			return
		}
	}
}

// transact runs transactions on sess until stopCtx ends (nil) or one
// cannot end (its error: the session is no longer usable). Every fifth
// one is aborted.
func (e *etl) transact(ctx, stopCtx context.Context, id string, sess *kgo.GroupTransactSession) error {
	for n := 1; ; n++ {
		fs := sess.PollRecords(stopCtx, 10)
		if stopCtx.Err() != nil || fs.IsClientClosed() {
			return nil
		}
		rs := fs.Records()
		if len(rs) == 0 {
			continue
		}
		if err := sess.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		outs := make([]*kgo.Record, len(rs))
		for i, r := range rs {
			outs[i] = kgo.StringRecord("out-" + string(r.Value))
		}
		produced := sess.ProduceSync(ctx, outs...).FirstErr() == nil
		// Not committed (every fifth transaction is aborted, so that
		// kills land in aborts too; a rebalance): the session rewinds
		// and the records come again.
		committed, err := sess.End(ctx, kgo.TransactionEndTry(produced && n%5 != 0))
		if committed {
			e.mu.Lock()
			e.committers[id] = true
			e.mu.Unlock()
		} else {
			e.uncommitted.Add(1)
		}
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
	}
}

// killInCommit kills n -9 the after-th time from now that a member's
// commit reaches phase, so that the kill lands in the middle of a commit.
func (e *etl) killInCommit(t *testing.T, n *cluster.Node, phase commitPhase, after int) {
	t.Helper()
	e.awaitCommits(t, phase, after, fmt.Sprintf("killing node %d", n.ID()))
	n.Kill()
	t.Logf("killed node %d at %s, number %d from the start of the wait", n.ID(), phase, after)
}

// awaitCommits returns the after-th time from now that a member's commit
// reaches phase; it fails the test (saying what it was waiting to do) if
// that takes 30s or a member fails.
func (e *etl) awaitCommits(t *testing.T, phase commitPhase, after int, before string) {
	t.Helper()
	for len(e.endTxns) > 0 {
		<-e.endTxns
	}
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for seen := 0; seen < after; {
		select {
		case p := <-e.endTxns:
			if p == phase {
				seen++
			}
		case err := <-e.failures:
			t.Fatal(err)
		case <-deadline.C:
			t.Fatalf("%s %d of %d times before %s", phase, seen, after, before)
		}
	}
}

// check waits until a read_committed reader of out has seen every input,
// stops the members, and reads out to its end: every input must be there
// exactly once. An output whose transaction committed without its input
// offsets (or the reverse) shows as a duplicate (or a gap).
func (e *etl) check(ctx context.Context, t *testing.T) {
	t.Helper()
	reader := func() *kgo.Client {
		return e.c.Client(t, kgo.ConsumeTopics(e.out), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	}
	progress := reader()
	seen := map[string]bool{}
	for len(seen) < e.total {
		fs := progress.PollFetches(ctx)
		select {
		case err := <-e.failures:
			t.Fatal(err)
		default:
		}
		if ctx.Err() != nil {
			t.Fatalf("committed %d of %d inputs: %v", len(seen), e.total, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	progress.Close()
	e.stop()
	e.wg.Wait()

	// An END record after every transaction of each partition: the
	// reader is at the end of out when it has read them all.
	end := e.c.Client(t, kgo.DefaultProduceTopic(e.out), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for part := range int32(etlPartitions) {
		if err := end.ProduceSync(ctx, &kgo.Record{Value: []byte("END"), Partition: part}).FirstErr(); err != nil {
			t.Fatalf("end marker: %v", err)
		}
	}
	all := reader()
	counts := map[string]int{}
	for ends := 0; ends < etlPartitions; {
		fs := all.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: %v", e.out, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "END" {
				ends++
				return
			}
			counts[string(r.Value)]++
		})
	}
	var bad []string
	for i := range e.total {
		if v := "out-" + strconv.Itoa(i); counts[v] != 1 {
			bad = append(bad, fmt.Sprintf("%s×%d", v, counts[v]))
		}
	}
	if len(bad) > 0 || len(counts) != e.total {
		t.Fatalf("read_committed: %d distinct values, want %d; not exactly once: %s", len(counts), e.total, strings.Join(bad, " "))
	}
	t.Logf("every one of %d inputs committed exactly once; %d transactions aborted or failed", e.total, e.uncommitted.Load())
}

// checkInputs reads the input back: every input record is still where it
// was acknowledged (acks=all), whatever the faults did to its leaders.
func (e *etl) checkInputs(ctx context.Context, t *testing.T) {
	t.Helper()
	e.inputs.CheckAgainst(t, cluster.ReadAll(ctx, t, e.c.Client(t), e.in, etlPartitions))
}

// checkOffsetsAfterCrash kills n -9 (the group coordinator) once the
// members have stopped, restarts it, and checks that the group's committed
// offsets, as its new coordinator replays them, are the end of the input:
// the members, which keep their positions across a crash, would not
// notice offsets lost with it.
func (e *etl) checkOffsetsAfterCrash(ctx context.Context, t *testing.T, n *cluster.Node) {
	t.Helper()
	n.Kill()
	n.Restart()
	n.WaitReady(30 * time.Second)
	adm := kadm.NewClient(e.c.Client(t))
	ends, err := adm.ListEndOffsets(ctx, e.in)
	if err != nil {
		t.Fatalf("end offsets of %s: %v", e.in, err)
	}
	var got kadm.OffsetResponses
	cluster.Eventually(t, 30*time.Second, "the group's committed offsets", func() bool {
		got, err = adm.FetchOffsets(kadm.RequireStable(ctx), e.group)
		return err == nil && got.Error() == nil
	})
	ends.Each(func(end kadm.ListedOffset) {
		if o, _ := got.Lookup(e.in, end.Partition); o.At != end.Offset {
			t.Errorf("%s/%d: committed offset %d after the crash, want the end %d", e.in, end.Partition, o.At, end.Offset)
		}
	})
}

// TestExactlyOnceETLKillBroker kills -9 the only broker in the middle of
// commits of the ETL, three times, restarting it each time: as the
// coordinator logs PrepareCommit, and as it writes the markers; and once
// more at the end, to check the committed offsets it replays.
func TestExactlyOnceETLKillBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 1, Settings: etlSettings})
	c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := startETL(ctx, t, c, "etl-kill", 1, 1000, 2)
	rng := rand.New(rand.NewPCG(13, 1))
	n := c.Node(1)
	for _, phase := range []commitPhase{endTxnSent, endTxnAnswered, endTxnSent} {
		e.killInCommit(t, n, phase, 1+rng.IntN(5))
		n.Restart()
		n.WaitReady(30 * time.Second)
	}
	e.check(ctx, t)
	e.checkOffsetsAfterCrash(ctx, t, n)
}

// TestExactlyOnceETLKillCoordinatorAndLeader runs the ETL on three nodes
// (RF 3, min.insync.replicas 2) and kills -9 in the middle of commits the
// node coordinating the members' transactional ids (as it logs
// PrepareCommit, then as it writes the markers: its successor must finish
// the commit), then the leader of an output partition and the group
// coordinator (the leader of the group's __consumer_offsets partition,
// where the marker makes the offsets committed) as markers are on their
// way to them. Afterwards no transaction of the members stays prepared.
func TestExactlyOnceETLKillCoordinatorAndLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, etlSettings)
	// One __transaction_state partition: one coordinator for every member.
	settings["transaction.state.log.num.partitions"] = "1"
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: settings})
	c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const name = "etl-cluster"
	e := startETL(ctx, t, c, name, 3, 1000, 2)
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	rng := rand.New(rand.NewPCG(13, 3))

	coordinator := func() int32 { return e.txnCoordinator(ctx, t, adm) }
	groupCoordinator := func() int32 {
		var id int32
		cluster.Eventually(t, 30*time.Second, "the members' group coordinator", func() bool {
			r := adm.FindGroupCoordinators(ctx, e.group)[e.group]
			id = r.NodeID
			return r.Err == nil && id > 0
		})
		return id
	}
	outLeader := func() int32 { return leaderOfNow(t, cl, e.out, rng.Int32N(etlPartitions)) }
	for _, step := range []struct {
		victim func() int32
		phase  commitPhase
	}{{coordinator, endTxnSent}, {coordinator, endTxnAnswered}, {outLeader, endTxnAnswered}, {groupCoordinator, endTxnAnswered}} {
		n := c.Node(step.victim())
		e.killInCommit(t, n, step.phase, 1+rng.IntN(5))
		n.Restart()
		n.WaitReady(30 * time.Second)
		// Back in sync everywhere, so that the next kill leaves two
		// in-sync replicas of every partition.
		cluster.Eventually(t, 30*time.Second, "the restarted node in every ISR", func() bool {
			for topic, parts := range map[string]int32{e.in: etlPartitions, e.out: etlPartitions, "__transaction_state": 1, "__consumer_offsets": 3} {
				for p := range parts {
					if !inISR(t, cl, topic, p, n.ID()) {
						return false
					}
				}
			}
			return true
		})
	}
	e.check(ctx, t)
	e.checkOffsetsAfterCrash(ctx, t, c.Node(groupCoordinator()))

	e.checkComplete(ctx, t, adm)
}

// txnCoordinator returns the node coordinating the members' transactional
// ids (one __transaction_state partition: the same node for all).
func (e *etl) txnCoordinator(ctx context.Context, t *testing.T, adm *kadm.Client) int32 {
	t.Helper()
	id := e.name + "-1"
	var node int32
	cluster.Eventually(t, 30*time.Second, "the members' transaction coordinator", func() bool {
		r := adm.FindTxnCoordinators(ctx, id)[id]
		node = r.NodeID
		return r.Err == nil && node > 0
	})
	return node
}

// checkComplete waits until no transaction of the members stays open or
// prepared: every commit and abort they began has ended on every partition.
func (e *etl) checkComplete(ctx context.Context, t *testing.T, adm *kadm.Client) {
	t.Helper()
	ids := slices.Sorted(maps.Keys(e.committers))
	cluster.Eventually(t, 30*time.Second, "every transaction of the members complete", func() bool {
		txns, err := adm.DescribeTransactions(ctx, ids...)
		if err != nil {
			return false
		}
		for _, id := range ids {
			if s := txns[id].State; txns[id].Err != nil || !strings.HasPrefix(s, "Complete") && s != "Empty" {
				t.Logf("%s: %s %v", id, s, txns[id].Err)
				return false
			}
		}
		prepared, err := adm.ListTransactions(ctx, nil, []string{"PrepareCommit", "PrepareAbort"})
		return err == nil && len(prepared) == 0
	})
}

// TestExactlyOnceETLPauseCoordinator runs the ETL on three nodes (RF 3,
// min.insync.replicas 2) and stops (SIGSTOP) the node coordinating the
// members' transactional ids in the middle of a commit, for longer than
// broker.session.timeout.ms: it is fenced, another node takes over its
// transactions and the members commit through it while it is stopped. The
// paused node then resumes holding requests and transaction state from
// before its pause; the run must still finish with every input exactly
// once in the output (read_committed), every transaction ended, and every
// input record where it was acknowledged.
func TestExactlyOnceETLPauseCoordinator(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, etlSettings)
	settings["transaction.state.log.num.partitions"] = "1"
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: settings})
	c.WaitReady(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	// What an application that must ride out a hung broker sets, since a
	// stopped process still accepts connections and franz-go waits out
	// each request's read deadline on it: a request is given up after a
	// second; a JoinGroup or SyncGroup, which may wait the rebalance
	// timeout, after 5s; and a request retried for 5s fails, so that the
	// member starts a new session, which finds the new coordinators
	// (franz-go retries a coordinator request that timed out on the same
	// cached coordinator: it looks again only after a failed dial or a
	// NOT_COORDINATOR-like answer). With the defaults (overhead 5s, retry
	// 20s, rebalance 60s) the members stalled 25-60s while the broker
	// had moved everything within a second (3 of 37 runs; 1 of 40 with
	// the short timeouts but the 60s rebalance timeout).
	e := startETL(ctx, t, c, "etl-pause", 3, 1000, 2, kgo.RequestTimeoutOverhead(time.Second),
		kgo.ProduceRequestTimeout(time.Second), kgo.RetryTimeout(5*time.Second), kgo.RebalanceTimeout(5*time.Second))
	// Its requests to the paused node give up after a second.
	adm := kadm.NewClient(quickClient(c, t))

	n := c.Node(e.txnCoordinator(ctx, t, adm))
	// Either as PrepareCommit is being logged or as the markers are on
	// their way; and the pause lasts a few commits of the new
	// coordinator, up to a few transaction and group session timeouts.
	phase := []commitPhase{endTxnSent, endTxnAnswered}[rand.IntN(2)]
	e.awaitCommits(t, phase, 1+rand.IntN(5), fmt.Sprintf("pausing node %d", n.ID()))
	n.Pause()
	pausedAt := time.Now()
	cluster.Eventually(t, 30*time.Second, "another transaction coordinator", func() bool {
		return e.txnCoordinator(ctx, t, adm) != n.ID()
	})
	commits := 1 + rand.IntN(10)
	e.awaitCommits(t, endTxnAnswered, commits, "resuming")
	t.Logf("node %d paused at %s for %v: fenced, and %d commits answered by node %d", n.ID(), phase,
		time.Since(pausedAt).Round(time.Millisecond), commits, e.txnCoordinator(ctx, t, adm))
	n.Resume()
	n.WaitReady(30 * time.Second)
	e.check(ctx, t)
	e.checkComplete(ctx, t, adm)
	e.checkInputs(ctx, t)
}

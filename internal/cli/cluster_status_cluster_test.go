package cli

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// pollStatus runs `strata cluster status` against bootstrap until ok
// accepts its output, failing the test (see waitFor) with the last output
// and ok's last complaint.
func pollStatus(t *testing.T, bootstrap string, what string, ok func(statusTable) string) statusTable {
	t.Helper()
	var last statusTable
	var out, complaint string
	waitFor(t, what, func() (bool, string) {
		stdout, stderr, err := execute(t, noEnv, nil, "", "--brokers", bootstrap, "--timeout", "5s", "cluster", "status")
		if err != nil {
			complaint = fmt.Sprintf("cluster status: %v\n%s", err, stderr)
			return false, complaint
		}
		out, last = stdout, parseStatus(t, stdout)
		complaint = ok(last)
		return complaint == "", complaint + "\n" + out
	})
	return last
}

// quorumRoles checks that the rows show one Raft leader, which is the
// controller, and the other voters as followers.
func quorumRoles(st statusTable, voters int) string {
	leaders, followers := 0, 0
	for _, r := range st.rows {
		switch r["RAFT"] {
		case raftLeader:
			leaders++
			if r["CONTROLLER"] != "yes" {
				return fmt.Sprintf("the Raft leader %s is not shown as the controller", r["ID"])
			}
		case raftFollower:
			followers++
		}
	}
	if leaders != 1 || followers != voters-1 {
		return fmt.Sprintf("got %d leaders and %d followers, want 1 and %d", leaders, followers, voters-1)
	}
	return ""
}

// TestClusterStatusThreeNodes runs `strata cluster status` against three
// strata processes, then kills one that is not the quorum leader, starts it
// again and gives it its leadership back with `strata cluster
// elect-leaders`.
func TestClusterStatusThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: map[string]string{
		"default.replication.factor": "3",
		"min.insync.replicas":        "2",
	}})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 3, nil, "orders")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	healthy := pollStatus(t, c.Bootstrap(), "three healthy nodes", func(st statusTable) string {
		if len(st.rows) != 3 {
			return fmt.Sprintf("got %d nodes, want 3", len(st.rows))
		}
		for _, r := range st.rows {
			if r["STATUS"] != "alive" || r["LAG"] != "0" {
				return fmt.Sprintf("node %s: status %s, lag %s; want alive, 0", r["ID"], r["STATUS"], r["LAG"])
			}
		}
		if got := st.header["Partitions"]; got != "0 under-replicated, 0 offline" {
			return "Partitions: " + got
		}
		if got := st.header["Topics"]; got != "1 (3 partitions)" {
			return "Topics: " + got
		}
		return quorumRoles(st, 3)
	})
	var leader, victim string
	for _, r := range healthy.rows {
		if r["RAFT"] == raftLeader {
			leader = r["ID"]
		} else if victim == "" {
			victim = r["ID"]
		}
	}
	if !strings.HasPrefix(healthy.header["Quorum"], "leader "+leader+",") || healthy.header["Controller"] != leader {
		t.Errorf("Quorum %q, Controller %q: want leader %s in both", healthy.header["Quorum"], healthy.header["Controller"], leader)
	}
	checkQuorumEverywhere(t, c, leader)

	// Every partition has a replica on every node, so all three become
	// under-replicated when the victim is fenced (fenced replicas leave the
	// ISR), and none goes offline.
	var v *cluster.Node
	for _, n := range c.Nodes() {
		if fmt.Sprint(n.ID()) == victim {
			v = n
		}
	}
	v.Kill()
	pollStatus(t, c.Bootstrap(), "node "+victim+" fenced", func(st statusTable) string {
		if len(st.rows) != 3 {
			return fmt.Sprintf("got %d nodes, want 3", len(st.rows))
		}
		for _, r := range st.rows {
			want := "alive"
			if r["ID"] == victim {
				want = "fenced"
				// Its log stopped where it died; the fencing and the
				// ISR changes were written after.
				if r["LAG"] == "0" || r["LAG"] == "-" {
					return fmt.Sprintf("node %s: lag %s, want more than 0", victim, r["LAG"])
				}
			}
			if r["STATUS"] != want {
				return fmt.Sprintf("node %s: status %s, want %s", r["ID"], r["STATUS"], want)
			}
		}
		if got := st.header["Partitions"]; got != "3 under-replicated, 0 offline" {
			return "Partitions: " + got
		}
		if got := st.header["Nodes"]; got != "3 (1 fenced)" {
			return "Nodes: " + got
		}
		return quorumRoles(st, 3)
	})

	// Back, the victim leads nothing until an election gives it the
	// partition whose preferred replica it is.
	v.Restart()
	v.WaitReady(30 * time.Second)
	pollStatus(t, c.Bootstrap(), "node "+victim+" back in every ISR", func(st statusTable) string {
		if got := st.header["Partitions"]; got != "0 under-replicated, 0 offline" {
			return "Partitions: " + got
		}
		if got := st.header["Leaders"]; got != "1 partitions led by other than their preferred replica" {
			return "Leaders: " + got
		}
		return ""
	})
	out, stderr, err := execute(t, noEnv, nil, "", "--brokers", c.Bootstrap(), "cluster", "elect-leaders", "--all-topic-partitions")
	if err != nil || !strings.Contains(out, "1 partitions got a new leader, 0 failed") {
		t.Fatalf("elect-leaders: %v\n%s%s", err, out, stderr)
	}
	pollStatus(t, c.Bootstrap(), "every partition led by its preferred replica", func(st statusTable) string {
		if got := st.header["Leaders"]; got != "0 partitions led by other than their preferred replica" {
			return "Leaders: " + got
		}
		return ""
	})
	out, _, err = execute(t, noEnv, nil, "", "--brokers", c.Bootstrap(), "cluster", "elect-leaders", "--topic", "orders", "--partition", "0")
	if err != nil || !strings.Contains(out, "not needed") {
		t.Errorf("elect-leaders of a partition its preferred replica leads: %v\n%s", err, out)
	}
	if _, _, err := execute(t, noEnv, nil, "", "--brokers", c.Bootstrap(), "cluster", "elect-leaders", "--topic", "orders", "--type", "wrong"); err == nil {
		t.Errorf("elect-leaders --type wrong: no error")
	}
}

// copiedRe matches the progress of a replica being added whose size and
// its leader's are known.
var copiedRe = regexp.MustCompile(`^(\d+): (.+) of (.+) \((\d+)%\)$`)

// TestClusterStatusShowsMoves moves partition 0 of a topic holding 3 MB
// from node 1 to node 3 through a 1 kB/s throttle, and partition 1 to node
// 4, which is down. `strata cluster status` lists both moves, node 3's copy
// partway (the throttle lets one fetch of at most 1 MiB through, then holds
// it for many minutes) and node 4's size unknown, and node 1, their leader,
// reports the bytes still to copy on /metrics. Cancelled, the moves leave
// the status and the metric.
func TestClusterStatusShowsMoves(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 4})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "moving"
	cluster.CreateAssigned(ctx, t, cl, topic, [][]int32{{1, 2}, {1, 2}})
	prod := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	var recs []*kgo.Record
	for range 300 {
		r := &kgo.Record{Partition: 0, Value: make([]byte, 10_000)}
		_, _ = rand.Read(r.Value) // incompressible, so the log holds 3 MB
		recs = append(recs, r)
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	c.Node(4).Kill()

	plan := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(plan, []byte(`{"version":1,"partitions":[`+
		`{"topic":"moving","partition":0,"replicas":[3,2]},{"topic":"moving","partition":1,"replicas":[4,2]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, stderr, err := execute(t, noEnv, nil, "", "--brokers", c.Bootstrap(), "partitions", "reassign",
		"--execute", plan, "--no-wait", "--throttle", "1000"); err != nil {
		t.Fatalf("reassign --execute: %v\n%s%s", err, out, stderr)
	}
	pollStatus(t, c.Bootstrap(), "both moves listed, node 3's copy partway", func(st statusTable) string {
		if got := st.header["Moving"]; got != "2 partitions being reassigned" {
			return "Moving: " + got
		}
		if len(st.moves) != 2 || st.more != "" {
			return fmt.Sprintf("got moves %v and %q, want 2 rows", st.moves, st.more)
		}
		want := []map[string]string{
			{"TOPIC": topic, "PARTITION": "0", "LEADER": "1", "REPLICAS": "3,2,1", "ADDING": "3", "REMOVING": "1"},
			{"TOPIC": topic, "PARTITION": "1", "LEADER": "1", "REPLICAS": "4,2,1", "ADDING": "4", "REMOVING": "1"},
		}
		for i, m := range st.moves {
			for k, v := range want[i] {
				if m[k] != v {
					return fmt.Sprintf("move %d: %s %q, want %q", i, k, m[k], v)
				}
			}
		}
		copied := copiedRe.FindStringSubmatch(st.moves[0]["PROGRESS"])
		if copied == nil || copied[1] != "3" {
			return "progress of partition 0: " + st.moves[0]["PROGRESS"]
		}
		// 0% until node 3's first fetch lands; never 100% through the
		// throttle.
		if pct, _ := strconv.Atoi(copied[4]); pct <= 0 || pct >= 100 {
			return "progress of partition 0: " + st.moves[0]["PROGRESS"]
		}
		if p := st.moves[1]["PROGRESS"]; !strings.HasPrefix(p, "4: ? of ") {
			return "progress of partition 1 (node 4 is down): " + p
		}
		return ""
	})
	waitFor(t, "node 1 reports bytes to copy", func() (bool, string) {
		v, ok := c.Node(1).Metric("strata_reassignment_remaining_bytes")
		return ok && v > 0, fmt.Sprintf("strata_reassignment_remaining_bytes %v (found %v)", v, ok)
	})

	if out, stderr, err := execute(t, noEnv, nil, "", "--brokers", c.Bootstrap(), "partitions", "reassign", "--cancel", plan); err != nil {
		t.Fatalf("reassign --cancel: %v\n%s%s", err, out, stderr)
	}
	pollStatus(t, c.Bootstrap(), "no move left", func(st statusTable) string {
		if got := st.header["Moving"]; got != "0 partitions being reassigned" || len(st.moves) != 0 {
			return fmt.Sprintf("Moving: %s, %d rows", got, len(st.moves))
		}
		return ""
	})
	waitFor(t, "node 1 reports nothing to copy", func() (bool, string) {
		v, ok := c.Node(1).Metric("strata_reassignment_remaining_bytes")
		return ok && v == 0, fmt.Sprintf("strata_reassignment_remaining_bytes %v (found %v)", v, ok)
	})
}

// checkQuorumEverywhere sends DescribeQuorum to every node itself, not
// only to the controller as franz-go does: the nodes that are not the
// quorum leader forward it, so every answer names the same leader and
// describes three voters.
func checkQuorumEverywhere(t *testing.T, c *cluster.Cluster, leader string) {
	t.Helper()
	for _, n := range c.Nodes() {
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.KafkaAddr()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		p, err := describeQuorumOnce(ctx, seedOnly{cl})
		cancel()
		cl.Close()
		if err != nil {
			t.Errorf("node %d: describe quorum: %v", n.ID(), err)
			continue
		}
		var voters []int32
		for _, v := range p.CurrentVoters {
			voters = append(voters, v.ReplicaID)
		}
		if fmt.Sprint(p.LeaderID) != leader || !slices.Equal(voters, []int32{1, 2, 3}) {
			t.Errorf("node %d: got leader %d, voters %v; want %s, [1 2 3]", n.ID(), p.LeaderID, voters, leader)
		}
	}
}

// seedOnly sends every request to the client's first seed broker, where
// franz-go would send DescribeQuorum to the controller.
type seedOnly struct{ cl *kgo.Client }

func (s seedOnly) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return s.cl.SeedBrokers()[0].Request(ctx, req)
}

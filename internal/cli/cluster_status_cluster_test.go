package cli

import (
	"context"
	"fmt"
	"slices"
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

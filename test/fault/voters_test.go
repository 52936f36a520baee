package fault

import (
	"context"
	"net"
	"os/exec"
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

// TestVoterChangeAcrossRestarts replaces voter 1 with the broker-only node
// 4 (KIP-853, through `strata cluster voters`) while voter 3 is down, then
// restarts every node with the command line it first had: node 3 catches
// up on the change it missed, each restarted node takes the log's voters
// over its --controller-voters list, node 4's Raft listener, which no list
// names, is recorded in the metadata log (DescribeQuorum shows it), and
// the quorum of 2, 3 and 4 carries on through a rolling restart and the
// stop of node 1. Nothing acknowledged is lost.
func TestVoterChangeAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	const topic, parts = "voters", 4
	c := cluster.Start(t, cluster.Options{Nodes: 4, Voters: 3, ControllerListeners: true, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	bin := cluster.Build(t)
	voters := func(args ...string) string {
		t.Helper()
		args = append([]string{"--brokers", c.Bootstrap(), "cluster", "voters"}, args...)
		out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 500, 30*time.Second, "acks")

	c.Node(3).Stop()
	voters("add", "4")
	voters("remove", "1")
	p.waitAcked(t, 500, 30*time.Second, "acks with node 3 down after the voter change")

	c.Node(3).Restart()
	c.Node(3).WaitReady(30 * time.Second)
	waitInSync(ctx, t, cl, topic)
	waitVoters(ctx, t, cl, 3, []int32{2, 3, 4})
	cluster.Eventually(t, 10*time.Second, "node 4's controller listener in DescribeQuorum", func() bool {
		q, err := cluster.DescribeQuorum(ctx, cl.Broker(2))
		if err != nil {
			return false
		}
		return slices.ContainsFunc(q.Nodes, func(n kmsg.DescribeQuorumResponseNode) bool {
			return n.NodeID == 4 && len(n.Listeners) == 1 &&
				net.JoinHostPort(n.Listeners[0].Host, strconv.Itoa(int(n.Listeners[0].Port))) == c.Node(4).ControllerAddr()
		})
	})

	for _, id := range []int32{2, 4, 3, 1} {
		c.Node(id).Stop()
		c.Node(id).Restart()
		c.Node(id).WaitReady(30 * time.Second)
		// As an operator's rolling restart does: the next stop must leave
		// every partition in-sync replicas.
		waitInSync(ctx, t, cl, topic)
		waitVoters(ctx, t, cl, id, []int32{2, 3, 4})
		p.waitAcked(t, 300, 30*time.Second, "acks after restarting node "+strconv.Itoa(int(id)))
	}
	if log := c.Node(2).LogTail(400); !strings.Contains(log, "differs from the voters in the metadata log") {
		t.Errorf("node 2 did not say that its voters list differs from its log's:\n%s", log)
	}
	c.Node(1).Stop()
	p.waitAcked(t, 300, 30*time.Second, "acks with node 1 stopped")
	out := voters("describe")
	for _, id := range []string{"2", "3", "4"} {
		if !hasRole(out, id, "voter", "leader") {
			t.Errorf("node %s is not a voter:\n%s", id, out)
		}
	}
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// waitInSync waits until every partition of topic has all its replicas in
// its ISR.
func waitInSync(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) {
	t.Helper()
	cluster.Eventually(t, 30*time.Second, "every replica of "+topic+" in sync", func() bool {
		md, err := kadm.NewClient(cl).Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, p := range md.Topics[topic].Partitions {
			if len(p.ISR) != len(p.Replicas) {
				return false
			}
		}
		return true
	})
}

// waitVoters waits until the quorum's voters are want and node id's copy
// of the metadata log has caught up with the quorum's, asking node id
// (which forwards DescribeQuorum to the quorum's leader).
func waitVoters(ctx context.Context, t *testing.T, cl *kgo.Client, id int32, want []int32) {
	t.Helper()
	cluster.Eventually(t, 30*time.Second, "node "+strconv.Itoa(int(id))+" caught up with the voters", func() bool {
		resp, err := cluster.DescribeQuorum(ctx, cl.Broker(int(id)))
		if err != nil || len(resp.Topics) == 0 || len(resp.Topics[0].Partitions) == 0 {
			return false
		}
		q := resp.Topics[0].Partitions[0]
		var got []int32
		for _, v := range q.CurrentVoters {
			got = append(got, v.ReplicaID)
		}
		caughtUp := slices.ContainsFunc(append(q.CurrentVoters, q.Observers...), func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState) bool {
			return r.ReplicaID == id && r.LogEndOffset >= q.HighWatermark
		})
		slices.Sort(got)
		return caughtUp && slices.Equal(got, want)
	})
}

// hasRole reports whether the `voters describe` table out shows node id
// in one of roles.
func hasRole(out, id string, roles ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == id && slices.Contains(roles, f[1]) {
			return true
		}
	}
	return false
}

package fault

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// strataCLI runs the strata binary with args against c and returns its
// stdout and stderr, failing the test if it fails.
func strataCLI(t *testing.T, c *cluster.Cluster, args ...string) (string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(cluster.Build(t), append([]string{"--brokers", c.Bootstrap()}, args...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("strata %v: %v\nstdout:\n%s\nstderr:\n%s", args, err, stdout.String(), stderr.String())
	}
	return stdout.String(), stderr.String()
}

var planMoves = regexp.MustCompile(`the plan moves (\d+) replicas`)

// TestGrowAndRebalance grows a 3-node cluster to 4 under acks=all load:
// `strata partitions reassign --generate` plans a quarter of the replicas
// onto the new node, --execute moves them while the producer writes, and
// --verify confirms it. The producer sees no error, and once the new node
// leads the partitions it prefers, every acknowledged record reads back
// once, from the new replicas among others.
func TestGrowAndRebalance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 4, Voters: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	// Node 4 is the one added: down while the topic is placed.
	c.Node(4).Stop()
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic, parts = "grow", 12
	if res, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 3000, 30*time.Second, "acks on three nodes")
	c.Node(4).Restart()
	c.Node(4).WaitReady(30 * time.Second)

	plan, summary := strataCLI(t, c, "partitions", "reassign", "--generate", "--broker-ids", "1,2,3,4", "--topic", topic)
	m := planMoves.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no summary of the plan:\n%s", summary)
	}
	if moves, _ := strconv.Atoi(m[1]); moves != parts*3/4 {
		t.Errorf("the plan moves %d replicas, want a quarter of %d: %d\n%s", moves, parts*3, parts*3/4, summary)
	}
	file := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(file, []byte(plan), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ := strataCLI(t, c, "partitions", "reassign", "--execute", file, "--throttle", "50000000")
	if !regexp.MustCompile(`All \d+ partitions moved`).MatchString(out) || !strings.Contains(out, "Replication throttle removed.") {
		t.Fatalf("execute did not report the moves done and the throttle removed:\n%s", out)
	}
	tc, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range tc[0].Configs {
		if strings.HasSuffix(cfg.Key, ".replication.throttled.replicas") && cfg.MaybeValue() != "" {
			t.Errorf("%s left set to %q", cfg.Key, cfg.MaybeValue())
		}
	}
	out, _ = strataCLI(t, c, "partitions", "reassign", "--verify", file)
	t.Logf("%s\n%s", summary, out)
	p.waitAcked(t, 2000, 30*time.Second, "acks after the moves")
	p.stop()
	if n := p.errs.Load(); n != 0 {
		t.Errorf("the producer saw %d errors during the moves", n)
	}

	strataCLI(t, c, "cluster", "elect-leaders", "--all-topic-partitions")
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	led := 0
	for _, mp := range md.Topics[topic].Partitions {
		if mp.Leader == 4 {
			led++
		}
	}
	if led != parts/4 {
		t.Errorf("node 4 leads %d partitions after the preferred election, want %d", led, parts/4)
	}
	check(t, c, cl, p, topic, parts)
}

// TestDecommissionUnderLoad takes the broker-only node 4 out of a loaded
// 4-node cluster with `strata cluster decommission 4`: its replicas move to
// the others, it is unregistered, and once stopped it leaves the metadata
// quorum's learners. The producer sees no error and nothing is lost.
func TestDecommissionUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	const topic, parts = "shrink", 8
	c, cl, adm, ctx := startFourNodes(t, topic, parts)
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 3000, 30*time.Second, "acks on four nodes")

	out, _ := strataCLI(t, c, "cluster", "decommission", "4")
	if !strings.Contains(out, "Node 4 is unregistered") {
		t.Fatalf("decommission did not finish:\n%s", out)
	}
	t.Logf("decommission:\n%s", out)
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, mp := range md.Topics[topic].Partitions {
		if slices.Contains(mp.Replicas, 4) {
			t.Errorf("partition %d still has a replica on node 4: %v", mp.Partition, mp.Replicas)
		}
	}
	dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range dc.Brokers {
		if b.NodeID == 4 {
			t.Errorf("node 4 still registered: %+v", b)
		}
	}
	p.waitAcked(t, 2000, 30*time.Second, "acks after the decommission")
	c.Node(4).Stop()
	cluster.Eventually(t, 20*time.Second, "node 4 out of the metadata quorum", func() bool {
		req := kmsg.NewPtrDescribeQuorumRequest()
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = "__cluster_metadata"
		rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
		req.Topics = append(req.Topics, rt)
		q, err := req.RequestWith(ctx, cl)
		if err != nil || len(q.Topics) == 0 || len(q.Topics[0].Partitions) == 0 || q.Topics[0].Partitions[0].ErrorCode != 0 {
			return false
		}
		return !slices.ContainsFunc(q.Topics[0].Partitions[0].Observers,
			func(o kmsg.DescribeQuorumResponseTopicPartitionReplicaState) bool { return o.ReplicaID == 4 })
	})
	p.stop()
	if n := p.errs.Load(); n != 0 {
		t.Errorf("the producer saw %d errors", n)
	}
	check(t, c, cl, p, topic, parts)
}

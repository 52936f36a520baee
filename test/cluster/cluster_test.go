package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestNodeArgs(t *testing.T) {
	opts := Options{Nodes: 5, Voters: 3, LogLevel: "debug",
		Settings: map[string]string{"num.partitions": "3", "log.flush.interval.messages": "1"}}
	ports := []nodePorts{{9001, 9101, 9201, nil}, {9002, 9102, 9202, nil}, {9003, 9103, 9203, nil}, {9004, 9104, 0, nil}, {9005, 9105, 0, nil}}
	voters := "1@127.0.0.1:9201,2@127.0.0.1:9202,3@127.0.0.1:9203"
	for _, tc := range []struct {
		id   int32
		want []string
	}{
		{2, []string{"serve", "--node-id", "2", "--data-dir", "d", "--listen", "127.0.0.1:9002", "--admin", "127.0.0.1:9102",
			"--controller-voters", voters, "--controller-listen", "127.0.0.1:9202", "--log-level", "debug",
			"--set", "log.flush.interval.messages=1", "--set", "num.partitions=3"}},
		{4, []string{"serve", "--node-id", "4", "--data-dir", "d", "--listen", "127.0.0.1:9004", "--admin", "127.0.0.1:9104",
			"--controller-voters", voters, "--log-level", "debug",
			"--set", "log.flush.interval.messages=1", "--set", "num.partitions=3"}},
	} {
		if got := nodeArgs(tc.id, "d", opts, ports); !slices.Equal(got, tc.want) {
			t.Errorf("node %d:\ngot  %q\nwant %q", tc.id, got, tc.want)
		}
	}
}

func TestLastLines(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"a\nb\nc\n", 2, "b\nc"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\nc\n", 3, "a\nb\nc"},
		{"a\nb\nc\n", 10, "a\nb\nc"},
		{"a\nb\nc\n", 0, ""},
	} {
		if got := lastLines(tc.s, tc.n); got != tc.want {
			t.Errorf("lastLines(%q, %d): got %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestSmokeKill9 is the pattern of a fault test on today's one-node
// cluster: produce with acks=all into a ledger, kill -9, restart, read
// everything back and check it.
func TestSmokeKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := Start(t, Options{Nodes: 1, Voters: 1,
		// fsync before acknowledging: one node has no replicas to lose
		// the page cache to.
		Settings: map[string]string{"log.flush.interval.messages": "1"}})
	c.WaitReady(30 * time.Second)
	n := c.Node(1)
	if n.ControllerAddr() == "" {
		t.Fatal("node 1 of a one-voter cluster has no controller listener")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic, partitions, records = "smoke", 3, 100
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	res, err := kadm.NewClient(cl).CreateTopics(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatalf("create topic: %v", err)
	}

	ledger := NewLedger()
	var wg sync.WaitGroup
	for i := range records {
		v := fmt.Appendf(nil, "smoke-%d", i)
		ledger.Attempted(v)
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{Value: v, Partition: int32(i % partitions)}, func(r *kgo.Record, err error) {
			defer wg.Done()
			ledger.Promise(r, err)
			if err != nil {
				t.Errorf("produce %s: %v", r.Value, err)
			}
		})
	}
	wg.Wait()
	if got := ledger.NumAcked(); got != records {
		t.Fatalf("got %d acknowledged records, want %d", got, records)
	}

	n.Kill()
	if n.Running() {
		t.Fatal("node still running after Kill")
	}
	n.Restart()
	n.WaitReady(30 * time.Second)
	if got, want := c.Bootstrap(), n.KafkaAddr(); got != want {
		t.Errorf("Bootstrap: got %q, want %q", got, want)
	}

	read := ReadAll(ctx, t, cl, topic, partitions)
	ledger.CheckAgainst(t, read)
	total := 0
	for _, rs := range read {
		total += len(rs)
	}
	if total != records {
		t.Errorf("read %d records, want %d", total, records)
	}
	if got := strings.Count(n.LogTail(1000), "strata ready"); got != 2 {
		t.Errorf("the node's log has %d ready lines, want 2 (one per start)", got)
	}
}

// TestPauseResumeStop pauses a node (it must stop answering), resumes it,
// stops it with SIGTERM (also while paused) and restarts it.
func TestPauseResumeStop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := Start(t, Options{Nodes: 1})
	c.WaitReady(30 * time.Second)
	n := c.Node(1)

	n.Pause()
	quick := &http.Client{Timeout: 200 * time.Millisecond}
	if resp, err := quick.Get("http://" + n.AdminAddr() + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatal("a paused node answered /healthz")
	}
	if !n.Running() {
		t.Fatal("a paused node must count as running")
	}
	n.Resume()
	n.WaitReady(10 * time.Second)

	n.Stop()
	if n.Running() {
		t.Fatal("node still running after Stop")
	}
	n.Restart()
	n.WaitReady(30 * time.Second)
	n.Pause()
	n.Stop() // resumes it so it can handle SIGTERM
	if n.Running() {
		t.Fatal("paused node still running after Stop")
	}
}

// TestRestartWaitsForATakenPort restarts a node while another process
// holds its Kafka port: the start fails with "address already in use", is
// retried once the port is free, and succeeds.
func TestRestartWaitsForATakenPort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := Start(t, Options{Nodes: 1})
	n := c.Node(1)
	n.Kill()
	ln, err := net.Listen("tcp", n.KafkaAddr())
	if err != nil {
		t.Fatalf("take the node's port: %v", err)
	}
	defer ln.Close()

	done := make(chan error, 1)
	go func() { done <- n.start() }()
	Eventually(t, 30*time.Second, "a start failing with address already in use", func() bool {
		return strings.Contains(n.LogTail(100), "address already in use")
	})
	ln.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("start: %v", err)
		}
	case <-time.After(startTimeout + 5*time.Second):
		t.Fatal("start did not return")
	}
	n.WaitReady(30 * time.Second)
	if log := n.LogTail(1000); !strings.Contains(log, "(attempt 2)") {
		t.Errorf("no second attempt in the log:\n%s", log)
	}
}

// TestThreeNodes starts the default cluster; today each node still runs as
// a cluster of one, so this checks only the processes and addresses.
func TestThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := Start(t, Options{})
	c.WaitReady(30 * time.Second)
	nodes := c.Nodes()
	if len(nodes) != 3 {
		t.Fatalf("got %d nodes, want 3", len(nodes))
	}
	want := []string{nodes[0].KafkaAddr(), nodes[1].KafkaAddr(), nodes[2].KafkaAddr()}
	if got := c.Bootstrap(); got != strings.Join(want, ",") {
		t.Errorf("Bootstrap: got %q, want %q", got, strings.Join(want, ","))
	}
	for _, n := range nodes {
		if n.ControllerAddr() == "" {
			t.Errorf("node %d: no controller listener, but all three are voters", n.ID())
		}
	}
	c.Node(2).Kill()
	if got, want := c.Bootstrap(), want[0]+","+want[2]; got != want {
		t.Errorf("Bootstrap after killing node 2: got %q, want %q", got, want)
	}
}

package cluster

import (
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNodeArgs(t *testing.T) {
	opts := Options{Nodes: 5, Voters: 3, LogLevel: "debug",
		Settings: map[string]string{"num.partitions": "3", "log.flush.interval.messages": "1"}}
	ports := []nodePorts{{9001, 9101, 9201}, {9002, 9102, 9202}, {9003, 9103, 9203}, {9004, 9104, 0}, {9005, 9105, 0}}
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

// eventually polls cond until it holds, failing the test after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
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
	eventually(t, 30*time.Second, "a start failing with address already in use", func() bool {
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

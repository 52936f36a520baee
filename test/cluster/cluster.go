package cluster

import (
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Options configures Start. The zero value is a three-node cluster whose
// nodes are all controller voters.
type Options struct {
	// Nodes is the number of nodes; 0 means 3.
	Nodes int
	// Voters is how many nodes (ids 1..Voters) are controller voters; 0
	// means min(3, Nodes).
	Voters int
	// ControllerListeners gives every node a Raft listener, broker-only
	// nodes too (as a node to be made a voter later wants one).
	ControllerListeners bool
	// Settings are broker settings by their Kafka names, given to every
	// node as --set key=value.
	Settings map[string]string
	// LogLevel is the nodes' --log-level; "" means info.
	LogLevel string
	// NodeSettings are settings of one node by id, over Settings (a node
	// with other credentials or another certificate).
	NodeSettings map[int32]map[string]string
	// Listeners are Kafka listeners every node has besides PLAINTEXT
	// (the one at KafkaAddr), each on a port of its own.
	Listeners []Listener
}

// Listener is a named Kafka listener and its security protocol.
type Listener struct {
	Name, Protocol string
}

// Cluster is a set of `strata serve` processes on 127.0.0.1 started by
// Start for one test; they are killed when the test ends.
type Cluster struct {
	t     testing.TB
	nodes []*Node // nodes[i] has id i+1
}

// nodePorts are the loopback ports of one node; raft is 0 for a node
// without a Raft listener; extra are those of Options.Listeners.
type nodePorts struct {
	kafka, admin, raft int
	extra              []int
}

// Start builds strata (once per test binary, see Build) and starts a cluster
// of opts.Nodes processes, each with its own data directory and free
// loopback ports. It returns once every process has bound its listeners;
// call WaitReady to wait until they serve. When the test ends, every node
// still running is killed, and if the test failed the last 50 lines of each
// node's log are printed (and whole logs kept in $STRATA_TEST_LOGS, if set).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bin := Build(t)
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	if opts.Voters == 0 {
		opts.Voters = min(3, opts.Nodes)
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.Nodes < 1 || opts.Voters < 1 || opts.Voters > opts.Nodes {
		t.Fatalf("cluster.Start: want 1 <= Voters <= Nodes, got Nodes=%d Voters=%d", opts.Nodes, opts.Voters)
	}

	// All ports are picked at once so no two nodes get the same one.
	listeners := opts.Voters
	if opts.ControllerListeners {
		listeners = opts.Nodes
	}
	free, err := FreePorts(2*opts.Nodes + listeners + opts.Nodes*len(opts.Listeners))
	if err != nil {
		t.Fatal(err)
	}
	ports := make([]nodePorts, opts.Nodes)
	extra := free[2*opts.Nodes+listeners:]
	for i := range ports {
		ports[i] = nodePorts{kafka: free[2*i], admin: free[2*i+1]}
		if i < listeners {
			ports[i].raft = free[2*opts.Nodes+i]
		}
		ports[i].extra, extra = extra[:len(opts.Listeners)], extra[len(opts.Listeners):]
	}

	// t.TempDir before t.Cleanup: cleanups run last-in first-out, so the
	// nodes are killed before their directories are removed.
	root := t.TempDir()
	c := &Cluster{t: t}
	httpClient := &http.Client{Timeout: time.Second}
	for i := range opts.Nodes {
		id := int32(i + 1)
		dataDir := filepath.Join(root, fmt.Sprintf("node%d", id))
		n := &Node{
			id:      id,
			t:       t,
			bin:     bin,
			args:    nodeArgs(id, dataDir, opts, ports),
			dataDir: dataDir,
			logPath: filepath.Join(dataDir, "strata.log"),
			kafka:   loopback(ports[i].kafka),
			admin:   loopback(ports[i].admin),
			ports:   []int{ports[i].kafka, ports[i].admin},
			http:    httpClient,
		}
		if ports[i].raft != 0 {
			n.raft = loopback(ports[i].raft)
			n.ports = append(n.ports, ports[i].raft)
		}
		n.listeners = map[string]string{}
		for j, l := range opts.Listeners {
			n.listeners[l.Name] = loopback(ports[i].extra[j])
			n.ports = append(n.ports, ports[i].extra[j])
		}
		c.nodes = append(c.nodes, n)
	}
	t.Cleanup(c.cleanup)

	// Nodes start concurrently: a node of a real cluster may wait for the
	// others before it binds everything.
	errs := make([]error, len(c.nodes))
	var wg sync.WaitGroup
	for i, n := range c.nodes {
		if err := os.MkdirAll(n.dataDir, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { errs[i] = n.start() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("start node %d: %v", i+1, err)
		}
	}
	return c
}

// nodeArgs returns the `strata serve` arguments of node id.
func nodeArgs(id int32, dataDir string, opts Options, ports []nodePorts) []string {
	var voters []string
	for i := range opts.Voters {
		voters = append(voters, fmt.Sprintf("%d@%s", i+1, loopback(ports[i].raft)))
	}
	p := ports[id-1]
	args := []string{"serve",
		"--node-id", strconv.Itoa(int(id)),
		"--data-dir", dataDir,
		"--listen", loopback(p.kafka),
		"--admin", loopback(p.admin),
		"--controller-voters", strings.Join(voters, ","),
	}
	if p.raft != 0 {
		args = append(args, "--controller-listen", loopback(p.raft))
	}
	args = append(args, "--log-level", opts.LogLevel)
	settings := maps.Clone(opts.Settings)
	if settings == nil {
		settings = map[string]string{}
	}
	maps.Copy(settings, opts.NodeSettings[id])
	if len(opts.Listeners) > 0 {
		listeners := []string{"PLAINTEXT://" + loopback(p.kafka)}
		protocols := []string{"PLAINTEXT:PLAINTEXT"}
		for j, l := range opts.Listeners {
			listeners = append(listeners, l.Name+"://"+loopback(p.extra[j]))
			protocols = append(protocols, l.Name+":"+l.Protocol)
		}
		settings["listeners"] = strings.Join(listeners, ",")
		if _, set := settings["listener.security.protocol.map"]; !set {
			settings["listener.security.protocol.map"] = strings.Join(protocols, ",")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(settings)) { // the same command line every run
		args = append(args, "--set", k+"="+settings[k])
	}
	return args
}

// cleanup kills every node and, if the test failed, prints their logs.
func (c *Cluster) cleanup() {
	for _, n := range c.nodes {
		n.mu.Lock()
		p := n.proc
		n.mu.Unlock()
		if p != nil && !p.exited() {
			p.cmd.Process.Signal(syscall.SIGKILL)
			<-p.done
		}
	}
	if c.t.Failed() {
		for _, n := range c.nodes {
			c.t.Logf("node %d log (last 50 lines):\n%s", n.id, n.LogTail(50))
		}
		c.keepLogs()
	}
}

// keepLogs copies every node's whole log into the directory named by
// $STRATA_TEST_LOGS, if set, as TEST-TIME-nodeN.log: a flake found by running a
// test many times needs more than the tail, and the data directories are
// removed with the test.
func (c *Cluster) keepLogs() {
	dir := os.Getenv("STRATA_TEST_LOGS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.t.Logf("keep logs: %v", err)
		return
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(c.t.Name()) + time.Now().Format("-150405.000")
	for _, n := range c.nodes {
		data, err := os.ReadFile(n.logPath)
		if err == nil {
			dst := filepath.Join(dir, fmt.Sprintf("%s-node%d.log", name, n.id))
			err = os.WriteFile(dst, data, 0o644)
			c.t.Logf("node %d log kept in %s", n.id, dst)
		}
		if err != nil {
			c.t.Logf("keep node %d log: %v", n.id, err)
		}
	}
}

// Node returns the node with the given id (1-based).
func (c *Cluster) Node(id int32) *Node {
	c.t.Helper()
	if id < 1 || int(id) > len(c.nodes) {
		c.t.Fatalf("cluster has nodes 1..%d, no node %d", len(c.nodes), id)
	}
	return c.nodes[id-1]
}

// Nodes returns every node, in id order.
func (c *Cluster) Nodes() []*Node { return slices.Clone(c.nodes) }

// Bootstrap returns the comma-separated Kafka addresses of the running
// nodes, for a client's bootstrap servers.
func (c *Cluster) Bootstrap() string {
	var addrs []string
	for _, n := range c.nodes {
		if n.Running() {
			addrs = append(addrs, n.KafkaAddr())
		}
	}
	return strings.Join(addrs, ",")
}

// WaitReady waits until every running node answers GET /readyz with 200,
// failing the test if that takes longer than timeout in all.
func (c *Cluster) WaitReady(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		if err := n.waitReady(deadline); err != nil {
			c.t.Fatalf("node %d: %v", n.id, err)
		}
	}
}

// Client returns a franz-go client seeded with every node (running or not,
// so it finds restarted ones), closed when the test ends. Its defaults
// suit fault tests: many quick retries bounded in time, fast metadata
// refreshes to find new leaders, and produce and request timeouts that
// turn a paused or dead node into an error rather than a hang. opts are
// applied after the defaults and override them.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(c.ClientOpts(opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// ClientOpts returns the options of Client followed by opts, for clients
// built another way (kgo.NewGroupTransactSession).
func (c *Cluster) ClientOpts(opts ...kgo.Opt) []kgo.Opt {
	seeds := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		seeds[i] = n.KafkaAddr()
	}
	return append(clientDefaults(seeds), opts...)
}

// ListenerClient is Client bootstrapped on every node's listener of that
// name, one of Options.Listeners.
func (c *Cluster) ListenerClient(t testing.TB, name string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	seeds := make([]string, len(c.nodes))
	for i, n := range c.nodes {
		seeds[i] = n.ListenerAddr(name)
	}
	cl, err := kgo.NewClient(append(clientDefaults(seeds), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// clientDefaults are the options of Client and of ReadAll's consumer.
func clientDefaults(seeds []string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.RequestRetries(1000),
		kgo.RetryTimeout(20 * time.Second),
		kgo.RetryBackoffFn(func(tries int) time.Duration {
			return min(10*time.Millisecond<<min(tries, 5), 250*time.Millisecond)
		}),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.DialTimeout(3 * time.Second),
		kgo.RequestTimeoutOverhead(5 * time.Second),
		kgo.RecordDeliveryTimeout(30 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}
}

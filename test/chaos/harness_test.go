// Package chaos runs a Strata cluster of nodes in this one process over a
// network the test controls: Raft messages and heartbeats between nodes are
// dropped, delayed, duplicated or cut at random, links between brokers are
// partitioned, nodes restart, all from a seed. Producers and consumers record
// a history of one partition's log, which must be linearizable (porcupine)
// and keep every acknowledged record.
//
// `make test` runs a few fixed seeds; `make chaos` runs many more, longer.
package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/internal/raft"
	"github.com/stratalog/strata/test/cluster"
)

var _ raft.Faults = (*network)(nil)

// network is the fault-injecting network between the nodes: it decides
// the fate of every Raft message (raft.Faults) and dials the brokers'
// replica connections, cutting those across a partition.
type network struct {
	mu       sync.Mutex
	rng      *rand.Rand
	cut      map[[2]int32]bool // links cut, both ways
	drop     float64           // chance a Raft message is dropped
	dup      float64           // chance one is sent twice
	maxDelay time.Duration     // a Raft message waits up to this long
	addrs    map[string]int32  // Kafka address to node
	conns    map[[2]int32]map[net.Conn]bool
}

func newNetwork(seed uint64) *network {
	return &network{rng: rand.New(rand.NewPCG(seed, seed^0x5eed)), cut: map[[2]int32]bool{}, addrs: map[string]int32{},
		conns: map[[2]int32]map[net.Conn]bool{}}
}

// Message is raft.Faults for every node: from and to are node ids.
func (n *network) Message(from, to uint64) (bool, time.Duration, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cut[link(int32(from), int32(to))] || n.rng.Float64() < n.drop {
		return true, 0, false
	}
	var delay time.Duration
	if n.maxDelay > 0 {
		delay = time.Duration(n.rng.Int64N(int64(n.maxDelay)))
	}
	return false, delay, n.rng.Float64() < n.dup
}

func link(a, b int32) [2]int32 {
	if a > b {
		a, b = b, a
	}
	return [2]int32{a, b}
}

// dialer returns node self's dialer of other brokers: refused across a cut
// link, and remembered so that a later cut closes it.
func (n *network) dialer(self int32) func(context.Context, string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		n.mu.Lock()
		to, known := n.addrs[addr]
		l := link(self, to)
		cut := known && n.cut[l]
		n.mu.Unlock()
		if cut {
			return nil, fmt.Errorf("chaos: link %d-%d is cut", self, to)
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil || !known {
			return c, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if n.cut[l] {
			c.Close()
			return nil, fmt.Errorf("chaos: link %d-%d is cut", self, to)
		}
		if n.conns[l] == nil {
			n.conns[l] = map[net.Conn]bool{}
		}
		n.conns[l][c] = true
		return c, nil
	}
}

// isolate cuts (or heals) every link of node id to the others.
func (n *network) isolate(id int32, others []int32, on bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, o := range others {
		if o == id {
			continue
		}
		l := link(id, o)
		n.cut[l] = on
		if on {
			for c := range n.conns[l] {
				c.Close()
			}
			delete(n.conns, l)
		}
	}
}

// setLossy sets the chance of drops and duplicates and the longest delay
// of Raft messages.
func (n *network) setLossy(drop, dup float64, maxDelay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.drop, n.dup, n.maxDelay = drop, dup, maxDelay
}

// healAll ends every fault.
func (n *network) healAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.cut)
	n.drop, n.dup, n.maxDelay = 0, 0, 0
}

// node is one in-process node.
type node struct {
	id     int32
	opts   cli.ServeOptions
	logger *slog.Logger
	mu     sync.Mutex
	n      *cli.Node
	cancel context.CancelFunc
}

func (nd *node) start(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	retry := time.NewTicker(50 * time.Millisecond) // a port of the previous run may not be free yet
	defer retry.Stop()
	for {
		ctx, cancel := context.WithCancel(context.Background())
		n, err := cli.StartNode(ctx, nd.opts, nd.logger.With("node", nd.id))
		if err == nil {
			nd.mu.Lock()
			nd.n, nd.cancel = n, cancel
			nd.mu.Unlock()
			return
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("start node %d: %v", nd.id, err)
		}
		<-retry.C
	}
}

// stop stops the node cleanly and waits for it.
func (nd *node) stop(t *testing.T) {
	t.Helper()
	nd.mu.Lock()
	n, cancel := nd.n, nd.cancel
	nd.n, nd.cancel = nil, nil
	nd.mu.Unlock()
	if n == nil {
		return
	}
	cancel()
	if err := n.Wait(); err != nil {
		t.Errorf("node %d stopped with error: %v", nd.id, err)
	}
}

// testCluster is an in-process cluster on a fault-injecting network.
type testCluster struct {
	net   *network
	nodes []*node
	seeds []string
}

// startCluster starts n voters with settings on the network nw.
func startCluster(t *testing.T, n int, nw *network, settings map[string]string) *testCluster {
	return startClusterEach(t, n, nw, func(int32) map[string]string { return settings })
}

// startClusterEach is startCluster with each node's settings from settings.
func startClusterEach(t *testing.T, n int, nw *network, settings func(id int32) map[string]string) *testCluster {
	return startClusterOf(t, n, n, nw, settings)
}

// startClusterOf starts n nodes, the first voters of them controller
// voters and the others broker-only nodes.
func startClusterOf(t *testing.T, n, nVoters int, nw *network, settings func(id int32) map[string]string) *testCluster {
	t.Helper()
	var out io.Writer = io.Discard
	if os.Getenv("STRATA_TEST_LOG") != "" {
		out = os.Stderr
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ports, err := cluster.FreePorts(2 * n)
	if err != nil {
		t.Fatal(err)
	}
	var voters []cli.Voter
	for i := range nVoters {
		voters = append(voters, cli.Voter{ID: int32(i + 1), Addr: "127.0.0.1:" + strconv.Itoa(ports[n+i])})
	}
	c := &testCluster{net: nw}
	for i := range n {
		id := int32(i + 1)
		addr := "127.0.0.1:" + strconv.Itoa(ports[i])
		nw.addrs[addr] = id
		c.seeds = append(c.seeds, addr)
		controller := ""
		if i < nVoters {
			controller = voters[i].Addr
		}
		c.nodes = append(c.nodes, &node{id: id, logger: logger, opts: cli.ServeOptions{
			DataDir: t.TempDir(), Listen: addr, Admin: "127.0.0.1:0", LogLevel: "info", NodeID: id,
			ControllerListen: controller, ControllerVoters: voters, Settings: settings(id),
			Faults: nw, Dial: nw.dialer(id),
		}})
	}
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Go(func() { nd.start(t) })
	}
	wg.Wait()
	t.Cleanup(func() {
		nw.healAll()
		for _, nd := range c.nodes {
			nd.stop(t)
		}
	})
	return c
}

func (c *testCluster) ids() []int32 {
	ids := make([]int32, len(c.nodes))
	for i, nd := range c.nodes {
		ids[i] = nd.id
	}
	return ids
}

// client returns a franz-go client of the cluster, closed at the end of the
// test, with retries suited to faults.
func (c *testCluster) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(c.seeds...),
		kgo.RequestRetries(1000),
		kgo.RetryTimeout(15 * time.Second),
		kgo.RetryBackoffFn(func(tries int) time.Duration { return min(10*time.Millisecond<<min(tries, 5), 200*time.Millisecond) }),
		kgo.MetadataMinAge(100 * time.Millisecond),
		kgo.DialTimeout(2 * time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second),
		kgo.ProduceRequestTimeout(2 * time.Second),
		kgo.RecordDeliveryTimeout(15 * time.Second),
		kgo.RequiredAcks(kgo.AllISRAcks()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

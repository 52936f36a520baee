package fault

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/test/cluster"
)

// TestBrokerOnlyNode runs three voters and a fourth node that is a broker
// only: it joins the quorum as a learner, registers, takes replicas, and
// its death is survived like any broker's.
func TestBrokerOnlyNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	const topic, parts = "four", 4
	c, cl, adm, ctx := startFourNodes(t, topic, parts)
	// Metadata may come from a node that has not applied the topic yet.
	var md kadm.Metadata
	cluster.Eventually(t, 10*time.Second, "every partition in the metadata", func() bool {
		var err error
		md, err = adm.Metadata(ctx, topic)
		return err == nil && len(md.Topics[topic].Partitions) == parts
	})
	if len(md.Brokers) != 4 {
		t.Fatalf("got brokers %v, want 4", md.Brokers)
	}
	on4 := 0
	for _, p := range md.Topics[topic].Partitions {
		for _, r := range p.Replicas {
			if r == 4 {
				on4++
			}
		}
	}
	if on4 == 0 {
		t.Fatal("the broker-only node holds no replica")
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 1000, 30*time.Second, "acks")
	c.Node(4).Kill()
	p.waitAcked(t, 1000, 30*time.Second, "acks with the broker-only node dead")
	c.Node(4).Restart()
	c.Node(4).WaitReady(30 * time.Second)
	p.waitAcked(t, 1000, 30*time.Second, "acks with it back")
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// startFourNodes starts three voters and the broker-only node 4, and
// creates topic with partitions partitions of replication factor 3. The
// context lasts two minutes.
func startFourNodes(t *testing.T, topic string, partitions int32) (*cluster.Cluster, *kgo.Client, *kadm.Client, context.Context) {
	t.Helper()
	c := cluster.Start(t, cluster.Options{Nodes: 4, Voters: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	if res, err := adm.CreateTopic(ctx, partitions, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	return c, cl, adm, ctx
}

// TestMisconfigurationRefused starts nodes a cluster must refuse, and
// checks each is refused with a message naming the problem while the
// cluster goes on.
func TestMisconfigurationRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	bin := cluster.Build(t)
	voters := votersOf(c)

	t.Run("two nodes with one id", func(t *testing.T) {
		out := runUntil(t, bin, "DUPLICATE_BROKER_REGISTRATION", "serve", "--node-id", "2", "--data-dir", t.TempDir(),
			"--listen", freeAddr(t), "--admin", freeAddr(t), "--controller-listen", freeAddr(t), "--controller-voters", voters)
		if !strings.Contains(out, "node id 2 is in use by a live process") {
			t.Fatalf("the second node 2 did not say why it was refused:\n%s", out)
		}
		c.Node(2).WaitReady(5 * time.Second)
	})

	t.Run("a new voter with another voters list", func(t *testing.T) {
		addr := freeAddr(t)
		runUntil(t, bin, "INCONSISTENT_VOTER_SET", "serve", "--node-id", "4", "--data-dir", t.TempDir(),
			"--listen", freeAddr(t), "--admin", freeAddr(t), "--controller-listen", addr, "--controller-voters", voters+",4@"+addr)
	})

	t.Run("restart with another voters list", func(t *testing.T) {
		// The log's voters win over the list, which is logged: after
		// voters are added or removed, nodes keep their first command line.
		n := c.Node(3)
		n.Stop()
		out := runUntilReady(t, bin, "serve", "--node-id", "3", "--data-dir", n.DataDir(), "--listen", freeAddr(t), "--admin", freeAddr(t),
			"--controller-listen", n.ControllerAddr(), "--controller-voters", voters+",4@"+freeAddr(t))
		if !strings.Contains(out, "the controller voters list differs from the voters in the metadata log") || !strings.Contains(out, `log="[1 2 3]"`) {
			t.Fatalf("the node did not say its list differs from its log's:\n%s", out)
		}
		n.Restart()
		n.WaitReady(30 * time.Second)
	})

	t.Run("data directory of another node", func(t *testing.T) {
		out, err := exec.Command(bin, "serve", "--node-id", "7", "--data-dir", c.Node(1).DataDir(), "--listen", freeAddr(t), "--admin", freeAddr(t),
			"--controller-voters", voters).CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || !bytes.Contains(out, []byte("belongs to node 1, not node 7")) {
			t.Fatalf("got %v:\n%s\nwant a refusal naming the directory's node", err, out)
		}
	})

	t.Run("replication factor above the live brokers", func(t *testing.T) {
		adm := kadm.NewClient(c.Client(t))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := adm.CreateTopic(ctx, 1, 4, nil, "rf4")
		if err == nil {
			err = res.Err
		}
		if !errors.Is(err, kerr.InvalidReplicationFactor) {
			t.Fatalf("RF 4 on 3 brokers: got %v, want INVALID_REPLICATION_FACTOR", err)
		}
		c.Node(1).Kill()
		cluster.Eventually(t, 30*time.Second, "the dead broker fenced", func() bool {
			// A request of its own: kadm answers BrokerMetadata from the
			// client's cached metadata.
			resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, c.Client(t))
			return err == nil && len(resp.Brokers) == 2
		})
		res, err = adm.CreateTopic(ctx, 1, 3, nil, "rf3")
		if err == nil {
			err = res.Err
		}
		if !errors.Is(err, kerr.InvalidReplicationFactor) {
			t.Fatalf("RF 3 with 2 live brokers: got %v, want INVALID_REPLICATION_FACTOR", err)
		}
		c.Node(1).Restart()
		c.Node(1).WaitReady(30 * time.Second)
	})
}

// votersOf returns the cluster's controller.quorum.voters list.
func votersOf(c *cluster.Cluster) string {
	var vs []string
	for _, n := range c.Nodes() {
		if n.ControllerAddr() != "" {
			vs = append(vs, strconv.Itoa(int(n.ID()))+"@"+n.ControllerAddr())
		}
	}
	return strings.Join(vs, ",")
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runUntil runs bin with args until its output shows want (within 20 s),
// then kills it, and returns the output; a process that never becomes
// ready is the point, so it fails the test if the output says it is.
func runUntil(t *testing.T, bin, want string, args ...string) string {
	t.Helper()
	output, _ := runBackground(t, bin, args...)
	cluster.Eventually(t, 20*time.Second, "the refusal "+want, func() bool { return strings.Contains(output(), want) })
	if s := output(); strings.Contains(s, "strata ready") {
		t.Fatalf("the misconfigured node became ready:\n%s", s)
	}
	return output()
}

// runUntilReady runs bin with args until its output says it is ready
// (within 20 s), then kills it, and returns the output.
func runUntilReady(t *testing.T, bin string, args ...string) string {
	t.Helper()
	output, kill := runBackground(t, bin, args...)
	defer kill()
	cluster.Eventually(t, 20*time.Second, "strata ready", func() bool { return strings.Contains(output(), "strata ready") })
	return output()
}

// runBackground starts bin with args and returns a function that reads its
// output so far and one that kills it (at the latest when the test ends).
func runBackground(t *testing.T, bin string, args ...string) (output func() string, kill func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	kill = sync.OnceFunc(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		f.Close()
	})
	t.Cleanup(kill)
	return func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}, kill
}

// TestStartInAnyOrder: a voter that starts while the others are down says
// once a second that it waits for the quorum, is not ready, and becomes
// ready when the others come.
func TestStartInAnyOrder(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: clusterSettings})
	c.WaitReady(30 * time.Second)
	for _, n := range c.Nodes() {
		n.Stop()
	}
	first := c.Node(3)
	first.Restart()
	cluster.Eventually(t, 20*time.Second, "node 3 saying it waits for the quorum", func() bool {
		return strings.Contains(first.LogTail(20), "waiting for the metadata quorum")
	})
	resp, err := http.Get("http://" + first.AdminAddr() + "/readyz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("node 3 is ready without a quorum")
		}
	}
	c.Node(1).Restart()
	c.Node(2).Restart()
	c.WaitReady(30 * time.Second)
}

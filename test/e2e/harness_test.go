// Package e2e tests a Strata node end to end through real Kafka clients:
// franz-go, sarama and kafka-go, each producing to and consuming from a node
// started in-process on a loopback port.
package e2e

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/cli"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// Client libraries keep background goroutines past Close.
		goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick"),
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	)
}

// node is a Strata node started for one test.
type node struct {
	*cli.Node
	addr    string
	dataDir string
	stop    func()
}

// startNode starts a node on free loopback ports with the given Kafka-named
// broker settings and stops it when the test ends. dataDir "" means a new
// temporary directory.
func startNode(t *testing.T, dataDir string, settings map[string]string) *node {
	t.Helper()
	return startNodeLogging(t, dataDir, settings, io.Discard)
}

// startNodeLogging is startNode with the node's log written to out (and to
// stderr with STRATA_TEST_LOG set).
func startNodeLogging(t *testing.T, dataDir string, settings map[string]string, out io.Writer) *node {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	ctx, cancel := context.WithCancel(context.Background())
	if os.Getenv("STRATA_TEST_LOG") != "" {
		out = io.MultiWriter(out, os.Stderr)
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := cli.StartNode(ctx, cli.ServeOptions{
		DataDir:  dataDir,
		Listen:   "127.0.0.1:0",
		Admin:    "127.0.0.1:0",
		NodeID:   1,
		Settings: settings,
	}, logger)
	if err != nil {
		cancel()
		t.Fatalf("start node: %v", err)
	}
	stopped := false
	nd := &node{Node: n, addr: n.KafkaAddr.String(), dataDir: dataDir}
	nd.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := n.Wait(); err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
	}
	t.Cleanup(nd.stop)
	return nd
}

// franzClient returns a franz-go client for the node, closed at test end.
func franzClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic through kadm and fails the test on error.
func createTopic(t *testing.T, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(franzClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.CreateTopics(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if r := res[topic]; r.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, r.Err, r.ErrMessage)
	}
}

// topicName makes a topic name unique to the test.
func topicName(t *testing.T) string {
	return strings.NewReplacer("/", "-", " ", "_").Replace(t.Name())
}

// eventually polls cond every few milliseconds until it holds or the
// deadline passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		case <-tick.C:
		}
	}
}

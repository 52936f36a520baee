package cli

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// noEnv is an empty environment, so the test process's STRATA_* variables
// cannot leak into a test.
func noEnv(string) (string, bool) { return "", false }

// envOf returns a lookup function over m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// execute runs the command tree with args and stdin, with env as the
// environment and run as the node runner, and returns what it printed.
func execute(t *testing.T, env func(string) (string, bool), run nodeRunner, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	if run == nil {
		run = func(context.Context, ServeOptions, *slog.Logger) error {
			t.Error("serve started a node")
			return nil
		}
	}
	cmd := newRootCommand(env, run)
	var out, errOut bytes.Buffer
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// cliAt returns a function running client commands against the cluster at
// addr.
func cliAt(t *testing.T, addr string) func(stdin string, args ...string) (stdout, stderr string, err error) {
	return func(stdin string, args ...string) (string, string, error) {
		t.Helper()
		return execute(t, noEnv, nil, stdin, append([]string{"--brokers", addr, "--timeout", "10s"}, args...)...)
	}
}

// mustRun runs a client command that must succeed and returns its stdout.
func mustRun(t *testing.T, cli func(string, ...string) (string, string, error), stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := cli(stdin, args...)
	if err != nil {
		t.Fatalf("strata %s: %v\nstderr: %s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// newTestClient returns a kgo client of the cluster at addr, closed at the
// end of the test.
func newTestClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createTopic creates a topic with the given partition count and replication
// factor 1.
func createTopic(t *testing.T, addr, topic string, partitions int32) {
	t.Helper()
	adm := kadm.NewClient(newTestClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := adm.CreateTopic(ctx, partitions, 1, nil, topic); err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

// produceRecords writes recs synchronously (each with its Topic and
// Partition set) through a manual-partitioning client.
func produceRecords(t *testing.T, addr string, recs ...*kgo.Record) {
	t.Helper()
	cl := newTestClient(t, addr, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// readRecords reads n records from the start of one partition.
func readRecords(t *testing.T, addr, topic string, partition int32, n int) []*kgo.Record {
	t.Helper()
	cl := newTestClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{
		topic: {partition: kgo.NewOffset().AtStart()},
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for len(recs) < n {
		fs := cl.PollRecords(ctx, n-len(recs))
		if err := fs.Err(); err != nil {
			t.Fatalf("read %s/%d after %d records: %v", topic, partition, len(recs), err)
		}
		recs = append(recs, fs.Records()...)
	}
	return recs
}

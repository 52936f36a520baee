package cli

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/test/cluster"
)

// transact runs one transaction of a franz-go transactional producer with
// id: it writes value to partition of topic and, unless end is nil, ends
// the transaction (commit or abort). An open transaction stays open for the
// rest of the test.
func transact(t *testing.T, addr, id, topic string, partition int32, value string, end *kgo.TransactionEndTry) {
	t.Helper()
	cl := newTestClient(t, addr, kgo.TransactionalID(id), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: partition, Value: []byte(value)}).FirstErr(); err != nil {
		t.Fatalf("%s: produce: %v", id, err)
	}
	if end != nil {
		if err := cl.EndTransaction(ctx, *end); err != nil {
			t.Fatalf("%s: end transaction: %v", id, err)
		}
	}
}

// rowsByFirst returns the rows of a table (header dropped), by their first
// field.
func rowsByFirst(out string) map[string][]string {
	rows := make(map[string][]string)
	for _, line := range normalize(out)[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	return rows
}

// TestTxnListDescribeProducers: a committed, an aborted and an open
// transaction of franz-go's transactional producer, seen through `txn
// list`, `txn describe` and `producers describe`.
func TestTxnListDescribeProducers(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "txns", 2)
	commit, abort := kgo.TryCommit, kgo.TryAbort
	transact(t, addr, "t-commit", "txns", 0, "c", &commit)
	transact(t, addr, "t-abort", "txns", 0, "a", &abort)
	transact(t, addr, "t-open", "txns", 1, "o", nil)

	// The markers of the ended transactions are written after EndTxn answers.
	var rows map[string][]string
	cluster.Eventually(t, 15*time.Second, "the three transactions listed in their final states", func() bool {
		rows = rowsByFirst(mustRun(t, cli, "", "txn", "list"))
		return len(rows) == 3 && rows["t-commit"][2] == "CompleteCommit" && rows["t-abort"][2] == "CompleteAbort" &&
			rows["t-open"][2] == "Ongoing"
	})
	for id, r := range rows {
		if r[1] != "1" {
			t.Errorf("%s: got coordinator %s, want 1", id, r[1])
		}
	}
	if h := normalize(mustRun(t, cli, "", "txn", "list"))[0]; h != "TRANSACTIONAL-ID COORDINATOR STATE PRODUCER-ID" {
		t.Errorf("got header %q", h)
	}
	openPID, commitPID := rows["t-open"][3], rows["t-commit"][3]

	filtered := []struct {
		args []string
		want []string
	}{
		{[]string{"--state", "ongoing"}, []string{"t-open"}},
		{[]string{"--state", "CompleteCommit,completeabort"}, []string{"t-abort", "t-commit"}},
		{[]string{"--producer-id", commitPID}, []string{"t-commit"}},
		{[]string{"--duration-ms", "3600000"}, nil},
	}
	for _, f := range filtered {
		var got []string
		for _, line := range normalize(mustRun(t, cli, "", append([]string{"txn", "list"}, f.args...)...))[1:] {
			got = append(got, strings.Fields(line)[0])
		}
		if !slices.Equal(got, f.want) {
			t.Errorf("txn list %v: got %v, want %v", f.args, got, f.want)
		}
	}

	out := mustRun(t, cli, "", "txn", "describe", "t-open")
	for _, want := range []string{"Transactional ID: t-open", "Coordinator: 1", "State: Ongoing", "Producer ID: " + openPID,
		"Producer epoch: 0", "Partitions: txns:1"} {
		if !slices.Contains(normalize(out), want) {
			t.Errorf("txn describe t-open: got\n%s\nwant a line %q", out, want)
		}
	}
	if out := mustRun(t, cli, "", "txn", "describe", "t-commit"); !strings.Contains(out, "Partitions:        -\n") {
		t.Errorf("txn describe t-commit: got\n%s\nwant no partitions", out)
	}
	if _, _, err := cli("", "txn", "describe", "nope"); err == nil || !strings.Contains(err.Error(), `transactional id "nope" does not exist`) {
		t.Errorf("txn describe nope: got %v", err)
	}

	// Partition 1 holds the open transaction from offset 0; partition 0
	// the two ended ones, with their markers written at coordinator epoch 0.
	out = mustRun(t, cli, "", "producers", "describe", "txns", "--partition", "1")
	lines := normalize(out)
	if len(lines) != 2 || lines[0] != "PARTITION LEADER PRODUCER-ID EPOCH LAST-SEQUENCE LAST-TIMESTAMP COORDINATOR-EPOCH TXN-START-OFFSET" {
		t.Fatalf("producers describe --partition 1: got\n%s", out)
	}
	if f := strings.Fields(lines[1]); f[0] != "1" || f[1] != "1" || f[2] != openPID || f[3] != "0" || f[4] != "0" || f[6] != "-1" || f[7] != "0" {
		t.Errorf("producers describe --partition 1: got row %q, want producer %s with last sequence 0 and start offset 0", lines[1], openPID)
	}
	byPID := make(map[string][]string)
	for _, line := range normalize(mustRun(t, cli, "", "producers", "describe", "txns"))[1:] {
		f := strings.Fields(line)
		byPID[f[2]] = f
	}
	for _, id := range []string{"t-commit", "t-abort", "t-open"} {
		f, ok := byPID[rows[id][3]]
		wantPart, wantStart := "0", "-"
		if id == "t-open" {
			wantPart, wantStart = "1", "0"
		}
		if !ok || f[0] != wantPart || f[7] != wantStart {
			t.Errorf("producers describe: %s (producer %s): got %v, want partition %s, start offset %s", id, rows[id][3], f, wantPart, wantStart)
		}
	}

	// The open transaction's coordinator runs it: it is not hanging.
	if got := normalize(mustRun(t, cli, "", "txn", "find-hanging", "--topic", "txns", "--max-transaction-timeout", "0s")); len(got) != 1 {
		t.Errorf("txn find-hanging: got %q, want the header only", got)
	}

	for _, args := range [][]string{{"producers", "describe", "nope"}, {"producers", "describe", "txns", "--partition", "2"}} {
		if _, _, err := cli("", args...); err == nil {
			t.Errorf("%v: got no error", args)
		}
	}
}

// TestTxnAbortHanging: two transactions written straight to a partition
// under a transactional id no coordinator knows hang there, holding back
// read_committed consumers; `txn find-hanging` finds them, `txn abort` ends one by its start offset and
// the other by producer id, epoch and coordinator epoch, and the consumer
// then gets past them.
func TestTxnAbortHanging(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "hang", 1)
	cl := newTestClient(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Hanging transactions come from producers that write without their
	// coordinator knowing: with KIP-890's verification off (as on a broker
	// before it) and Produce below v12 (which would add the partition),
	// "ghost" is such an id.
	old := newTestClient(t, addr, cluster.TxnV1())
	off := "false"
	if _, err := kadm.NewClient(cl).AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "transaction.partition.verification.enable", Value: &off}}); err != nil {
		t.Fatal(err)
	}
	ghost := "ghost"
	var ps [2]*cluster.TxnProducer
	for i := range ps {
		p, err := cluster.InitProducer(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		// Producer 0 at offsets 0-1, producer 1 at 2.
		values := []string{"h1"}
		if i == 0 {
			values = []string{"h0", "h0"}
		}
		if err := p.Produce(ctx, old, "hang", 0, &ghost, values...); err != nil {
			t.Fatal(err)
		}
		ps[i] = p
	}
	produceRecords(t, addr, &kgo.Record{Topic: "hang", Value: []byte("after")})
	if lso := lastStable(ctx, t, cl, "hang"); lso != 0 {
		t.Fatalf("before the aborts: got last stable offset %d, want 0", lso)
	}

	hanging := func(maxTimeout string) (starts []string) {
		t.Helper()
		out := mustRun(t, cli, "", "txn", "find-hanging", "--topic", "hang", "--max-transaction-timeout", maxTimeout)
		for _, line := range normalize(out)[1:] {
			starts = append(starts, strings.Fields(line)[7])
		}
		return starts
	}
	if got := hanging("0s"); !slices.Equal(got, []string{"0", "2"}) {
		t.Errorf("find-hanging: got start offsets %v, want [0 2]", got)
	}
	if got := hanging("15m"); len(got) != 0 {
		t.Errorf("find-hanging --max-transaction-timeout 15m: got start offsets %v, want none (they are new)", got)
	}

	if _, _, err := cli("", "txn", "abort", "--topic", "hang", "--partition", "0", "--start-offset", "1"); err == nil ||
		!strings.Contains(err.Error(), "no open transaction starts at offset 1 of hang/0") {
		t.Errorf("abort at offset 1: got %v", err)
	}
	out := mustRun(t, cli, "", "txn", "abort", "--topic", "hang", "--partition", "0", "--start-offset", "0")
	want := "Aborted the transaction of producer " + strconv.FormatInt(ps[0].ID, 10) + " (epoch 0, coordinator epoch 0) on hang/0.\n"
	if out != want {
		t.Errorf("abort --start-offset 0: got %q, want %q", out, want)
	}
	mustRun(t, cli, "", "txn", "abort", "--topic", "hang", "--partition", "0",
		"--producer-id", strconv.FormatInt(ps[1].ID, 10), "--producer-epoch", "0", "--coordinator-epoch", "0")

	for _, line := range normalize(mustRun(t, cli, "", "producers", "describe", "hang"))[1:] {
		if f := strings.Fields(line); f[7] != "-" {
			t.Errorf("producers describe after the aborts: got %q, want no open transaction", line)
		}
	}
	if got := hanging("0s"); len(got) != 0 {
		t.Errorf("find-hanging after the aborts: got start offsets %v, want none", got)
	}
	if lso := lastStable(ctx, t, cl, "hang"); lso != 6 {
		t.Errorf("after the aborts: got last stable offset %d, want 6 (4 records, 2 markers)", lso)
	}
	rc := newTestClient(t, addr, kgo.ConsumeTopics("hang"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	if got := cluster.ConsumeValues(ctx, t, rc, 1); got[0] != "after" {
		t.Errorf("read_committed consumer: got %q, want [after]", got)
	}
}

// TestTxnAbortFlags: abort takes a start offset or a full producer, never
// both.
func TestTxnAbortFlags(t *testing.T) {
	base := []string{"--brokers", "127.0.0.1:1", "txn", "abort", "--topic", "t", "--partition", "0"}
	tests := []struct {
		args    []string
		wantErr string
	}{
		{nil, "at least one of the flags in the group [start-offset producer-id] is required"},
		{[]string{"--start-offset", "5", "--producer-id", "1", "--producer-epoch", "0", "--coordinator-epoch", "0"},
			"if any flags in the group [start-offset producer-id] are set none of the others can be"},
		{[]string{"--producer-id", "1"}, "if any flags in the group [producer-id producer-epoch coordinator-epoch] are set they must all be set"},
	}
	for _, tt := range tests {
		_, _, err := execute(t, noEnv, nil, "", append(base, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%v: got %v, want an error containing %q", tt.args, err, tt.wantErr)
		}
	}
	if _, _, err := execute(t, noEnv, nil, "", "txn", "abort", "--partition", "0", "--start-offset", "0"); err == nil ||
		!strings.Contains(err.Error(), `required flag(s) "topic" not set`) {
		t.Errorf("abort without --topic: got %v", err)
	}
	if _, _, err := execute(t, noEnv, nil, "", "txn", "list", "--state", "bogus"); err == nil || !strings.Contains(err.Error(), `--state "bogus"`) {
		t.Errorf("txn list --state bogus: got %v", err)
	}
}

// lastStable returns partition 0's last stable offset: the end offset a
// read_committed ListOffsets answers.
func lastStable(ctx context.Context, t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	res, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := res.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("list committed offsets of %s: %+v", topic, o)
	}
	return o.Offset
}

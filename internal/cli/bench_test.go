package cli

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/bench"
)

// benchJSON runs a bench command with --json and returns its parsed summary.
func benchJSON(t *testing.T, cli func(string, ...string) (string, string, error), args ...string) bench.Summary {
	t.Helper()
	out := mustRun(t, cli, "", append(args, "--json")...)
	var s bench.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("summary %q does not parse: %v", out, err)
	}
	return s
}

// checkSummary checks the counts of s and, when latency is wanted, that its
// percentiles are positive and ordered.
func checkSummary(t *testing.T, s bench.Summary, mode string, records, size int64, latency bool) {
	t.Helper()
	if s.Mode != mode {
		t.Errorf("got mode %q, want %q", s.Mode, mode)
	}
	if s.Records != records || s.Bytes != records*size {
		t.Errorf("got %d records %d bytes, want %d and %d", s.Records, s.Bytes, records, records*size)
	}
	if s.Seconds <= 0 || s.RecordsPerSec <= 0 || s.MBPerSec <= 0 {
		t.Errorf("got %g s, %g records/s, %g MB/s, want all > 0", s.Seconds, s.RecordsPerSec, s.MBPerSec)
	}
	if !latency {
		if s.Latency != nil {
			t.Errorf("got latency %+v, want none", s.Latency)
		}
		return
	}
	l := s.Latency
	if l == nil {
		t.Fatal("got no latency")
	}
	if l.Count != records {
		t.Errorf("got %d latency samples, want %d", l.Count, records)
	}
	ordered := []int64{l.Min, l.P50, l.P95, l.P99, l.P999, l.Max}
	if l.Min <= 0 {
		t.Errorf("got min latency %d, want > 0", l.Min)
	}
	for i := 1; i < len(ordered); i++ {
		if ordered[i] < ordered[i-1] {
			t.Errorf("latency not ordered: min,p50,p95,p99,p99.9,max = %v", ordered)
			break
		}
	}
}

func TestBenchProduceConsume(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	const n, size = 300, 100
	produce := []struct {
		name string
		args []string
	}{
		{name: "defaults", args: nil},
		{name: "two producers rate gzip", args: []string{"--producers", "2", "--rate", "2000", "--compression", "gzip", "--compressible"}},
		{name: "acks 1 lz4", args: []string{"--acks", "1", "--compression", "lz4", "--linger", "0s"}},
	}
	for _, tt := range produce {
		t.Run("produce "+tt.name, func(t *testing.T) {
			args := append([]string{"bench", "produce", "--topic", "bench", "--partitions", "3", "--records", "300", "--record-size", "100"}, tt.args...)
			checkSummary(t, benchJSON(t, cli, args...), bench.ModeProduce, n, size, true)
		})
	}
	if got := partitionCount(t, addr, "bench"); got != 3 {
		t.Errorf("got %d partitions, want the 3 of --partitions", got)
	}
	total := int64(len(produce) * n)
	consume := []struct {
		name string
		args []string
		want int64
	}{
		{name: "everything", want: total},
		{name: "count", args: []string{"--records", "250"}, want: 250},
		{name: "two consumers", args: []string{"--consumers", "2"}, want: total},
		{name: "group of two", args: []string{"--consumers", "2", "--group", "bench-g"}, want: total},
		// Below one batch: each fetch still returns the first batch whole.
		{name: "three consumers tiny fetches", args: []string{"--consumers", "3", "--fetch-size", "200"}, want: total},
		{name: "group large fetches", args: []string{"--consumers", "2", "--group", "bench-f", "--fetch-size", "4194304"}, want: total},
	}
	for _, tt := range consume {
		t.Run("consume "+tt.name, func(t *testing.T) {
			args := append([]string{"bench", "consume", "--topic", "bench"}, tt.args...)
			checkSummary(t, benchJSON(t, cli, args...), bench.ModeConsume, tt.want, size, false)
		})
	}
}

// partitionCount returns the number of partitions of topic.
func partitionCount(t *testing.T, addr, topic string) int {
	t.Helper()
	adm := kadm.NewClient(newTestClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := details.Error(); err != nil {
		t.Fatal(err)
	}
	return len(details[topic].Partitions)
}

// TestBenchRoundRobin checks that --partitioner round-robin spreads the
// records evenly: workload 6 relies on it to write to every partition.
func TestBenchRoundRobin(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	const parts, perPart = 7, 10
	benchJSON(t, cli, "bench", "produce", "--topic", "rr", "--partitions", "7", "--records", "70",
		"--record-size", "10", "--partitioner", "round-robin")
	adm := kadm.NewClient(newTestClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, "rr")
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	ends.Each(func(o kadm.ListedOffset) {
		got++
		if o.Err != nil || o.Offset != perPart {
			t.Errorf("partition %d: got end offset %d (err %v), want %d", o.Partition, o.Offset, o.Err, perPart)
		}
	})
	if got != parts {
		t.Errorf("got %d partitions, want %d", got, parts)
	}
}

// TestBenchInflight: without idempotence (acks 1 or 0) the bench producer
// keeps up to 5 produce requests in flight per broker, as Kafka's producer
// does by default, where franz-go would send one at a time.
func TestBenchInflight(t *testing.T) {
	for _, tt := range []struct {
		acks string
		want int
	}{{"1", 5}, {"0", 5}, {"all", 1}} {
		bf := benchProducerFlags{acks: tt.acks, compression: "none", partitioner: "sticky", batchMaxBytes: 1 << 20}
		_, ps, err := bf.spec(&clientOptions{timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		cl, err := kgo.NewClient(append(ps.ProducerOpts, kgo.SeedBrokers("127.0.0.1:1"))...)
		if err != nil {
			t.Fatal(err)
		}
		got := cl.OptValue(kgo.MaxProduceRequestsInflightPerBroker)
		cl.Close()
		if got != tt.want {
			t.Errorf("acks %s: got %v produce requests in flight, want %d", tt.acks, got, tt.want)
		}
	}
}

func TestBenchE2E(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	s := benchJSON(t, cli, "bench", "e2e", "--topic", "e2e", "--rate", "1000", "--duration", "300ms", "--record-size", "64")
	// 1000/s for 300 ms schedules sends at 0, 1, ..., 299 ms.
	checkSummary(t, s, bench.ModeE2E, 300, 64, true)
	if got := partitionCount(t, addr, "e2e"); got != 6 {
		t.Errorf("got %d partitions, want the default 6", got)
	}
	// The warm-up's 200 records are received but not counted.
	s = benchJSON(t, cli, "bench", "e2e", "--topic", "e2e", "--rate", "1000", "--warmup", "200ms", "--duration", "300ms", "--record-size", "64")
	checkSummary(t, s, bench.ModeE2E, 300, 64, true)
}

func TestBenchText(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	out := mustRun(t, cli, "", "bench", "produce", "--topic", "txt", "--records", "10", "--record-size", "10")
	for _, want := range []string{`produce "txt": 10 records, 100 bytes in `, "produce latency ms: p50 "} {
		if !strings.Contains(out, want) {
			t.Errorf("got %q, want it to contain %q", out, want)
		}
	}
	out = mustRun(t, cli, "", "bench", "consume", "--topic", "txt")
	if want := `consume "txt": 10 records, 100 bytes in `; !strings.HasPrefix(out, want) || strings.Contains(out, "latency") {
		t.Errorf("got %q, want it to start with %q and have no latency", out, want)
	}
}

func TestBenchErrors(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	tests := []struct {
		name    string
		args    []string
		wantErr error  // checked with errors.Is when set
		wantMsg string // otherwise a part of the message
	}{
		{name: "consume missing topic", args: []string{"bench", "consume", "--topic", "nope"}, wantErr: bench.ErrNoTopic},
		{name: "e2e record too small", args: []string{"bench", "e2e", "--record-size", "4"}, wantErr: bench.ErrConfig},
		{name: "bad acks", args: []string{"bench", "produce", "--acks", "2"}, wantMsg: "--acks"},
		{name: "bad compression", args: []string{"bench", "e2e", "--compression", "brotli"}, wantMsg: "--compression"},
		{name: "bad partitioner", args: []string{"bench", "produce", "--partitioner", "hash"}, wantMsg: "--partitioner"},
		{name: "zero producers", args: []string{"bench", "produce", "--producers", "0"}, wantErr: bench.ErrConfig},
		{name: "txn interval alone", args: []string{"bench", "produce", "--txn-interval", "1s"}, wantMsg: "--transactional"},
		{name: "transactional acks 1", args: []string{"bench", "produce", "--transactional", "--acks", "1"}, wantMsg: "--acks all"},
		{name: "zero txn interval", args: []string{"bench", "produce", "--transactional", "--txn-interval", "0s"}, wantMsg: "--txn-interval"},
		{name: "negative abort-every", args: []string{"bench", "produce", "--transactional", "--abort-every", "-1"}, wantErr: bench.ErrConfig},
		{name: "bad isolation level", args: []string{"bench", "consume", "--isolation-level", "dirty"}, wantMsg: "--isolation-level"},
		{name: "unknown subcommand", args: []string{"bench", "nope"}, wantMsg: "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli("", tt.args...)
			switch {
			case err == nil:
				t.Fatal("got no error")
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want %v", err, tt.wantErr)
			case tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg):
				t.Errorf("got %v, want it to mention %q", err, tt.wantMsg)
			}
		})
	}
}

// TestBenchProduceStopsWithBrokerGone stops a produce run after its broker
// died: the run returns the summary so far instead of waiting forever for
// acknowledgements that cannot come.
func TestBenchProduceStopsWithBrokerGone(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out the stop grace")
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	n, err := StartNode(nodeCtx, ServeOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", NodeID: 1},
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		stopNode()
		t.Fatal(err)
	}
	addr := n.KafkaAddr.String()
	runCtx, stopRun := context.WithCancel(context.Background())
	defer stopRun()
	type result struct {
		s   bench.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		s, err := bench.Produce(runCtx, bench.ProduceConfig{
			TopicSpec: bench.TopicSpec{Topic: "gone", Partitions: 2, ReplicationFactor: -1},
			ProducerSpec: bench.ProducerSpec{RecordSize: 100, NewClient: func(opts ...kgo.Opt) (*kgo.Client, error) {
				return kgo.NewClient(append(opts, kgo.SeedBrokers(addr))...)
			}},
			Duration: time.Hour, Producers: 1, Rate: 2000,
		})
		done <- result{s, err}
	}()

	adm := kadm.NewClient(newTestClient(t, addr))
	deadline := time.Now().Add(20 * time.Second)
	for {
		ends, err := adm.ListEndOffsets(context.Background(), "gone")
		if err == nil && ends.Error() == nil {
			var total int64
			ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
			if total > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no record was produced within 20 s")
		}
		select {
		case r := <-done:
			t.Fatalf("run ended early: %v", r.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	stopNode()
	if err := n.Wait(); err != nil {
		t.Fatalf("node stopped with error: %v", err)
	}
	stopRun()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("stopped run failed: %v", r.err)
		}
		if r.s.Records == 0 {
			t.Fatal("stopped run reports no acknowledged records")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("stopped run still waiting 30 s after its broker died")
	}
}

// TestBenchConnect sets up connections to a node and checks a latency per
// connection; a setting the client refuses fails the run.
func TestBenchConnect(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	s := benchJSON(t, cli, "bench", "connect", "--count", "20")
	if s.Mode != "connect" || s.Records != 20 || s.Latency == nil || s.Latency.Count != 20 || s.Latency.Min <= 0 {
		t.Fatalf("summary %+v", s)
	}
	if _, _, err := cli("", "bench", "connect", "--count", "1", "-X", "security.protocol=SSL", "-X", "ssl.ca.location=/nonexistent"); err == nil {
		t.Fatal("a missing CA file: no error")
	}
}

// TestBenchTransactional produces in transactions, some aborted, and reads
// the topic back at both isolation levels: read_uncommitted gets every
// record, read_committed those of the committed transactions, and both end
// at the partitions' ends although the last offsets are markers.
func TestBenchTransactional(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	const n, size = 600, 100
	// 3000 records/s for 600 records is 200 ms: about ten 20 ms
	// transactions, so every third one is aborted at least three times.
	s := benchJSON(t, cli, "bench", "produce", "--topic", "tx", "--partitions", "3", "--records", "600", "--record-size", "100",
		"--rate", "3000", "--transactional", "--txn-interval", "20ms", "--abort-every", "3")
	checkSummary(t, s, bench.ModeProduce, n, size, true)
	tx := s.Transactions
	if tx == nil {
		t.Fatal("got no transactions in the summary")
	}
	if tx.Committed < 2 || tx.Aborted < 1 || tx.CommittedRecords+tx.AbortedRecords != n || tx.AbortedRecords == 0 {
		t.Fatalf("got %+v, want at least 2 committed and 1 aborted transactions holding %d records", *tx, n)
	}
	if l := tx.CommitLatency; l == nil || l.Count != tx.Committed || l.P50 <= 0 || l.P99 < l.P50 {
		t.Errorf("got commit latency %+v, want one positive sample per commit (%d)", l, tx.Committed)
	}
	for _, tt := range []struct {
		isolation string
		want      int64
	}{{"read_uncommitted", n}, {"read_committed", tx.CommittedRecords}} {
		t.Run(tt.isolation, func(t *testing.T) {
			s := benchJSON(t, cli, "bench", "consume", "--topic", "tx", "--consumers", "2", "--isolation-level", tt.isolation)
			checkSummary(t, s, bench.ModeConsume, tt.want, size, false)
		})
	}
	out := mustRun(t, cli, "", "bench", "produce", "--topic", "tx-text", "--records", "10", "--record-size", "10", "--transactional")
	for _, want := range []string{"transactions: 1 committed (10 records), 0 aborted (0 records)", "commit latency ms: p50 "} {
		if !strings.Contains(out, want) {
			t.Errorf("got %q, want it to contain %q", out, want)
		}
	}
}

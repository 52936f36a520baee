package partition

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
)

// appendTxn appends a transactional batch of n records from producer pid
// (epoch 0) at sequence seq.
func appendTxn(t *testing.T, p *Partition, pid int64, seq int32, n int) AppendResult {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{Value: []byte{byte('a' + i)}}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{ProducerID: pid, BaseSequence: seq, Transactional: true}, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := recordbatch.ReadHeader(b)
	res, err := p.Append(b, h, -1)
	if err != nil {
		t.Fatalf("append producer %d sequence %d: %v", pid, seq, err)
	}
	return res
}

func writeMarker(t *testing.T, p *Partition, pid int64, commit bool) AppendResult {
	t.Helper()
	res, err := p.WriteTxnMarker(pid, 0, 1, commit, 5000)
	if err != nil {
		t.Fatalf("marker for producer %d: %v", pid, err)
	}
	return res
}

// readBatches returns the batches a read returns, and releases them.
func readBatches(t *testing.T, res ReadResult) [][]byte {
	t.Helper()
	data, err := res.Records.AppendTo(nil)
	res.Records.Release()
	if err != nil {
		t.Fatal(err)
	}
	return splitBatches(t, data)
}

// readOffsets returns the base offsets of the batches a read returns, and
// releases them.
func readOffsets(t *testing.T, res ReadResult) []int64 {
	t.Helper()
	var offs []int64
	for _, b := range readBatches(t, res) {
		h, _ := recordbatch.ReadHeader(b)
		offs = append(offs, h.BaseOffset)
	}
	return offs
}

// txnScenario leaves in p: [0,1] producer 1 (committed at 6), [2] producer
// 2 (aborted at 7), [3,4] producer 1, [5] producer 3 (still open), 6 and 7
// the markers, [8] producer 3 again.
func txnScenario(t *testing.T, p *Partition) {
	t.Helper()
	appendTxn(t, p, 1, 0, 2)
	appendTxn(t, p, 2, 0, 1)
	appendTxn(t, p, 1, 2, 2)
	appendTxn(t, p, 3, 0, 1)
	if got := p.LastStableOffset(); got != 0 {
		t.Fatalf("last stable offset with three open transactions: got %d, want 0", got)
	}
	writeMarker(t, p, 1, true)
	writeMarker(t, p, 2, false)
	appendTxn(t, p, 3, 1, 1)
}

var scenarioAborted = []commitlog.AbortedTxn{{ProducerID: 2, FirstOffset: 2, LastOffset: 7, LastStableOffset: 5}}

// checkScenario checks what read_committed and read_uncommitted readers of
// txnScenario's log see.
func checkScenario(t *testing.T, p *Partition) {
	t.Helper()
	if hw, lso := p.HighWatermark(), p.LastStableOffset(); hw != 9 || lso != 5 {
		t.Fatalf("got high watermark %d and last stable offset %d, want 9 and 5 (producer 3's open transaction)", hw, lso)
	}
	res, err := p.Read(0, 1<<20, true)
	if err != nil {
		t.Fatal(err)
	}
	if res.LastStableOffset != 5 || !reflect.DeepEqual(res.Aborted, scenarioAborted) {
		t.Fatalf("read_committed: last stable offset %d, aborted %+v; want 5, %+v", res.LastStableOffset, res.Aborted, scenarioAborted)
	}
	if got, want := readOffsets(t, res), []int64{0, 2, 3}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read_committed batches: got %v, want %v", got, want)
	}
	res, err = p.Read(5, 1<<20, true)
	if err != nil || res.Records.Len() != 0 {
		t.Fatalf("read_committed at the last stable offset: %d bytes, %v; want nothing yet", res.Records.Len(), err)
	}
	res, err = p.Read(0, 1<<20, false)
	if err != nil || res.Aborted != nil {
		t.Fatalf("read_uncommitted: aborted %+v, %v; want none", res.Aborted, err)
	}
	if got, want := readOffsets(t, res), []int64{0, 2, 3, 5, 6, 7, 8}; !reflect.DeepEqual(got, want) {
		t.Fatalf("read_uncommitted batches: got %v, want %v", got, want)
	}
}

func TestTransactionsOnLeader(t *testing.T) {
	p := openPart(t, t.TempDir(), Options{})
	defer p.Close()
	txnScenario(t, p)
	checkScenario(t, p)

	// A non-transactional batch during the producer's transaction, and
	// markers from an older producer or coordinator epoch, are refused.
	b, h := idemBatch(t, 3, 2, 1, 1)
	if _, err := p.Append(b, h, -1); !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("non-transactional batch in a transaction: got %v, want INVALID_TXN_STATE", err)
	}
	if _, err := p.WriteTxnMarker(3, -1, 1, true, 5000); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("marker of an older epoch: got %v, want INVALID_PRODUCER_EPOCH", err)
	}
	if _, err := p.WriteTxnMarker(1, 0, 0, true, 5000); !errors.Is(err, kerr.TransactionCoordinatorFenced) {
		t.Fatalf("marker of an older coordinator: got %v, want TRANSACTION_COORDINATOR_FENCED", err)
	}
	writeMarker(t, p, 3, true)
	if got := p.LastStableOffset(); got != 10 {
		t.Fatalf("after the last commit: got last stable offset %d, want 10", got)
	}
}

// TestTransactionsRecover: a restart after a crash, with or without a state
// snapshot and with the aborted-transaction index lost, rebuilds the last
// stable offset and the index.
func TestTransactionsRecover(t *testing.T) {
	for _, snapshot := range []bool{false, true} {
		t.Run(map[bool]string{false: "from the log", true: "from a snapshot"}[snapshot], func(t *testing.T) {
			dir := t.TempDir()
			p := openPart(t, dir, Options{})
			appendTxn(t, p, 1, 0, 2)
			appendTxn(t, p, 2, 0, 1)
			appendTxn(t, p, 1, 2, 2)
			appendTxn(t, p, 3, 0, 1)
			if snapshot {
				// The snapshot holds the open transactions; the markers
				// come after it.
				if err := p.saveState(0); err != nil {
					t.Fatal(err)
				}
			}
			writeMarker(t, p, 1, true)
			writeMarker(t, p, 2, false)
			appendTxn(t, p, 3, 1, 1)
			// A stop that writes no newer state snapshot, and the index
			// file lost: Open must rebuild both from the batches.
			p.stop()
			p.log.Close()
			if err := os.Remove(filepath.Join(dir, "00000000000000000000.txnindex")); err != nil {
				t.Fatal(err)
			}
			p = openPart(t, dir, Options{})
			defer p.Close()
			checkScenario(t, p)
		})
	}
}

// TestTransactionsReplicated: a follower rebuilds the transactions from
// the batches it copies, and answers read_committed as the leader did once
// it leads.
func TestTransactionsReplicated(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 1, 1, 2)
	leader, follower := rp.reps[1], rp.reps[2]
	appendTxn(t, leader, 1, 0, 2)
	appendTxn(t, leader, 2, 0, 1)
	appendTxn(t, leader, 1, 2, 2)
	appendTxn(t, leader, 3, 0, 1)
	res := writeMarker(t, leader, 1, true)
	writeMarker(t, leader, 2, false)
	appendTxn(t, leader, 3, 1, 1)
	rp.fetch(2, 1, 1)
	if got := leader.LastStableOffset(); got != 0 {
		t.Fatalf("leader before the follower has the markers: got last stable offset %d, want 0", got)
	}
	rp.fetch(2, 1, 1) // moves the leader's high watermark
	rp.fetch(2, 1, 1) // and brings it to the follower
	if leader.HighWatermark() != 9 || follower.HighWatermark() != 9 {
		t.Fatalf("high watermarks %d and %d, want 9 (marker at %d)", leader.HighWatermark(), follower.HighWatermark(), res.BaseOffset)
	}
	checkScenario(t, leader)
	if got := follower.LastStableOffset(); got != 5 {
		t.Fatalf("follower: got last stable offset %d, want 5", got)
	}
	rp.elect(2, 2, 1, 2)
	checkScenario(t, follower)
}

// appendKeyed appends one record key=value from producer pid (-1: none)
// at sequence seq, in its transaction if txn.
func appendKeyed(t *testing.T, p *Partition, pid int64, seq int32, txn bool, key, value string) AppendResult {
	t.Helper()
	epoch := int16(0)
	if pid < 0 {
		epoch = -1
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: 1000, ProducerID: pid, ProducerEpoch: epoch, BaseSequence: seq, Transactional: txn},
		[]recordbatch.Record{{Key: []byte(key), Value: []byte(value)}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := recordbatch.ReadHeader(b)
	res, err := p.Append(b, h, -1)
	if err != nil {
		t.Fatalf("append %s=%s: %v", key, value, err)
	}
	return res
}

// TestCleanKeepsProducerState: compaction removes an aborted transaction's
// record and superseded ones but keeps each producer's last batch as a
// header, so that a partition that rebuilds its state from the log alone
// still recognises a retry of an idempotent producer's last batch.
func TestCleanKeepsProducerState(t *testing.T) {
	dir := t.TempDir()
	cfg := commitlog.DefaultConfig()
	cfg.Compact, cfg.RetentionMs, cfg.MinCleanableDirtyRatio, cfg.SegmentBytes = true, -1, 0, 1 // a segment per batch
	p := openLeader(t, dir, 0, 0, cfg, Options{})
	appendKeyed(t, p, 5, 0, false, "k", "1")
	appendKeyed(t, p, 5, 1, false, "k", "2")
	appendKeyed(t, p, 7, 0, true, "k", "aborted")
	writeMarker(t, p, 7, false)
	appendKeyed(t, p, -1, -1, false, "k", "3")
	appendKeyed(t, p, -1, -1, false, "other", "x") // the active segment
	st, err := p.Clean(t.Context(), commitlog.CleanOptions{})
	if err != nil || st.AbortedRemoved != 1 || st.RecordsRemoved != 3 {
		t.Fatalf("clean: %+v, %v; want 3 records removed, one aborted", st, err)
	}
	res, err := p.Read(0, 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	var values []string
	var empty []int64
	for _, b := range readBatches(t, res) {
		h, _ := recordbatch.ReadHeader(b)
		if h.NumRecords == 0 {
			empty = append(empty, h.BaseOffset)
		}
		if err := recordbatch.Iterate(b, nil, func(r *recordbatch.Record) error {
			if !h.Control() {
				values = append(values, string(r.Value))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"3", "x"}; !reflect.DeepEqual(values, want) {
		t.Fatalf("values after cleaning: got %q, want %q", values, want)
	}
	if want := []int64{1, 2}; !reflect.DeepEqual(empty, want) {
		t.Fatalf("empty batches at %v, want the producers' last batches %v", empty, want)
	}

	// Restart from the log alone, as after the loss of the state snapshots.
	p.stop()
	if err := p.log.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{stateFile, prevStateFile} {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	p = openLeader(t, dir, 0, 0, cfg, Options{})
	defer p.Close()
	b, h := idemBatch(t, 5, 1, 1, 1)
	if res, err := p.Append(b, h, -1); err != nil || !res.Duplicate || res.BaseOffset != 1 {
		t.Fatalf("retry of producer 5's last batch: %+v, %v; want a duplicate of offset 1", res, err)
	}
	if got := appendKeyed(t, p, 5, 2, false, "k", "4"); got.Duplicate || got.BaseOffset != 6 {
		t.Fatalf("producer 5's next sequence: %+v, want it appended at 6", got)
	}
	if got := p.LastStableOffset(); got != 7 {
		t.Fatalf("last stable offset %d, want 7: the aborted transaction ended", got)
	}
}

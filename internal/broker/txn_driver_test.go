package broker

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

// fakeTxnIO is __transaction_state in memory and partition leaders that
// answer WriteTxnMarkers from a script.
type fakeTxnIO struct {
	mu      sync.Mutex
	log     map[int32][]txn.Record
	epoch   int32
	leaders map[txn.TopicPartition]int32 // absent: the partition is gone
	// codes[leader] are the error codes of its next answers, in order
	// (then none); -1 fails the round trip.
	codes  map[int32][]int16
	sent   []int32 // the leader of every request
	nextID int64
	// appendErrs are the errors of the next appends, in order (then
	// none); a failed append adds nothing to the log.
	appendErrs []error
}

func newFakeTxnIO() *fakeTxnIO {
	return &fakeTxnIO{log: map[int32][]txn.Record{}, leaders: map[txn.TopicPartition]int32{}, codes: map[int32][]int16{}}
}

func (f *fakeTxnIO) appendTxn(_ context.Context, p int32, rec txn.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.appendErrs) > 0 {
		err := f.appendErrs[0]
		f.appendErrs = f.appendErrs[1:]
		if err != nil {
			return err
		}
	}
	f.log[p] = append(f.log[p], rec)
	return nil
}

func (f *fakeTxnIO) replayTxn(_ context.Context, p int32) (*txn.Replay, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := txn.NewReplay()
	for _, rec := range f.log[p] {
		if err := r.Apply(rec.Key, rec.Value); err != nil {
			return nil, 0, err
		}
	}
	return r, f.epoch, nil
}

func (f *fakeTxnIO) markerLeader(tp txn.TopicPartition) (int32, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.leaders[tp]
	return l, ok
}

func (f *fakeTxnIO) writeMarkers(_ context.Context, leader int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, leader)
	var code int16
	if q := f.codes[leader]; len(q) > 0 {
		code, f.codes[leader] = q[0], q[1:]
	}
	if code == -1 {
		return nil, io.ErrUnexpectedEOF
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range req.Markers {
		rm := kmsg.WriteTxnMarkersResponseMarker{ProducerID: m.ProducerID}
		for _, t := range m.Topics {
			rt := kmsg.WriteTxnMarkersResponseMarkerTopic{Topic: t.Topic}
			for _, p := range t.Partitions {
				rt.Partitions = append(rt.Partitions, kmsg.WriteTxnMarkersResponseMarkerTopicPartition{Partition: p, ErrorCode: code})
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func (f *fakeTxnIO) nextProducerID(context.Context) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	return f.nextID, nil
}

// txnHarness runs a driver's tasks on the test goroutine, in order, so
// that every interleaving is the test's choice. It is the driver's clock.
type txnHarness struct {
	t       *testing.T
	io      *fakeTxnIO
	d       *txnDriver
	now     time.Time
	pending []txnTask
}

func newTxnHarness(t *testing.T, f *fakeTxnIO) *txnHarness {
	h := &txnHarness{t: t, io: f, now: time.UnixMilli(1_000_000)}
	h.d = newTxnDriver(txn.CoordinatorConfig{NumPartitions: 1, OffsetsPartition: func(string) int32 { return 0 }},
		f, func() time.Time { return h.now }, slog.New(slog.NewTextHandler(io.Discard, nil)))
	h.d.leadership(0, true)
	h.pump()
	return h
}

// next runs the oldest queued task, if any, and returns its delay.
func (h *txnHarness) next() (delay time.Duration, ran bool) {
	h.pending = append(h.pending, h.d.take()...)
	if len(h.pending) == 0 {
		return 0, false
	}
	task := h.pending[0]
	h.pending = h.pending[1:]
	task.run(context.Background())
	return task.after, true
}

// pump runs queued tasks until none is left and returns the delays the
// retried ones asked for.
func (h *txnHarness) pump() []time.Duration {
	var delays []time.Duration
	for {
		after, ran := h.next()
		if !ran {
			return delays
		}
		if after > 0 {
			delays = append(delays, after)
		}
	}
}

// request makes a request and runs tasks one at a time until it is
// answered; later tasks stay queued.
func (h *txnHarness) request(withID bool, fn func(c *txn.Coordinator, token uint64, now int64)) txn.Reply {
	h.t.Helper()
	_, ch := h.d.submit(context.Background(), withID, fn)
	for {
		select {
		case r := <-ch:
			return r
		default:
		}
		if _, ran := h.next(); !ran {
			h.t.Fatal("no reply and nothing left to run")
		}
	}
}

func (h *txnHarness) describe(id string) txn.Description {
	h.t.Helper()
	var d txn.Description
	var err error
	h.d.read(func(c *txn.Coordinator, _ int64) { d, err = c.Describe(id) })
	if err != nil {
		h.t.Fatalf("describe %s: %v", id, err)
	}
	return d
}

// begin inits id and adds parts: an Ongoing transaction.
func (h *txnHarness) begin(id string, parts ...txn.TopicPartition) (int64, int16) {
	h.t.Helper()
	r := h.request(true, func(c *txn.Coordinator, token uint64, now int64) {
		c.InitProducerID(token, txn.InitTxnRequest{TransactionalID: id, TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, now)
	})
	if r.Err != nil {
		h.t.Fatalf("InitProducerId: %v", r.Err)
	}
	pid, epoch := r.ProducerID, r.ProducerEpoch
	if r := h.request(false, func(c *txn.Coordinator, token uint64, now int64) {
		c.AddPartitions(token, id, pid, epoch, parts, now)
	}); r.Err != nil {
		h.t.Fatalf("AddPartitions: %v", r.Err)
	}
	return pid, epoch
}

func (h *txnHarness) end(id string, pid int64, epoch int16, commit bool) {
	h.t.Helper()
	if r := h.request(false, func(c *txn.Coordinator, token uint64, now int64) {
		c.EndTxn(token, txn.EndTxnRequest{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch, Commit: commit}, now)
	}); r.Err != nil {
		h.t.Fatalf("EndTxn: %v", r.Err)
	}
}

var (
	tpA = txn.TopicPartition{Topic: "a", Partition: 0}
	tpB = txn.TopicPartition{Topic: "b", Partition: 1}
)

func TestTxnDriverCommitRetriesMarkers(t *testing.T) {
	f := newFakeTxnIO()
	f.leaders[tpA], f.leaders[tpB] = 1, 2
	f.codes[1] = []int16{kerr.NotLeaderForPartition.Code, -1} // retriable, then no answer
	h := newTxnHarness(t, f)
	pid, epoch := h.begin("tx", tpA, tpB)
	h.end("tx", pid, epoch, true)
	if got := h.describe("tx").State; got != txn.PrepareCommit {
		t.Fatalf("after EndTxn: %v, want PrepareCommit", got)
	}
	delays := h.pump()
	if got := h.describe("tx").State; got != txn.CompleteCommit {
		t.Fatalf("after the markers: %v, want CompleteCommit", got)
	}
	if want := []time.Duration{markerBackoff, 2 * markerBackoff}; len(delays) != 2 || delays[0] != want[0] || delays[1] != want[1] {
		t.Fatalf("retry delays %v, want %v", delays, want)
	}
	// The first attempt goes to both leaders, the retries to leader 1 only.
	if want := []int32{1, 2, 1, 1}; len(f.sent) != len(want) || f.sent[0] != 1 || f.sent[1] != 2 || f.sent[2] != 1 || f.sent[3] != 1 {
		t.Fatalf("requests to leaders %v, want %v", f.sent, want)
	}
	// Init, Ongoing, PrepareCommit, CompleteCommit.
	if n := len(f.log[0]); n != 4 {
		t.Fatalf("%d records in __transaction_state, want 4", n)
	}
}

// TestTxnDriverRetriesCompleteWrite: when the append of CompleteCommit
// fails after the markers are written (a follower of __transaction_state
// paused, NOT_ENOUGH_REPLICAS), the driver appends it again after a backoff,
// as Kafka's TransactionMarkerChannelManager retries a log append that
// failed with COORDINATOR_NOT_AVAILABLE. Left in PrepareCommit, the id would
// answer CONCURRENT_TRANSACTIONS to its producer until the next reload.
func TestTxnDriverRetriesCompleteWrite(t *testing.T) {
	f := newFakeTxnIO()
	f.leaders[tpA] = 1
	h := newTxnHarness(t, f)
	pid, epoch := h.begin("tx", tpA)
	h.end("tx", pid, epoch, true)
	f.appendErrs = []error{kerr.NotEnoughReplicas, kerr.RequestTimedOut}
	delays := h.pump()
	if got := h.describe("tx").State; got != txn.CompleteCommit {
		t.Fatalf("after the markers and two failed appends: %v, want CompleteCommit", got)
	}
	if want := []time.Duration{markerBackoff, markerBackoff}; !slices.Equal(delays, want) {
		t.Fatalf("retry delays %v, want %v", delays, want)
	}
	if len(f.sent) != 1 {
		t.Fatalf("%d marker requests, want 1: the markers are written, only the log append is retried", len(f.sent))
	}
	// Init, Ongoing, PrepareCommit, CompleteCommit.
	if n := len(f.log[0]); n != 4 {
		t.Fatalf("%d records in __transaction_state, want 4", n)
	}
}

// TestTxnDriverCompleteRetryStopsWhenUnloaded: a failed CompleteCommit
// append is not retried once the partition is no longer led here (its new
// leader finishes the transaction when it loads it).
func TestTxnDriverCompleteRetryStopsWhenUnloaded(t *testing.T) {
	f := newFakeTxnIO()
	f.leaders[tpA] = 1
	h := newTxnHarness(t, f)
	pid, epoch := h.begin("tx", tpA)
	h.end("tx", pid, epoch, true)
	f.appendErrs = []error{kerr.NotLeaderForPartition}
	h.next() // the markers
	h.next() // the failed append
	h.d.leadership(0, false)
	h.pump()
	if n := len(f.log[0]); n != 3 {
		t.Fatalf("%d records in __transaction_state, want 3 (no CompleteCommit once unloaded)", n)
	}
}

func TestTxnDriverMarkerOutcomes(t *testing.T) {
	tests := []struct {
		name      string
		leaders   map[txn.TopicPartition]int32
		code      int16
		wantState txn.State
		wantSent  int
	}{
		{name: "deleted partition counts as written", leaders: map[txn.TopicPartition]int32{}, wantState: txn.CompleteAbort},
		{name: "unsupported version counts as written", leaders: map[txn.TopicPartition]int32{tpA: 1}, code: kerr.UnsupportedVersion.Code, wantState: txn.CompleteAbort, wantSent: 1},
		{name: "a fenced coordinator stops", leaders: map[txn.TopicPartition]int32{tpA: 1}, code: kerr.TransactionCoordinatorFenced.Code, wantState: txn.PrepareAbort, wantSent: 1},
		{name: "a bumped epoch stops", leaders: map[txn.TopicPartition]int32{tpA: 1}, code: kerr.InvalidProducerEpoch.Code, wantState: txn.PrepareAbort, wantSent: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeTxnIO()
			f.leaders = tt.leaders
			f.codes[1] = []int16{tt.code}
			h := newTxnHarness(t, f)
			pid, epoch := h.begin("tx", tpA)
			h.end("tx", pid, epoch, false)
			if delays := h.pump(); len(delays) != 0 {
				t.Fatalf("retries %v, want none", delays)
			}
			if got := h.describe("tx").State; got != tt.wantState {
				t.Fatalf("state %v, want %v", got, tt.wantState)
			}
			if len(f.sent) != tt.wantSent {
				t.Fatalf("%d requests, want %d", len(f.sent), tt.wantSent)
			}
		})
	}
}

func TestTxnDriverReloadResendsMarkers(t *testing.T) {
	f := newFakeTxnIO()
	f.leaders[tpA] = 1
	f.codes[1] = []int16{kerr.NotEnoughReplicas.Code}
	h := newTxnHarness(t, f)
	pid, epoch := h.begin("tx", tpA)
	h.end("tx", pid, epoch, true)
	// The leadership moves away before the retry: the retry stops.
	h.next()
	h.d.leadership(0, false)
	h.pump()
	if len(f.sent) != 1 {
		t.Fatalf("%d marker requests, want 1 (no retry once unloaded)", len(f.sent))
	}
	// A new coordinator (a restart) loads the partition at a new epoch and
	// writes the markers of the prepared transaction.
	f.epoch = 1
	h2 := newTxnHarness(t, f)
	if got := h2.describe("tx"); got.State != txn.CompleteCommit || got.ProducerID != pid {
		t.Fatalf("after reload: %+v, want CompleteCommit", got)
	}
	if len(f.sent) != 2 {
		t.Fatalf("%d marker requests, want 2", len(f.sent))
	}
}

func TestTxnDriverTimers(t *testing.T) {
	f := newFakeTxnIO()
	f.leaders[tpA] = 1
	h := newTxnHarness(t, f)
	pid, epoch := h.begin("tx", tpA)
	h.now = h.now.Add(1001 * time.Millisecond) // past the 1000 ms timeout
	h.d.step(func(c *txn.Coordinator, now int64) { c.AbortTimedOut(now) })
	h.pump()
	d := h.describe("tx")
	if d.State != txn.CompleteAbort || d.ProducerEpoch != epoch+2 { // the fence's bump and the abort's
		t.Fatalf("after the timeout: %+v, want CompleteAbort with epoch %d", d, epoch+2)
	}
	if r := h.request(false, func(c *txn.Coordinator, token uint64, now int64) {
		c.AddPartitions(token, "tx", pid, epoch, []txn.TopicPartition{tpA}, now)
	}); !errors.Is(r.Err, kerr.ProducerFenced) {
		t.Fatalf("fenced producer: got %v, want PRODUCER_FENCED", r.Err)
	}
	h.now = h.now.Add(8 * 24 * time.Hour)
	h.d.step(func(c *txn.Coordinator, now int64) { c.ExpireIDs(now) })
	h.pump()
	var err error
	h.d.read(func(c *txn.Coordinator, _ int64) { _, err = c.Describe("tx") })
	if !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("after expiry: got %v, want TRANSACTIONAL_ID_NOT_FOUND", err)
	}
}

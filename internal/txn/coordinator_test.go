package txn

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// coordHarness drives a Coordinator as its driver would: it is the
// __transaction_state log (log holds acknowledged records), the clock (now)
// and the network to partition leaders. Writes and markers complete at once
// unless held.
type coordHarness struct {
	t           *testing.T
	c           *Coordinator
	now         int64
	log         []Record
	nextPID     int64
	allocErr    error
	tok         uint64
	replies     map[uint64]Reply
	holdWrites  bool
	holdMarkers bool
	writes      []Write   // held writes
	markers     []Markers // held or sent markers, in order
}

const coordEpoch = 3

func newCoordHarness(t *testing.T) *coordHarness {
	t.Helper()
	h := &coordHarness{t: t, now: 1_000_000, nextPID: 1000, replies: map[uint64]Reply{}}
	h.c = NewCoordinator(CoordinatorConfig{
		NumPartitions: 1,
		MaxTimeoutMs:  60000,
		NextProducerID: func() (int64, error) {
			if h.allocErr != nil {
				return -1, h.allocErr
			}
			h.nextPID++
			return h.nextPID, nil
		},
		OffsetsPartition: func(group string) int32 { return int32(len(group)) },
	})
	h.c.Load(0, coordEpoch, NewReplay())
	return h
}

// flush performs the coordinator's effects until there are none left.
func (h *coordHarness) flush() {
	for {
		eff := h.c.TakeEffects()
		if len(eff.Writes)+len(eff.Markers)+len(eff.Replies) == 0 {
			return
		}
		for _, r := range eff.Replies {
			if _, dup := h.replies[r.Token]; dup {
				h.t.Fatalf("token %d answered twice", r.Token)
			}
			h.replies[r.Token] = r
		}
		for _, w := range eff.Writes {
			if h.holdWrites {
				h.writes = append(h.writes, w)
				continue
			}
			h.log = append(h.log, w.Record)
			h.c.WriteDone(w, nil)
		}
		h.markers = append(h.markers, eff.Markers...)
		if !h.holdMarkers {
			for _, m := range eff.Markers {
				h.c.MarkersWritten(m.TransactionalID, m.CoordinatorEpoch, h.now)
			}
		}
	}
}

// ackWrites completes the held writes with err (nil: appended).
func (h *coordHarness) ackWrites(err error) {
	ws := h.writes
	h.writes = nil
	for _, w := range ws {
		if err == nil {
			h.log = append(h.log, w.Record)
		}
		h.c.WriteDone(w, err)
	}
	h.flush()
}

// call runs fn with a new token and returns its reply, which must exist
// unless a write is held.
func (h *coordHarness) call(fn func(tok uint64)) (uint64, Reply, bool) {
	h.tok++
	fn(h.tok)
	h.flush()
	r, ok := h.replies[h.tok]
	return h.tok, r, ok
}

func (h *coordHarness) mustReply(fn func(tok uint64)) Reply {
	h.t.Helper()
	_, r, ok := h.call(fn)
	if !ok {
		h.t.Fatal("no reply")
	}
	return r
}

func (h *coordHarness) init(id string, pid int64, epoch int16) Reply {
	h.t.Helper()
	return h.mustReply(func(tok uint64) {
		h.c.InitProducerID(tok, InitTxnRequest{TransactionalID: id, TimeoutMs: 10000, ProducerID: pid, ProducerEpoch: epoch}, h.now)
	})
}

func (h *coordHarness) add(id string, pid int64, epoch int16, parts ...TopicPartition) error {
	h.t.Helper()
	return h.mustReply(func(tok uint64) { h.c.AddPartitions(tok, id, pid, epoch, parts, h.now) }).Err
}

func (h *coordHarness) end(id string, pid int64, epoch int16, commit, bump bool) Reply {
	h.t.Helper()
	return h.mustReply(func(tok uint64) {
		h.c.EndTxn(tok, EndTxnRequest{TransactionalID: id, ProducerID: pid, ProducerEpoch: epoch, Commit: commit, BumpEpoch: bump}, h.now)
	})
}

func (h *coordHarness) state(id string) Metadata {
	h.t.Helper()
	e := h.c.txns[id]
	if e == nil {
		h.t.Fatalf("%q unknown", id)
	}
	return e.m
}

// begin initialises id and adds a partition: an Ongoing transaction.
func (h *coordHarness) begin(id string) (int64, int16) {
	h.t.Helper()
	r := h.init(id, -1, -1)
	if r.Err != nil {
		h.t.Fatalf("init %q: %v", id, r.Err)
	}
	if err := h.add(id, r.ProducerID, r.ProducerEpoch, TopicPartition{"t", 0}); err != nil {
		h.t.Fatalf("add: %v", err)
	}
	return r.ProducerID, r.ProducerEpoch
}

// initWith initialises "tx", then runs setup (if any) with its producer
// id and epoch.
func (h *coordHarness) initWith(setup func(h *coordHarness, pid int64, ep int16)) Reply {
	h.t.Helper()
	r := h.init("tx", -1, -1)
	if setup != nil {
		setup(h, r.ProducerID, r.ProducerEpoch)
	}
	return r
}

// holdAdd leaves an AddPartitions of "tx" waiting on its write.
func holdAdd(h *coordHarness, pid int64, ep int16) {
	h.holdWrites = true
	h.call(func(tok uint64) { h.c.AddPartitions(tok, "tx", pid, ep, []TopicPartition{{"u", 1}}, h.now) })
}

func unloaded(h *coordHarness, _ int64, _ int16) { h.c.Unload(0) }

func wantErr(t *testing.T, what string, got, want error) {
	t.Helper()
	if want == nil && got != nil || want != nil && !errors.Is(got, want) {
		t.Fatalf("%s: got %v, want %v", what, got, want)
	}
}

func TestInitProducerIDNewAndBump(t *testing.T) {
	h := newCoordHarness(t)
	r := h.init("tx", -1, -1)
	if r.Err != nil || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("first init: got %+v, want id 1001 epoch 0", r)
	}
	r = h.init("tx", -1, -1)
	if r.Err != nil || r.ProducerID != 1001 || r.ProducerEpoch != 1 {
		t.Fatalf("second init: got %+v, want id 1001 epoch 1", r)
	}
	m := h.state("tx")
	if m.State != Empty || m.TimeoutMs != 10000 || m.StartMs != -1 || len(h.log) != 2 {
		t.Fatalf("got %+v with %d records, want Empty after 2 records", m, len(h.log))
	}
	// The old epoch is fenced.
	wantErr(t, "add with epoch 0", h.add("tx", 1001, 0, TopicPartition{"t", 0}), kerr.ProducerFenced)
}

func TestInitProducerIDErrors(t *testing.T) {
	tests := []struct {
		name  string
		setup func(h *coordHarness)
		req   InitTxnRequest
		want  error
	}{
		{"empty id", nil, InitTxnRequest{TimeoutMs: 1000}, kerr.InvalidRequest},
		{"zero timeout", nil, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 0}, kerr.InvalidTransactionTimeout},
		{"negative timeout", nil, InitTxnRequest{TransactionalID: "tx", TimeoutMs: -5}, kerr.InvalidTransactionTimeout},
		{"timeout above max", nil, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 60001}, kerr.InvalidTransactionTimeout},
		{"not coordinator", func(h *coordHarness) { h.c.Unload(0) }, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000}, kerr.NotCoordinator},
		{"loading", func(h *coordHarness) { h.c.BeginLoad(0) }, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000}, kerr.CoordinatorLoadInProgress},
		{"allocator fails", func(h *coordHarness) { h.allocErr = errors.New("no block") }, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000}, kerr.CoordinatorLoadInProgress},
		{"producer id without epoch", nil, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: 5, ProducerEpoch: -1}, kerr.InvalidRequest},
		{"epoch without producer id", nil, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: 2}, kerr.InvalidRequest},
		{"no allocator", func(h *coordHarness) { h.c.cfg.NextProducerID = nil }, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000}, kerr.CoordinatorLoadInProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCoordHarness(t)
			if tt.setup != nil {
				tt.setup(h)
			}
			if tt.req.ProducerID == 0 && tt.req.ProducerEpoch == 0 {
				tt.req.ProducerID, tt.req.ProducerEpoch = -1, -1
			}
			r := h.mustReply(func(tok uint64) { h.c.InitProducerID(tok, tt.req, h.now) })
			wantErr(t, "init", r.Err, tt.want)
			if r.ProducerID != -1 || r.ProducerEpoch != -1 || len(h.log) != 0 {
				t.Fatalf("got %+v and %d records, want -1/-1 and none", r, len(h.log))
			}
		})
	}
}

func TestInitProducerIDFencesOngoing(t *testing.T) {
	h := newCoordHarness(t)
	pid, epoch := h.begin("tx")
	h.holdMarkers = true
	r := h.init("tx", -1, -1)
	wantErr(t, "init during a transaction", r.Err, kerr.ConcurrentTransactions)
	// Two bumps, as Kafka 4 at transaction version 2: the fence and the
	// abort's own.
	m := h.state("tx")
	if m.State != PrepareAbort || m.ProducerEpoch != epoch+2 || m.LastProducerEpoch != epoch+1 {
		t.Fatalf("got %v epoch %d last %d, want PrepareAbort epoch %d last %d", m.State, m.ProducerEpoch, m.LastProducerEpoch, epoch+2, epoch+1)
	}
	want := Markers{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: epoch + 2, CoordinatorEpoch: coordEpoch, Partitions: []TopicPartition{{"t", 0}}}
	if len(h.markers) != 1 || !reflect.DeepEqual(h.markers[0], want) {
		t.Fatalf("markers: got %+v, want %+v", h.markers, want)
	}
	// The fenced producer, and a retry while markers are written.
	wantErr(t, "old producer adds", h.add("tx", pid, epoch, TopicPartition{"u", 0}), kerr.ProducerFenced)
	wantErr(t, "old producer commits", h.end("tx", pid, epoch, true, false).Err, kerr.ProducerFenced)
	wantErr(t, "init while aborting", h.init("tx", -1, -1).Err, kerr.ConcurrentTransactions)

	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if m := h.state("tx"); m.State != CompleteAbort || m.Partitions != nil {
		t.Fatalf("got %+v, want CompleteAbort without partitions", m)
	}
	// The old producer's EndTxn v5 at its epoch is no retry of a bump.
	wantErr(t, "old producer commits after the abort", h.end("tx", pid, epoch, true, true).Err, kerr.ProducerFenced)
	r = h.init("tx", -1, -1)
	if r.Err != nil || r.ProducerID != pid || r.ProducerEpoch != epoch+3 {
		t.Fatalf("init after abort: got %+v, want id %d epoch %d", r, pid, epoch+3)
	}
}

// loadState installs m as if replayed from the log.
func (h *coordHarness) loadState(m Metadata) {
	r := NewReplay()
	rec := EncodeRecord(&m)
	if err := r.Apply(rec.Key, rec.Value); err != nil {
		h.t.Fatal(err)
	}
	h.c.Load(0, coordEpoch, r)
	h.flush()
}

func emptyAt(pid int64, epoch int16) Metadata {
	return Metadata{TransactionalID: "tx", ProducerID: pid, PrevProducerID: -1, NextProducerID: -1, ProducerEpoch: epoch, LastProducerEpoch: -1, TimeoutMs: 10000, State: CompleteCommit, StartMs: 5, LastUpdateMs: 5}
}

func TestInitProducerIDEpochExhaustion(t *testing.T) {
	h := newCoordHarness(t)
	h.loadState(emptyAt(7, maxEpoch-2))
	if r := h.init("tx", -1, -1); r.Err != nil || r.ProducerID != 7 || r.ProducerEpoch != maxEpoch-1 {
		t.Fatalf("bump to the last epoch: got %+v", r)
	}
	r := h.init("tx", -1, -1)
	if r.Err != nil || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("exhausted: got %+v, want a new id 1001 epoch 0", r)
	}
	if m := h.state("tx"); m.PrevProducerID != 7 {
		t.Fatalf("previous producer id: got %d, want 7", m.PrevProducerID)
	}
}

// TestInitProducerIDKIP360 covers InitProducerId with the producer id and
// epoch the client already has.
func TestInitProducerIDKIP360(t *testing.T) {
	tests := []struct {
		name      string
		state     Metadata
		setup     func(h *coordHarness) // after load
		pid       int64
		epoch     int16
		want      error
		wantPID   int64
		wantEpoch int16
	}{
		{name: "current epoch bumps", state: emptyAt(7, 4), pid: 7, epoch: 4, wantPID: 7, wantEpoch: 5},
		{name: "other producer id", state: emptyAt(7, 4), pid: 8, epoch: 4, want: kerr.ProducerFenced},
		{name: "stale epoch", state: emptyAt(7, 4), pid: 7, epoch: 2, want: kerr.ProducerFenced},
		{name: "retry of a bump", state: emptyAt(7, 4), setup: func(h *coordHarness) { h.init("tx", 7, 4) }, pid: 7, epoch: 4, wantPID: 7, wantEpoch: 5},
		{name: "retry after another producer", state: emptyAt(7, 4), setup: func(h *coordHarness) { h.init("tx", 7, 4); h.init("tx", -1, -1) }, pid: 7, epoch: 4, want: kerr.ProducerFenced},
		{name: "exhausted epoch rotates", state: emptyAt(7, maxEpoch-1), pid: 7, epoch: maxEpoch - 1, wantPID: 1001, wantEpoch: 0},
		{name: "retry of a rotation", state: emptyAt(7, maxEpoch-1), setup: func(h *coordHarness) { h.init("tx", 7, maxEpoch-1) }, pid: 7, epoch: maxEpoch - 1, wantPID: 1001, wantEpoch: 0},
		{name: "previous id with a live epoch", state: emptyAt(7, maxEpoch-1), setup: func(h *coordHarness) { h.init("tx", 7, maxEpoch-1) }, pid: 7, epoch: 3, want: kerr.ProducerFenced},
		{name: "write pending", state: emptyAt(7, 4), setup: func(h *coordHarness) {
			h.holdWrites = true
			h.call(func(tok uint64) {
				h.c.InitProducerID(tok, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, h.now)
			})
		}, pid: 7, epoch: 4, want: kerr.ConcurrentTransactions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCoordHarness(t)
			h.loadState(tt.state)
			if tt.setup != nil {
				tt.setup(h)
			}
			r := h.init("tx", tt.pid, tt.epoch)
			wantErr(t, "init", r.Err, tt.want)
			if tt.want == nil && (r.ProducerID != tt.wantPID || r.ProducerEpoch != tt.wantEpoch) {
				t.Fatalf("got id %d epoch %d, want %d %d", r.ProducerID, r.ProducerEpoch, tt.wantPID, tt.wantEpoch)
			}
		})
	}
}

func TestAddPartitions(t *testing.T) {
	h := newCoordHarness(t)
	r := h.init("tx", -1, -1)
	pid, ep := r.ProducerID, r.ProducerEpoch
	h.now += 10
	if err := h.add("tx", pid, ep, TopicPartition{"b", 1}, TopicPartition{"a", 0}); err != nil {
		t.Fatal(err)
	}
	start := h.now
	h.now += 10
	if err := h.add("tx", pid, ep, TopicPartition{"a", 0}, TopicPartition{"c", 2}); err != nil {
		t.Fatal(err)
	}
	m := h.state("tx")
	if want := []TopicPartition{{"a", 0}, {"b", 1}, {"c", 2}}; m.State != Ongoing || !slices.Equal(m.Partitions, want) || m.StartMs != start || m.LastUpdateMs != h.now {
		t.Fatalf("got %+v, want Ongoing with %v since %d", m, want, start)
	}
	n := len(h.log)
	if err := h.add("tx", pid, ep, TopicPartition{"b", 1}); err != nil || len(h.log) != n {
		t.Fatalf("known partition: got %v and %d new records, want nil and none", err, len(h.log)-n)
	}
	if err := h.mustReply(func(tok uint64) { h.c.AddOffsets(tok, "tx", pid, ep, "grp", h.now) }).Err; err != nil {
		t.Fatal(err)
	}
	if m := h.state("tx"); !slices.Contains(m.Partitions, TopicPartition{OffsetsTopic, 3}) {
		t.Fatalf("AddOffsets: got %v, want __consumer_offsets-3", m.Partitions)
	}
}

func TestAddPartitionsErrors(t *testing.T) {
	tp := TopicPartition{"t", 0}
	tests := []struct {
		name  string
		setup func(h *coordHarness, pid int64, ep int16)
		id    string
		pid   int64 // added to the real producer id
		epoch int16 // added to the real epoch
		want  error
	}{
		{name: "empty id", id: "", want: kerr.InvalidRequest},
		{name: "unknown id", id: "other", want: kerr.InvalidProducerIDMapping},
		{name: "other producer id", id: "tx", pid: 1, want: kerr.InvalidProducerIDMapping},
		{name: "old epoch", id: "tx", epoch: -1, want: kerr.ProducerFenced},
		{name: "newer epoch", id: "tx", epoch: 1, want: kerr.ProducerFenced},
		{name: "prepare commit", id: "tx", setup: func(h *coordHarness, pid int64, ep int16) {
			h.add("tx", pid, ep, tp)
			h.holdMarkers = true
			h.end("tx", pid, ep, true, false)
		}, want: kerr.ConcurrentTransactions},
		{name: "write pending", id: "tx", setup: holdAdd, want: kerr.ConcurrentTransactions},
		{name: "not coordinator", id: "tx", setup: unloaded, want: kerr.NotCoordinator},
		{name: "loading", id: "tx", setup: func(h *coordHarness, _ int64, _ int16) { h.c.BeginLoad(0) }, want: kerr.CoordinatorLoadInProgress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCoordHarness(t)
			r := h.initWith(tt.setup)
			err := h.add(tt.id, r.ProducerID+tt.pid, r.ProducerEpoch+tt.epoch, TopicPartition{"v", 2})
			wantErr(t, "add", err, tt.want)
			if tt.want == kerr.ProducerFenced {
				wantErr(t, "as v1", ForVersion(err, apiAddPartitions, 1), kerr.InvalidProducerEpoch)
			}
		})
	}
}

func TestVerifyPartitions(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx")
	in, out := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	got, err := h.c.VerifyPartitions("tx", pid, ep, []TopicPartition{in, out})
	if err != nil || got[in] != nil || !errors.Is(got[out], kerr.TransactionAbortable) {
		t.Fatalf("got %v, %v; want nil for t-0 and TRANSACTION_ABORTABLE for t-1", got, err)
	}
	for _, c := range []struct {
		id   string
		pid  int64
		ep   int16
		want error
	}{
		{"", pid, ep, kerr.InvalidRequest},
		{"nope", pid, ep, kerr.InvalidProducerIDMapping},
		{"tx", pid + 1, ep, kerr.InvalidProducerIDMapping},
		{"tx", pid, ep + 1, kerr.ProducerFenced},
	} {
		_, err := h.c.VerifyPartitions(c.id, c.pid, c.ep, []TopicPartition{in})
		wantErr(t, "verify "+c.id, err, c.want)
	}
	h.holdMarkers = true
	h.end("tx", pid, ep, false, false)
	_, err = h.c.VerifyPartitions("tx", pid, ep, []TopicPartition{in})
	wantErr(t, "verify in PrepareAbort", err, kerr.ConcurrentTransactions)
	if len(h.log) != 3 {
		t.Fatalf("got %d records, want 3 (verification writes nothing)", len(h.log))
	}
}

func TestEndTxnCommit(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx")
	h.holdMarkers = true
	r := h.end("tx", pid, ep, true, false)
	if r.Err != nil || r.ProducerID != pid || r.ProducerEpoch != ep {
		t.Fatalf("commit: got %+v", r)
	}
	if m := h.state("tx"); m.State != PrepareCommit {
		t.Fatalf("got %v, want PrepareCommit", m.State)
	}
	want := Markers{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true, CoordinatorEpoch: coordEpoch, Partitions: []TopicPartition{{"t", 0}}}
	if len(h.markers) != 1 || !reflect.DeepEqual(h.markers[0], want) {
		t.Fatalf("markers: got %+v, want %+v", h.markers, want)
	}
	h.c.MarkersWritten("tx", coordEpoch+1, h.now) // stale epoch: ignored
	h.c.MarkersWritten("other", coordEpoch, h.now)
	h.flush()
	if m := h.state("tx"); m.State != PrepareCommit {
		t.Fatalf("got %v after stale MarkersWritten, want PrepareCommit", m.State)
	}
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if m := h.state("tx"); m.State != CompleteCommit || m.ProducerEpoch != ep || m.Partitions != nil {
		t.Fatalf("got %+v, want CompleteCommit at epoch %d", m, ep)
	}
	// A new transaction starts from CompleteCommit.
	h.now += 50
	if err := h.add("tx", pid, ep, TopicPartition{"t", 5}); err != nil {
		t.Fatal(err)
	}
	if m := h.state("tx"); m.StartMs != h.now {
		t.Fatalf("start: got %d, want %d", m.StartMs, h.now)
	}
}

func TestEndTxnErrors(t *testing.T) {
	ongoing := func(h *coordHarness, pid int64, ep int16) { h.add("tx", pid, ep, TopicPartition{"t", 0}) }
	prepared := func(commit bool) func(h *coordHarness, pid int64, ep int16) {
		return func(h *coordHarness, pid int64, ep int16) {
			ongoing(h, pid, ep)
			h.holdMarkers = true
			h.end("tx", pid, ep, commit, false)
		}
	}
	completed := func(commit bool) func(h *coordHarness, pid int64, ep int16) {
		return func(h *coordHarness, pid int64, ep int16) {
			ongoing(h, pid, ep)
			h.end("tx", pid, ep, commit, false)
		}
	}
	tests := []struct {
		name   string
		setup  func(h *coordHarness, pid int64, ep int16)
		id     string
		pid    int64
		epoch  int16
		commit bool
		want   error
	}{
		{name: "empty id", id: "", want: kerr.InvalidRequest},
		{name: "unknown id", id: "other", want: kerr.InvalidProducerIDMapping},
		{name: "other producer id", setup: ongoing, id: "tx", pid: 1, want: kerr.InvalidProducerIDMapping},
		{name: "old epoch", setup: ongoing, id: "tx", epoch: -1, want: kerr.ProducerFenced},
		{name: "empty state", id: "tx", commit: true, want: kerr.InvalidTxnState},
		{name: "commit while committing", setup: prepared(true), id: "tx", commit: true, want: kerr.ConcurrentTransactions},
		{name: "abort while committing", setup: prepared(true), id: "tx", want: kerr.InvalidTxnState},
		{name: "commit while aborting", setup: prepared(false), id: "tx", commit: true, want: kerr.InvalidTxnState},
		{name: "commit retried", setup: completed(true), id: "tx", commit: true},
		{name: "abort after commit", setup: completed(true), id: "tx", want: kerr.InvalidTxnState},
		{name: "abort retried", setup: completed(false), id: "tx"},
		{name: "commit after abort", setup: completed(false), id: "tx", commit: true, want: kerr.InvalidTxnState},
		{name: "write pending", id: "tx", setup: func(h *coordHarness, pid int64, ep int16) {
			ongoing(h, pid, ep)
			holdAdd(h, pid, ep)
		}, want: kerr.ConcurrentTransactions},
		{name: "not coordinator", id: "tx", setup: unloaded, want: kerr.NotCoordinator},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newCoordHarness(t)
			r := h.initWith(tt.setup)
			got := h.end(tt.id, r.ProducerID+tt.pid, r.ProducerEpoch+tt.epoch, tt.commit, false)
			wantErr(t, "end", got.Err, tt.want)
			if tt.want == nil && (got.ProducerID != r.ProducerID || got.ProducerEpoch != r.ProducerEpoch) {
				t.Fatalf("retry answer: got %+v, want the current id and epoch", got)
			}
		})
	}
}

// TestEndTxnEpochBump covers transaction version 2 (KIP-890 part 2).
func TestEndTxnEpochBump(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx")
	h.holdMarkers = true
	r := h.end("tx", pid, ep, true, true)
	if r.Err != nil || r.ProducerID != pid || r.ProducerEpoch != ep+1 {
		t.Fatalf("commit: got %+v, want epoch %d", r, ep+1)
	}
	if h.markers[0].ProducerEpoch != ep+1 {
		t.Fatalf("markers carry epoch %d, want %d", h.markers[0].ProducerEpoch, ep+1)
	}
	wantErr(t, "retry while committing", h.end("tx", pid, ep, true, true).Err, kerr.ConcurrentTransactions)
	wantErr(t, "new epoch while committing", h.end("tx", pid, ep+1, true, true).Err, kerr.ProducerFenced)
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if r := h.end("tx", pid, ep, true, true); r.Err != nil || r.ProducerEpoch != ep+1 {
		t.Fatalf("retry after commit: got %+v, want epoch %d", r, ep+1)
	}
	if m := h.state("tx"); m.State != CompleteCommit || m.LastProducerEpoch != ep+1 || m.ClientTxnVersion != 2 {
		t.Fatalf("got %+v", m)
	}
	wantErr(t, "old epoch adds", h.add("tx", pid, ep, TopicPartition{"t", 0}), kerr.ProducerFenced)
	if err := h.add("tx", pid, ep+1, TopicPartition{"t", 0}); err != nil {
		t.Fatalf("next transaction: %v", err)
	}
}

// TestEndTxnEmptyAbortV2 checks that with transaction version 2 an abort
// at the current epoch with no transaction running (a client whose
// produces all failed) succeeds and bumps the epoch, from Empty and after
// a completed transaction, while a commit there stays INVALID_TXN_STATE
// and a version 1 abort too.
func TestEndTxnEmptyAbortV2(t *testing.T) {
	h := newCoordHarness(t)
	r := h.init("tx", -1, -1)
	pid, ep := r.ProducerID, r.ProducerEpoch
	wantErr(t, "v1 abort in Empty", h.end("tx", pid, ep, false, false).Err, kerr.InvalidTxnState)
	wantErr(t, "v2 commit in Empty", h.end("tx", pid, ep, true, true).Err, kerr.InvalidTxnState)
	if r := h.end("tx", pid, ep, false, true); r.Err != nil || r.ProducerEpoch != ep+1 {
		t.Fatalf("v2 abort in Empty: got %+v, want epoch %d", r, ep+1)
	}
	if m := h.state("tx"); m.State != CompleteAbort || m.ProducerEpoch != ep+1 {
		t.Fatalf("after the empty abort: got %+v", m)
	}
	if r := h.end("tx", pid, ep, false, true); r.Err != nil || r.ProducerEpoch != ep+1 {
		t.Fatalf("retry of the empty abort: got %+v, want epoch %d", r, ep+1)
	}
	if r := h.end("tx", pid, ep+1, false, true); r.Err != nil || r.ProducerEpoch != ep+2 {
		t.Fatalf("abort after CompleteAbort: got %+v, want epoch %d", r, ep+2)
	}
	if len(h.markers) != 0 {
		t.Fatalf("got markers %+v for transactions without partitions", h.markers)
	}
}

func TestEndTxnEpochOverflow(t *testing.T) {
	h := newCoordHarness(t)
	m := emptyAt(7, maxEpoch-2)
	m.State, m.Partitions = Ongoing, []TopicPartition{{"t", 0}}
	h.loadState(m)
	h.holdMarkers = true
	r := h.end("tx", 7, maxEpoch-2, false, true)
	if r.Err != nil || r.ProducerID != 7 || r.ProducerEpoch != maxEpoch-1 {
		t.Fatalf("abort: got %+v", r)
	}
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if err := h.add("tx", 7, maxEpoch-1, TopicPartition{"t", 0}); err != nil {
		t.Fatal(err)
	}
	// The epoch is exhausted: EndTxn allocates the next producer id, the
	// markers go out at maxEpoch, and the new id takes over at CompleteCommit.
	r = h.end("tx", 7, maxEpoch-1, true, true)
	if r.Err != nil || r.ProducerID != 7 || r.ProducerEpoch != maxEpoch {
		t.Fatalf("commit: got %+v", r)
	}
	if mk := h.markers[len(h.markers)-1]; mk.ProducerID != 7 || mk.ProducerEpoch != maxEpoch {
		t.Fatalf("markers: got %+v", mk)
	}
	if m := h.state("tx"); m.NextProducerID != 1001 {
		t.Fatalf("next producer id: got %d", m.NextProducerID)
	}
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if m := h.state("tx"); m.ProducerID != 1001 || m.ProducerEpoch != 0 || m.PrevProducerID != 7 || m.NextProducerID != -1 {
		t.Fatalf("after rotation: got %+v", m)
	}
	// A retry of the commit with the old id and epoch succeeds.
	if r := h.end("tx", 7, maxEpoch-1, true, true); r.Err != nil || r.ProducerID != 1001 || r.ProducerEpoch != 0 {
		t.Fatalf("retry: got %+v", r)
	}
	// Allocation failing at EndTxn: nothing is written.
	h2 := newCoordHarness(t)
	m.ProducerEpoch = maxEpoch - 1
	h2.loadState(m)
	h2.allocErr = errors.New("no block")
	wantErr(t, "rotation fails", h2.end("tx", 7, maxEpoch-1, true, true).Err, kerr.CoordinatorLoadInProgress)
	if got := h2.state("tx"); got.State != Ongoing || len(h2.log) != 0 {
		t.Fatalf("got %v and %d records, want Ongoing and none", got.State, len(h2.log))
	}
}

func TestWriteFailure(t *testing.T) {
	h := newCoordHarness(t)
	h.holdWrites = true
	tok, _, ok := h.call(func(tok uint64) {
		h.c.InitProducerID(tok, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, h.now)
	})
	if ok {
		t.Fatal("answered before the write")
	}
	h.ackWrites(kerr.NotEnoughReplicas)
	wantErr(t, "init", h.replies[tok].Err, kerr.CoordinatorNotAvailable)
	if _, err := h.c.Describe("tx"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("an id never written is forgotten: got %v", err)
	}
	h.holdWrites = false
	pid, ep := h.begin("tx")
	h.holdWrites = true
	tok, _, _ = h.call(func(tok uint64) {
		h.c.EndTxn(tok, EndTxnRequest{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true}, h.now)
	})
	w := h.writes[0]
	h.ackWrites(errors.New("disk on fire"))
	wantErr(t, "commit", h.replies[tok].Err, kerr.CoordinatorNotAvailable)
	if m := h.state("tx"); m.State != Ongoing {
		t.Fatalf("got %v, want Ongoing after a failed write", m.State)
	}
	h.c.WriteDone(w, nil) // reported twice: ignored
	if m := h.state("tx"); m.State != Ongoing {
		t.Fatalf("got %v after a stale WriteDone", m.State)
	}
}

// TestCompleteWriteFailure: only the write after the markers is marked
// Complete; when it fails the transaction stays prepared with no write
// pending, and MarkersWritten (the driver's retry) writes it again.
func TestCompleteWriteFailure(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx")
	h.holdWrites = true
	h.call(func(tok uint64) {
		h.c.EndTxn(tok, EndTxnRequest{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true}, h.now)
	})
	if len(h.writes) != 1 || h.writes[0].Complete || h.writes[0].TransactionalID != "tx" {
		t.Fatalf("PrepareCommit write: got %+v, want one for tx, not Complete", h.writes)
	}
	h.ackWrites(nil) // PrepareCommit logged; the markers are written at once
	if len(h.writes) != 1 || !h.writes[0].Complete {
		t.Fatalf("after the markers: got writes %+v, want one Complete", h.writes)
	}
	h.ackWrites(kerr.NotEnoughReplicas)
	if m := h.state("tx"); m.State != PrepareCommit {
		t.Fatalf("got %v after a failed Complete write, want PrepareCommit", m.State)
	}
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if len(h.writes) != 1 || !h.writes[0].Complete {
		t.Fatalf("after MarkersWritten again: got writes %+v, want one Complete", h.writes)
	}
	h.ackWrites(nil)
	if m := h.state("tx"); m.State != CompleteCommit {
		t.Fatalf("got %v, want CompleteCommit", m.State)
	}
}

func TestAppendError(t *testing.T) {
	for in, want := range map[error]*kerr.Error{
		kerr.UnknownTopicOrPartition:      kerr.CoordinatorNotAvailable,
		kerr.NotEnoughReplicas:            kerr.CoordinatorNotAvailable,
		kerr.NotEnoughReplicasAfterAppend: kerr.CoordinatorNotAvailable,
		kerr.RequestTimedOut:              kerr.CoordinatorNotAvailable,
		kerr.NotLeaderForPartition:        kerr.NotCoordinator,
		kerr.KafkaStorageError:            kerr.NotCoordinator,
		kerr.MessageTooLarge:              kerr.UnknownServerError,
		kerr.RecordListTooLarge:           kerr.UnknownServerError,
		kerr.InvalidRequest:               kerr.InvalidRequest,
		errors.New("other"):               kerr.CoordinatorNotAvailable,
	} {
		var got *kerr.Error
		if !errors.As(appendError(in), &got) || got != want {
			t.Errorf("appendError(%v) = %v, want %v", in, got, want)
		}
	}
}

func TestUnloadAnswersWaiting(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx")
	h.holdWrites = true
	tok, _, _ := h.call(func(tok uint64) {
		h.c.EndTxn(tok, EndTxnRequest{TransactionalID: "tx", ProducerID: pid, ProducerEpoch: ep, Commit: true}, h.now)
	})
	h.c.Unload(0)
	h.flush()
	wantErr(t, "waiting commit", h.replies[tok].Err, kerr.NotCoordinator)
	h.ackWrites(nil) // the write landed, but this node no longer leads
	if len(h.replies) != int(h.tok) {
		t.Fatalf("got %d replies for %d requests", len(h.replies), h.tok)
	}
	// The next leader replays the log, resends the markers and completes.
	h.holdWrites = false
	r := NewReplay()
	for _, rec := range h.log {
		if err := r.Apply(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	h.markers = nil
	h.c.Load(0, coordEpoch+1, r)
	h.flush()
	if len(h.markers) != 1 || !h.markers[0].Commit || h.markers[0].CoordinatorEpoch != coordEpoch+1 {
		t.Fatalf("markers after load: got %+v", h.markers)
	}
	if m := h.state("tx"); m.State != CompleteCommit {
		t.Fatalf("got %v, want CompleteCommit", m.State)
	}
}

func TestLoadSkipsMisplacedIDs(t *testing.T) {
	h := newCoordHarness(t)
	h.c.cfg.NumPartitions = 50
	r := NewReplay()
	for _, id := range []string{"hello", "my-txn-7"} { // partitions 22 and 43
		m := emptyAt(1, 0)
		m.TransactionalID = id
		rec := EncodeRecord(&m)
		r.Apply(rec.Key, rec.Value)
	}
	if got := h.c.Load(22, 1, r); !slices.Equal(got, []string{"my-txn-7"}) {
		t.Fatalf("misplaced: got %v", got)
	}
	if _, err := h.c.Describe("hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Describe("my-txn-7"); !errors.Is(err, kerr.NotCoordinator) {
		t.Fatalf("got %v, want NOT_COORDINATOR", err)
	}
}

func TestPartitionFor(t *testing.T) {
	c := NewCoordinator(CoordinatorConfig{})
	// Expected values computed from Java's String.hashCode and Utils.abs.
	for id, want := range map[string]int32{"hello": 22, "polygenelubricants": 0, "my-txn-7": 43, "𝄞x": 34, "transactional-id-3": 43} {
		if got := c.PartitionFor(id); got != want {
			t.Errorf("PartitionFor(%q) = %d, want %d", id, got, want)
		}
	}
}

func TestAbortTimedOut(t *testing.T) {
	h := newCoordHarness(t)
	pid, ep := h.begin("tx") // timeout 10000 ms
	start := h.now
	h.begin("idle")
	h.init("idle", -1, -1) // fenced and aborted: not Ongoing any more
	h.c.AbortTimedOut(start + 10000)
	h.flush()
	if m := h.state("tx"); m.State != Ongoing {
		t.Fatalf("at the timeout: got %v, want Ongoing", m.State)
	}
	h.holdMarkers, h.markers = true, nil
	h.c.AbortTimedOut(start + 10001)
	h.flush()
	if m := h.state("tx"); m.State != PrepareAbort || m.ProducerEpoch != ep+2 {
		t.Fatalf("after the timeout: got %+v, want PrepareAbort at epoch %d (fenced, then the abort's bump)", m, ep+2)
	}
	if len(h.markers) != 1 || h.markers[0].TransactionalID != "tx" || h.markers[0].Commit {
		t.Fatalf("markers: got %+v", h.markers)
	}
	wantErr(t, "producer commits", h.end("tx", pid, ep, true, false).Err, kerr.ProducerFenced)
	wantErr(t, "as EndTxn v1", ForVersion(h.end("tx", pid, ep, true, false).Err, apiEndTxn, 1), kerr.InvalidProducerEpoch)
}

// TestFenceAtLastEpoch: a producer at maxEpoch-1 (transaction version 2
// hands that epoch out before it rotates ids) whose transaction times out
// is fenced with one bump to maxEpoch, as the second would overflow; the
// next InitProducerId rotates to a new producer id.
func TestFenceAtLastEpoch(t *testing.T) {
	h := newCoordHarness(t)
	m := emptyAt(7, maxEpoch-1)
	m.State, m.Partitions, m.ClientTxnVersion = Ongoing, []TopicPartition{{"t", 0}}, 2
	h.loadState(m)
	h.holdMarkers = true
	h.c.AbortTimedOut(m.StartMs + int64(m.TimeoutMs) + 1)
	h.flush()
	got := h.state("tx")
	if got.State != PrepareAbort || got.ProducerEpoch != maxEpoch || got.LastProducerEpoch != noProducerEpoch {
		t.Fatalf("got %v epoch %d last %d, want PrepareAbort epoch %d last -1", got.State, got.ProducerEpoch, got.LastProducerEpoch, maxEpoch)
	}
	if len(h.markers) != 1 || h.markers[0].ProducerEpoch != maxEpoch {
		t.Fatalf("markers: got %+v, want one at epoch %d", h.markers, maxEpoch)
	}
	wantErr(t, "fenced producer commits", h.end("tx", 7, maxEpoch-1, true, true).Err, kerr.ProducerFenced)
	h.c.MarkersWritten("tx", coordEpoch, h.now)
	h.flush()
	if r := h.init("tx", -1, -1); r.Err != nil || r.ProducerID == 7 || r.ProducerEpoch != 0 {
		t.Fatalf("init after the abort: got %+v, want a new producer id at epoch 0", r)
	}
}

func TestExpireIDs(t *testing.T) {
	h := newCoordHarness(t)
	h.c.cfg.IDExpirationMs = 1000
	h.init("idle", -1, -1)
	h.begin("busy")
	last := h.now
	h.c.ExpireIDs(last + 999)
	h.flush()
	if _, err := h.c.Describe("idle"); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	h.holdWrites = true
	h.c.ExpireIDs(last + 1000)
	h.flush()
	if len(h.writes) != 1 || h.writes[0].Record.Value != nil {
		t.Fatalf("want one tombstone, got %+v", h.writes)
	}
	h.ackWrites(kerr.NotEnoughReplicas) // failed: the id stays
	if _, err := h.c.Describe("idle"); err != nil {
		t.Fatalf("after a failed tombstone: %v", err)
	}
	h.c.ExpireIDs(last + 1000)
	h.flush()
	h.ackWrites(nil)
	if _, err := h.c.Describe("idle"); !errors.Is(err, kerr.TransactionalIDNotFound) {
		t.Fatalf("after expiry: got %v", err)
	}
	if _, err := h.c.Describe("busy"); err != nil {
		t.Fatalf("ongoing transactions never expire: %v", err)
	}
	// The tombstone removes the id on replay too.
	r := NewReplay()
	for _, rec := range h.log {
		r.Apply(rec.Key, rec.Value)
	}
	if _, ok := r.txns["idle"]; ok || r.Len() != 1 {
		t.Fatalf("replay holds %d ids", r.Len())
	}
}

func TestDescribeAndList(t *testing.T) {
	h := newCoordHarness(t)
	h.begin("a")
	startA := h.now
	h.now += 100
	h.init("b", -1, -1)
	d, err := h.c.Describe("a")
	want := Description{State: Ongoing, ProducerID: 1001, ProducerEpoch: 0, TimeoutMs: 10000, StartMs: startA, Partitions: []TopicPartition{{"t", 0}}}
	if err != nil || !reflect.DeepEqual(d, want) {
		t.Fatalf("describe: got %+v, %v; want %+v", d, err, want)
	}
	if _, err := h.c.Describe(""); !errors.Is(err, kerr.InvalidRequest) {
		t.Fatalf("empty id: got %v", err)
	}
	tests := []struct {
		f           ListFilter
		want        []string
		wantUnknown []string
	}{
		{ListFilter{MinDurationMs: -1}, []string{"a", "b"}, nil},
		{ListFilter{States: []string{"Ongoing", "Bogus"}, MinDurationMs: -1}, []string{"a"}, []string{"Bogus"}},
		{ListFilter{ProducerIDs: []int64{1002}, MinDurationMs: -1}, []string{"b"}, nil},
		{ListFilter{States: []string{"Ongoing"}, MinDurationMs: 99}, []string{"a"}, nil},
		{ListFilter{States: []string{"Ongoing"}, MinDurationMs: 100}, nil, nil},
	}
	for _, tt := range tests {
		got, unknown, err := h.c.List(tt.f, h.now)
		var ids []string
		for _, l := range got {
			ids = append(ids, l.TransactionalID)
		}
		if err != nil || !slices.Equal(ids, tt.want) || !slices.Equal(unknown, tt.wantUnknown) {
			t.Errorf("List(%+v): got %v %v %v, want %v %v", tt.f, ids, unknown, err, tt.want, tt.wantUnknown)
		}
	}
	h.c.BeginLoad(0)
	if _, _, err := h.c.List(ListFilter{MinDurationMs: -1}, h.now); !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("while loading: got %v", err)
	}
}

func TestForVersion(t *testing.T) {
	fenced := kerr.ProducerFenced
	tests := []struct {
		api, version int16
		in           error
		want         error
	}{
		{apiInitProducerID, 3, fenced, kerr.InvalidProducerEpoch},
		{apiInitProducerID, 4, fenced, kerr.ProducerFenced},
		{apiAddPartitions, 1, fenced, kerr.InvalidProducerEpoch},
		{apiAddPartitions, 2, fenced, kerr.ProducerFenced},
		{apiAddOffsets, 1, fenced, kerr.InvalidProducerEpoch},
		{apiEndTxn, 1, fenced, kerr.InvalidProducerEpoch},
		{apiEndTxn, 5, fenced, kerr.ProducerFenced},
		{apiTxnOffsetCommit, 0, fenced, kerr.InvalidProducerEpoch},
		{0, 0, fenced, kerr.ProducerFenced},
		{apiEndTxn, 0, kerr.ConcurrentTransactions, kerr.ConcurrentTransactions},
		{apiEndTxn, 0, nil, nil},
	}
	for _, tt := range tests {
		got := ForVersion(tt.in, tt.api, tt.version)
		if tt.want == nil && got != nil || tt.want != nil && !errors.Is(got, tt.want) {
			t.Errorf("ForVersion(%v, %d, v%d) = %v, want %v", tt.in, tt.api, tt.version, got, tt.want)
		}
		if tt.want == kerr.InvalidProducerEpoch && errors.Is(got, kerr.ProducerFenced) {
			t.Errorf("ForVersion(%d, v%d) still wraps PRODUCER_FENCED", tt.api, tt.version)
		}
	}
}

// TestReloadRebuildsState runs a mix of transactions, then loads the
// records written into a fresh coordinator: every id must come back with
// the same state (LastProducerEpoch is not in the log: -1 after a load, as
// in Kafka), and prepared transactions must get their markers again.
func TestReloadRebuildsState(t *testing.T) {
	h := newCoordHarness(t)
	h.c.cfg.IDExpirationMs = 1000
	h.init("expired", -1, -1)
	h.now += 1000
	pid, ep := h.begin("committed")
	h.end("committed", pid, ep, true, false)
	pid, ep = h.begin("aborted-v2")
	h.end("aborted-v2", pid, ep, false, true)
	h.begin("ongoing")
	h.begin("fenced")
	h.init("fenced", -1, -1)
	h.c.ExpireIDs(h.now)
	h.flush()
	pid, ep = h.begin("preparing")
	h.holdMarkers = true
	h.end("preparing", pid, ep, true, true)

	want := map[string]Metadata{}
	for id, e := range h.c.txns {
		m := e.m
		m.LastProducerEpoch = -1
		want[id] = m
	}
	if _, ok := want["expired"]; ok || len(want) != 5 {
		t.Fatalf("before reload: %d ids, want 5 without the expired one", len(want))
	}
	r := NewReplay()
	for _, rec := range h.log {
		if err := r.Apply(rec.Key, rec.Value); err != nil {
			t.Fatal(err)
		}
	}
	fresh := newCoordHarness(t)
	fresh.holdMarkers = true
	fresh.c.Load(0, coordEpoch+1, r)
	fresh.flush()
	got := map[string]Metadata{}
	for id, e := range fresh.c.txns {
		got[id] = e.m
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("reloaded:\n got %+v\nwant %+v", got, want)
	}
	if len(fresh.markers) != 1 || fresh.markers[0].TransactionalID != "preparing" || fresh.markers[0].ProducerEpoch != ep+1 {
		t.Fatalf("markers after reload: got %+v", fresh.markers)
	}
}

func TestEdgeCases(t *testing.T) {
	t.Run("end without partitions completes at once", func(t *testing.T) {
		h := newCoordHarness(t)
		r := h.init("tx", -1, -1)
		if err := h.add("tx", r.ProducerID, r.ProducerEpoch); err != nil {
			t.Fatal(err)
		}
		h.holdMarkers = true
		if got := h.end("tx", r.ProducerID, r.ProducerEpoch, true, false); got.Err != nil {
			t.Fatal(got.Err)
		}
		if m := h.state("tx"); m.State != CompleteCommit || len(h.markers) != 0 {
			t.Fatalf("got %v and markers %+v, want CompleteCommit without markers", m.State, h.markers)
		}
	})
	t.Run("AddOffsets without a group coordinator", func(t *testing.T) {
		h := newCoordHarness(t)
		r := h.init("tx", -1, -1)
		h.c.cfg.OffsetsPartition = nil
		err := h.mustReply(func(tok uint64) { h.c.AddOffsets(tok, "tx", r.ProducerID, r.ProducerEpoch, "g", h.now) }).Err
		wantErr(t, "AddOffsets", err, kerr.CoordinatorNotAvailable)
	})
	t.Run("rotation when no producer id can be allocated", func(t *testing.T) {
		h := newCoordHarness(t)
		h.loadState(emptyAt(7, maxEpoch-1))
		h.allocErr = errors.New("no block")
		wantErr(t, "init", h.init("tx", -1, -1).Err, kerr.CoordinatorLoadInProgress)
	})
	t.Run("timed out at the last epoch is left alone", func(t *testing.T) {
		h := newCoordHarness(t)
		m := emptyAt(7, maxEpoch)
		m.State, m.Partitions = Ongoing, []TopicPartition{{"t", 0}}
		h.loadState(m)
		h.c.AbortTimedOut(h.now + 1_000_000)
		h.flush()
		if got := h.state("tx"); got.State != Ongoing || len(h.log) != 0 {
			t.Fatalf("got %v and %d records", got.State, len(h.log))
		}
	})
	t.Run("no expiry while a write is pending", func(t *testing.T) {
		h := newCoordHarness(t)
		h.c.cfg.IDExpirationMs = 10
		h.init("tx", -1, -1)
		h.holdWrites = true
		h.call(func(tok uint64) {
			h.c.InitProducerID(tok, InitTxnRequest{TransactionalID: "tx", TimeoutMs: 1000, ProducerID: -1, ProducerEpoch: -1}, h.now)
		})
		h.c.ExpireIDs(h.now + 1000)
		h.flush()
		if len(h.writes) != 1 || h.writes[0].Record.Value == nil {
			t.Fatalf("want only the init write held, got %+v", h.writes)
		}
	})
}

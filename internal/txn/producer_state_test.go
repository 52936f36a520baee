package txn

import (
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Attribute bits as recordbatch lays them out.
const (
	attrTransactional int16 = 0x10
	attrControl       int16 = 0x20
)

// batch is a client batch in a scenario: count records from producer pid at
// epoch, sequences starting at seq.
type batch struct {
	pid   int64
	epoch int16
	seq   int32
	count int32
	attrs int16
}

func (b batch) header() recordbatch.Header {
	return recordbatch.Header{
		Magic:           recordbatch.CurrentMagic,
		Attributes:      b.attrs,
		LastOffsetDelta: b.count - 1,
		ProducerID:      b.pid,
		ProducerEpoch:   b.epoch,
		BaseSequence:    b.seq,
		NumRecords:      b.count,
	}
}

// step is one produce attempt and its expected outcome: appended (zero
// wantErr and wantDup < 0), a duplicate of the batch at offset wantDup, or
// an error wrapping wantErr.
type step struct {
	b       batch
	wantDup int64
	wantErr *kerr.Error
}

func ok(pid int64, epoch int16, seq, count int32) step {
	return step{b: batch{pid: pid, epoch: epoch, seq: seq, count: count}, wantDup: -1}
}

func dup(pid int64, epoch int16, seq, count int32, offset int64) step {
	return step{b: batch{pid: pid, epoch: epoch, seq: seq, count: count}, wantDup: offset}
}

func fail(pid int64, epoch int16, seq, count int32, err *kerr.Error) step {
	return step{b: batch{pid: pid, epoch: epoch, seq: seq, count: count}, wantDup: -1, wantErr: err}
}

// harness plays the partition: Check, and on acceptance append at the log
// end and Update. The timestamp of the n-th append is 1000+n.
type harness struct {
	t        *testing.T
	s        *ProducerState
	next     int64                // log end offset
	appended []recordbatch.Header // what the log holds, offsets patched
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return &harness{t: t, s: NewProducerState()}
}

func (h *harness) do(i int, st step) {
	h.t.Helper()
	hdr := st.b.header()
	before := cloneState(h.s)
	got, err := h.s.Check(hdr)
	if !reflect.DeepEqual(before, cloneState(h.s)) {
		h.t.Fatalf("step %d %+v: Check changed the state", i, st.b)
	}
	switch {
	case st.wantErr != nil:
		if !errors.Is(err, st.wantErr) {
			h.t.Fatalf("step %d %+v: got (%v, %v), want error %v", i, st.b, got, err, st.wantErr.Message)
		}
	case st.wantDup >= 0:
		if err != nil || got == nil {
			h.t.Fatalf("step %d %+v: got (%v, %v), want duplicate of offset %d", i, st.b, got, err, st.wantDup)
		}
		if got.BaseOffset != st.wantDup || got.LastOffset != st.wantDup+int64(st.b.count)-1 {
			h.t.Fatalf("step %d %+v: got duplicate at [%d, %d], want [%d, %d]", i, st.b,
				got.BaseOffset, got.LastOffset, st.wantDup, st.wantDup+int64(st.b.count)-1)
		}
		if got.Timestamp != h.timestampAt(got.BaseOffset) {
			h.t.Fatalf("step %d %+v: got duplicate timestamp %d, want %d", i, st.b, got.Timestamp, h.timestampAt(got.BaseOffset))
		}
	default:
		if err != nil || got != nil {
			h.t.Fatalf("step %d %+v: got (%v, %v), want append", i, st.b, got, err)
		}
		h.append(hdr)
	}
}

// append puts hdr at the log end and records it, as the partition does
// after a successful Check.
func (h *harness) append(hdr recordbatch.Header) {
	hdr.BaseOffset = h.next
	hdr.MaxTimestamp = 1000 + int64(len(h.appended))
	h.s.Update(hdr, hdr.MaxTimestamp)
	h.appended = append(h.appended, hdr)
	h.next = hdr.NextOffset()
}

func (h *harness) timestampAt(offset int64) int64 {
	for _, a := range h.appended {
		if a.BaseOffset == offset {
			return a.MaxTimestamp
		}
	}
	return -1
}

func cloneState(s *ProducerState) map[int64]producer {
	out := make(map[int64]producer, len(s.producers))
	for id, p := range s.producers {
		out[id] = *p
	}
	return out
}

func TestCheckScenarios(t *testing.T) {
	const max = math.MaxInt32
	tests := []struct {
		name  string
		steps []step
	}{
		{"first batch at sequence 0", []step{ok(1, 0, 0, 1)}},
		{"in-order batches", []step{ok(1, 0, 0, 3), ok(1, 0, 3, 1), ok(1, 0, 4, 10), ok(1, 0, 14, 2)}},
		{"duplicate of each of the last 5", []step{
			ok(1, 0, 0, 2), ok(1, 0, 2, 2), ok(1, 0, 4, 2), ok(1, 0, 6, 2), ok(1, 0, 8, 2), ok(1, 0, 10, 2),
			dup(1, 0, 2, 2, 2), dup(1, 0, 4, 2, 4), dup(1, 0, 6, 2, 6), dup(1, 0, 8, 2, 8), dup(1, 0, 10, 2, 10),
			ok(1, 0, 12, 1),
		}},
		{"duplicate older than the window", []step{
			ok(1, 0, 0, 1), ok(1, 0, 1, 1), ok(1, 0, 2, 1), ok(1, 0, 3, 1), ok(1, 0, 4, 1), ok(1, 0, 5, 1),
			fail(1, 0, 0, 1, kerr.OutOfOrderSequenceNumber),
		}},
		{"overlapping retry is not a duplicate", []step{
			ok(1, 0, 0, 4), fail(1, 0, 0, 2, kerr.OutOfOrderSequenceNumber), fail(1, 0, 2, 2, kerr.OutOfOrderSequenceNumber),
		}},
		{"gap", []step{ok(1, 0, 0, 1), fail(1, 0, 2, 1, kerr.OutOfOrderSequenceNumber), ok(1, 0, 1, 1)}},
		{"epoch bump resets sequence", []step{
			ok(1, 0, 0, 5), ok(1, 1, 0, 1), ok(1, 1, 1, 1), ok(1, 3, 0, 1),
		}},
		{"epoch bump must start at 0", []step{
			ok(1, 0, 0, 5), fail(1, 1, 5, 1, kerr.OutOfOrderSequenceNumber), ok(1, 1, 0, 1),
		}},
		{"stale epoch fenced", []step{
			ok(1, 0, 0, 1), ok(1, 1, 0, 1),
			fail(1, 0, 1, 1, kerr.InvalidProducerEpoch),
			fail(1, 0, 0, 1, kerr.InvalidProducerEpoch), // a retry from the old epoch is no duplicate
		}},
		{"duplicate checks the epoch", []step{
			ok(1, 0, 0, 1), ok(1, 1, 0, 1), dup(1, 1, 0, 1, 1),
		}},
		{"sequence wraps at MaxInt32", []step{
			ok(1, 0, max-1, 2), ok(1, 0, 0, 1), dup(1, 0, max-1, 2, 0), ok(1, 0, 1, 1),
		}},
		{"batch across the wrap", []step{
			ok(1, 0, max-1, 4), dup(1, 0, max-1, 4, 0), fail(1, 0, max-1, 3, kerr.OutOfOrderSequenceNumber), ok(1, 0, 2, 1),
		}},
		{"no wrap before MaxInt32", []step{
			ok(1, 0, max-2, 2), fail(1, 0, 0, 1, kerr.OutOfOrderSequenceNumber), ok(1, 0, max, 1), ok(1, 0, 0, 1),
		}},
		{"unknown producer accepted at any sequence (KIP-360)", []step{
			ok(1, 4, 37, 3), ok(1, 4, 40, 1), fail(1, 4, 42, 1, kerr.OutOfOrderSequenceNumber),
		}},
		{"producer id -1 is not checked", []step{
			ok(-1, -1, -1, 3), ok(-1, -1, -1, 3), ok(-1, 0, 7, 1), ok(-1, 5, 0, 1),
		}},
		{"producers are independent", []step{
			ok(1, 0, 0, 1), ok(2, 0, 0, 1), ok(1, 0, 1, 1), fail(2, 0, 2, 1, kerr.OutOfOrderSequenceNumber),
			ok(2, 0, 1, 1), dup(1, 0, 1, 1, 2), dup(2, 0, 1, 1, 3),
		}},
		{"invalid sequence", []step{
			fail(1, 0, -1, 1, kerr.InvalidRecord), fail(1, 0, math.MinInt32, 1, kerr.InvalidRecord), ok(1, 0, 0, 1),
			fail(1, 0, -1, 1, kerr.InvalidRecord),
		}},
		{"invalid last offset delta", []step{fail(1, 0, 0, 0, kerr.InvalidRecord), fail(-1, -1, -1, -5, kerr.InvalidRecord)}},
		{"control batch from a client", []step{
			{b: batch{pid: 1, epoch: 0, seq: 0, count: 1, attrs: attrControl}, wantDup: -1, wantErr: kerr.InvalidRecord},
		}},
		{"transactional batch without a producer id", []step{
			{b: batch{pid: -1, epoch: -1, seq: -1, count: 1, attrs: attrTransactional}, wantDup: -1, wantErr: kerr.InvalidRecord},
		}},
		{"transactional batches follow the sequence rules", []step{
			{b: batch{pid: 1, epoch: 0, seq: 0, count: 2, attrs: attrTransactional}, wantDup: -1},
			{b: batch{pid: 1, epoch: 0, seq: 3, count: 1, attrs: attrTransactional}, wantDup: -1, wantErr: kerr.OutOfOrderSequenceNumber},
			{b: batch{pid: 1, epoch: 0, seq: 0, count: 2, attrs: attrTransactional}, wantDup: 0},
			{b: batch{pid: 1, epoch: 0, seq: 2, count: 1}, wantDup: -1, wantErr: kerr.InvalidTxnState},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for i, st := range tt.steps {
				h.do(i, st)
			}
		})
	}
}

// marker returns the header of producer pid's marker batch at epoch.
func marker(pid int64, epoch int16) recordbatch.Header {
	return batch{pid: pid, epoch: epoch, seq: -1, count: 1, attrs: attrTransactional | attrControl}.header()
}

// endTxn appends a marker as the partition does and returns what it ended.
func (h *harness) endTxn(pid int64, epoch int16, m recordbatch.EndTxnMarker) CompletedTxn {
	h.t.Helper()
	hdr := marker(pid, epoch)
	hdr.BaseOffset, hdr.MaxTimestamp = h.next, 1000+h.next
	h.next = hdr.NextOffset()
	h.appended = append(h.appended, hdr)
	return h.s.EndTxn(hdr, m, hdr.MaxTimestamp)
}

func txnStep(pid int64, seq, count int32) step {
	return step{b: batch{pid: pid, epoch: 0, seq: seq, count: count, attrs: attrTransactional}, wantDup: -1}
}

// TestTransactions follows two producers' transactions through their
// markers: the first offsets, the last stable offset as the high watermark
// passes the markers, and what each marker's CompletedTxn says.
func TestTransactions(t *testing.T) {
	h := newHarness(t)
	h.do(0, ok(3, 0, 0, 1))   // offset 0: idempotent, not transactional
	h.do(1, txnStep(1, 0, 2)) // [1,2]: producer 1's transaction starts at 1
	h.do(2, txnStep(2, 0, 1)) // [3]: producer 2's at 3
	h.do(3, txnStep(1, 2, 1)) // [4]
	if got := h.s.FirstUnstableOffset(5); got != 1 {
		t.Fatalf("last stable offset with two open transactions: got %d, want 1", got)
	}
	if got := h.s.FirstUnstableOffset(0); got != 0 {
		t.Fatalf("last stable offset below the first transaction: got %d, want the high watermark 0", got)
	}
	c := h.endTxn(1, 0, recordbatch.EndTxnMarker{Commit: true, CoordinatorEpoch: 4}) // marker at 5
	want := CompletedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 5, LastStableOffset: 3}
	if c != want {
		t.Fatalf("commit: got %+v, want %+v", c, want)
	}
	// Until the high watermark passes the marker, the committed
	// transaction still bounds the last stable offset.
	if got := h.s.FirstUnstableOffset(5); got != 1 {
		t.Fatalf("marker not committed yet: got %d, want 1", got)
	}
	if got := h.s.FirstUnstableOffset(6); got != 3 {
		t.Fatalf("marker committed: got %d, want producer 2's first offset 3", got)
	}
	c = h.endTxn(2, 0, recordbatch.EndTxnMarker{CoordinatorEpoch: 4}) // marker at 6
	want = CompletedTxn{ProducerID: 2, FirstOffset: 3, LastOffset: 6, Aborted: true, LastStableOffset: 7}
	if c != want {
		t.Fatalf("abort: got %+v, want %+v", c, want)
	}
	if got := h.s.FirstUnstableOffset(7); got != 7 {
		t.Fatalf("no open transaction: got %d, want the high watermark 7", got)
	}
	// A marker for a producer without a transaction ends an empty one.
	if c := h.endTxn(3, 0, recordbatch.EndTxnMarker{}); c.FirstOffset != 7 || c.LastOffset != 7 {
		t.Fatalf("empty transaction: got %+v, want [7, 7]", c)
	}
	// The producer may write without a transaction again, continuing its
	// sequence.
	h.do(4, ok(1, 0, 3, 1))
	h.do(5, txnStep(2, 1, 1)) // at 9: a new transaction of producer 2
	wantInfo := []ProducerInfo{
		{ProducerID: 1, Epoch: 0, LastSequence: 3, LastTimestamp: 1007, CoordinatorEpoch: 4, TxnStartOffset: -1},
		{ProducerID: 2, Epoch: 0, LastSequence: 1, LastTimestamp: 1008, CoordinatorEpoch: 4, TxnStartOffset: 9},
		{ProducerID: 3, Epoch: 0, LastSequence: 0, LastTimestamp: 1007, CoordinatorEpoch: 0, TxnStartOffset: -1},
	}
	if got := h.s.Producers(); !reflect.DeepEqual(got, wantInfo) {
		t.Fatalf("Producers:\ngot  %+v\nwant %+v", got, wantInfo)
	}

	rebuilt := NewProducerState()
	for _, hdr := range h.appended {
		if hdr.Control() {
			m := recordbatch.EndTxnMarker{Commit: hdr.ProducerID == 1, CoordinatorEpoch: 4}
			if hdr.ProducerID == 3 {
				m.CoordinatorEpoch = 0
			}
			rebuilt.EndTxn(hdr, m, hdr.MaxTimestamp)
		} else {
			rebuilt.Update(hdr, hdr.MaxTimestamp)
		}
	}
	rebuilt.FirstUnstableOffset(h.next)
	h.s.FirstUnstableOffset(h.next)
	if !reflect.DeepEqual(rebuilt, h.s) {
		t.Fatalf("rebuilt state differs:\ngot  %+v\nwant %+v", rebuilt, h.s)
	}
}

func TestCheckMarker(t *testing.T) {
	h := newHarness(t)
	h.do(0, step{b: batch{pid: 1, epoch: 2, seq: 0, count: 1, attrs: attrTransactional}, wantDup: -1})
	h.endTxn(1, 2, recordbatch.EndTxnMarker{CoordinatorEpoch: 5})
	tests := []struct {
		pid        int64
		epoch      int16
		coordEpoch int32
		want       *kerr.Error
	}{
		{pid: 1, epoch: 2, coordEpoch: 5},
		{pid: 1, epoch: 3, coordEpoch: 6},
		{pid: 9, epoch: 0, coordEpoch: 0}, // unknown producer
		{pid: 1, epoch: 1, coordEpoch: 5, want: kerr.InvalidProducerEpoch},
		{pid: 1, epoch: 2, coordEpoch: 4, want: kerr.TransactionCoordinatorFenced},
	}
	for _, tt := range tests {
		err := h.s.CheckMarker(tt.pid, tt.epoch, tt.coordEpoch)
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("CheckMarker(%d, %d, %d): got %v, want %v", tt.pid, tt.epoch, tt.coordEpoch, err, tt.want)
		}
	}
}

// TestOngoingTransactionKept: neither expiry nor truncation forgets a
// producer whose transaction is open, since only its marker ends it.
func TestOngoingTransactionKept(t *testing.T) {
	h := newHarness(t)
	h.do(0, txnStep(1, 0, 1))
	h.do(1, ok(2, 0, 0, 1))
	h.s.Expire(1<<40, 1)
	h.s.TruncateBelow(100)
	if h.s.Len() != 1 || h.s.FirstUnstableOffset(100) != 0 {
		t.Fatalf("got %d producers and last stable offset %d, want producer 1 and 0", h.s.Len(), h.s.FirstUnstableOffset(100))
	}
}

// TestUpdateMarkerBumpsEpoch covers a transaction marker written with a new
// epoch: the epoch's sequences start at 0 and older epochs are fenced.
func TestUpdateMarkerBumpsEpoch(t *testing.T) {
	h := newHarness(t)
	h.do(0, ok(1, 0, 0, 3))
	h.append(batch{pid: 1, epoch: 1, count: 1, seq: -1, attrs: attrControl}.header())
	if got := h.s.producers[1].lastOffset; got != 3 {
		t.Fatalf("got last offset %d, want 3", got)
	}
	for i, st := range []step{
		fail(1, 0, 3, 1, kerr.InvalidProducerEpoch),
		fail(1, 1, 3, 1, kerr.OutOfOrderSequenceNumber),
		ok(1, 1, 0, 1),
	} {
		h.do(i+1, st)
	}
}

func TestUpdateRetainsLastBatches(t *testing.T) {
	h := newHarness(t)
	for i := range int32(12) {
		h.do(int(i), ok(7, 2, i, 1))
	}
	p := h.s.producers[7]
	if p.n != RetainedBatches {
		t.Fatalf("got %d batches, want %d", p.n, RetainedBatches)
	}
	for i, b := range p.batches {
		want := BatchMeta{FirstSeq: int32(7 + i), LastSeq: int32(7 + i), BaseOffset: int64(7 + i), LastOffset: int64(7 + i), Timestamp: int64(1007 + i)}
		if b != want {
			t.Fatalf("batch %d: got %+v, want %+v", i, b, want)
		}
	}
}

// TestRebuildEqualsIncremental replays the log as the partition does on
// open and compares with the state built append by append.
func TestRebuildEqualsIncremental(t *testing.T) {
	h := newHarness(t)
	steps := []step{
		ok(1, 0, 0, 2), ok(2, 0, 0, 1), ok(1, 0, 2, 2), ok(-1, -1, -1, 4), ok(1, 1, 0, 1),
		ok(3, 0, math.MaxInt32, 2), ok(2, 0, 1, 1), ok(2, 0, 2, 1), ok(2, 0, 3, 1), ok(2, 0, 4, 1),
		ok(2, 0, 5, 1), ok(2, 0, 6, 1), dup(2, 0, 6, 1, 17),
	}
	for i, st := range steps {
		h.do(i, st)
	}
	h.append(batch{pid: 3, epoch: 1, count: 1, seq: -1, attrs: attrControl}.header())
	rebuilt := NewProducerState()
	for _, hdr := range h.appended {
		rebuilt.Update(hdr, hdr.MaxTimestamp)
	}
	if got, want := cloneState(rebuilt), cloneState(h.s); !reflect.DeepEqual(got, want) {
		t.Fatalf("rebuilt state differs:\ngot  %+v\nwant %+v", got, want)
	}
	if got := rebuilt.Len(); got != 3 {
		t.Fatalf("got %d producers, want 3", got)
	}
}

func TestExpire(t *testing.T) {
	const idle = 86_400_000
	s := NewProducerState()
	for _, b := range []struct {
		pid int64
		ts  int64
	}{{1, 1_000}, {2, 5_000}, {3, 10_000}} {
		s.Update(batch{pid: b.pid, seq: 0, count: 1}.header(), b.ts)
	}
	tests := []struct {
		now     int64
		wantLen int
	}{
		{now: idle + 999, wantLen: 3},
		{now: idle + 1_000, wantLen: 2}, // idle for exactly the limit: expired, as in Kafka
		{now: idle + 9_999, wantLen: 1},
		{now: idle + 10_000, wantLen: 0},
	}
	for _, tt := range tests {
		s.Expire(tt.now, idle)
		if got := s.Len(); got != tt.wantLen {
			t.Fatalf("Expire(%d): got %d producers, want %d", tt.now, got, tt.wantLen)
		}
	}
	// An expired producer is unknown again: any sequence is accepted.
	if dup, err := s.Check(batch{pid: 1, seq: 9, count: 1}.header()); dup != nil || err != nil {
		t.Fatalf("after expiry got (%v, %v), want (nil, nil)", dup, err)
	}
}

func TestTruncateBelow(t *testing.T) {
	h := newHarness(t)
	for i, st := range []step{ok(1, 0, 0, 3), ok(2, 0, 0, 2), ok(1, 0, 3, 1), ok(3, 0, 0, 4)} {
		h.do(i, st)
	} // producer 1: [0,2] and [5,5]; producer 2: [3,4]; producer 3: [6,9]
	tests := []struct {
		logStart int64
		want     []int64
	}{
		{logStart: 0, want: []int64{1, 2, 3}},
		{logStart: 4, want: []int64{1, 2, 3}},
		{logStart: 5, want: []int64{1, 3}},
		{logStart: 6, want: []int64{3}},
		{logStart: 9, want: []int64{3}},
		{logStart: 10, want: nil},
	}
	for _, tt := range tests {
		h.s.TruncateBelow(tt.logStart)
		var got []int64
		for _, id := range []int64{1, 2, 3} {
			if _, ok := h.s.producers[id]; ok {
				got = append(got, id)
			}
		}
		if !reflect.DeepEqual(got, tt.want) || h.s.Len() != len(tt.want) {
			t.Fatalf("TruncateBelow(%d): got producers %v, want %v", tt.logStart, got, tt.want)
		}
	}
}

func TestLastSequence(t *testing.T) {
	const max = math.MaxInt32
	tests := []struct {
		base, delta, want int32
	}{
		{0, 0, 0},
		{0, 9, 9},
		{max, 0, max},
		{max - 1, 1, max},
		{max, 1, 0},
		{max - 1, 3, 1},
		{0, max, max},
		{1, max, 0},
	}
	for _, tt := range tests {
		if got := lastSequence(tt.base, tt.delta); got != tt.want {
			t.Errorf("lastSequence(%d, %d): got %d, want %d", tt.base, tt.delta, got, tt.want)
		}
	}
}

// TestVerificationGuard follows Kafka's VerificationGuard: a transaction's
// first batch needs the guard its verification started with; the guard is
// spent by the first batch or a marker, so a verification answered before
// an abort cannot admit a batch after it (the ABA case); batches that
// continue an ongoing transaction need no verification.
func TestVerificationGuard(t *testing.T) {
	h := newHarness(t)
	first := txnStep(1, 0, 1).b.header()
	check := func(what string, hdr recordbatch.Header, g Guard, want *kerr.Error) {
		t.Helper()
		if err := h.s.CheckVerified(hdr, g); (want == nil) != (err == nil) || (want != nil && !errors.Is(err, want)) {
			t.Fatalf("%s: got %v, want %v", what, err, want)
		}
	}
	g, need := h.s.StartVerification(1, 0, 0)
	if !need || g == Unverified || g == OngoingGuard {
		t.Fatalf("StartVerification of a producer without a transaction: got (%d, %v), want a new guard", g, need)
	}
	if again, _ := h.s.StartVerification(1, 0, 0); again != g {
		t.Fatalf("a second StartVerification: got guard %d, want the pending %d", again, g)
	}
	check("no guard", first, OngoingGuard, kerr.InvalidTxnState)
	check("another guard", first, g+1, kerr.InvalidTxnState)
	check("verification off", first, Unverified, nil)
	check("not transactional", ok(1, 0, 0, 1).b.header(), OngoingGuard, nil)
	check("its guard", first, g, nil)
	h.do(0, txnStep(1, 0, 1))
	if g2, need := h.s.StartVerification(1, 0, 0); need || g2 != OngoingGuard {
		t.Fatalf("StartVerification in an ongoing transaction: got (%d, %v), want (OngoingGuard, false)", g2, need)
	}
	check("continuing the transaction", txnStep(1, 1, 1).b.header(), OngoingGuard, nil)
	// Transaction version 2: a newer epoch is the next transaction, even
	// before the last one's marker arrives; it must be verified (added).
	next := batch{pid: 1, epoch: 1, seq: 0, count: 1, attrs: attrTransactional}.header()
	if g, need := h.s.StartVerification(1, 1, 0); !need || g == OngoingGuard {
		t.Fatalf("StartVerification of a newer epoch: got (%d, %v), want a new guard", g, need)
	}
	check("a newer epoch joining the open transaction", next, OngoingGuard, kerr.InvalidTxnState)

	// A verification in flight when the abort marker lands is spent.
	h.endTxn(1, 0, recordbatch.EndTxnMarker{})
	g3, _ := h.s.StartVerification(1, 0, 0)
	h.s.Update(marker(1, 0), 0) // another marker (a retry) in between
	check("a guard from before a marker", txnStep(1, 1, 1).b.header(), g3, kerr.InvalidTxnState)

	g4, _ := h.s.StartVerification(1, 0, 0)
	h.s.Expire(100, 100)
	check("an expired guard", txnStep(1, 1, 1).b.header(), g4, kerr.InvalidTxnState)

	// Transaction version 2: the next transaction (epoch 1) verified while
	// the last one's marker, which carries epoch 1, was on its way keeps
	// its guard; a verification of the ended epoch does not.
	h.do(0, txnStep(2, 0, 1))
	g5, _ := h.s.StartVerification(2, 1, 0)
	h.endTxn(2, 1, recordbatch.EndTxnMarker{Commit: true})
	check("the next epoch verified before the marker", batch{pid: 2, epoch: 1, count: 1, attrs: attrTransactional}.header(), g5, nil)
}

// TestLastBatches: a producer's last data offset in its current epoch, -1
// once a marker of a new epoch came after its data.
func TestLastBatches(t *testing.T) {
	h := newHarness(t)
	h.do(0, ok(1, 0, 0, 3))                                                           // [0,2]
	h.do(1, txnStep(2, 0, 2))                                                         // [3,4]
	h.do(2, ok(1, 0, 3, 1))                                                           // 5
	h.endTxn(2, 0, recordbatch.EndTxnMarker{Commit: true})                            // 6
	h.append(batch{pid: 1, epoch: 1, count: 1, seq: -1, attrs: attrControl}.header()) // 7, a new epoch
	want := map[int64]LastBatch{1: {LastDataOffset: -1, Epoch: 1}, 2: {LastDataOffset: 4, Epoch: 0}}
	if got := h.s.LastBatches(); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

// TestCheckCoordinator: a coordinator's transactional batches (offset
// commits, base sequence 0 every time) pass whatever their sequence; an
// epoch below the producer's is INVALID_PRODUCER_EPOCH.
func TestCheckCoordinator(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		hdr := batch{pid: 7, epoch: 2, seq: 0, count: 1, attrs: attrTransactional}.header()
		if err := h.s.CheckCoordinator(hdr); err != nil {
			t.Fatalf("commit %d at sequence 0: got %v, want nil", i, err)
		}
		h.append(hdr)
	}
	old := batch{pid: 7, epoch: 1, seq: 0, count: 1, attrs: attrTransactional}.header()
	if err := h.s.CheckCoordinator(old); !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("older epoch: got %v, want INVALID_PRODUCER_EPOCH", err)
	}
}

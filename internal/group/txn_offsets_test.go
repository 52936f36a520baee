package group

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

func txnCommitReq(group string, producerID int64, part int32, offset int64) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = 3
	r.TransactionalID, r.Group, r.ProducerID, r.ProducerEpoch = "tx", group, producerID, 0
	r.Generation = -1
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch = part, offset, 3
	r.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{p}}}
	return r
}

func txnCommitCode(t *testing.T, c *Coordinator, r *kmsg.TxnOffsetCommitRequest) int16 {
	t.Helper()
	resp := c.TxnOffsetCommit(context.Background(), r, txn.Unverified)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("txn commit response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// fetchOne returns partition p of topic t as OffsetFetch v8 answers it.
func fetchOne(c *Coordinator, group string, p int32, requireStable bool) kmsg.OffsetFetchResponseGroupTopicPartition {
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version, r.RequireStable = 8, requireStable
	r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: group, Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{p}}}}}
	return c.OffsetFetch(context.Background(), r).Groups[0].Topics[0].Partitions[0]
}

// wantFetched checks what OffsetFetch shows for partition p, with and
// without RequireStable.
func wantFetched(t *testing.T, c *Coordinator, group string, p int32, offset int64, unstable bool) {
	t.Helper()
	if got := fetchOne(c, group, p, false); got.Offset != offset || got.ErrorCode != 0 {
		t.Fatalf("fetch %s/%d: got offset %d error %d, want %d", group, p, got.Offset, got.ErrorCode, offset)
	}
	want := int16(0)
	if unstable {
		want = kerr.UnstableOffsetCommit.Code
	}
	if got := fetchOne(c, group, p, true); got.ErrorCode != want {
		t.Fatalf("fetch %s/%d require stable: got error %d, want %d", group, p, got.ErrorCode, want)
	}
}

func TestTxnOffsetsPendingUntilMarker(t *testing.T) {
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	for _, tc := range []struct {
		producer int64
		commit   bool
		want     int64
	}{{1, true, 10}, {2, false, 10}} {
		if code := txnCommitCode(t, c, txnCommitReq("g", tc.producer, 0, 10*tc.producer)); code != 0 {
			t.Fatalf("producer %d: txn commit: got %d, want 0", tc.producer, code)
		}
		before := int64(-1)
		if tc.producer > 1 {
			before = 10
		}
		wantFetched(t, c, "g", 0, before, true)
		s.marker(tc.producer, tc.commit)
		c.CompleteTxn(0, tc.producer, tc.commit)
		wantFetched(t, c, "g", 0, tc.want, false)
	}
	// A reload sees the same: the commit counts, the abort does not.
	wantFetched(t, newCoordinator(t, s, nil), "g", 0, 10, false)
}

// TestTxnOffsetsOlderThanCommit: a plain commit appended after a
// transaction's offsets wins when that transaction commits, as in Kafka;
// a later transaction's offsets win over an earlier commit.
func TestTxnOffsetsOlderThanCommit(t *testing.T) {
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	for _, tc := range []struct {
		producer   int64
		txn, plain int64 // the plain commit (if > 0) comes between the txn's and its marker
		want       int64
	}{{1, 5, 9, 9}, {2, 20, 0, 20}} {
		if code := txnCommitCode(t, c, txnCommitReq("g", tc.producer, 0, tc.txn)); code != 0 {
			t.Fatalf("txn commit: got %d", code)
		}
		if tc.plain > 0 {
			if code := commitCode(t, c.OffsetCommit(context.Background(), commitReq("g", "", -1, "t", 0, tc.plain, nil))); code != 0 {
				t.Fatalf("plain commit: got %d", code)
			}
		}
		s.marker(tc.producer, true)
		c.CompleteTxn(0, tc.producer, true)
		wantFetched(t, c, "g", 0, tc.want, false)
		wantFetched(t, newCoordinator(t, s, nil), "g", 0, tc.want, false)
	}
}

// TestTxnOffsetsReplayOpen: a transaction still open in the log stays
// pending after a load, and its marker then applies it.
func TestTxnOffsetsReplayOpen(t *testing.T) {
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	if code := txnCommitCode(t, c, txnCommitReq("g", 1, 0, 7)); code != 0 {
		t.Fatalf("txn commit: got %d", code)
	}
	c2 := newCoordinator(t, s, nil)
	wantFetched(t, c2, "g", 0, -1, true)
	c2.CompleteTxn(0, 1, true)
	wantFetched(t, c2, "g", 0, 7, false)
}

// blockingStore holds Replay until release is closed.
type blockingStore struct {
	*memStore
	started, release chan struct{}
}

func (s blockingStore) Replay(ctx context.Context, fn func(LogRecord) error) error {
	close(s.started)
	<-s.release
	return s.memStore.Replay(ctx, fn)
}

// TestTxnMarkerDuringLoad: a marker reported while the partition replays
// is applied once the load ends.
func TestTxnMarkerDuringLoad(t *testing.T) {
	s := &memStore{}
	if code := txnCommitCode(t, newCoordinator(t, s, nil), txnCommitReq("g", 1, 0, 7)); code != 0 {
		t.Fatalf("txn commit: got %d", code)
	}
	c := New(Config{NumPartitions: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	bs := blockingStore{memStore: s, started: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- c.Load(context.Background(), 0, bs) }()
	<-bs.started
	c.CompleteTxn(0, 1, true)
	close(bs.release)
	if err := <-done; err != nil {
		t.Fatalf("load: %v", err)
	}
	wantFetched(t, c, "g", 0, 7, false)
}

func TestTxnOffsetCommitErrors(t *testing.T) {
	s := &memStore{}
	c := newCoordinator(t, s, nil)
	jr := joinNew(t, c, "g")
	me := jr.MemberID
	if sr := c.SyncGroup(context.Background(), syncReq("g", me, 1, map[string]string{me: "a"})); sr.ErrorCode != 0 {
		t.Fatalf("sync: got %d", sr.ErrorCode)
	}
	for _, tc := range []struct {
		name       string
		member     string
		generation int32
		topic      string
		fail       error
		want       int16
	}{
		{"member and generation", me, 1, "t", nil, 0},
		{"no member (v0-2)", "", -1, "t", nil, 0},
		{"unknown member", "nobody", 1, "t", nil, kerr.UnknownMemberID.Code},
		{"old generation", me, 0, "t", nil, kerr.IllegalGeneration.Code},
		{"unknown topic", me, 1, "missing", nil, kerr.UnknownTopicOrPartition.Code},
		{"fenced producer", me, 1, "t", fmt.Errorf("append: %w", kerr.InvalidProducerEpoch), kerr.InvalidProducerEpoch.Code},
		{"append fails", me, 1, "t", fmt.Errorf("disk"), kerr.CoordinatorNotAvailable.Code},
	} {
		s.mu.Lock()
		s.fail = tc.fail
		s.mu.Unlock()
		r := txnCommitReq("g", 1, 0, 3)
		r.MemberID, r.Generation, r.Topics[0].Topic = tc.member, tc.generation, tc.topic
		if got := txnCommitCode(t, c, r); got != tc.want {
			t.Errorf("%s: got %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestValidateTxnCommitFencedInstance(t *testing.T) {
	h := newHarness(t)
	tok := h.newMember("a")
	_ = h.joinedReply(tok)
	inst := "i"
	h.g.static[inst] = "a"
	if code := h.g.ValidateTxnCommit("b", &inst, 1); code != kerr.FencedInstanceID.Code {
		t.Fatalf("other member id for instance: got %d, want FENCED_INSTANCE_ID", code)
	}
	// During the rebalance a transactional commit is not refused.
	if h.g.State() != CompletingRebalance {
		t.Fatalf("state: got %v", h.g.State())
	}
	if code := h.g.ValidateTxnCommit("a", &inst, 1); code != 0 {
		t.Fatalf("member a during CompletingRebalance: got %d, want 0", code)
	}
	h.g.Close(h.now, kerr.NotCoordinator.Code)
	if code := h.g.ValidateTxnCommit("", nil, -1); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("dead group: got %d, want COORDINATOR_NOT_AVAILABLE", code)
	}
}

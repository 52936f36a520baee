package partition

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
)

// replicaPair is the replicas of one partition on brokers 1 and 2, in
// this process, with the follower's fetches made by calling the leader.
type replicaPair struct {
	t    *testing.T
	reps map[int32]*Partition
}

func openPair(t *testing.T, cfg commitlog.Config) *replicaPair {
	t.Helper()
	rp := &replicaPair{t: t, reps: map[int32]*Partition{}}
	for _, id := range []int32{1, 2} {
		p, err := Open(t.TempDir(), "t", 0, cfg, Options{Self: id})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { p.Close() })
		rp.reps[id] = p
	}
	return rp
}

// elect makes leader lead at epoch with the given ISR, and the other
// follow it.
func (rp *replicaPair) elect(leader, epoch int32, isr ...int32) {
	st := LeaderAndISR{Leader: leader, LeaderEpoch: epoch, PartitionEpoch: epoch, Replicas: []int32{1, 2}, ISR: isr}
	for id, p := range rp.reps {
		if id == leader {
			p.BecomeLeader(st, time.Now())
		} else {
			p.BecomeFollower(st)
		}
	}
}

// fetch makes follower fetch once from leader at epoch, as its fetcher
// would, and returns what it appended or truncated to.
func (rp *replicaPair) fetch(follower, leader, epoch int32) {
	rp.t.Helper()
	f, l := rp.reps[follower], rp.reps[leader]
	off, last, ok := f.fetchPosition(epoch)
	if !ok {
		rp.t.Fatalf("broker %d does not follow in epoch %d", follower, epoch)
	}
	res, err := l.ReadReplica(follower, off, last, epoch, 1<<20, nil, time.Now())
	if err != nil {
		rp.t.Fatalf("read for replica %d at %d: %v", follower, off, err)
	}
	defer res.Records.Release()
	if res.Diverging {
		mine, myEnd := f.EndOffsetForEpoch(res.DivergingEpoch)
		target := myEnd
		if mine == res.DivergingEpoch {
			target = min(res.DivergingEndOffset, myEnd)
		}
		if err := f.truncateTo(target, epoch); err != nil {
			rp.t.Fatal(err)
		}
		return
	}
	data, err := res.Records.AppendTo(nil)
	if err != nil {
		rp.t.Fatal(err)
	}
	syncTo, err := f.appendFromLeader(data, epoch)
	if err != nil {
		rp.t.Fatal(err)
	}
	if syncTo >= 0 {
		if err := f.log.SyncTo(syncTo); err != nil {
			rp.t.Fatal(err)
		}
	}
	f.followLeader(epoch, res.HighWatermark, res.LogStartOffset)
}

// values returns the values of every record in p's log, in offset order.
func values(t *testing.T, p *Partition) []string {
	t.Helper()
	var out []string
	for off := p.LogStartOffset(); off < p.LogEndOffset(); {
		res, err := p.ReadLog(off, 1<<20, p.LogEndOffset())
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range readBatches(t, res) {
			h, _ := recordbatch.ReadHeader(b)
			var scratch []byte
			if err := recordbatch.Iterate(b, &scratch, func(r *recordbatch.Record) error {
				out = append(out, string(r.Value))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			off = h.NextOffset()
		}
	}
	return out
}

func splitBatches(t *testing.T, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		h, err := recordbatch.ReadHeader(data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, data[:h.Size()])
		data = data[h.Size():]
	}
	return out
}

func appendValue(t *testing.T, p *Partition, v string) AppendResult {
	t.Helper()
	b, err := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, []recordbatch.Record{{Value: []byte(v)}})
	if err != nil {
		t.Fatal(err)
	}
	h, _ := recordbatch.ReadHeader(b)
	res, err := p.Append(b, h, -1)
	if err != nil {
		t.Fatalf("append %s: %v", v, err)
	}
	return res
}

// TestReplicationCommits: a record is committed (and an acks=all wait
// ends) only once the follower in the ISR has fetched past it.
func TestReplicationCommits(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1, 2)
	leader := rp.reps[1]
	res := appendValue(t, leader, "a")
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d before the follower fetched, want 0", hw)
	}
	if got, err := leader.Read(0, 1<<20, false); err != nil || got.Records.Len() != 0 {
		t.Fatalf("a consumer read %d bytes past the high watermark (%v)", got.Records.Len(), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := leader.WaitCommitted(ctx, res.LastOffset+1, res.LeaderEpoch, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acks=all wait before replication: %v", err)
	}
	rp.fetch(2, 1, 0) // gets "a"
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d: the follower's first fetch was from offset 0", hw)
	}
	rp.fetch(2, 1, 0) // fetches from 1: it has "a"
	if hw := leader.HighWatermark(); hw != 1 {
		t.Fatalf("hw %d, want 1", hw)
	}
	if err := leader.WaitCommitted(context.Background(), res.LastOffset+1, res.LeaderEpoch, 2); err != nil {
		t.Fatal(err)
	}
	// The answer to the fetch that advanced it carries it to the follower.
	if hw := rp.reps[2].HighWatermark(); hw != 1 {
		t.Fatalf("follower hw %d, want 1", hw)
	}
	// An ISR below min.insync.replicas fails the wait after the append.
	res = appendValue(t, leader, "c")
	rp.elect(1, 0, 1) // the follower left the ISR
	if err := leader.WaitCommitted(context.Background(), res.LastOffset+1, res.LeaderEpoch, 2); !errors.Is(err, kerr.NotEnoughReplicasAfterAppend) {
		t.Fatalf("got %v, want NOT_ENOUGH_REPLICAS_AFTER_APPEND", err)
	}
	if err := leader.CheckMinISR(2); !errors.Is(err, kerr.NotEnoughReplicas) {
		t.Fatalf("got %v, want NOT_ENOUGH_REPLICAS", err)
	}
}

// TestLeadershipLostFailsWait: an acks=all wait ends with
// NOT_LEADER_OR_FOLLOWER when the replica stops leading.
func TestLeadershipLostFailsWait(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1, 2)
	res := appendValue(t, rp.reps[1], "a")
	errc := make(chan error, 1)
	go func() { errc <- rp.reps[1].WaitCommitted(context.Background(), res.LastOffset+1, res.LeaderEpoch, 1) }()
	rp.elect(2, 1, 2)
	if err := <-errc; !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("got %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
	if _, err := rp.reps[1].Read(0, 1<<20, false); !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("a consumer read from a follower: %v", err)
	}
}

// TestDivergentTail: the old leader's records its follower never got are
// truncated when it follows the new leader, which wrote others at the same
// offsets in a later epoch.
func TestDivergentTail(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1, 2)
	for _, v := range []string{"a", "b"} {
		appendValue(t, rp.reps[1], v)
	}
	rp.fetch(2, 1, 0)
	rp.fetch(2, 1, 0)
	for _, v := range []string{"x", "y", "z"} {
		appendValue(t, rp.reps[1], v) // never replicated
	}
	rp.elect(2, 1, 2)
	for _, v := range []string{"c", "d"} {
		appendValue(t, rp.reps[2], v)
	}
	rp.fetch(1, 2, 1) // diverges: truncated to 2
	if got := values(t, rp.reps[1]); len(got) != 2 {
		t.Fatalf("after the truncation: %v, want [a b]", got)
	}
	rp.fetch(1, 2, 1)
	want := []string{"a", "b", "c", "d"}
	for id, p := range rp.reps {
		if got := values(t, p); !slices.Equal(got, want) {
			t.Fatalf("broker %d holds %v, want %v", id, got, want)
		}
	}
}

// TestFollowerBehindLeaderStart: a follower whose log ends below the
// leader's log start starts its log afresh there.
func TestFollowerBehindLeaderStart(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1)
	for _, v := range []string{"a", "b", "c"} {
		appendValue(t, rp.reps[1], v)
	}
	if _, err := rp.reps[1].DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	f := rp.reps[2]
	_, err := rp.reps[1].ReadReplica(2, 0, -1, 0, 1<<20, nil, time.Now())
	if !IsOffsetOutOfRange(err) {
		t.Fatalf("fetch below the log start: %v", err)
	}
	if err := f.resetTo(rp.reps[1].LogStartOffset(), 0); err != nil {
		t.Fatal(err)
	}
	rp.fetch(2, 1, 0)
	if got := values(t, f); !slices.Equal(got, []string{"c"}) || f.LogStartOffset() != 2 {
		t.Fatalf("follower holds %v from %d, want [c] from 2", got, f.LogStartOffset())
	}
}

// TestFlushedPositionBoundsHighWatermark: with flush.messages=1 only what
// the leader has flushed counts toward the high watermark.
func TestFlushedPositionBoundsHighWatermark(t *testing.T) {
	cfg := commitlog.DefaultConfig()
	cfg.FlushMessages = 1
	rp := openPair(t, cfg)
	rp.elect(1, 0, 1)
	leader := rp.reps[1]
	res := appendValue(t, leader, "a")
	if !res.Unsynced {
		t.Fatal("flush.messages=1 and the append does not ask for an fsync")
	}
	if hw := leader.HighWatermark(); hw != 0 {
		t.Fatalf("hw %d counts a record not yet flushed", hw)
	}
	if err := leader.Sync(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	if hw := leader.HighWatermark(); hw != 1 {
		t.Fatalf("hw %d after the fsync, want 1", hw)
	}
}

// TestBytesBehind: the leader counts what a follower lacks from its last
// fetch position, all of the log before its first fetch, and nothing once
// it has everything; a follower replica answers nothing.
func TestBytesBehind(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1)
	leader := rp.reps[1]
	appendValue(t, leader, "a")
	if n, ok := leader.BytesBehind(2); !ok || n != leader.Size() || n == 0 {
		t.Fatalf("before a fetch: got %d, %v; want the log's %d bytes", n, ok, leader.Size())
	}
	rp.fetch(2, 1, 0) // gets "a"
	rp.fetch(2, 1, 0) // tells the leader it has it
	if n, ok := leader.BytesBehind(2); !ok || n != 0 {
		t.Fatalf("caught up: got %d, %v; want 0", n, ok)
	}
	appendValue(t, leader, "bb")
	if n, ok := leader.BytesBehind(2); !ok || n != leader.Size()-rp.reps[2].Size() {
		t.Fatalf("one batch behind: got %d, %v; want %d", n, ok, leader.Size()-rp.reps[2].Size())
	}
	if _, ok := leader.BytesBehind(3); ok {
		t.Errorf("broker 3, no replica: answered")
	}
	if _, ok := rp.reps[2].BytesBehind(1); ok {
		t.Errorf("a follower answered")
	}
}

// TestNewLeaderHighWatermarkSettles: a new leader's high watermark starts
// where it learned it as a follower, below what the previous leader
// acknowledged; it is settled only once it reaches the log end the new
// leader had when it took the epoch.
func TestNewLeaderHighWatermarkSettles(t *testing.T) {
	rp := openPair(t, commitlog.DefaultConfig())
	rp.elect(1, 0, 1, 2)
	for _, v := range []string{"a", "b"} {
		appendValue(t, rp.reps[1], v)
	}
	rp.fetch(2, 1, 0)
	rp.fetch(2, 1, 0)
	appendValue(t, rp.reps[1], "c")
	rp.fetch(2, 1, 0) // the follower gets c, but learns the high watermark 2
	if hw := rp.reps[1].HighWatermark(); hw != 2 || !rp.reps[1].HighWatermarkSettled() {
		t.Fatalf("old leader: hw %d, settled %v; want 2, settled", hw, rp.reps[1].HighWatermarkSettled())
	}
	rp.elect(2, 1, 2, 1)
	leader := rp.reps[2]
	if hw := leader.HighWatermark(); hw != 2 || leader.HighWatermarkSettled() {
		t.Fatalf("new leader: hw %d, settled %v; want 2, not settled", hw, leader.HighWatermarkSettled())
	}
	rp.fetch(1, 2, 1) // the old leader follows from offset 3
	if hw := leader.HighWatermark(); hw != 3 || !leader.HighWatermarkSettled() {
		t.Fatalf("after its follower fetched: hw %d, settled %v; want 3, settled", hw, leader.HighWatermarkSettled())
	}
	if !rp.reps[1].HighWatermarkSettled() {
		t.Fatal("a follower reports its high watermark unsettled")
	}
}

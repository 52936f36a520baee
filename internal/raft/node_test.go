package raft

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const snapPrefix = "SNAP:"

// machine is a test state machine: the list of applied payloads with their
// indexes. Its snapshots are snapPrefix and the JSON of the list.
type machine struct {
	mu      sync.Mutex
	items   []item
	restore []uint64 // indexes of snapshots restored
	reject  string   // payload to reject
}

type item struct {
	Index uint64
	Data  string
}

func (m *machine) apply(index uint64, data []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rest, ok := bytes.CutPrefix(data, []byte(snapPrefix)); ok {
		m.items = nil
		m.restore = append(m.restore, index)
		return json.Unmarshal(rest, &m.items)
	}
	if m.reject != "" && string(data) == m.reject {
		return errRejected
	}
	if n := len(m.items); n > 0 && m.items[n-1].Index >= index {
		return fmt.Errorf("index %d applied after %d", index, m.items[n-1].Index)
	}
	m.items = append(m.items, item{index, string(data)})
	return nil
}

var errRejected = errors.New("rejected")

func (m *machine) snapshot() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := json.Marshal(m.items)
	return append([]byte(snapPrefix), b...), err
}

func (m *machine) data() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, len(m.items))
	for i, it := range m.items {
		out[i] = it.Data
	}
	return out
}

// running is a node whose Run goroutine the test owns.
type running struct {
	node   *Node
	m      *machine
	cancel context.CancelFunc
	errc   chan error
}

// start opens dir and runs a node on it until stop or the end of the test,
// waiting for Ready.
func start(t *testing.T, dir string, cfg Config) *running {
	t.Helper()
	r := startNoWait(t, dir, cfg)
	waitReady(t, r)
	return r
}

func startNoWait(t *testing.T, dir string, cfg Config) *running {
	t.Helper()
	if cfg.ID == 0 {
		cfg.ID, cfg.Peers = 1, []uint64{1}
	}
	n, err := Open(dir, cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{node: n, m: &machine{}, cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- n.Run(ctx, r.m.apply, r.m.snapshot) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func waitReady(t *testing.T, r *running) {
	t.Helper()
	select {
	case <-r.node.Ready():
	case err := <-r.errc:
		r.errc <- err
		t.Fatalf("run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("node not ready after 10s")
	}
}

// stop cancels Run and checks it returned nil. It is idempotent.
func (r *running) stop(t *testing.T) {
	t.Helper()
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	if err := <-r.errc; err != nil {
		t.Errorf("run: %v", err)
	}
}

func propose(t *testing.T, n *Node, data string) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	idx, err := n.Propose(ctx, []byte(data))
	if err != nil {
		t.Fatalf("propose %q: %v", data, err)
	}
	return idx
}

// TestStartupFast checks that a single voter is leader within 50ms of Open,
// on an empty directory and on restart. Each takes the best of three tries:
// the time is dominated by one or two fsyncs, which a machine busy with other
// tests can stretch.
func TestStartupFast(t *testing.T) {
	const limit = 50 * time.Millisecond
	timeToReady := func(dir string) time.Duration {
		began := time.Now()
		r := startNoWait(t, dir, Config{})
		waitReady(t, r)
		took := time.Since(began)
		r.stop(t)
		return took
	}
	fresh, restart := time.Hour, time.Hour
	for range 3 {
		dir := t.TempDir()
		fresh = min(fresh, timeToReady(dir))
		restart = min(restart, timeToReady(dir))
	}
	if fresh > limit {
		t.Errorf("got leader on an empty directory after %v, want under %v", fresh, limit)
	}
	if restart > limit {
		t.Errorf("got leader on restart after %v, want under %v", restart, limit)
	}
}

func TestProposeRestartReplays(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir, Config{})
	var want []string
	var last uint64
	for i := range 50 {
		d := fmt.Sprintf("entry-%d", i)
		idx := propose(t, r.node, d)
		if idx <= last {
			t.Fatalf("got index %d after %d, want increasing", idx, last)
		}
		last = idx
		want = append(want, d)
	}
	if got := r.m.data(); !equal(got, want) {
		t.Fatalf("got applied %v, want %v", got, want)
	}
	before := r.m.items
	r.stop(t)

	r = start(t, dir, Config{})
	if got := r.m.data(); !equal(got, want) {
		t.Fatalf("after restart got applied %v, want %v", got, want)
	}
	for i, it := range r.m.items {
		if it != before[i] {
			t.Fatalf("after restart item %d is %v, want %v", i, it, before[i])
		}
	}
	if idx := propose(t, r.node, "after"); idx <= last {
		t.Fatalf("got index %d after restart, want above %d", idx, last)
	}
}

func TestTornWALTail(t *testing.T) {
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"cut last record", func(b []byte) []byte { return b[:len(b)-3] }},
		{"cut inside header", func(b []byte) []byte { return append(b, 9, 0, 0) }},
		{"garbage tail", func(b []byte) []byte { return append(b, bytes.Repeat([]byte{0xee}, 100)...) }},
		{"zero tail", func(b []byte) []byte { return append(b, make([]byte, 4096)...) }},
		{"bad checksum of last record", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := start(t, dir, Config{})
			var want []string
			for i := range 10 {
				want = append(want, fmt.Sprint(i))
				propose(t, r.node, want[i])
			}
			r.stop(t)
			path := filepath.Join(dir, walName)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, tt.damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			r = start(t, dir, Config{})
			// The damage hits the last hard state record at most: every
			// entry survives.
			if got := r.m.data(); !equal(got, want) {
				t.Fatalf("got applied %v, want %v", got, want)
			}
			propose(t, r.node, "more")
			r.stop(t)
			r = start(t, dir, Config{})
			if got := r.m.data(); !equal(got, append(want, "more")) {
				t.Fatalf("after second restart got %v, want %v and more", got, want)
			}
		})
	}
}

func TestCorruptWALRefused(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir, Config{})
	for i := range 5 {
		propose(t, r.node, fmt.Sprint(i))
	}
	r.stop(t)
	path := filepath.Join(dir, walName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[frameHeader+1] ^= 0xff // the first record's body
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Config{ID: 1, Peers: []uint64{1}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestCorruptSnapshotRefused(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir, Config{SnapshotEvery: 3})
	for i := range 5 {
		propose(t, r.node, fmt.Sprint(i))
	}
	r.stop(t)
	path := filepath.Join(dir, snapName)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b[:len(b)-1], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Config{ID: 1, Peers: []uint64{1}}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestSnapshotCompactionRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{SnapshotEvery: 10}
	r := start(t, dir, cfg)
	var want []string
	for i := range 35 {
		want = append(want, fmt.Sprint(i))
		propose(t, r.node, want[i])
	}
	r.stop(t)
	wc, err := readWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := loadSnapshot(dir)
	if err != nil || snap == nil {
		t.Fatalf("got snapshot %v, %v; want one", snap, err)
	}
	snapIndex := snap.GetMetadata().GetIndex()
	if len(wc.entries) >= 10 || wc.entries[0].GetIndex() != snapIndex+1 {
		t.Fatalf("got %d wal entries from %d after snapshot at %d, want fewer than 10 right after it",
			len(wc.entries), wc.entries[0].GetIndex(), snapIndex)
	}
	if voters := snap.GetMetadata().GetConfState().GetVoters(); len(voters) != 1 || voters[0] != 1 {
		t.Fatalf("got snapshot voters %v, want [1]", voters)
	}

	r = start(t, dir, cfg)
	if got := r.m.data(); !equal(got, want) {
		t.Fatalf("after restart got %v, want %v", got, want)
	}
	if len(r.m.restore) != 1 || r.m.restore[0] != snapIndex {
		t.Fatalf("got snapshot restores at %v, want [%d]", r.m.restore, snapIndex)
	}
	propose(t, r.node, "35")
}

func TestConcurrentProposals(t *testing.T) {
	r := start(t, t.TempDir(), Config{SnapshotEvery: 50})
	const workers, each = 8, 25
	var mu sync.Mutex
	seen := map[uint64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				d := fmt.Sprintf("w%d-%d", w, i)
				idx, err := r.node.Propose(context.Background(), []byte(d))
				if err != nil {
					t.Errorf("propose: %v", err)
					return
				}
				mu.Lock()
				if other, dup := seen[idx]; dup {
					t.Errorf("index %d returned for %s and %s", idx, other, d)
				}
				seen[idx] = d
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("got %d distinct indexes, want %d", len(seen), workers*each)
	}
	r.m.mu.Lock()
	defer r.m.mu.Unlock()
	if len(r.m.items) != workers*each {
		t.Fatalf("got %d applied, want %d", len(r.m.items), workers*each)
	}
	for _, it := range r.m.items {
		if seen[it.Index] != it.Data {
			t.Fatalf("index %d applied %q, proposer got %q", it.Index, it.Data, seen[it.Index])
		}
	}
}

func TestApplyErrorGoesToProposer(t *testing.T) {
	r := start(t, t.TempDir(), Config{})
	r.m.mu.Lock()
	r.m.reject = "bad"
	r.m.mu.Unlock()
	if _, err := r.node.Propose(context.Background(), []byte("bad")); !errors.Is(err, errRejected) {
		t.Fatalf("got %v, want the apply error", err)
	}
	propose(t, r.node, "good")
	if got := r.m.data(); !equal(got, []string{"good"}) {
		t.Fatalf("got %v, want [good]", got)
	}
}

func TestProposeStoppedAndCanceled(t *testing.T) {
	dir := t.TempDir()
	n, err := Open(dir, Config{ID: 1, Peers: []uint64{1}})
	if err != nil {
		t.Fatal(err)
	}
	// Not running: Propose waits for Ready until ctx ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := n.Propose(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	m := &machine{}
	runCtx, stop := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- n.Run(runCtx, m.apply, m.snapshot) }()
	<-n.Ready()
	if err := n.Run(runCtx, m.apply, m.snapshot); !errors.Is(err, ErrAlreadyRunning) {
		t.Fatalf("second Run: got %v, want ErrAlreadyRunning", err)
	}
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("run: %v", err)
	}
	if _, err := n.Propose(context.Background(), []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("got %v, want ErrStopped", err)
	}
}

func TestStepIgnoresStaleMessages(t *testing.T) {
	r := start(t, t.TempDir(), Config{})
	ctx := context.Background()
	// A heartbeat from a non-member at an old term, and a local-only
	// message type, change nothing.
	for _, m := range []*pb.Message{
		{Type: pb.MsgHeartbeat.Enum(), From: new(uint64(7)), To: new(uint64(1)), Term: new(uint64(1))},
		{Type: pb.MsgHup.Enum(), From: new(uint64(7)), To: new(uint64(1))},
	} {
		if err := r.node.Step(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	propose(t, r.node, "still leader")
	r.stop(t)
	if err := r.node.Step(ctx, &pb.Message{Type: pb.MsgHeartbeat.Enum()}); !errors.Is(err, ErrStopped) {
		t.Fatalf("got %v after stop, want ErrStopped", err)
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(t.TempDir(), Config{}); err == nil || !strings.Contains(err.Error(), "id") {
		t.Fatalf("got %v, want an error about the id", err)
	}
	if _, err := Open(t.TempDir(), Config{ID: 1}); err == nil {
		t.Fatal("got nil, want an error for a new group without peers")
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

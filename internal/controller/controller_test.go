package controller

import (
	"context"
	"encoding/base64"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/goleak"

	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/raft"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster is a one-node metadata quorum in a temporary directory with a
// controller over it.
type cluster struct {
	dir   string
	store *metadata.Store
	node  *raft.Node
	ctrl  *Controller
	stop  func()
}

// startCluster runs a raft node on dir (which may hold an earlier run's log),
// waits until it is ready, and registers broker 1. The node stops at the end
// of the test or on c.stop.
func startCluster(t *testing.T, dir string) *cluster {
	t.Helper()
	store := metadata.NewStore()
	node, err := raft.Open(dir, raft.Config{ID: 1, Peers: []uint64{1}, SnapshotEvery: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- node.Run(ctx, store.ApplyEncoded, func() ([]byte, error) { return store.Current().EncodeSnapshot() })
	}()
	stopped := false
	c := &cluster{dir: dir, store: store, node: node}
	c.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("raft run: %v", err)
		}
	}
	t.Cleanup(c.stop)
	select {
	case <-node.Ready():
	case err := <-errc:
		t.Fatalf("raft stopped before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("raft not ready after 10s")
	}
	c.ctrl = New(node, store, Config{NodeID: 1}, nil)
	ctx2 := testContext(t)
	if err := c.ctrl.EnsureClusterID(ctx2); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ctrl.RegisterBroker(ctx2, metadata.RegisterBroker{ID: 1, Host: "127.0.0.1", Port: 9092}); err != nil {
		t.Fatal(err)
	}
	return c
}

// edit returns a ConfigAlter that sets the keys of set and deletes the keys del
// in the overrides it is given.
func edit(set map[string]string, del ...string) ConfigAlter {
	return func(cur map[string]string) (map[string]string, error) {
		next := maps.Clone(cur)
		if next == nil {
			next = make(map[string]string)
		}
		maps.Copy(next, set)
		for _, k := range del {
			delete(next, k)
		}
		return next, nil
	}
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestClusterID(t *testing.T) {
	dir := t.TempDir()
	c := startCluster(t, dir)
	id := c.store.Current().ClusterID
	raw, err := base64.RawURLEncoding.DecodeString(id)
	if len(id) != 22 || err != nil || len(raw) != 16 || raw[6]>>4 != 4 {
		t.Fatalf("got cluster id %q (%v), want 22 characters of URL-safe base64 of a UUID v4", id, err)
	}
	if err := c.ctrl.EnsureClusterID(testContext(t)); err != nil {
		t.Fatal(err)
	}
	if got := c.store.Current().ClusterID; got != id {
		t.Fatalf("got cluster id %q after a second call, want %q", got, id)
	}
	c.stop()
	c = startCluster(t, dir)
	if got := c.store.Current().ClusterID; got != id {
		t.Fatalf("got cluster id %q after restart, want %q", got, id)
	}
}

func TestTopicLifecycle(t *testing.T) {
	dir := t.TempDir()
	c := startCluster(t, dir)
	ctx := testContext(t)
	var events []string
	c.store.Subscribe(func(old, new *metadata.Image) {
		for _, tp := range new.Topics() {
			if _, ok := old.TopicByID(tp.ID); !ok {
				events = append(events, "+"+tp.Name)
			}
		}
		for _, tp := range old.Topics() {
			if _, ok := new.TopicByID(tp.ID); !ok {
				events = append(events, "-"+tp.Name)
			}
		}
	})

	// validateOnly creates nothing.
	res := c.ctrl.CreateTopics(ctx, []TopicSpec{{Name: "v", NumPartitions: 2, ReplicationFactor: 1}}, true, testDefaults)
	if res[0].Err != nil || res[0].NumPartitions != 2 || res[0].ID != [16]byte{} {
		t.Fatalf("got %+v, want a valid result without id", res[0])
	}
	if _, ok := c.store.Current().Topic("v"); ok {
		t.Fatal("validateOnly created the topic")
	}

	res = c.ctrl.CreateTopics(ctx, []TopicSpec{
		{Name: "t", NumPartitions: -1, ReplicationFactor: -1, Configs: map[string]*string{"retention.ms": str("1000")}},
		{Name: "u", NumPartitions: 1, ReplicationFactor: 2},
		{Name: "t.x", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "t_x", NumPartitions: 1, ReplicationFactor: 1},
	}, false, testDefaults)
	if res[0].Err != nil || res[0].NumPartitions != 3 || res[0].ReplicationFactor != 1 {
		t.Fatalf("got %+v, want t created with 3 partitions", res[0])
	}
	if !errors.Is(res[1].Err, kerr.InvalidReplicationFactor) {
		t.Fatalf("got %v, want INVALID_REPLICATION_FACTOR with one broker", res[1].Err)
	}
	if res[2].Err != nil || !errors.Is(res[3].Err, kerr.InvalidTopicException) {
		t.Fatalf("got %v and %v, want t.x created and t_x refused as colliding", res[2].Err, res[3].Err)
	}
	tp, ok := c.store.Current().Topic("t")
	if !ok || tp.ID != res[0].ID || len(tp.Partitions) != 3 || tp.Configs["retention.ms"] != "1000" {
		t.Fatalf("got topic %+v, want t as created", tp)
	}
	for _, p := range tp.Partitions {
		if p.Leader != 1 {
			t.Fatalf("got leader %d, want 1", p.Leader)
		}
	}
	if res := c.ctrl.CreateTopics(ctx, []TopicSpec{{Name: "t", NumPartitions: 1, ReplicationFactor: 1}}, false, testDefaults); !errors.Is(res[0].Err, kerr.TopicAlreadyExists) {
		t.Fatalf("got %v, want TOPIC_ALREADY_EXISTS", res[0].Err)
	}

	pres := c.ctrl.CreatePartitions(ctx, []PartitionSpec{{Topic: "t", Count: 5}, {Topic: "nope", Count: 2}}, false)
	if pres[0].Err != nil || !errors.Is(pres[1].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("got %+v, want t grown and nope unknown", pres)
	}
	if pres := c.ctrl.CreatePartitions(ctx, []PartitionSpec{{Topic: "t", Count: 9}}, true); pres[0].Err != nil {
		t.Fatal(pres[0].Err)
	}
	if tp, _ := c.store.Current().Topic("t"); len(tp.Partitions) != 5 {
		t.Fatalf("got %d partitions, want 5", len(tp.Partitions))
	}

	if err := c.ctrl.AlterTopicConfigs(ctx, "t", edit(map[string]string{"cleanup.policy": "compact"}, "retention.ms"), false); err != nil {
		t.Fatal(err)
	}
	if err := c.ctrl.AlterTopicConfigs(ctx, "t", edit(map[string]string{"segment.ms": "1"}), true); err != nil {
		t.Fatal(err)
	}
	if err := c.ctrl.AlterTopicConfigs(ctx, "nope", edit(nil), false); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("got %v, want UNKNOWN_TOPIC_OR_PARTITION", err)
	}
	if tp, _ := c.store.Current().Topic("t"); len(tp.Configs) != 1 || tp.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("got configs %v, want only cleanup.policy=compact", tp.Configs)
	}

	tx, _ := c.store.Current().Topic("t.x")
	unknown := [16]byte{0xee}
	errs := c.ctrl.DeleteTopics(ctx, [][16]byte{tx.ID, unknown})
	if len(errs) != 1 || !errors.Is(errs[unknown], kerr.UnknownTopicID) {
		t.Fatalf("got %v, want only the unknown id failing with UNKNOWN_TOPIC_ID", errs)
	}
	if _, ok := c.store.Current().Topic("t.x"); ok {
		t.Fatal("t.x not deleted")
	}
	// Now t_x no longer collides.
	if res := c.ctrl.CreateTopics(ctx, []TopicSpec{{Name: "t_x", NumPartitions: 1, ReplicationFactor: 1}}, false, testDefaults); res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	want := []string{"+t", "+t.x", "-t.x", "+t_x"}
	if len(events) != len(want) {
		t.Fatalf("got subscriber events %v, want %v", events, want)
	}
	for i := range want {
		if events[i] != want[i] {
			t.Fatalf("got subscriber events %v, want %v", events, want)
		}
	}

	// Everything survives a restart, through snapshots and the WAL.
	before, _ := c.store.Current().EncodeSnapshot()
	beforeIndex := c.store.Current().AppliedIndex
	c.stop()
	if _, err := os.Stat(filepath.Join(dir, "snapshot")); err != nil {
		t.Fatalf("no raft snapshot written: %v", err)
	}
	c = startCluster(t, dir)
	img := c.store.Current()
	if img.AppliedIndex <= beforeIndex {
		t.Fatalf("got applied index %d after restart, want above %d", img.AppliedIndex, beforeIndex)
	}
	for _, name := range []string{"t", "t_x"} {
		if _, ok := img.Topic(name); !ok {
			t.Fatalf("topic %s missing after restart", name)
		}
	}
	// The image after restart equals the one before, but for the indexes
	// the restart's own entries took.
	restored := *img
	restored.AppliedIndex = beforeIndex
	if got, _ := restored.EncodeSnapshot(); string(got) != string(before) {
		t.Fatal("image after restart differs from the one before")
	}
}

func TestAllocateProducerIDs(t *testing.T) {
	dir := t.TempDir()
	c := startCluster(t, dir)
	ctx := testContext(t)
	for _, want := range []int64{0, 1000, 2000} {
		first, err := c.ctrl.AllocateProducerIDs(ctx, 1000)
		if err != nil || first != want {
			t.Fatalf("got %d, %v; want %d", first, err, want)
		}
	}
	if _, err := c.ctrl.AllocateProducerIDs(ctx, 0); err == nil {
		t.Fatal("got nil for a zero count, want an error")
	}
	c.stop()
	c = startCluster(t, dir)
	if first, err := c.ctrl.AllocateProducerIDs(testContext(t), 10); err != nil || first != 3000 {
		t.Fatalf("got %d, %v after restart; want 3000", first, err)
	}
}

// racingProposer proposes a competing record before the first proposal it
// forwards, as another controller could.
type racingProposer struct {
	Proposer
	first metadata.Record
}

func (r *racingProposer) Propose(ctx context.Context, data []byte) (uint64, error) {
	if r.first != nil {
		rec := r.first
		r.first = nil
		if _, err := r.Proposer.Propose(ctx, metadata.EncodeRecord(rec)); err != nil {
			return 0, err
		}
	}
	return r.Proposer.Propose(ctx, data)
}

func TestRejectedAtApply(t *testing.T) {
	c := startCluster(t, t.TempDir())
	ctx := testContext(t)
	racer := &racingProposer{Proposer: c.node, first: metadata.CreateTopic{
		Name: "r", ID: newTopicID(), Partitions: []metadata.Partition{{Leader: 1, Replicas: []int32{1}, ISR: []int32{1}}},
	}}
	ctrl := New(racer, c.store, Config{NodeID: 1}, nil)
	res := ctrl.CreateTopics(ctx, []TopicSpec{{Name: "r", NumPartitions: 1, ReplicationFactor: 1}}, false, testDefaults)
	if !errors.Is(res[0].Err, kerr.TopicAlreadyExists) || res[0].NumPartitions != -1 {
		t.Fatalf("got %+v, want TOPIC_ALREADY_EXISTS from the apply", res[0])
	}

	// Another node's block lands first: this one is decided again after it.
	next := c.store.Current().NextProducerID
	racer.first = metadata.AllocateProducerIDs{Broker: 1, First: next, Count: 5}
	if first, err := ctrl.AllocateProducerIDs(ctx, 5); err != nil || first != next+5 {
		t.Fatalf("got %d, %v; want the block after the racing one, at %d", first, err, next+5)
	}
}

// losingProposer loses the first proposal it is given, as a message to a
// leader this node is cut off from is lost: it is never applied.
type losingProposer struct {
	Proposer
	lost bool
}

func (l *losingProposer) Propose(ctx context.Context, data []byte) (uint64, error) {
	if !l.lost {
		l.lost = true
		<-ctx.Done()
		return 0, ctx.Err()
	}
	return l.Proposer.Propose(ctx, data)
}

func TestAllocateProducerIDsLostProposal(t *testing.T) {
	c := startCluster(t, t.TempDir())
	defer func(d time.Duration) { allocateAttemptTimeout = d }(allocateAttemptTimeout)
	allocateAttemptTimeout = 100 * time.Millisecond
	ctrl := New(&losingProposer{Proposer: c.node}, c.store, Config{NodeID: 1}, nil)
	next := c.store.Current().NextProducerID
	if first, err := ctrl.AllocateProducerIDs(testContext(t), 5); err != nil || first != next {
		t.Fatalf("got %d, %v; want the block at %d once proposed again", first, err, next)
	}
	// The caller's own deadline still ends it.
	ctrl = New(&losingProposer{Proposer: c.node}, c.store, Config{NodeID: 1}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ctrl.AllocateProducerIDs(ctx, 5); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the caller's deadline", err)
	}
}

func TestCanceledContext(t *testing.T) {
	c := startCluster(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := c.ctrl.CreateTopics(ctx, []TopicSpec{{Name: "c", NumPartitions: 1, ReplicationFactor: 1}}, false, testDefaults)
	if !errors.Is(res[0].Err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", res[0].Err)
	}
}

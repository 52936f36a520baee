package controller

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// memLog is an in-memory metadata log: it applies each proposal to store at
// the next index, in the order proposals reach it, and returns that index
// with the apply's error, as raft.Node does.
type memLog struct {
	mu    sync.Mutex
	store *metadata.Store
}

func (l *memLog) Propose(ctx context.Context, data []byte) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	index := l.store.Current().AppliedIndex + 1
	return index, l.store.ApplyEncoded(index, data)
}

// gate passes proposals on to its log, except the first whose record hold
// picks: that one it reports on held and keeps short of the log until
// release is closed, or fails when its context ends first, as a proposal
// lost on its way to the leader. It records every record proposed.
type gate struct {
	log     Proposer
	hold    func(metadata.Record) bool
	held    chan metadata.Record
	release chan struct{}

	mu       sync.Mutex
	holding  bool // the held proposal was picked
	proposed []metadata.Record
}

func (g *gate) Propose(ctx context.Context, data []byte) (uint64, error) {
	rec, err := metadata.DecodeRecord(data)
	if err != nil {
		return 0, err
	}
	g.mu.Lock()
	g.proposed = append(g.proposed, rec)
	hold := !g.holding && g.hold(rec)
	g.holding = g.holding || hold
	g.mu.Unlock()
	if hold {
		g.held <- rec
		select {
		case <-g.release:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return g.log.Propose(ctx, data)
}

// count returns how many records of rec's type were proposed.
func (g *gate) count(rec metadata.Record) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.proposed {
		if reflect.TypeOf(r) == reflect.TypeOf(rec) {
			n++
		}
	}
	return n
}

// holdFirst returns a gate.hold picking records of rec's type.
func holdFirst(rec metadata.Record) func(metadata.Record) bool {
	return func(r metadata.Record) bool { return reflect.TypeOf(r) == reflect.TypeOf(rec) }
}

var (
	idP = [16]byte{0x70}
	idT = [16]byte{0x74}
)

// gated returns a controller deciding on store and proposing through a
// gate, holding what hold picks, to an in-memory log over store. The image
// has brokers 1, 2 and 3 (unfenced), topic "p" led by 2 though 1 is its
// preferred replica, and topic "t" with 3 partitions, each with replicas
// and ISR [1 2] led by 1.
func gated(t *testing.T, hold func(metadata.Record) bool) (*Controller, *gate, *metadata.Store) {
	t.Helper()
	store := metadata.NewStore()
	isr12 := func(i, leader int32) metadata.Partition {
		return metadata.Partition{Index: i, Leader: leader, Replicas: []int32{1, 2}, ISR: []int32{1, 2}}
	}
	for i, rec := range []metadata.Record{
		metadata.RegisterBroker{ID: 1, Host: "h", Port: 1},
		metadata.RegisterBroker{ID: 2, Host: "h", Port: 2},
		metadata.RegisterBroker{ID: 3, Host: "h", Port: 3},
		metadata.CreateTopic{Name: "p", ID: idP, Partitions: []metadata.Partition{isr12(0, 2)}},
		metadata.CreateTopic{Name: "t", ID: idT, Partitions: []metadata.Partition{isr12(0, 1), isr12(1, 1), isr12(2, 1)}},
	} {
		if err := store.Apply(uint64(i+1), rec); err != nil {
			t.Fatal(err)
		}
	}
	g := &gate{log: &memLog{store: store}, hold: hold, held: make(chan metadata.Record, 1), release: make(chan struct{})}
	return New(g, store, Config{NodeID: 1}, nil), g, store
}

// async runs f in a goroutine and returns a channel that yields its result.
func async[T any](f func() T) <-chan T {
	ch := make(chan T, 1)
	go func() { ch <- f() }()
	return ch
}

// await returns what ch yields, failing the test when that takes more than
// 10 s: what, a call, is blocked behind another one.
func await[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
	}
	t.Fatalf("%s: nothing after 10s", what)
	var zero T
	return zero
}

func topicSpec(name string) []TopicSpec {
	return []TopicSpec{{Name: name, NumPartitions: 1, ReplicationFactor: 1}}
}

// TestConcurrentCreateTopicsOfOneName: the second call decides while the
// first one's record is on its way; one topic is created, and the other
// call, overtaken, decides again and answers TOPIC_ALREADY_EXISTS.
func TestConcurrentCreateTopicsOfOneName(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, store := gated(t, holdFirst(metadata.CreateTopic{}))
	first := async(func() []TopicResult { return ctrl.CreateTopics(ctx, topicSpec("c"), false, testDefaults) })
	await(t, g.held, "the first proposal")
	second := await(t, async(func() []TopicResult { return ctrl.CreateTopics(ctx, topicSpec("c"), false, testDefaults) }), "the second CreateTopics")
	if second[0].Err != nil {
		t.Fatalf("second call: got %v, want c created", second[0].Err)
	}
	close(g.release)
	got := await(t, first, "the first CreateTopics")[0]
	if !errors.Is(got.Err, kerr.TopicAlreadyExists) || got.NumPartitions != -1 || got.ID != [16]byte{} {
		t.Fatalf("first call: got %+v, want TOPIC_ALREADY_EXISTS", got)
	}
	if c, ok := store.Current().Topic("c"); !ok || c.ID != second[0].ID {
		t.Fatalf("got topic %+v, want the second call's, id %x", c, second[0].ID)
	}
	if n := g.count(metadata.CreateTopic{}); n != 2 {
		t.Fatalf("got %d CreateTopic proposals, want 2: one each, the overtaken call deciding no other", n)
	}
}

// TestHungProposalBlocksNoOtherDecision: while one call's proposal hangs
// (never applied until its context ends), unrelated calls of the same
// controller decide, propose and return.
func TestHungProposalBlocksNoOtherDecision(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, store := gated(t, holdFirst(metadata.CreateTopic{}))
	hungCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	hung := async(func() []TopicResult { return ctrl.CreateTopics(hungCtx, topicSpec("hung"), false, testDefaults) })
	await(t, g.held, "the hanging proposal")

	created := await(t, async(func() []TopicResult { return ctrl.CreateTopics(ctx, topicSpec("other"), false, testDefaults) }), "CreateTopics")
	if created[0].Err != nil {
		t.Fatal(created[0].Err)
	}
	ref := PartitionRef{Topic: "p", Partition: 0}
	elected := await(t, async(func() map[PartitionRef]error { return ctrl.ElectLeaders(ctx, ElectPreferred, []PartitionRef{ref}) }), "ElectLeaders")
	if err, ok := elected[ref]; !ok || err != nil {
		t.Fatalf("got %v, want p-0's preferred leader elected", elected)
	}
	if p, _ := store.Current().Topic("p"); p.Partitions[0].Leader != 1 {
		t.Fatalf("got leader %d, want 1", p.Partitions[0].Leader)
	}

	cancel()
	if got := await(t, hung, "the hanging CreateTopics")[0]; !errors.Is(got.Err, context.Canceled) {
		t.Fatalf("got %v, want the call's context error", got.Err)
	}
	if _, ok := store.Current().Topic("hung"); ok {
		t.Fatal("the lost proposal created its topic")
	}
}

// TestConcurrentCreatePartitions: two calls grow topic t (3 partitions)
// from the same image; the one overtaken decides again on the count the
// other left, so the topic ends with the larger count asked for, its
// partitions numbered without gaps.
func TestConcurrentCreatePartitions(t *testing.T) {
	tests := []struct {
		name          string
		first, second int32
		wantFirst     error
		wantCount     int
	}{
		{"the larger count overtaken: it adds the rest", 7, 5, nil, 7},
		{"the smaller count overtaken: too few now", 5, 7, kerr.InvalidPartitions, 7},
		{"the same count twice: already there", 5, 5, kerr.InvalidPartitions, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			ctrl, g, store := gated(t, holdFirst(metadata.CreatePartitions{}))
			grow := func(n int32) func() []PartitionsResult {
				return func() []PartitionsResult {
					return ctrl.CreatePartitions(ctx, []PartitionSpec{{Topic: "t", Count: n}}, false)
				}
			}
			first := async(grow(tt.first))
			await(t, g.held, "the first proposal")
			if got := await(t, async(grow(tt.second)), "the second CreatePartitions"); got[0].Err != nil {
				t.Fatalf("second call: %v", got[0].Err)
			}
			close(g.release)
			if got := await(t, first, "the first CreatePartitions"); !errors.Is(got[0].Err, tt.wantFirst) {
				t.Fatalf("first call: got %v, want %v", got[0].Err, tt.wantFirst)
			}
			tp, _ := store.Current().Topic("t")
			if len(tp.Partitions) != tt.wantCount {
				t.Fatalf("got %d partitions, want %d", len(tp.Partitions), tt.wantCount)
			}
			for i, p := range tp.Partitions {
				if p.Index != int32(i) {
					t.Fatalf("partition %d has index %d", i, p.Index)
				}
			}
		})
	}
}

// TestReassignmentRacingISRChange: the leader shrinks the ISR while a
// reassignment decided on the old partition epoch is on its way; the
// reassignment is refused at apply, decided again and applied, not lost.
func TestReassignmentRacingISRChange(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, store := gated(t, holdFirst(metadata.ReassignPartitions{}))
	ref := PartitionRef{Topic: "p", Partition: 0}
	first := async(func() map[PartitionRef]error {
		return ctrl.AlterPartitionReassignments(ctx, []Reassignment{{PartitionRef: ref, Target: []int32{2, 3}}})
	})
	await(t, g.held, "the reassignment's proposal")
	shrink := metadata.PartitionChange{TopicID: idP, Partition: 0, Epoch: 0, Leader: 2, ISR: []int32{2}}
	if err := ctrl.AlterPartitions(ctx, []metadata.PartitionChange{shrink}); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if got := await(t, first, "AlterPartitionReassignments"); got[ref] != nil {
		t.Fatalf("got %v, want the reassignment started", got)
	}
	p, _ := store.Current().Topic("p")
	want := metadata.Partition{Index: 0, Leader: 2, Epoch: 2, Replicas: []int32{2, 3, 1}, ISR: []int32{2}, Adding: []int32{3}, Removing: []int32{1}}
	if !reflect.DeepEqual(p.Partitions[0], want) {
		t.Fatalf("got %+v, want %+v", p.Partitions[0], want)
	}
	if n := g.count(metadata.ReassignPartitions{}); n != 2 {
		t.Fatalf("got %d reassignment proposals, want 2: the overtaken one and the one decided again", n)
	}
}

// TestConcurrentConfigChanges: two incremental changes of one list config
// decided on the same overrides; the overtaken one is made again on the
// other's result, so neither value is lost.
func TestConcurrentConfigChanges(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, store := gated(t, holdFirst(metadata.SetTopicConfigs{}))
	appendValue := func(v string) ConfigAlter {
		return func(cur map[string]string) (map[string]string, error) {
			old := cur["cleanup.policy"]
			return edit(map[string]string{"cleanup.policy": strings.TrimPrefix(old+","+v, ",")})(cur)
		}
	}
	first := async(func() error { return ctrl.AlterTopicConfigs(ctx, "t", appendValue("compact"), false) })
	await(t, g.held, "the first proposal")
	if err := await(t, async(func() error { return ctrl.AlterTopicConfigs(ctx, "t", appendValue("delete"), false) }), "the second AlterTopicConfigs"); err != nil {
		t.Fatal(err)
	}
	close(g.release)
	if err := await(t, first, "the first AlterTopicConfigs"); err != nil {
		t.Fatal(err)
	}
	tp, _ := store.Current().Topic("t")
	if got := tp.Configs["cleanup.policy"]; got != "delete,compact" {
		t.Fatalf("got cleanup.policy=%q, want delete,compact", got)
	}
}

// TestOneRequestDecidesInOrder: the items of one request are decided one
// after the other, each on the image its predecessors left, and items named
// twice are INVALID_REQUEST without a proposal.
func TestOneRequestDecidesInOrder(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, store := gated(t, func(metadata.Record) bool { return false })
	res := ctrl.CreateTopics(ctx, []TopicSpec{
		{Name: "d", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "a.x", NumPartitions: 1, ReplicationFactor: 1},
		{Name: "d", NumPartitions: 2, ReplicationFactor: 1},
		{Name: "a_x", NumPartitions: 1, ReplicationFactor: 1},
	}, false, testDefaults)
	for _, i := range []int{0, 2} {
		if !errors.Is(res[i].Err, kerr.InvalidRequest) {
			t.Fatalf("topic %d: got %v, want INVALID_REQUEST for a name given twice", i, res[i].Err)
		}
	}
	if res[1].Err != nil || !errors.Is(res[3].Err, kerr.InvalidTopicException) {
		t.Fatalf("got %v and %v, want a.x created and a_x refused as colliding with it", res[1].Err, res[3].Err)
	}
	if n := g.count(metadata.CreateTopic{}); n != 1 {
		t.Fatalf("got %d CreateTopic proposals, want 1", n)
	}
	pres := ctrl.CreatePartitions(ctx, []PartitionSpec{{Topic: "t", Count: 4}, {Topic: "t", Count: 5}}, false)
	for i, r := range pres {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Fatalf("partition spec %d: got %v, want INVALID_REQUEST for a topic given twice", i, r.Err)
		}
	}
	unknown := [16]byte{0xee}
	errs := ctrl.DeleteTopics(ctx, [][16]byte{idP, idT, idT, unknown})
	if len(errs) != 2 || !errors.Is(errs[idT], kerr.InvalidRequest) || !errors.Is(errs[unknown], kerr.UnknownTopicID) {
		t.Fatalf("got %v, want t INVALID_REQUEST and the unknown id UNKNOWN_TOPIC_ID", errs)
	}
	if _, ok := store.Current().TopicByID(idP); ok {
		t.Fatal("p was not deleted")
	}
}

// TestRejectedOnItsOwnImage: a record the apply refuses on the very image
// it was decided on is not decided again: the same record would follow.
func TestRejectedOnItsOwnImage(t *testing.T) {
	ctx := testContext(t)
	ctrl, g, _ := gated(t, func(metadata.Record) bool { return false })
	// The decision lets an empty config name through (no validator); the
	// apply refuses it.
	spec := TopicSpec{Name: "e", NumPartitions: 1, ReplicationFactor: 1, Configs: map[string]*string{"": str("v")}}
	if res := ctrl.CreateTopics(ctx, []TopicSpec{spec}, false, testDefaults); !errors.Is(res[0].Err, kerr.InvalidConfig) {
		t.Fatalf("got %v, want INVALID_CONFIG from the apply", res[0].Err)
	}
	if n := g.count(metadata.CreateTopic{}); n != 1 {
		t.Fatalf("got %d proposals, want 1", n)
	}
}

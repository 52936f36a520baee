package controller

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/metadata"
)

// imageOf applies recs to an empty image, failing the test on a rejection.
func imageOf(t *testing.T, recs ...metadata.Record) *metadata.Image {
	t.Helper()
	img := &metadata.Image{}
	for _, r := range recs {
		var err error
		if img, err = img.Apply(img.AppliedIndex+1, r); err != nil {
			t.Fatalf("apply %#v: %v", r, err)
		}
	}
	return img
}

func broker(id int32, rack string) metadata.RegisterBroker {
	return metadata.RegisterBroker{ID: id, Host: "h", Port: 9000 + id, Rack: rack}
}

func TestRackAlternated(t *testing.T) {
	tests := []struct {
		name    string
		brokers []metadata.RegisterBroker
		want    []int32
	}{
		{"no racks", []metadata.RegisterBroker{broker(3, ""), broker(1, ""), broker(2, "")}, []int32{1, 2, 3}},
		{"three racks", []metadata.RegisterBroker{broker(1, "a"), broker(2, "a"), broker(3, "b"), broker(4, "b"), broker(5, "c"), broker(6, "c")},
			[]int32{1, 3, 5, 2, 4, 6}},
		{"uneven", []metadata.RegisterBroker{broker(1, "a"), broker(2, "a"), broker(3, "a"), broker(4, "b")}, []int32{1, 4, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []metadata.Record
			for _, b := range tt.brokers {
				recs = append(recs, b)
			}
			if got := rackAlternated(imageOf(t, recs...)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	// Fenced brokers get no new replicas.
	img := imageOf(t, broker(1, ""), metadata.RegisterBroker{ID: 2, Host: "h", Port: 1, Incarnation: [16]byte{1}}, broker(3, ""))
	if got := rackAlternated(img); !reflect.DeepEqual(got, []int32{1, 3}) {
		t.Fatalf("with broker 2 fenced: got %v, want [1 3]", got)
	}
}

// TestPlacementAcrossRacks places 6 partitions with RF 3 on 6 brokers in 3
// racks: every partition spans the three racks and every broker leads one.
func TestPlacementAcrossRacks(t *testing.T) {
	img := imageOf(t, broker(1, "a"), broker(2, "a"), broker(3, "b"), broker(4, "b"), broker(5, "c"), broker(6, "c"))
	rack := map[int32]string{1: "a", 2: "a", 3: "b", 4: "b", 5: "c", 6: "c"}
	parts := placePartitions(img, rackAlternated(img), 0, 6, 3, 0)
	leaders := map[int32]int{}
	for _, p := range parts {
		racks := map[string]bool{}
		for _, r := range p.Replicas {
			racks[rack[r]] = true
		}
		if len(racks) != 3 {
			t.Fatalf("partition %d on %v spans racks %v, want 3", p.Index, p.Replicas, racks)
		}
		if p.Leader != p.Replicas[0] || !slices.Equal(p.ISR, p.Replicas) {
			t.Fatalf("partition %+v: want led by its first replica with a full ISR", p)
		}
		leaders[p.Leader]++
	}
	if len(leaders) != 6 {
		t.Fatalf("leaders %v, want each of the 6 brokers once", leaders)
	}
}

func TestDecideRepairs(t *testing.T) {
	fenced := [16]byte{9}
	topic := [16]byte{0xaa}
	// Broker 3 registers with an incarnation and stays fenced; 1 and 2 are
	// unfenced.
	base := func(t *testing.T, parts ...metadata.Partition) *metadata.Image {
		return imageOf(t, broker(1, ""), broker(2, ""), metadata.RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: fenced},
			metadata.CreateTopic{Name: "t", ID: topic, Partitions: parts})
	}
	p := func(i, leader int32, replicas, isr []int32) metadata.Partition {
		return metadata.Partition{Index: i, Leader: leader, Replicas: replicas, ISR: isr}
	}
	ch := func(i, leader, leaderEpoch int32, isr ...int32) metadata.PartitionChange {
		return metadata.PartitionChange{TopicID: topic, Partition: i, Leader: leader, LeaderEpoch: leaderEpoch, ISR: isr}
	}
	tests := []struct {
		name    string
		parts   []metadata.Partition
		unclean bool
		want    []metadata.PartitionChange
	}{
		{"healthy", []metadata.Partition{p(0, 1, []int32{1, 2}, []int32{1, 2})}, false, nil},
		{"fenced follower leaves the ISR", []metadata.Partition{p(0, 1, []int32{1, 3}, []int32{1, 3})}, false,
			[]metadata.PartitionChange{ch(0, 1, 0, 1)}},
		{"fenced leader replaced", []metadata.Partition{p(0, 3, []int32{3, 2, 1}, []int32{3, 1, 2})}, false,
			[]metadata.PartitionChange{ch(0, 2, 1, 1, 2)}},
		{"last in-sync replica fenced", []metadata.Partition{p(0, 3, []int32{3, 1}, []int32{3})}, false,
			[]metadata.PartitionChange{ch(0, -1, 1, 3)}},
		{"leaderless stays so", []metadata.Partition{p(0, -1, []int32{3, 1}, []int32{3})}, false, nil},
		{"leaderless gets a leader", []metadata.Partition{p(0, -1, []int32{3, 1, 2}, []int32{2, 3})}, false,
			[]metadata.PartitionChange{ch(0, 2, 1, 2)}},
		{"unclean election", []metadata.Partition{p(0, -1, []int32{3, 1}, []int32{3})}, true,
			[]metadata.PartitionChange{ch(0, 1, 1, 1)}},
		{"unclean not needed", []metadata.Partition{p(0, 1, []int32{3, 1}, []int32{1})}, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := base(t, tt.parts...)
			got := decideRepairs(img, func(*metadata.Topic) bool { return tt.unclean })
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if len(got) == 0 {
				return
			}
			next, err := img.Apply(img.AppliedIndex+1, metadata.ChangePartitions{Changes: got})
			if err != nil {
				t.Fatalf("the image rejects the repairs: %v", err)
			}
			if again := decideRepairs(next, func(*metadata.Topic) bool { return tt.unclean }); len(again) != 0 {
				t.Fatalf("repairs are not idempotent: then %+v", again)
			}
		})
	}
}

func TestDecideLiveness(t *testing.T) {
	inc := [16]byte{1}
	img := imageOf(t,
		metadata.RegisterBroker{ID: 1, Host: "h", Port: 1, Incarnation: inc}, // epoch 1
		metadata.RegisterBroker{ID: 2, Host: "h", Port: 2, Incarnation: inc}, // epoch 2
		metadata.RegisterBroker{ID: 3, Host: "h", Port: 3, Incarnation: inc}, // epoch 3
		metadata.UnfenceBroker{ID: 1, Epoch: 1},
		metadata.UnfenceBroker{ID: 2, Epoch: 2})
	t0 := time.Unix(1000, 0)
	session := time.Second
	type hb struct {
		id      int32
		inc     [16]byte
		epoch   int64
		applied uint64
		ago     time.Duration
		stop    bool
	}
	tests := []struct {
		name        string
		sinceAgo    time.Duration // how long this controller has been active
		prev        int32
		hbs         []hb
		wantFence   []int32
		wantUnfence []int32
	}{
		{"all heard", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 100 * time.Millisecond, false}, {2, inc, 2, 9, 0, false}}, nil, nil},
		{"broker 2 silent", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 1500 * time.Millisecond, false}}, []int32{2}, nil},
		{"new controller gives a grace period", 200 * time.Millisecond, 0, []hb{{1, inc, 1, 9, 0, false}}, nil, nil},
		{"grace period over", 1200 * time.Millisecond, 0, []hb{{1, inc, 1, 9, 0, false}}, []int32{2}, nil},
		{"previous controller judged by its heartbeats", 200 * time.Millisecond, 2, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 1100 * time.Millisecond, false}}, []int32{2}, nil},
		{"another process's heartbeats do not count", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, [16]byte{2}, -1, 9, 0, false}}, []int32{2}, nil},
		{"caught-up fenced broker unfenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, inc, 3, 3, 0, false}}, nil, []int32{3}},
		{"fenced broker behind stays fenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, inc, 3, 2, 0, false}}, nil, nil},
		{"fenced broker with an old epoch stays fenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, inc, -1, 9, 0, false}}, nil, nil},
		{"fenced broker silent stays fenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, inc, 3, 9, 2 * time.Second, false}}, nil, nil},
		{"broker asking to stop fenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, true}}, []int32{2}, nil},
		{"stop asked by another process ignored", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, [16]byte{3}, 3, 9, 0, true}}, nil, nil},
		{"stop asked with an old epoch ignored", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 1, 9, 0, true}}, nil, nil},
		{"stopping fenced broker stays fenced", 10 * time.Second, 0, []hb{{1, inc, 1, 9, 0, false}, {2, inc, 2, 9, 0, false}, {3, inc, 3, 3, 0, true}}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seenBy := map[int32]seen{}
			for _, h := range tt.hbs {
				seenBy[h.id] = seen{Heartbeat{NodeID: h.id, Incarnation: h.inc, Epoch: h.epoch, Applied: h.applied, WantShutdown: h.stop}, t0.Add(-h.ago)}
			}
			last := func(id int32) (seen, bool) { s, ok := seenBy[id]; return s, ok }
			fence, unfence := decideLiveness(img, t0, t0.Add(-tt.sinceAgo), tt.prev, session, last)
			var gotFence, gotUnfence []int32
			for _, f := range fence {
				gotFence = append(gotFence, f.b.ID)
			}
			for _, b := range unfence {
				gotUnfence = append(gotUnfence, b.ID)
			}
			if !reflect.DeepEqual(gotFence, tt.wantFence) || !reflect.DeepEqual(gotUnfence, tt.wantUnfence) {
				t.Fatalf("got fence %v unfence %v, want %v and %v", gotFence, gotUnfence, tt.wantFence, tt.wantUnfence)
			}
		})
	}
}

func TestHeartbeatEncoding(t *testing.T) {
	hb := Heartbeat{NodeID: 7, Incarnation: [16]byte{1, 2, 3}, Epoch: 1 << 40, Applied: 99}
	stopping := hb
	stopping.WantShutdown = true
	for _, want := range []Heartbeat{hb, stopping} {
		got, err := DecodeHeartbeat(want.AppendBinary(nil))
		if err != nil || got != want {
			t.Fatalf("got %+v, %v; want %+v", got, err, want)
		}
	}
	if n := len(hb.AppendBinary(nil)); n != heartbeatSize {
		t.Fatalf("a heartbeat without flags takes %d bytes, want %d: older nodes would not read it", n, heartbeatSize)
	}
	for _, bad := range [][]byte{nil, make([]byte, heartbeatSize-1), append(hb.AppendBinary(nil), 0), append(hb.AppendBinary(nil), 2),
		append(stopping.AppendBinary(nil), 1),
		Heartbeat{NodeID: -1}.AppendBinary(nil), Heartbeat{Epoch: -2}.AppendBinary(nil)} {
		if _, err := DecodeHeartbeat(bad); err == nil {
			t.Fatalf("decoded % x", bad)
		}
	}
}

// FuzzDecodeHeartbeat checks that DecodeHeartbeat never panics and that what
// it accepts encodes back to the same bytes.
func FuzzDecodeHeartbeat(f *testing.F) {
	f.Add(Heartbeat{NodeID: 1, Epoch: -1}.AppendBinary(nil))
	f.Add(Heartbeat{NodeID: 3, Incarnation: [16]byte{7}, Epoch: 12, Applied: 40}.AppendBinary(nil))
	f.Add(Heartbeat{NodeID: 3, Epoch: 12, Applied: 40, WantShutdown: true}.AppendBinary(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		hb, err := DecodeHeartbeat(b)
		if err != nil {
			return
		}
		if again := hb.AppendBinary(nil); string(again) != string(b) {
			t.Fatalf("re-encoded % x, input % x", again, b)
		}
	})
}

// fakeQuorum is a Quorum that leads and records what is proposed to it as
// the leader, applying it to store.
type fakeQuorum struct {
	store    *metadata.Store
	proposed []metadata.Record
}

func (q *fakeQuorum) Propose(ctx context.Context, data []byte) (uint64, error) {
	return q.ProposeAsLeader(ctx, data)
}

func (q *fakeQuorum) ProposeAsLeader(_ context.Context, data []byte) (uint64, error) {
	rec, err := metadata.DecodeRecord(data)
	if err != nil {
		return 0, err
	}
	q.proposed = append(q.proposed, rec)
	index := q.store.Current().AppliedIndex + 1
	return index, q.store.Apply(index, rec)
}

func (q *fakeQuorum) Leader() (uint64, bool)                      { return 1, true }
func (q *fakeQuorum) Members() (voters, learners []uint64)        { return []uint64{1, 2}, nil }
func (q *fakeQuorum) AddLearner(context.Context, uint64) error    { return nil }
func (q *fakeQuorum) RemoveLearner(context.Context, uint64) error { return nil }

// TestStalledControllerFencesNobody: a controller whose own process did
// not run for longer than the session (paused, starved) gives every broker
// a new session instead of fencing them on its stale heartbeats.
func TestStalledControllerFencesNobody(t *testing.T) {
	store := metadata.NewStore()
	inc := [16]byte{1}
	for i, r := range []metadata.Record{
		metadata.RegisterBroker{ID: 1, Host: "h", Port: 1, Incarnation: inc},
		metadata.RegisterBroker{ID: 2, Host: "h", Port: 2, Incarnation: inc},
		metadata.UnfenceBroker{ID: 1, Epoch: 1},
		metadata.UnfenceBroker{ID: 2, Epoch: 2},
	} {
		if err := store.Apply(uint64(i+1), r); err != nil {
			t.Fatal(err)
		}
	}
	q := &fakeQuorum{store: store}
	c := New(q, store, Config{NodeID: 1}, nil)
	var now time.Time
	live := NewLiveness(func() time.Time { return now })
	a := &active{c: c, q: q, live: live, cfg: ActiveConfig{SessionTimeout: time.Second, HeartbeatInterval: 100 * time.Millisecond}}
	t0 := time.Unix(1000, 0)
	now = t0
	for _, id := range []int32{1, 2} {
		live.Record(Heartbeat{NodeID: id, Incarnation: inc, Epoch: int64(id), Applied: 4})
	}
	ctx := context.Background()
	for i := range 5 { // heard every 100 ms: nothing to do
		now = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		live.Record(Heartbeat{NodeID: 1, Incarnation: inc, Epoch: 1, Applied: 4})
		live.Record(Heartbeat{NodeID: 2, Incarnation: inc, Epoch: 2, Applied: 4})
		a.step(ctx, now)
	}
	if len(q.proposed) != 0 {
		t.Fatalf("proposed %v with every broker heard", q.proposed)
	}
	// The controller's process stops for 5 s; when it runs again it has
	// heard from nobody since.
	now = now.Add(5 * time.Second)
	a.step(ctx, now)
	if len(q.proposed) != 0 {
		t.Fatalf("a stalled controller proposed %v", q.proposed)
	}
	// Broker 2 stays silent for a whole session from then: now it is fenced.
	for range 11 {
		now = now.Add(100 * time.Millisecond)
		live.Record(Heartbeat{NodeID: 1, Incarnation: inc, Epoch: 1, Applied: 4})
		a.step(ctx, now)
	}
	if store.Current().Unfenced(2) || !store.Current().Unfenced(1) {
		t.Fatalf("after broker 2's silence: proposed %v", q.proposed)
	}
}

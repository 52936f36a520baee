package raft

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

// links is a Faults that cuts chosen links, in both directions, and
// delays the messages sent to one member.
type links struct {
	mu      sync.Mutex
	cut     map[[2]uint64]bool
	dup     bool
	slowTo  uint64
	slowFor time.Duration
}

func (l *links) Message(from, to uint64) (bool, time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var delay time.Duration
	if to == l.slowTo {
		delay = l.slowFor
	}
	return l.cut[[2]uint64{from, to}] || l.cut[[2]uint64{to, from}], delay, l.dup
}

// isolate cuts every link of id (or heals them with on false).
func (l *links) isolate(id uint64, ids []uint64, on bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut == nil {
		l.cut = map[[2]uint64]bool{}
	}
	for _, o := range ids {
		if o != id {
			l.cut[[2]uint64{id, o}] = on
		}
	}
}

// member is one node of a networked test group.
type member struct {
	*running
	net  *Network
	stop context.CancelFunc
	done chan struct{}
}

// freeAddrs returns n loopback addresses that were free a moment ago.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	var addrs []string
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, ln.Addr().String())
		ln.Close()
	}
	return addrs
}

// startMember runs node id of a group with voters (id to address) over TCP.
func startMember(t *testing.T, dir string, id uint64, voters map[uint64]string, faults Faults) *member {
	return startMemberOf(t, dir, id, voters, faults, "")
}

// startMemberOf is startMember with the cluster id its metadata holds.
func startMemberOf(t *testing.T, dir string, id uint64, voters map[uint64]string, faults Faults, clusterID string) *member {
	t.Helper()
	nw := NewNetwork(NetworkConfig{ID: id, Incarnation: [16]byte{byte(id), byte(time.Now().UnixNano())}, Listen: voters[id], Voters: voters,
		Faults: faults, ClusterID: func() string { return clusterID }})
	if err := nw.Listen(); err != nil {
		t.Fatal(err)
	}
	peers := make([]uint64, 0, len(voters))
	for v := range voters {
		peers = append(peers, v)
	}
	r := startNoWait(t, dir, Config{ID: id, Peers: peers, TickInterval: 10 * time.Millisecond, Transport: nw, SnapshotEvery: 20})
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{running: r, net: nw, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		_ = nw.Run(ctx, r.node)
	}()
	t.Cleanup(func() { m.shutdown(t) })
	return m
}

func (m *member) shutdown(t *testing.T) {
	m.running.stop(t)
	m.stop()
	<-m.done
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// leaderOf returns the member all running members agree leads, or nil.
func leaderOf(ms []*member) *member {
	var lead uint64
	for _, m := range ms {
		if m.cancel == nil {
			continue
		}
		l, _ := m.node.Leader()
		if l == 0 || lead != 0 && l != lead {
			return nil
		}
		lead = l
	}
	for _, m := range ms {
		if m.node.cfg.ID == lead {
			return m
		}
	}
	return nil
}

// startGroup runs a group of three voters over TCP with faults, and waits
// until each is ready.
func startGroup(t *testing.T, faults *links) []*member {
	t.Helper()
	addrs := freeAddrs(t, 3)
	voters := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	var ms []*member
	for id := uint64(1); id <= 3; id++ {
		ms = append(ms, startMember(t, t.TempDir(), id, voters, faults))
	}
	for _, m := range ms {
		waitReady(t, m.running)
	}
	return ms
}

func TestNetworkedGroup(t *testing.T) {
	faults := &links{}
	ms := startGroup(t, faults)
	// A proposal made on any member is applied on every member.
	for i, m := range ms {
		propose(t, m.node, fmt.Sprintf("from-%d", i+1))
	}
	want := []string{"from-1", "from-2", "from-3"}
	for _, m := range ms {
		waitFor(t, 5*time.Second, "every member applies every proposal", func() bool { return slices.Equal(m.m.data(), want) })
	}

	// Cut the leader off: the others elect a new one and go on.
	var old *member
	waitFor(t, 5*time.Second, "agreement on a leader", func() bool { old = leaderOf(ms); return old != nil })
	faults.isolate(old.node.cfg.ID, []uint64{1, 2, 3}, true)
	var rest []*member
	for _, m := range ms {
		if m != old {
			rest = append(rest, m)
		}
	}
	var nl *member
	waitFor(t, 5*time.Second, "a new leader among the rest", func() bool { nl = leaderOf(rest); return nl != nil && nl != old })
	propose(t, rest[0].node, "during")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if _, err := old.node.Propose(ctx, []byte("lost")); err == nil {
		t.Fatal("the isolated old leader committed a proposal")
	}
	cancel()

	// Heal: the old leader catches up and everyone holds the same log,
	// including through snapshots (SnapshotEvery 20).
	faults.isolate(old.node.cfg.ID, []uint64{1, 2, 3}, false)
	for i := range 30 {
		propose(t, rest[i%2].node, fmt.Sprintf("after-%d", i))
	}
	waitFor(t, 10*time.Second, "the old leader catching up", func() bool {
		d := old.m.data()
		return len(d) > 0 && d[len(d)-1] == "after-29"
	})
	waitFor(t, 5*time.Second, "equal logs", func() bool {
		a, b, c := ms[0].m.data(), ms[1].m.data(), ms[2].m.data()
		return slices.Equal(a, b) && slices.Equal(b, c) && !slices.Contains(a, "lost")
	})
}

func TestNetworkLearnerAndDuplicates(t *testing.T) {
	addrs := freeAddrs(t, 2)
	voters := map[uint64]string{1: addrs[0]}
	v := startMember(t, t.TempDir(), 1, voters, &links{dup: true}) // every message sent twice
	waitReady(t, v.running)
	propose(t, v.node, "before")

	// Node 5 is not a voter: it joins empty and waits to be added.
	learner := startMember(t, t.TempDir(), 5, voters, nil)
	learner.net.SendApp(1, []byte("hello")) // makes the voter know the connection
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitFor(t, 5*time.Second, "the learner connected", func() bool {
		v.net.mu.Lock()
		defer v.net.mu.Unlock()
		return v.net.peers[5] != nil
	})
	if err := v.node.AddLearner(ctx, 5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the learner is a member", func() bool {
		_, ls := v.node.Members()
		return slices.Equal(ls, []uint64{5})
	})
	waitReady(t, learner.running)
	propose(t, learner.node, "from-learner") // forwarded to the leader
	waitFor(t, 5*time.Second, "the learner applies the log", func() bool {
		return slices.Equal(learner.m.data(), []string{"before", "from-learner"}) && slices.Equal(v.m.data(), learner.m.data())
	})
	if _, self := learner.node.Leader(); self {
		t.Fatal("a learner leads")
	}
}

func TestNetworkRefusals(t *testing.T) {
	addrs := freeAddrs(t, 3)
	voters := map[uint64]string{1: addrs[0], 2: addrs[1]}
	a := startMemberOf(t, t.TempDir(), 1, voters, nil, "cluster-a")
	b := startMemberOf(t, t.TempDir(), 2, voters, nil, "cluster-a")
	waitReady(t, a.running)
	waitReady(t, b.running)

	hello := func(h helloMsg) string {
		t.Helper()
		c, err := net.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write(appendHello(nil, h)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, payload, err := readFrame(bufio.NewReader(c), nil)
		if err != nil || typ != frameHelloReply {
			t.Fatalf("reply: type %d, %v", typ, err)
		}
		r, err := decodeHelloReply(payload)
		if err != nil {
			t.Fatal(err)
		}
		return r.refusal
	}
	tests := []struct {
		name string
		h    helloMsg
		want string
	}{
		{"wrong node", helloMsg{from: 2, to: 3, voters: []uint64{1, 2}}, "dialed node 3 but reached node 1"},
		{"a new voter with other voters", helloMsg{from: 3, to: 1, voters: []uint64{1, 2, 3}}, "INCONSISTENT_VOTER_SET"},
		{"a node of this cluster that missed a voter change", helloMsg{from: 3, to: 1, clusterID: "cluster-a", voters: []uint64{1, 2, 3}}, ""},
		{"a new learner with other voters", helloMsg{from: 4, to: 1, voters: []uint64{1, 2, 3}}, ""},
		{"same id", helloMsg{from: 1, to: 1, voters: []uint64{1, 2}}, "two nodes have the same id"},
		{"second live process of node 2", helloMsg{from: 2, to: 1, incarnation: [16]byte{0xee}, voters: []uint64{1, 2}}, "DUPLICATE_BROKER_REGISTRATION"},
		{"other cluster", helloMsg{from: 7, to: 1, clusterID: "cluster-b", voters: []uint64{1, 2}}, "INCONSISTENT_CLUSTER_ID"},
		{"learner", helloMsg{from: 7, to: 1, voters: []uint64{1, 2}}, ""},
		{"learner of this cluster", helloMsg{from: 8, to: 1, clusterID: "cluster-a", voters: []uint64{1, 2}}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hello(tt.h)
			if tt.want == "" && got != "" || tt.want != "" && !strings.Contains(got, tt.want) {
				t.Fatalf("got refusal %q, want %q", got, tt.want)
			}
		})
	}
}

// TestLogVotersWin restarts a node with a voters list other than its log's:
// the log's voters are the group's, and the transport is told them.
func TestLogVotersWin(t *testing.T) {
	dir := t.TempDir()
	r := start(t, dir, Config{ID: 1, Peers: []uint64{1}})
	r.stop(t)
	tr := &voterRecorder{}
	r = start(t, dir, Config{ID: 1, Peers: []uint64{1, 2, 3}, Transport: tr})
	if v, _ := r.node.Members(); !slices.Equal(v, []uint64{1}) {
		t.Fatalf("voters %v, want the log's [1]", v)
	}
	if !slices.Equal(tr.voters, []uint64{1}) {
		t.Fatalf("the transport was told voters %v, want [1]", tr.voters)
	}
}

type voterRecorder struct {
	discardTransport
	voters []uint64
}

func (v *voterRecorder) SetVoters(ids []uint64) { v.voters = ids }

// FuzzDecodeHello checks that the hello decoders never panic and that what
// they accept re-encodes to bytes that decode to the same value.
func FuzzDecodeHello(f *testing.F) {
	f.Add(appendHello(nil, helloMsg{from: 1, to: 2, clusterID: "c", voters: []uint64{1, 2, 3}})[5:])
	f.Add(appendHelloReply(nil, helloReply{refusal: "no", clusterID: "c"})[5:])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if h, err := decodeHello(b); err == nil {
			again, err := decodeHello(appendHello(nil, h)[5:])
			if err != nil || !reflect.DeepEqual(again, h) {
				t.Fatalf("hello %+v re-decodes to %+v, %v", h, again, err)
			}
		}
		if r, err := decodeHelloReply(b); err == nil {
			again, err := decodeHelloReply(appendHelloReply(nil, r)[5:])
			if err != nil || again != r {
				t.Fatalf("reply %+v re-decodes to %+v, %v", r, again, err)
			}
		}
	})
}

// TestProposeAsLeader: only the leader's guarded proposals apply, and an
// entry proposed in one term but committed in another is rejected.
func TestProposeAsLeader(t *testing.T) {
	addrs := freeAddrs(t, 3)
	voters := map[uint64]string{1: addrs[0], 2: addrs[1], 3: addrs[2]}
	var ms []*member
	for id := uint64(1); id <= 3; id++ {
		ms = append(ms, startMember(t, t.TempDir(), id, voters, nil))
	}
	for _, m := range ms {
		waitReady(t, m.running)
	}
	var lead *member
	waitFor(t, 5*time.Second, "a leader", func() bool { lead = leaderOf(ms); return lead != nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, m := range ms {
		if m == lead {
			continue
		}
		if _, err := m.node.ProposeAsLeader(ctx, []byte("from-a-follower")); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("a follower's guarded proposal: %v, want ErrNotLeader", err)
		}
	}
	if _, err := lead.node.ProposeAsLeader(ctx, []byte("from-the-leader")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "every member applies the leader's", func() bool {
		for _, m := range ms {
			if !slices.Equal(m.m.data(), []string{"from-the-leader"}) {
				return false
			}
		}
		return true
	})

	// A guarded entry carrying term 1 but committed in a later term: the
	// state machine never sees it, and its proposer gets ErrNotLeader.
	l := &loop{n: lead.node, apply: func(uint64, []byte) error { t.Fatal("applied a stale guarded entry"); return nil }}
	data := make([]byte, requestIDSize+guardedExtra+3)
	binary.BigEndian.PutUint64(data, guardedID)
	binary.BigEndian.PutUint64(data[requestIDSize:], 77)
	binary.BigEndian.PutUint64(data[requestIDSize+8:], 1)
	copy(data[requestIDSize+guardedExtra:], "old")
	ch := make(chan result, 1)
	lead.node.mu.Lock()
	lead.node.waiters[77] = ch
	lead.node.mu.Unlock()
	if err := l.applyEntry(&pb.Entry{Term: new(uint64(5)), Index: new(uint64(1000)), Data: data}); err != nil {
		t.Fatal(err)
	}
	if r := <-ch; !errors.Is(r.err, ErrNotLeader) {
		t.Fatalf("got %v, want ErrNotLeader", r.err)
	}
}

// TestReadBarrier: with every message to a follower delayed, a proposal
// committed by the others is not yet applied there, and ReadBarrier on the
// follower returns only once it is.
func TestReadBarrier(t *testing.T) {
	faults := &links{}
	ms := startGroup(t, faults)
	var lead *member
	waitFor(t, 5*time.Second, "agreement on a leader", func() bool { lead = leaderOf(ms); return lead != nil })
	var f *member
	for _, m := range ms {
		if m != lead {
			f = m
			break
		}
	}
	faults.mu.Lock()
	// Less than an election timeout (ten 10 ms ticks), so that the
	// follower does not campaign meanwhile.
	faults.slowTo, faults.slowFor = f.node.cfg.ID, 50*time.Millisecond
	faults.mu.Unlock()
	propose(t, lead.node, "x")
	if slices.Contains(f.m.data(), "x") {
		t.Skip("the slow follower applied the entry at once: the delay did not hold it back")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.node.ReadBarrier(ctx); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(f.m.data(), "x") {
		t.Fatalf("after the barrier the follower holds %v, not the committed entry", f.m.data())
	}
}

// TestNetworkSetAddress: a member whose address no voters list names is
// dialed once the metadata log gives its address (SetAddress), and answers
// on that connection.
func TestNetworkSetAddress(t *testing.T) {
	addrs := freeAddrs(t, 2)
	got := make(chan string, 4)
	start := func(id uint64, addr string) *Network {
		n := NewNetwork(NetworkConfig{ID: id, Listen: addr, Voters: map[uint64]string{id: addr},
			ClusterID: func() string { return "cluster-a" },
			OnMessage: func(from uint64, data []byte) { got <- fmt.Sprintf("%d:%s", from, data) }})
		if err := n.Listen(); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = n.Run(ctx, nil); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
		return n
	}
	a, b := start(1, addrs[0]), start(2, addrs[1])
	a.SendApp(2, []byte("lost")) // no address for node 2 yet
	a.SetAddress(2, addrs[1])
	a.SetAddress(1, "127.0.0.1:1") // its own: ignored
	deadline := time.After(5 * time.Second)
	for want := "1:hello"; ; {
		a.SendApp(2, []byte("hello"))
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("node 2 got %q, want %q", m, want)
			}
		case <-time.After(50 * time.Millisecond):
			continue
		case <-deadline:
			t.Fatal("node 2 never got a message from node 1")
		}
		break
	}
	b.SendApp(1, []byte("back")) // on the connection node 1 dialed
	for {
		select {
		case m := <-got:
			switch m {
			case "2:back":
				return
			case "1:hello": // one of the retries above
			default:
				t.Fatalf("got %q", m)
			}
		case <-deadline:
			t.Fatal("node 1 got no answer")
		}
	}
}

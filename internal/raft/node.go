// Package raft runs the metadata quorum: a Raft group on go.etcd.io/raft/v3
// whose log is persisted in our own write-ahead log and snapshot file (see
// docs/format/metadata-log.md). A Node is driven by one goroutine, Run, which
// follows the order etcd raft's doc.go prescribes for each Ready: persist the
// snapshot, entries and hard state (fsync), send messages, apply the snapshot
// and committed entries, Advance.
//
// A single node is a group of one voter: it sends no messages and becomes
// leader as soon as it has applied its log. A cluster's voters bootstrap the
// group from the same voters list; other nodes join as learners, which the
// leader adds (AddLearner) and then brings up to date.
package raft

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Defaults of the Config fields left zero.
const (
	DefaultTickInterval  = 100 * time.Millisecond
	DefaultSnapshotEvery = 1024
	electionTicks        = 10
	heartbeatTicks       = 1
	maxSizePerMsg        = 1 << 20
	maxInflightMsgs      = 256
	// requestIDSize is the length of the request id that prefixes the data
	// of every proposed entry.
	requestIDSize = 8
	// maxProposalBatch bounds how many queued proposals one loop iteration
	// hands to raft, so they share one fsync.
	maxProposalBatch = 256
	// guardedID marks an entry of ProposeAsLeader: in the place of the
	// request id, followed by the request id and the term it was proposed
	// in (docs/format/metadata-log.md, section 2).
	guardedID    = math.MaxUint64
	guardedExtra = 16
)

// Errors of Node.
var (
	// ErrStopped is returned by Propose when Run has returned (or returns
	// before the proposal is applied).
	ErrStopped = errors.New("raft node stopped")
	// ErrAlreadyRunning is returned by a second call of Run.
	ErrAlreadyRunning = errors.New("raft node already running")
	// ErrNotLeader is returned by ProposeAsLeader when this node does not
	// lead the group, or lost the leadership before its entry was
	// committed.
	ErrNotLeader = errors.New("not the leader of the metadata quorum")
)

// Config configures a Node.
type Config struct {
	// ID is this node's raft id; it must not be 0.
	ID uint64
	// Peers are the voters of the group (for one node: [ID]). A node that
	// is one of them bootstraps a new group from them when dir holds no
	// state; a node that is not starts empty and waits to be added as a
	// learner. With state in dir, the voters the log describes win: Peers
	// may be the list the node first started with, from before voters were
	// added or removed (KIP-853); a list that differs is logged.
	Peers []uint64
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// TickInterval is the length of one raft tick (0: DefaultTickInterval).
	// The election timeout is 10 ticks, the heartbeat interval 1.
	TickInterval time.Duration
	// SnapshotEvery is how many applied entries trigger a snapshot and
	// compaction of the log (0: DefaultSnapshotEvery).
	SnapshotEvery uint64
	// Transport sends messages to the other members; nil drops them,
	// which is right only for a single voter.
	Transport Transport
}

// ApplyFunc applies one committed entry's data at its log index. It is also
// called with a snapshot's data at the snapshot's index when the state
// machine must be restored from a snapshot (at the start of Run, or when a
// leader sends one), so the state machine must tell its snapshot encoding
// from its entry encoding. An error rejects that entry only: it is returned
// to the entry's proposer and logged, and the log goes on (a deterministic
// state machine rejects it the same way on every replica). An error for
// snapshot data stops Run. The data slice must not be kept after the call.
type ApplyFunc func(index uint64, data []byte) error

// SnapshotFunc returns the state machine's state as of the last index passed
// to ApplyFunc. An error skips this snapshot; the node tries again later.
type SnapshotFunc func() ([]byte, error)

// Node is one member of the metadata Raft group.
type Node struct {
	cfg     Config
	dir     string
	logger  *slog.Logger
	storage *raft.MemoryStorage
	rn      *raft.RawNode // owned by Run's goroutine
	// loaded is the snapshot found by Open; Run restores the state machine
	// from it before anything else.
	loaded    *pb.Snapshot
	hs        *pb.HardState // the last persisted hard state
	confState *pb.ConfState // the membership as of the applied index
	// openedLast is the last index of the log Open found: the transport
	// was told the voters as of there, so replaying the membership changes
	// up to it must not tell it older ones.
	openedLast uint64

	running atomic.Bool
	propc   chan proposal
	recvc   chan *pb.Message // messages from other voters
	ctlc    chan func()      // work for Run's goroutine: reports, conf changes
	ready   chan struct{}
	done    chan struct{}
	status  atomic.Pointer[Status]
	members atomic.Pointer[pb.ConfState] // the membership as of the applied index

	nonce   uint64        // random base of request ids, so ids of this process never repeat earlier ones
	seq     atomic.Uint64 // request id counter
	mu      sync.Mutex
	waiters map[uint64]chan result // by request id; guarded by mu
	// appliedc is closed, and replaced, whenever Run applies entries;
	// guarded by mu.
	appliedc chan struct{}
}

type proposal struct {
	id      uint64
	data    []byte // request id and payload
	guarded bool   // ProposeAsLeader's: data holds the guard, the term still zero
}

type result struct {
	index uint64
	err   error
}

// Open loads the state in dir (created if missing): the latest snapshot and
// the WAL after it, truncating a torn WAL tail. It starts no goroutines; Run
// does. It returns an error wrapping ErrCorrupt if the files are damaged
// beyond a torn tail.
func Open(dir string, cfg Config) (*Node, error) {
	if cfg.ID == 0 {
		return nil, errors.New("raft: node id must not be 0")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TickInterval <= 0 {
		cfg.TickInterval = DefaultTickInterval
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	if cfg.Transport == nil {
		cfg.Transport = discardTransport{}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create raft directory: %w", err)
	}
	snap, err := loadSnapshot(dir)
	if err != nil {
		return nil, err
	}
	wc, err := readWAL(dir)
	if err != nil {
		return nil, err
	}
	if wc.torn > 0 {
		cfg.Logger.Warn("truncated a torn tail of the metadata wal", "bytes", wc.torn)
	}
	n := &Node{
		cfg:       cfg,
		dir:       dir,
		logger:    cfg.Logger,
		storage:   raft.NewMemoryStorage(),
		loaded:    snap,
		hs:        wc.hs,
		confState: &pb.ConfState{},
		propc:     make(chan proposal, maxProposalBatch),
		recvc:     make(chan *pb.Message, maxInflightMsgs),
		ctlc:      make(chan func(), 64),
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		waiters:   make(map[uint64]chan result),
		appliedc:  make(chan struct{}),
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	n.nonce = binary.BigEndian.Uint64(nonce[:])
	if err := n.restoreStorage(wc.entries); err != nil {
		return nil, err
	}
	fresh := snap == nil && len(wc.entries) == 0 && wc.hs == nil
	if !fresh {
		have := logVoters(n.confState, wc.entries)
		if len(cfg.Peers) > 0 && !slices.Equal(have, sortedIDs(cfg.Peers)) {
			cfg.Logger.Warn("the controller voters list differs from the voters in the metadata log, which win (voters are added and removed through the quorum)",
				"configured", sortedIDs(cfg.Peers), "log", have, "dir", dir)
		}
		setVoters(cfg.Transport, have)
		n.openedLast, _ = n.storage.LastIndex()
	}
	n.rn, err = raft.NewRawNode(&raft.Config{
		ID:              cfg.ID,
		ElectionTick:    electionTicks,
		HeartbeatTick:   heartbeatTicks,
		Storage:         n.storage,
		Applied:         n.loaded.GetMetadata().GetIndex(),
		MaxSizePerMsg:   maxSizePerMsg,
		MaxInflightMsgs: maxInflightMsgs,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{cfg.Logger},
	})
	if err != nil {
		return nil, fmt.Errorf("start raft: %w", err)
	}
	n.members.Store(n.confState)
	n.status.Store(&Status{ID: cfg.ID})
	if fresh && slices.Contains(cfg.Peers, cfg.ID) {
		peers := make([]raft.Peer, len(cfg.Peers))
		for i, id := range cfg.Peers {
			peers[i] = raft.Peer{ID: id}
		}
		if err := n.rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("bootstrap raft group: %w", err)
		}
	} else if fresh && len(cfg.Peers) == 0 {
		return nil, errors.New("raft: a new group needs peers")
	}
	return n, nil
}

// logVoters returns the sorted voters that the conf state cs and the conf
// changes among ents (whether committed or not) describe.
func logVoters(cs *pb.ConfState, ents []*pb.Entry) []uint64 {
	voters := map[uint64]bool{}
	for _, id := range cs.GetVoters() {
		voters[id] = true
	}
	change := func(t pb.ConfChangeType, id uint64) {
		switch t {
		case pb.ConfChangeAddNode:
			voters[id] = true
		case pb.ConfChangeRemoveNode, pb.ConfChangeAddLearnerNode:
			delete(voters, id)
		}
	}
	for _, e := range ents {
		switch e.GetType() {
		case pb.EntryConfChange:
			var cc pb.ConfChange
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				change(cc.GetType(), cc.GetNodeId())
			}
		case pb.EntryConfChangeV2:
			var cc pb.ConfChangeV2
			if proto.Unmarshal(e.GetData(), &cc) == nil {
				for _, c := range cc.GetChanges() {
					change(c.GetType(), c.GetNodeId())
				}
			}
		}
	}
	out := make([]uint64, 0, len(voters))
	for id := range voters {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func sortedIDs(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Status is a node's view of the group, as of its latest Ready cycle or
// tick.
type Status struct {
	ID      uint64
	Term    uint64
	Leader  uint64 // 0: none known
	State   string // StateFollower, StateCandidate, StatePreCandidate, StateLeader
	Commit  uint64
	Applied uint64
	// Last is the index of the last entry in this node's log.
	Last uint64
	// Progress is, on the leader only, each member's replication state.
	Progress []Progress
}

// Progress is the leader's view of one member.
type Progress struct {
	ID           uint64
	Match        uint64 // the highest index known to be in its log
	Learner      bool
	RecentActive bool // heard from within the last election timeout
}

// Status returns the node's latest status. It never returns nil.
func (n *Node) Status() *Status { return n.status.Load() }

// Leader returns the id of the leader this node knows (0: none) and whether
// it is this node.
func (n *Node) Leader() (uint64, bool) {
	st := n.status.Load()
	return st.Leader, st.Leader != 0 && st.Leader == n.cfg.ID
}

// Members returns the voters and the learners as of the applied index.
func (n *Node) Members() (voters, learners []uint64) {
	cs := n.members.Load()
	return slices.Clone(cs.GetVoters()), slices.Clone(cs.GetLearners())
}

// AddLearner proposes adding node id as a learner (a non-voting member that
// receives the log). It returns once raft has taken the proposal, or with
// raft's refusal (not the leader, a membership change already pending); the
// change is done when Members lists the learner.
func (n *Node) AddLearner(ctx context.Context, id uint64) error {
	return n.confChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(id)})
}

// confChange proposes cc and returns once raft took the proposal, or with
// raft's refusal.
func (n *Node) confChange(ctx context.Context, cc *pb.ConfChange) error {
	errc := make(chan error, 1)
	if err := n.control(ctx, func() { errc <- n.rn.ProposeConfChange(cc) }); err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// RemoveLearner proposes removing learner id from the group; as AddLearner,
// it returns once raft took the proposal.
func (n *Node) RemoveLearner(ctx context.Context, id uint64) error {
	return n.confChange(ctx, &pb.ConfChange{Type: pb.ConfChangeRemoveNode.Enum(), NodeId: new(id)})
}

// PromoteLearner proposes making learner id a voter (KIP-853's
// AddRaftVoter); DemoteVoter makes voter id a learner (RemoveRaftVoter: the
// node keeps receiving the log). As AddLearner, they return once raft took
// the proposal; the change is done when Members shows it. Raft takes one
// membership change at a time and drops a proposal made while another is
// pending.
func (n *Node) PromoteLearner(ctx context.Context, id uint64) error {
	return n.confChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddNode.Enum(), NodeId: new(id)})
}

// DemoteVoter: see PromoteLearner.
func (n *Node) DemoteVoter(ctx context.Context, id uint64) error {
	return n.confChange(ctx, &pb.ConfChange{Type: pb.ConfChangeAddLearnerNode.Enum(), NodeId: new(id)})
}

// WaitMembers waits until the membership Members returns satisfies ok, or
// ctx ends.
func (n *Node) WaitMembers(ctx context.Context, ok func(voters, learners []uint64) bool) error {
	return n.waitApplied(ctx, func() bool { return ok(n.Members()) })
}

// waitApplied waits until cond holds, checking it after every Ready cycle
// that applies entries, or ctx ends.
func (n *Node) waitApplied(ctx context.Context, cond func() bool) error {
	for {
		n.mu.Lock()
		applied := n.appliedc
		n.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-applied:
		case <-ctx.Done():
			return ctx.Err()
		case <-n.done:
			return ErrStopped
		}
	}
}

// TransferLeadership asks raft to hand this node's leadership to voter to,
// which campaigns at once when its log is caught up. It returns once raft
// took the request; the transfer is done when Leader names to. A node that
// does not lead ignores it.
func (n *Node) TransferLeadership(ctx context.Context, to uint64) error {
	return n.control(ctx, func() { n.rn.TransferLeader(to) })
}

// ReportUnreachable tells raft that a message to node id could not be
// sent, so the leader stops streaming to it until it answers again. It
// never blocks: the report is dropped if Run is busy.
func (n *Node) ReportUnreachable(id uint64) {
	select {
	case n.ctlc <- func() { n.rn.ReportUnreachable(id) }:
	default:
	}
}

// ReportSnapshot tells raft whether a snapshot message to node id was sent.
// A lost report stalls that member until it is reported unreachable, so it
// waits for Run to take it (or for Run to stop).
func (n *Node) ReportSnapshot(id uint64, failed bool) {
	st := raft.SnapshotFinish
	if failed {
		st = raft.SnapshotFailure
	}
	_ = n.control(context.Background(), func() { n.rn.ReportSnapshot(id, st) })
}

// control runs fn on Run's goroutine.
func (n *Node) control(ctx context.Context, fn func()) error {
	select {
	case n.ctlc <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// restoreStorage loads the snapshot, the WAL entries after it and the hard
// state into n.storage, checking that they fit together.
func (n *Node) restoreStorage(ents []*pb.Entry) error {
	var snapIndex uint64
	if n.loaded != nil {
		if err := n.storage.ApplySnapshot(n.loaded); err != nil {
			return fmt.Errorf("load snapshot: %w", err)
		}
		snapIndex = n.loaded.GetMetadata().GetIndex()
		n.confState = n.loaded.GetMetadata().GetConfState()
	}
	for len(ents) > 0 && ents[0].GetIndex() <= snapIndex {
		ents = ents[1:]
	}
	if len(ents) > 0 && ents[0].GetIndex() != snapIndex+1 {
		return fmt.Errorf("%w: wal starts at entry %d, snapshot ends at %d", ErrCorrupt, ents[0].GetIndex(), snapIndex)
	}
	if err := n.storage.Append(ents); err != nil {
		return fmt.Errorf("load entries: %w", err)
	}
	if n.hs == nil {
		return nil
	}
	last, _ := n.storage.LastIndex()
	commit := max(n.hs.GetCommit(), snapIndex)
	if commit > last {
		return fmt.Errorf("%w: commit index %d beyond the last entry %d", ErrCorrupt, commit, last)
	}
	n.hs = &pb.HardState{Term: new(n.hs.GetTerm()), Vote: new(n.hs.GetVote()), Commit: new(commit)}
	return n.storage.SetHardState(n.hs)
}

// Ready is closed once the node has applied an entry of the current term:
// everything committed before this start has been applied and a leader is
// known. For a single voter that is when it has become leader.
func (n *Node) Ready() <-chan struct{} { return n.ready }

// Propose appends data to the log and returns its index once the entry is
// committed and applied, with the error the ApplyFunc returned for it. It
// waits for Ready first. It returns ctx's error if ctx ends first (the entry
// may still be applied later), ErrStopped if Run returns first, or a wrapped
// raft.ErrProposalDropped if raft refused the entry (no leader). data is not
// kept after Propose returns.
func (n *Node) Propose(ctx context.Context, data []byte) (uint64, error) {
	return n.propose(ctx, data, false)
}

// ProposeAsLeader is Propose for a decision only the leader may make (the
// controller's fencing and elections): it returns ErrNotLeader at once when
// this node does not lead, instead of forwarding the proposal, and the
// entry applies only if it is committed in the term it was proposed in, so
// a leader that was deposed meanwhile does not have a stale decision
// applied by its successor.
func (n *Node) ProposeAsLeader(ctx context.Context, data []byte) (uint64, error) {
	return n.propose(ctx, data, true)
}

func (n *Node) propose(ctx context.Context, data []byte, guarded bool) (uint64, error) {
	select {
	case <-n.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrStopped
	}
	id, ch, forget := n.wait()
	defer forget()
	var buf []byte
	if guarded {
		buf = make([]byte, requestIDSize+guardedExtra+len(data))
		binary.BigEndian.PutUint64(buf, guardedID)
		binary.BigEndian.PutUint64(buf[requestIDSize:], id)
		copy(buf[requestIDSize+guardedExtra:], data)
	} else {
		buf = make([]byte, requestIDSize+len(data))
		binary.BigEndian.PutUint64(buf, id)
		copy(buf[requestIDSize:], data)
	}
	select {
	case n.propc <- proposal{id: id, data: buf, guarded: guarded}:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrStopped
	}
	select {
	case r := <-ch:
		return r.index, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrStopped
	}
}

// Step hands a message from another voter to raft; a transport calls it for
// every message it receives. It returns once the message is queued for Run,
// with ctx's error or ErrStopped if that does not happen first. The node
// owns m afterwards.
func (n *Node) Step(ctx context.Context, m *pb.Message) error {
	select {
	case <-n.done:
		return ErrStopped
	default:
	}
	select {
	case n.recvc <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.done:
		return ErrStopped
	}
}

// wait registers a waiter for a new request id; forget unregisters it.
func (n *Node) wait() (id uint64, ch chan result, forget func()) {
	id = n.nonce + n.seq.Add(1)
	if id == guardedID {
		id = n.nonce + n.seq.Add(1)
	}
	ch = make(chan result, 1)
	n.mu.Lock()
	n.waiters[id] = ch
	n.mu.Unlock()
	return id, ch, func() {
		n.mu.Lock()
		delete(n.waiters, id)
		n.mu.Unlock()
	}
}

// ReadBarrier returns once this node has applied every entry the quorum
// had committed when it was called: it asks the leader for its commit
// index (raft's ReadIndex, which the leader confirms with a quorum) and
// waits until that index is applied here. A decision made on this node's
// metadata after it sees every change made before it, as one made on the
// leader would. It fails with ctx's error when no leader answers in time.
func (n *Node) ReadBarrier(ctx context.Context) error {
	index, err := n.readIndex(ctx)
	if err != nil {
		return err
	}
	return n.waitApplied(ctx, func() bool { return n.status.Load().Applied >= index })
}

// readIndexRetry is how long ReadBarrier waits for the leader's answer
// before it asks again: raft drops the request of a node that knows no
// leader (campaigning) without telling it.
const readIndexRetry = 500 * time.Millisecond

// readIndex returns the commit index the leader confirms, asking again
// every readIndexRetry until ctx ends.
func (n *Node) readIndex(ctx context.Context) (uint64, error) {
	retry := time.NewTicker(readIndexRetry)
	defer retry.Stop()
	for {
		id, ch, forget := n.wait()
		rctx := binary.BigEndian.AppendUint64(nil, id)
		if err := n.control(ctx, func() { n.rn.ReadIndex(rctx) }); err != nil {
			forget()
			return 0, err
		}
		select {
		case r := <-ch:
			forget()
			return r.index, nil
		case <-retry.C:
			forget()
		case <-ctx.Done():
			forget()
			return 0, ctx.Err()
		case <-n.done:
			forget()
			return 0, ErrStopped
		}
	}
}

// finish hands a proposal's result to its waiter, if it still waits.
func (n *Node) finish(id uint64, r result) {
	n.mu.Lock()
	ch := n.waiters[id]
	delete(n.waiters, id)
	n.mu.Unlock()
	if ch != nil {
		ch <- r
	}
}

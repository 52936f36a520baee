// Package raft runs the metadata quorum: a Raft group on go.etcd.io/raft/v3
// whose log is persisted in our own write-ahead log and snapshot file (see
// docs/format/metadata-log.md). A Node is driven by one goroutine, Run, which
// follows the order etcd raft's doc.go prescribes for each Ready: persist the
// snapshot, entries and hard state (fsync), send messages, apply the snapshot
// and committed entries, Advance.
//
// A single node is a group of one voter: it sends no messages and becomes
// leader as soon as it has applied its log.
package raft

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
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
)

// Errors of Node.
var (
	// ErrStopped is returned by Propose when Run has returned (or returns
	// before the proposal is applied).
	ErrStopped = errors.New("raft node stopped")
	// ErrAlreadyRunning is returned by a second call of Run.
	ErrAlreadyRunning = errors.New("raft node already running")
)

// Config configures a Node.
type Config struct {
	// ID is this node's raft id; it must not be 0.
	ID uint64
	// Peers are the voters of a new group (for one node: [ID]). They are used
	// only when dir holds no state; afterwards the membership is the one in
	// the log.
	Peers []uint64
	// Logger receives the node's logs; nil discards them.
	Logger *slog.Logger
	// TickInterval is the length of one raft tick (0: DefaultTickInterval).
	// The election timeout is 10 ticks, the heartbeat interval 1.
	TickInterval time.Duration
	// SnapshotEvery is how many applied entries trigger a snapshot and
	// compaction of the log (0: DefaultSnapshotEvery).
	SnapshotEvery uint64
	// Transport sends messages to the other voters; nil drops them, which is
	// right only for a single voter.
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

	running atomic.Bool
	propc   chan proposal
	recvc   chan *pb.Message // messages from other voters
	ready   chan struct{}
	done    chan struct{}

	nonce   uint64        // random base of request ids, so ids of this process never repeat earlier ones
	seq     atomic.Uint64 // request id counter
	mu      sync.Mutex
	waiters map[uint64]chan result // by request id; guarded by mu
}

type proposal struct {
	id   uint64
	data []byte // request id and payload
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
		ready:     make(chan struct{}),
		done:      make(chan struct{}),
		waiters:   make(map[uint64]chan result),
	}
	var nonce [8]byte
	_, _ = rand.Read(nonce[:]) // crypto/rand.Read never fails
	n.nonce = binary.BigEndian.Uint64(nonce[:])
	if err := n.restoreStorage(wc.entries); err != nil {
		return nil, err
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
	if snap == nil && len(wc.entries) == 0 && wc.hs == nil {
		if len(cfg.Peers) == 0 {
			return nil, errors.New("raft: a new group needs peers")
		}
		peers := make([]raft.Peer, len(cfg.Peers))
		for i, id := range cfg.Peers {
			peers[i] = raft.Peer{ID: id}
		}
		if err := n.rn.Bootstrap(peers); err != nil {
			return nil, fmt.Errorf("bootstrap raft group: %w", err)
		}
	}
	return n, nil
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
	select {
	case <-n.ready:
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-n.done:
		return 0, ErrStopped
	}
	id := n.nonce + n.seq.Add(1)
	ch := make(chan result, 1)
	n.mu.Lock()
	n.waiters[id] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.waiters, id)
		n.mu.Unlock()
	}()
	buf := make([]byte, requestIDSize+len(data))
	binary.BigEndian.PutUint64(buf, id)
	copy(buf[requestIDSize:], data)
	select {
	case n.propc <- proposal{id: id, data: buf}:
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

package raft

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// loop is the state of one Run: what only its goroutine touches.
type loop struct {
	n           *Node
	wal         *wal
	apply       ApplyFunc
	snapshot    SnapshotFunc
	applied     uint64 // index of the last applied entry
	appliedTerm uint64 // its term
	snapIndex   uint64 // index of the latest snapshot
	start       time.Time
	readyClosed bool
	lastWaitLog time.Time // when "waiting for the quorum" was last logged
	leader      uint64    // the leader as of the last published status
}

// Run drives the node until ctx is done: ticks, proposals and raft's Ready
// cycle (persist and fsync, send, apply, advance), plus a snapshot and log
// compaction every SnapshotEvery applied entries. It first restores the
// state machine from the loaded snapshot and replays the committed log
// through apply; a sole voter then campaigns at once. It returns nil after
// ctx is done, or the error that stopped it (storage failure, a snapshot
// apply refused); either way it has released its files and Propose calls
// return ErrStopped. Run may be called once.
func (n *Node) Run(ctx context.Context, apply ApplyFunc, snapshot SnapshotFunc) (err error) {
	if !n.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer close(n.done)
	w, err := openWAL(n.dir)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.close(); cerr != nil && err == nil {
			err = fmt.Errorf("close wal: %w", cerr)
		}
	}()
	l := &loop{n: n, wal: w, apply: apply, snapshot: snapshot, start: time.Now()}
	if s := n.loaded; s != nil {
		md := s.GetMetadata()
		if err := apply(md.GetIndex(), s.GetData()); err != nil {
			return fmt.Errorf("restore snapshot at %d: %w", md.GetIndex(), err)
		}
		l.applied, l.appliedTerm, l.snapIndex = md.GetIndex(), md.GetTerm(), md.GetIndex()
		n.loaded = nil
	}
	ticker := time.NewTicker(n.cfg.TickInterval)
	defer ticker.Stop()
	for {
		if n.rn.HasReady() {
			if err := l.handleReady(); err != nil {
				return err
			}
			continue
		}
		if l.shouldCampaign() {
			if err := n.rn.Campaign(); err != nil {
				return fmt.Errorf("campaign: %w", err)
			}
			if n.rn.HasReady() {
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
			n.rn.Tick()
			l.publish()
		case fn := <-n.ctlc:
			fn()
		case p := <-n.propc:
			l.propose(p)
			l.drainProposals()
		case m := <-n.recvc:
			if err := n.rn.Step(m); err != nil {
				n.logger.Debug("raft message dropped", "type", m.GetType().String(), "from", m.GetFrom(), "err", err)
			}
		}
	}
}

// drainProposals hands queued proposals to raft, so they share one Ready and
// one fsync.
func (l *loop) drainProposals() {
	for range maxProposalBatch - 1 {
		select {
		case p := <-l.n.propc:
			l.propose(p)
		default:
			return
		}
	}
}

func (l *loop) propose(p proposal) {
	if p.guarded {
		st := l.n.rn.BasicStatus()
		if st.RaftState != raft.StateLeader {
			l.n.finish(p.id, result{err: ErrNotLeader})
			return
		}
		binary.BigEndian.PutUint64(p.data[requestIDSize+8:], st.GetTerm())
	}
	if err := l.n.rn.Propose(p.data); err != nil {
		l.n.finish(p.id, result{err: fmt.Errorf("propose: %w", err)})
	}
}

// shouldCampaign reports whether this node is the only voter and not yet
// leader, with its log applied (raft refuses to campaign with unapplied
// membership changes).
func (l *loop) shouldCampaign() bool {
	cs := l.n.confState
	if len(cs.GetVoters()) != 1 || cs.GetVoters()[0] != l.n.cfg.ID || len(cs.GetVotersOutgoing()) != 0 {
		return false
	}
	st := l.n.rn.BasicStatus()
	return st.RaftState != raft.StateLeader && st.Applied >= st.HardState.GetCommit()
}

// handleReady runs one Ready cycle in the order raft requires.
func (l *loop) handleReady() error {
	n := l.n
	rd := n.rn.Ready()
	snap := rd.Snapshot
	if !raft.IsEmptySnap(snap) {
		if err := l.persistSnapshot(snap); err != nil {
			return err
		}
	}
	var hs *pb.HardState
	if !raft.IsEmptyHardState(rd.HardState) {
		hs = &pb.HardState{Term: new(rd.HardState.GetTerm()), Vote: new(rd.HardState.GetVote()), Commit: new(rd.HardState.GetCommit())}
	}
	if err := l.wal.append(rd.Entries, hs, rd.MustSync); err != nil {
		return err
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("store entries: %w", err)
	}
	if hs != nil {
		n.hs = hs
		if err := n.storage.SetHardState(hs); err != nil {
			return fmt.Errorf("store hard state: %w", err)
		}
	}
	if len(rd.Messages) > 0 {
		n.cfg.Transport.Send(rd.Messages)
	}
	if !raft.IsEmptySnap(snap) {
		md := snap.GetMetadata()
		if err := l.apply(md.GetIndex(), snap.GetData()); err != nil {
			return fmt.Errorf("apply snapshot at %d: %w", md.GetIndex(), err)
		}
		n.confState = md.GetConfState()
		n.members.Store(n.confState)
		l.applied, l.appliedTerm, l.snapIndex = md.GetIndex(), md.GetTerm(), md.GetIndex()
	}
	for _, e := range rd.CommittedEntries {
		if err := l.applyEntry(e); err != nil {
			return err
		}
	}
	for _, rs := range rd.ReadStates {
		if len(rs.RequestCtx) == requestIDSize {
			n.finish(binary.BigEndian.Uint64(rs.RequestCtx), result{index: rs.Index})
		}
	}
	n.rn.Advance(rd)
	l.publish()
	l.maybeReady()
	if l.applied-l.snapIndex >= n.cfg.SnapshotEvery {
		return l.takeSnapshot()
	}
	return nil
}

// persistSnapshot saves a snapshot received from the leader and resets the
// WAL, whose entries it supersedes.
func (l *loop) persistSnapshot(snap *pb.Snapshot) error {
	if err := saveSnapshot(l.n.dir, snap); err != nil {
		return err
	}
	if err := l.n.storage.ApplySnapshot(snap); err != nil {
		return fmt.Errorf("store snapshot: %w", err)
	}
	return l.wal.rewrite(nil, l.n.hs)
}

func (l *loop) applyEntry(e *pb.Entry) error {
	n := l.n
	index := e.GetIndex()
	switch e.GetType() {
	case pb.EntryNormal:
		data := e.GetData()
		switch {
		case len(data) == 0: // a new leader's empty entry
		case len(data) < requestIDSize:
			n.logger.Error("metadata log entry without request id", "index", index, "bytes", len(data))
		default:
			id, payload := binary.BigEndian.Uint64(data), data[requestIDSize:]
			var err error
			if id == guardedID {
				if len(payload) < guardedExtra {
					n.logger.Error("metadata log entry with a short guard", "index", index, "bytes", len(data))
					break
				}
				id = binary.BigEndian.Uint64(payload)
				if term := binary.BigEndian.Uint64(payload[8:]); term != e.GetTerm() {
					err = fmt.Errorf("%w: proposed in term %d, committed in term %d", ErrNotLeader, term, e.GetTerm())
				}
				payload = payload[guardedExtra:]
			}
			if err == nil {
				err = l.apply(index, payload)
			}
			if err != nil {
				n.logger.Debug("metadata log entry rejected", "index", index, "err", err)
			}
			n.finish(id, result{index: index, err: err})
		}
	case pb.EntryConfChange:
		var cc pb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("%w: conf change at %d: %v", ErrCorrupt, index, err)
		}
		l.setMembers(index, n.rn.ApplyConfChange(&cc))
	case pb.EntryConfChangeV2:
		var cc pb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			return fmt.Errorf("%w: conf change at %d: %v", ErrCorrupt, index, err)
		}
		l.setMembers(index, n.rn.ApplyConfChange(&cc))
	}
	l.applied, l.appliedTerm = index, e.GetTerm()
	return nil
}

// setMembers takes the membership a conf change at index applied: Members
// returns it, and a transport that checks voters (the network) gets them.
func (l *loop) setMembers(index uint64, cs *pb.ConfState) {
	n := l.n
	n.confState = cs
	n.members.Store(cs)
	if index > n.openedLast {
		setVoters(n.cfg.Transport, cs.GetVoters())
	}
	n.logger.Info("metadata quorum membership", "index", index, "voters", cs.GetVoters(), "learners", cs.GetLearners())
}

// publish stores the node's status for Status and Leader, logs a change of
// leader, and, until the node is ready, says once a second that it waits
// for a quorum.
func (l *loop) publish() {
	n := l.n
	var st *Status
	if n.rn.BasicStatus().RaftState == raft.StateLeader {
		full := n.rn.Status()
		st = &Status{Progress: make([]Progress, 0, len(full.Progress))}
		for id, pr := range full.Progress {
			st.Progress = append(st.Progress, Progress{ID: id, Match: pr.Match, Learner: pr.IsLearner, RecentActive: pr.RecentActive})
		}
		slices.SortFunc(st.Progress, func(a, b Progress) int { return cmp.Compare(a.ID, b.ID) })
	} else {
		st = &Status{}
	}
	bs := n.rn.BasicStatus()
	st.ID, st.Term, st.Leader, st.State = n.cfg.ID, bs.GetTerm(), bs.Lead, bs.RaftState.String()
	st.Commit, st.Applied = bs.GetCommit(), l.applied
	st.Last, _ = n.storage.LastIndex()
	n.status.Store(st)
	n.mu.Lock()
	close(n.appliedc)
	n.appliedc = make(chan struct{})
	n.mu.Unlock()
	if st.Leader != l.leader {
		if st.Leader != raft.None {
			n.logger.Info("metadata quorum leader", "leader", st.Leader, "term", st.Term, "self", st.Leader == n.cfg.ID)
		}
		l.leader = st.Leader
	}
	if !l.readyClosed && time.Since(l.lastWaitLog) >= time.Second && time.Since(l.start) >= time.Second {
		l.lastWaitLog = time.Now()
		n.logger.Warn("waiting for the metadata quorum: no leader reachable yet", "term", st.Term, "state", st.State,
			"voters", n.confState.GetVoters(), "waited", time.Since(l.start).Round(time.Second))
	}
}

// maybeReady closes Ready once an entry of the current term is applied.
func (l *loop) maybeReady() {
	if l.readyClosed {
		return
	}
	st := l.n.rn.BasicStatus()
	if st.Lead == raft.None || l.appliedTerm != st.HardState.GetTerm() {
		return
	}
	l.readyClosed = true
	close(l.n.ready)
	l.n.logger.Info("metadata log ready", "applied", l.applied, "term", l.appliedTerm,
		"leader", st.Lead, "took", time.Since(l.start))
}

// takeSnapshot snapshots the state machine at the applied index, saves it,
// compacts the in-memory log and rewrites the WAL with what follows it.
func (l *loop) takeSnapshot() error {
	n := l.n
	data, err := l.snapshot()
	if err != nil {
		n.logger.Warn("metadata snapshot failed; will retry", "applied", l.applied, "err", err)
		return nil
	}
	snap, err := n.storage.CreateSnapshot(l.applied, n.confState, data)
	if err != nil {
		return fmt.Errorf("create snapshot at %d: %w", l.applied, err)
	}
	if err := saveSnapshot(n.dir, snap); err != nil {
		return err
	}
	if err := n.storage.Compact(l.applied); err != nil && !errors.Is(err, raft.ErrCompacted) {
		return fmt.Errorf("compact log at %d: %w", l.applied, err)
	}
	first, _ := n.storage.FirstIndex()
	last, _ := n.storage.LastIndex()
	var rest []*pb.Entry
	if last >= first {
		if rest, err = n.storage.Entries(first, last+1, math.MaxUint64); err != nil {
			return fmt.Errorf("read entries after snapshot: %w", err)
		}
	}
	if err := l.wal.rewrite(rest, n.hs); err != nil {
		return err
	}
	l.snapIndex = l.applied
	n.logger.Debug("metadata snapshot", "index", l.applied, "bytes", len(data), "entries kept", len(rest))
	return nil
}

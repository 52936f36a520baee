package raft

import (
	"encoding/binary"
	"fmt"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Our own encodings of the few raftpb messages we persist: entries, the hard
// state and snapshot metadata. They are specified in
// docs/format/metadata-log.md; we do not store protobuf bytes so that the
// on-disk format does not depend on the raftpb version.

func appendEntry(b []byte, e *pb.Entry) []byte {
	b = binary.AppendUvarint(b, e.GetTerm())
	b = binary.AppendUvarint(b, e.GetIndex())
	b = binary.AppendUvarint(b, uint64(e.GetType()))
	return append(b, e.GetData()...)
}

func decodeEntry(b []byte) (*pb.Entry, error) {
	d := reader{b: b}
	term, index, typ := d.uvarint(), d.uvarint(), d.uvarint()
	if d.bad || typ > uint64(pb.EntryConfChangeV2) {
		return nil, fmt.Errorf("%w: bad entry", ErrCorrupt)
	}
	e := &pb.Entry{Term: new(term), Index: new(index), Type: pb.EntryType(typ).Enum()}
	if len(d.b) > 0 {
		e.Data = append([]byte(nil), d.b...)
	}
	return e, nil
}

func appendHardState(b []byte, hs *pb.HardState) []byte {
	b = binary.AppendUvarint(b, hs.GetTerm())
	b = binary.AppendUvarint(b, hs.GetVote())
	return binary.AppendUvarint(b, hs.GetCommit())
}

func decodeHardState(b []byte) (*pb.HardState, error) {
	d := reader{b: b}
	term, vote, commit := d.uvarint(), d.uvarint(), d.uvarint()
	if d.bad || len(d.b) != 0 {
		return nil, fmt.Errorf("%w: bad hard state", ErrCorrupt)
	}
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}, nil
}

// appendSnapshot encodes a snapshot: index, term, the conf state, then the
// state machine's data to the end.
func appendSnapshot(b []byte, s *pb.Snapshot) []byte {
	md := s.GetMetadata()
	b = binary.AppendUvarint(b, md.GetIndex())
	b = binary.AppendUvarint(b, md.GetTerm())
	cs := md.GetConfState()
	for _, ids := range [][]uint64{cs.GetVoters(), cs.GetLearners(), cs.GetVotersOutgoing(), cs.GetLearnersNext()} {
		b = binary.AppendUvarint(b, uint64(len(ids)))
		for _, id := range ids {
			b = binary.AppendUvarint(b, id)
		}
	}
	autoLeave := byte(0)
	if cs.GetAutoLeave() {
		autoLeave = 1
	}
	b = append(b, autoLeave)
	return append(b, s.GetData()...)
}

func decodeSnapshot(b []byte) (*pb.Snapshot, error) {
	d := reader{b: b}
	index, term := d.uvarint(), d.uvarint()
	var lists [4][]uint64
	for i := range lists {
		n := d.uvarint()
		if n > uint64(len(d.b)) {
			return nil, fmt.Errorf("%w: bad snapshot conf state", ErrCorrupt)
		}
		for range n {
			lists[i] = append(lists[i], d.uvarint())
		}
	}
	if d.bad || len(d.b) == 0 || d.b[0] > 1 {
		return nil, fmt.Errorf("%w: bad snapshot metadata", ErrCorrupt)
	}
	cs := &pb.ConfState{Voters: lists[0], Learners: lists[1], VotersOutgoing: lists[2], LearnersNext: lists[3], AutoLeave: new(d.b[0] == 1)}
	return &pb.Snapshot{
		Metadata: &pb.SnapshotMetadata{Index: new(index), Term: new(term), ConfState: cs},
		Data:     append([]byte(nil), d.b[1:]...),
	}, nil
}

// reader reads uvarints with a sticky failure flag.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

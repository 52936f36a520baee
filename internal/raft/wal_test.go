package raft

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

func entry(term, index uint64, data string) *pb.Entry {
	return &pb.Entry{Term: new(term), Index: new(index), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *pb.HardState {
	return &pb.HardState{Term: new(term), Vote: new(vote), Commit: new(commit)}
}

func TestSplitFrames(t *testing.T) {
	three := encodeRecords(nil, []*pb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, nil)
	frame := len(three) / 3
	flip := func(at int) []byte {
		b := bytes.Clone(three)
		b[at] ^= 0x01
		return b
	}
	tests := []struct {
		name      string
		in        []byte
		wantValid int
		wantErr   error
	}{
		{"empty", nil, 0, nil},
		{"whole", three, len(three), nil},
		{"torn last body", three[:len(three)-1], 2 * frame, nil},
		{"torn last header", three[:2*frame+3], 2 * frame, nil},
		{"bad checksum last", flip(len(three) - 1), 2 * frame, nil},
		{"zeros after", append(bytes.Clone(three), make([]byte, 64)...), len(three), nil},
		{"bad length last", flip(2*frame + 1), 2 * frame, nil},
		{"bad body in the middle", flip(frame + frameHeader), 0, ErrCorrupt},
		{"bad checksum in the middle", flip(frame + 4), 0, ErrCorrupt},
		{"bad first, rest good", flip(frameHeader + 1), 0, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, valid, err := splitFrames(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if err == nil && valid != tt.wantValid {
				t.Fatalf("got %d valid bytes, want %d", valid, tt.wantValid)
			}
		})
	}
}

func TestReadWALReplacesConflictingEntries(t *testing.T) {
	dir := t.TempDir()
	b := encodeRecords(nil, []*pb.Entry{entry(1, 1, "a"), entry(1, 2, "b"), entry(1, 3, "c")}, hardState(1, 1, 1))
	b = encodeRecords(b, []*pb.Entry{entry(2, 2, "B")}, hardState(2, 1, 2))
	if err := os.WriteFile(filepath.Join(dir, walName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	wc, err := readWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range wc.entries {
		got = append(got, string(e.GetData()))
	}
	if !equal(got, []string{"a", "B"}) || wc.hs.GetCommit() != 2 || wc.hs.GetTerm() != 2 {
		t.Fatalf("got entries %v and hard state %v, want [a B] and commit 2 term 2", got, wc.hs)
	}
}

func TestReadWALGap(t *testing.T) {
	dir := t.TempDir()
	b := encodeRecords(nil, []*pb.Entry{entry(1, 1, "a"), entry(1, 3, "c")}, nil)
	if err := os.WriteFile(filepath.Join(dir, walName), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readWAL(dir); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("got %v, want ErrCorrupt", err)
	}
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	want := &pb.Snapshot{
		Data: []byte("state"),
		Metadata: &pb.SnapshotMetadata{Index: new(uint64(7)), Term: new(uint64(3)),
			ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, AutoLeave: new(true)}},
	}
	if err := saveSnapshot(dir, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadSnapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	md := got.GetMetadata()
	if md.GetIndex() != 7 || md.GetTerm() != 3 || string(got.GetData()) != "state" ||
		len(md.GetConfState().GetVoters()) != 3 || md.GetConfState().GetLearners()[0] != 4 || !md.GetConfState().GetAutoLeave() {
		t.Fatalf("got %v, want %v", got, want)
	}
	if s, err := loadSnapshot(t.TempDir()); s != nil || err != nil {
		t.Fatalf("got %v, %v for a directory without a snapshot, want nil, nil", s, err)
	}
}

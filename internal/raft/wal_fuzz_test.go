package raft

import (
	"bytes"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
)

// FuzzParseWAL checks the WAL recovery path on arbitrary file contents: it
// never panics; when it succeeds, the valid prefix parses to the same
// entries and hard state with nothing torn.
func FuzzParseWAL(f *testing.F) {
	good := encodeRecords(nil, []*pb.Entry{entry(1, 1, "a"), entry(1, 2, "bb")}, hardState(1, 1, 2))
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(append(bytes.Clone(good), 0, 0, 0, 0, 0, 0, 0, 0, 1))
	f.Add(encodeRecords(good, []*pb.Entry{entry(2, 2, "c")}, nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		first, valid, err := parseWAL(b)
		if err != nil {
			return
		}
		if int64(valid)+first.torn != int64(len(b)) {
			t.Fatalf("got %d valid and %d torn bytes of %d", valid, first.torn, len(b))
		}
		again, valid2, err := parseWAL(b[:valid])
		if err != nil || valid2 != valid || again.torn != 0 || len(again.entries) != len(first.entries) ||
			again.hs.GetCommit() != first.hs.GetCommit() {
			t.Fatalf("valid prefix: got %+v, %v; want the same contents", again, err)
		}
		for i, e := range again.entries {
			if e.GetIndex() != first.entries[i].GetIndex() || !bytes.Equal(e.GetData(), first.entries[i].GetData()) {
				t.Fatalf("entry %d differs", i)
			}
		}
	})
}

// FuzzDecodeSnapshot checks that a snapshot body never makes the decoder
// panic and that what it accepts survives a round trip unchanged.
func FuzzDecodeSnapshot(f *testing.F) {
	f.Add(appendSnapshot(nil, &pb.Snapshot{Data: []byte("d"), Metadata: &pb.SnapshotMetadata{
		Index: new(uint64(3)), Term: new(uint64(2)), ConfState: &pb.ConfState{Voters: []uint64{1}}}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapshot(b)
		if err != nil {
			return
		}
		enc := appendSnapshot(nil, s)
		again, err := decodeSnapshot(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if got := appendSnapshot(nil, again); !bytes.Equal(got, enc) {
			t.Fatalf("got %x after a round trip, want %x", got, enc)
		}
	})
}

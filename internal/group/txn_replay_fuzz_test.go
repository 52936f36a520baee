package group

import (
	"maps"
	"reflect"
	"testing"
	"time"
)

// FuzzReplayTxn replays __consumer_offsets logs of plain and transactional
// offset commits, COMMIT and ABORT markers, tombstones and undecodable
// transactional records, decoded from the input 3 bytes per record, as a
// coordinator loads a partition. Every commit writes a distinct offset (its
// position in the log), so each offset the replay ends with names the
// record it came from.
//
// Invariants:
//   - nothing panics; an undecodable record is an error and changes nothing;
//   - an offset the group ends with comes from a plain commit or from a
//     transaction whose producer's next marker is a COMMIT: never from an
//     aborted or still open transaction;
//   - a producer's offsets are pending exactly while no marker followed
//     them, and are the last ones it wrote per partition;
//   - without tombstones, a partition's committed offset is the newest in
//     log order of those visible (plain, or of a committed transaction), as
//     Kafka's loader decides with its olderThan check.
func FuzzReplayTxn(f *testing.F) {
	f.Add([]byte{})
	// producer 1 commits p0, producer 2 commits p0 and aborts, a plain
	// commit of p1, producer 1's COMMIT.
	f.Add([]byte{1, 1, 0, 1, 2, 0, 3, 2, 0, 0, 0, 1, 2, 1, 0})
	// a plain commit after a transactional one of the same partition,
	// then the transaction commits: the plain one stays.
	f.Add([]byte{1, 1, 0, 0, 0, 0, 2, 1, 0})
	f.Add([]byte{1, 1, 0, 4, 0, 0, 5, 1, 0, 2, 1, 0, 6, 3, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxRecords = 64
		if len(data) > 3*maxRecords {
			data = data[:3*maxRecords]
		}
		var (
			recs       []LogRecord
			writes     []replayWrite
			tombstones bool
		)
		open := map[int64][]int{} // producer -> indexes in writes since its last marker
		for i := 0; i+3 <= len(data); i += 3 {
			op, pid, tp := data[i]%7, int64(data[i+1]%3+1), TopicPartition{Topic: "t", Partition: int32(data[i+2] % 3)}
			pos := len(recs)
			switch op {
			case 0: // plain commit
				r := offsetRecord("g", tp, &Offset{Offset: int64(pos), LeaderEpoch: -1})
				recs = append(recs, LogRecord{Key: r.Key, Value: r.Value, ProducerID: -1})
				writes = append(writes, replayWrite{pos: pos, pid: -1, tp: tp, visible: true})
			case 1: // transactional commit
				r := offsetRecord("g", tp, &Offset{Offset: int64(pos), LeaderEpoch: -1})
				recs = append(recs, LogRecord{Key: r.Key, Value: r.Value, ProducerID: pid, Transactional: true})
				open[pid] = append(open[pid], len(writes))
				writes = append(writes, replayWrite{pos: pos, pid: pid, tp: tp})
			case 2, 3: // COMMIT, ABORT
				for _, w := range open[pid] {
					writes[w].visible = op == 2
				}
				delete(open, pid)
				recs = append(recs, LogRecord{ProducerID: pid, Transactional: true, Control: true, Commit: op == 2})
			case 4: // plain tombstone
				tombstones = true
				r := offsetRecord("g", tp, nil)
				recs = append(recs, LogRecord{Key: r.Key, ProducerID: -1})
			case 5: // transactional tombstone
				tombstones = true
				r := offsetRecord("g", tp, nil)
				recs = append(recs, LogRecord{Key: r.Key, ProducerID: pid, Transactional: true})
			case 6: // an undecodable transactional record: a key of the input's bytes
				recs = append(recs, LogRecord{Key: data[i+1 : i+3], Value: data[i : i+2], ProducerID: pid, Transactional: true})
			}
		}

		r := newReplay()
		for i, rec := range recs {
			offsets, txn := maps.Clone(r.offsets["g"]), cloneTxn(r.txn)
			if err := r.applyRecord(rec); err != nil {
				if !reflect.DeepEqual(r.offsets["g"], offsets) || !reflect.DeepEqual(r.txn, txn) {
					t.Fatalf("record %d failed (%v) but changed the replay", i, err)
				}
			}
		}
		for _, g := range r.groups(time.Unix(1_700_000_000, 0)) {
			g.Members()
		}

		byPos := map[int64]replayWrite{}
		for _, w := range writes {
			byPos[int64(w.pos)] = w
		}
		for tp, o := range r.offsets["g"] {
			w, ok := byPos[o.Offset]
			if !ok || !w.visible || w.tp != tp {
				t.Fatalf("partition %v: committed offset %d comes from no visible commit of it (%+v)", tp, o.Offset, w)
			}
		}
		for pid, byGroup := range r.txn {
			for tp, o := range byGroup["g"] {
				w, ok := byPos[o.Offset]
				if !ok || w.pid != pid || w.tp != tp || !contains(open[pid], writes, w.pos) {
					t.Fatalf("producer %d partition %v: pending offset %d is not one of its open writes", pid, tp, o.Offset)
				}
			}
		}
		if tombstones {
			return
		}
		for pid, idx := range open {
			last := map[TopicPartition]int64{}
			for _, w := range idx {
				last[writes[w].tp] = int64(writes[w].pos)
			}
			got := map[TopicPartition]int64{}
			for tp, o := range r.txn[pid]["g"] {
				got[tp] = o.Offset
			}
			if !maps.Equal(got, last) {
				t.Fatalf("producer %d: pending %v, want its last open writes %v", pid, got, last)
			}
		}
		want := map[TopicPartition]int64{}
		for _, w := range writes {
			if w.visible {
				want[w.tp] = int64(w.pos) // writes are in log order: the last wins
			}
		}
		got := map[TopicPartition]int64{}
		for tp, o := range r.offsets["g"] {
			got[tp] = o.Offset
		}
		if !maps.Equal(got, want) {
			t.Fatalf("committed offsets: got %v, want %v", got, want)
		}
	})
}

// replayWrite is one offset commit of FuzzReplayTxn's log.
type replayWrite struct {
	pos     int   // position in the log, and the offset committed
	pid     int64 // -1: plain
	tp      TopicPartition
	visible bool // plain, or the producer's next marker is a COMMIT
}

// contains reports whether one of writes at the indexes idx is at log
// position pos.
func contains(idx []int, writes []replayWrite, pos int) bool {
	for _, i := range idx {
		if writes[i].pos == pos {
			return true
		}
	}
	return false
}

// cloneTxn copies the replay's pending transactional offsets.
func cloneTxn(m map[int64]map[string]map[TopicPartition]Offset) map[int64]map[string]map[TopicPartition]Offset {
	out := make(map[int64]map[string]map[TopicPartition]Offset, len(m))
	for pid, byGroup := range m {
		out[pid] = make(map[string]map[TopicPartition]Offset, len(byGroup))
		for g, offs := range byGroup {
			out[pid][g] = maps.Clone(offs)
		}
	}
	return out
}

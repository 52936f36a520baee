package commitlog

import (
	"errors"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
)

// TestAppendReplica appends batches at the offsets a leader gave them, with
// the gaps its compaction left, across a roll and a restart, and refuses one
// below the log end offset.
func TestAppendReplica(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	tl := openTest(t, newMemFS(), cfg, Options{})
	var want []int64
	for _, base := range []int64{0, 3, 10, 11, 40, 41, 42, 90} {
		b := batchOf(t, 1, 1500, 1000)
		recordbatch.PutBaseOffset(b, base)
		res, _, err := tl.AppendReplica(b)
		if err != nil {
			t.Fatalf("append at %d: %v", base, err)
		}
		if res.BaseOffset != base {
			t.Fatalf("appended at %d, want %d", res.BaseOffset, base)
		}
		want = append(want, base)
	}
	check := func() {
		t.Helper()
		if tl.EndOffset() != 91 {
			t.Fatalf("end offset %d, want 91", tl.EndOffset())
		}
		var got []int64
		for _, b := range batches(t, tl.readAll(0)) {
			h, _ := recordbatch.ReadHeader(b)
			got = append(got, h.BaseOffset)
		}
		if len(got) != len(want) {
			t.Fatalf("read batches at %v, want %v", got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("read batches at %v, want %v", got, want)
			}
		}
		if res := tl.readAll(41); len(batches(t, res)) != 3 {
			t.Fatalf("read from 41: %d batches, want 3", len(batches(t, res)))
		}
	}
	check()
	if tl.SegmentCount() < 2 {
		t.Fatalf("%d segments, want a roll", tl.SegmentCount())
	}
	b := batchOf(t, 1, 10, 1000)
	recordbatch.PutBaseOffset(b, 90)
	if _, _, err := tl.AppendReplica(b); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("append below the end: got %v, want ErrOffsetOutOfRange", err)
	}
	tl.reopen(false)
	check()
}

// TestAppendUnsyncedAndFlushed checks that AppendUnsynced reports when the
// flush policy wants an fsync, and that SyncTo makes it durable.
func TestAppendUnsyncedAndFlushed(t *testing.T) {
	cfg := testConfig()
	cfg.FlushMessages = 2
	tl := openTest(t, newMemFS(), cfg, Options{})
	_, need, err := tl.AppendUnsynced(batchOf(t, 1, 10, 1000))
	if err != nil || need {
		t.Fatalf("first record: need sync %v, %v; want false", need, err)
	}
	res, need, err := tl.AppendUnsynced(batchOf(t, 1, 10, 1000))
	if err != nil || !need {
		t.Fatalf("second record: need sync %v, %v; want true", need, err)
	}
	if tl.Flushed() != 0 {
		t.Fatalf("flushed %d before SyncTo", tl.Flushed())
	}
	if err := tl.SyncTo(res.LastOffset + 1); err != nil {
		t.Fatal(err)
	}
	if tl.Flushed() != 2 {
		t.Fatalf("flushed %d, want 2", tl.Flushed())
	}
}

// TestReset empties a log and starts it at another offset, durably.
func TestReset(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 4096
	fsys := newMemFS()
	tl := openTest(t, fsys, cfg, Options{})
	tl.appendN(10, 1, 1500, 1000)
	if err := tl.Reset(500); err != nil {
		t.Fatal(err)
	}
	for _, l := range []*Log{tl.Log} {
		if l.StartOffset() != 500 || l.EndOffset() != 500 || l.Size() != 0 || l.SegmentCount() != 1 {
			t.Fatalf("after reset: start %d end %d size %d segments %d", l.StartOffset(), l.EndOffset(), l.Size(), l.SegmentCount())
		}
	}
	b := batchOf(t, 2, 10, 1000)
	recordbatch.PutBaseOffset(b, 500)
	if _, _, err := tl.AppendReplica(b); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.Read(499, 1<<20, 1<<40); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the new start: %v", err)
	}
	tl.reopen(false)
	if tl.StartOffset() != 500 || tl.EndOffset() != 502 {
		t.Fatalf("after a crash: start %d end %d, want 500 502", tl.StartOffset(), tl.EndOffset())
	}
	// Back to 0 again, onto a base offset a segment already had.
	if err := tl.Reset(0); err != nil {
		t.Fatal(err)
	}
	tl.appendN(1, 1, 10, 1000)
	tl.reopen(true)
	if tl.StartOffset() != 0 || tl.EndOffset() != 1 {
		t.Fatalf("after reset to 0: start %d end %d", tl.StartOffset(), tl.EndOffset())
	}
}

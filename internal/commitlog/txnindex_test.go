package commitlog

import (
	"errors"
	"reflect"
	"testing"
)

// abortedLog appends 10 batches of 2 records (offsets 0-19, batch i at
// 2i) across segments of 3 batches each, and indexes three aborts.
func abortedLog(t *testing.T, m *memFS) (*tlog, []AbortedTxn) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = int64(3 * len(batchOf(t, 2, 10, 0)))
	tl := openTest(t, m, cfg, Options{})
	tl.appendN(10, 2, 10, 1000)
	es := []AbortedTxn{
		{ProducerID: 1, FirstOffset: 0, LastOffset: 4, LastStableOffset: 2},
		{ProducerID: 2, FirstOffset: 2, LastOffset: 8, LastStableOffset: 9},
		{ProducerID: 3, FirstOffset: 12, LastOffset: 16, LastStableOffset: 17},
	}
	for _, e := range es {
		if err := tl.AddAbortedTxn(e); err != nil {
			t.Fatal(err)
		}
	}
	if tl.SegmentCount() < 3 {
		t.Fatalf("got %d segments, want the aborts spread over several", tl.SegmentCount())
	}
	return tl, es
}

func TestAbortedTxns(t *testing.T) {
	tl, es := abortedLog(t, newMemFS())
	tests := []struct {
		from, upper int64
		want        []AbortedTxn
	}{
		{0, 20, es},
		{0, 1, es[:1]},   // producer 2 starts at 2; the first entry's LSO 2 >= 1 stops the search
		{5, 12, es[1:2]}, // producer 1's marker is before 5; producer 3 starts at 12
		{9, 20, es[2:]},  // producer 2's marker is at 8
		{17, 20, nil},    // every marker is before 17
		{13, 14, es[2:]}, // inside producer 3's transaction
		{0, 2, es[:1]},   // the first entry's LSO 2 stops the search at upper 2
	}
	for _, tt := range tests {
		if got := tl.AbortedTxns(tt.from, tt.upper); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("AbortedTxns(%d, %d): got %+v, want %+v", tt.from, tt.upper, got, tt.want)
		}
	}
	// Adding an entry again changes nothing; one outside the log fails.
	if err := tl.AddAbortedTxn(es[1]); err != nil || !reflect.DeepEqual(tl.AbortedTxns(0, 20), es) {
		t.Fatalf("re-adding an entry: %v, index %+v", err, tl.AbortedTxns(0, 20))
	}
	if err := tl.AddAbortedTxn(AbortedTxn{ProducerID: 1, FirstOffset: 5, LastOffset: 20}); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("entry past the log end: got %v, want ErrOffsetOutOfRange", err)
	}
}

// TestAbortedTxnsRecover: the index survives a clean restart and a crash
// after SyncAbortedTxns; a crash before it loses the unsynced entries (the
// partition adds them again); a torn tail and entries past a truncated log
// end are cut; Truncate and retention drop the entries with their records.
func TestAbortedTxnsRecover(t *testing.T) {
	m := newMemFS()
	tl, es := abortedLog(t, m)
	tl.reopen(true)
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, es) {
		t.Fatalf("after a clean restart: got %+v, want %+v", got, es)
	}
	e4 := AbortedTxn{ProducerID: 4, FirstOffset: 18, LastOffset: 19, LastStableOffset: 20}
	if err := tl.AddAbortedTxn(e4); err != nil {
		t.Fatal(err)
	}
	if err := tl.SyncAbortedTxns(); err != nil {
		t.Fatal(err)
	}
	m.Crash()
	tl.reopen(false)
	want := append(es[:3:3], e4)
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a crash: got %+v, want %+v", got, want)
	}

	// A torn entry and one past the segment's end are cut at recovery.
	name := segPath(18, txnIndexSuffix)
	b, _ := m.read(name)
	b = appendAbortedTxn(b, AbortedTxn{ProducerID: 5, FirstOffset: 19, LastOffset: 40, LastStableOffset: 41})
	m.write(name, append(b, 0, 0, 1))
	tl.reopen(false)
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a torn index: got %+v, want %+v", got, want)
	}
	if b2, _ := m.read(name); len(b2) != abortedTxnSize {
		t.Fatalf("index file holds %d bytes, want one entry", len(b2))
	}

	if err := tl.Truncate(16); err != nil {
		t.Fatal(err)
	}
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, es[:2]) {
		t.Fatalf("after Truncate(16): got %+v, want %+v", got, es[:2])
	}
	if fileExists(t, m, name) {
		t.Fatalf("%s outlived its segment", name)
	}
	tl.reopen(false)
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, es[:2]) {
		t.Fatalf("after Truncate and a restart: got %+v, want %+v", got, es[:2])
	}
	if err := tl.SetStartOffset(7); err != nil {
		t.Fatal(err)
	}
	if got := tl.AbortedTxns(0, 20); !reflect.DeepEqual(got, es[1:2]) {
		t.Fatalf("after deleting the first segment: got %+v, want %+v", got, es[1:2])
	}
}

package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/recordbatch"
)

// txnLog is a compacted log with transactions written as a partition
// writes them: data batches of producers, markers, and an index entry for
// every abort.
type txnLog struct {
	*tlog
	m     *model
	clock *fakeClock
	first map[int64]int64 // producer -> first offset of its ongoing transaction
	seq   map[int64]int32 // producer -> next sequence
	// aborted are the records of aborted transactions, by offset.
	aborted map[int64]bool
	// latestAt is the offset of each key's latest value in the model.
	latestAt map[string]int64
	// lastData is each producer's last data batch, as a partition tells
	// the cleaner (epochs are all 0).
	lastData map[int64]ProducerLast
}

func openTxnLog(t *testing.T, fsys FS) *txnLog {
	t.Helper()
	cfg := compactConfig()
	cfg.FlushMessages = 1 // every acknowledged append is durable
	cfg.SegmentBytes = 700
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 1000
	clock := newClock()
	return &txnLog{tlog: openTest(t, fsys, cfg, Options{Now: clock.Now}), m: newModel(), clock: clock,
		first: map[int64]int64{}, seq: map[int64]int32{}, aborted: map[int64]bool{}, latestAt: map[string]int64{}, lastData: map[int64]ProducerLast{}}
}

// produce appends records kvs from producer pid (-1: none) in its
// transaction when txn is set, and returns the batch's last offset.
func (tl *txnLog) produce(pid int64, txn bool, kvs ...kv) int64 {
	tl.t.Helper()
	recs := make([]recordbatch.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = recordbatch.Record{Key: r.key, Value: r.value}
	}
	epoch, seq := int16(-1), int32(-1)
	if pid >= 0 {
		epoch, seq = 0, tl.seq[pid]
		tl.seq[pid] += int32(len(kvs))
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: tl.clock.Now().UnixMilli(), ProducerID: pid, ProducerEpoch: epoch,
		BaseSequence: seq, Transactional: txn}, recs)
	if err != nil {
		tl.t.Fatal(err)
	}
	res := tl.append(b)
	if pid >= 0 {
		tl.lastData[pid] = ProducerLast{LastDataOffset: res.LastOffset}
	}
	if _, ongoing := tl.first[pid]; txn && !ongoing {
		tl.first[pid] = res.BaseOffset
	}
	for i, r := range kvs {
		tl.m.written[res.BaseOffset+int64(i)] = r
	}
	return res.LastOffset
}

// end appends pid's marker and, for an abort, indexes it; the model
// learns the transaction's records as latest values only on commit.
func (tl *txnLog) end(pid int64, commit bool) int64 {
	tl.t.Helper()
	b := recordbatch.BuildEndTxnMarker(pid, 0, recordbatch.EndTxnMarker{Commit: commit}, tl.clock.Now().UnixMilli())
	res := tl.append(b)
	if err := recordbatch.Iterate(b, nil, func(r *recordbatch.Record) error {
		tl.m.written[res.BaseOffset] = kv{key: bytes.Clone(r.Key), value: bytes.Clone(r.Value)}
		return nil
	}); err != nil {
		tl.t.Fatal(err)
	}
	first := tl.first[pid]
	delete(tl.first, pid)
	for off := first; off < res.BaseOffset; off++ {
		if r, ok := tl.m.written[off]; ok && r.key != nil && tl.isTxnRecord(pid, off) {
			if commit {
				tl.setLatest(off, r)
			} else {
				tl.aborted[off] = true
			}
		}
	}
	if !commit {
		lso := res.BaseOffset + 1
		for _, f := range tl.first {
			lso = min(lso, f)
		}
		if err := tl.AddAbortedTxn(AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: res.BaseOffset, LastStableOffset: lso}); err != nil {
			tl.t.Fatal(err)
		}
	}
	return res.BaseOffset
}

// isTxnRecord reports whether offset off holds a record of pid's
// transaction, from the batch headers.
func (tl *txnLog) isTxnRecord(pid, off int64) bool {
	res, err := tl.Read(off, 1, off+1)
	if err != nil {
		tl.t.Fatal(err)
	}
	h, err := recordbatch.ReadHeader(res.Data)
	return err == nil && h.ProducerID == pid && h.Transactional() && !h.Control()
}

// plain appends records without a producer; they are latest at once.
func (tl *txnLog) plain(kvs ...kv) {
	tl.t.Helper()
	last := tl.produce(-1, false, kvs...)
	for i, r := range kvs {
		tl.setLatest(last-int64(len(kvs)-1-i), r)
	}
}

// setLatest makes record r at offset off its key's latest value in the
// model unless a later offset has one: compaction goes by offset.
func (tl *txnLog) setLatest(off int64, r kv) {
	if at, ok := tl.latestAt[string(r.key)]; ok && at > off {
		return
	}
	tl.latestAt[string(r.key)] = off
	tl.m.latest[string(r.key)] = r.value
	tl.m.tombstoned[string(r.key)] = r.value == nil
}

// check checks the log against the model, without the records of aborted
// transactions; any of those still in the log must be in a transaction of
// the aborted-transaction index, so that read_committed readers skip it.
func (tl *txnLog) check(compacted bool) {
	tl.t.Helper()
	var recs []readRec
	for _, r := range readRecords(tl.t, tl.Log) {
		if !tl.aborted[r.off] {
			recs = append(recs, r)
			continue
		}
		covered := false
		for _, e := range tl.AbortedTxns(r.off, r.off+1) {
			covered = covered || e.ProducerID == r.hdr.ProducerID && e.FirstOffset <= r.off && r.off < e.LastOffset
		}
		if !covered {
			tl.t.Fatalf("aborted record at %d is in no aborted transaction of the index %+v", r.off, tl.AbortedTxns(0, tl.EndOffset()))
		}
	}
	tl.m.checkRecords(tl.t, recs, compacted)
}

// clean rolls the active segment and runs a pass with opts.
func (tl *txnLog) clean(opts CleanOptions) CleanStats {
	tl.t.Helper()
	forceRoll(tl.t, tl.Log)
	st, err := tl.Clean(tl.t.Context(), opts)
	if err != nil {
		tl.t.Fatalf("clean: %v", err)
	}
	return st
}

// markers returns the control batches in the log by offset.
func (tl *txnLog) markers() map[int64]recordbatch.Header {
	tl.t.Helper()
	out := map[int64]recordbatch.Header{}
	for _, b := range batches(tl.t, tl.readAll(tl.StartOffset())) {
		if h, _ := recordbatch.ReadHeader(b); h.Control() {
			out[h.BaseOffset] = h
		}
	}
	return out
}

// TestCleanTransactions: a pass removes the records of aborted
// transactions, which neither hide an earlier value of their key nor stay
// as its latest; markers stay while their transaction has batches, then get
// a delete horizon, then go; the aborted-transaction index follows, also
// across a crash.
func TestCleanTransactions(t *testing.T) {
	mem := newMemFS()
	tl := openTxnLog(t, mem)
	tl.plain(keyed("k1", "v0"), keyed("k2", "v0"))
	tl.produce(1, true, keyed("k1", "committed"))
	tl.produce(2, true, keyed("k1", "aborted"), keyed("k2", "aborted"))
	tl.produce(3, true, keyed("k3", "committed"))
	tl.produce(2, true, keyed("k3", "aborted"))
	commit1 := tl.end(1, true)
	abort2 := tl.end(2, false)
	commit3 := tl.end(3, true)
	tl.plain(keyed("k4", "v0"))
	entry := tl.AbortedTxns(0, tl.EndOffset())
	if len(entry) != 1 || len(tl.aborted) != 3 {
		t.Fatalf("index %+v, %d aborted records; want one transaction of 3", entry, len(tl.aborted))
	}

	// Pass 1 removes the aborted records; every marker stays, as do the
	// index entry of the transaction whose records it removed.
	st := tl.clean(CleanOptions{})
	if st.AbortedRemoved != 3 || st.MarkersRemoved != 0 {
		t.Fatalf("pass 1: %+v, want 3 aborted records removed and no marker", st)
	}
	tl.check(false)
	for _, r := range readRecords(t, tl.Log) {
		if tl.aborted[r.off] {
			t.Fatalf("aborted record at %d survived", r.off)
		}
	}
	if got := tl.AbortedTxns(0, tl.EndOffset()); !reflect.DeepEqual(got, entry) {
		t.Fatalf("pass 1 index: got %+v, want %+v", got, entry)
	}
	ms := tl.markers()
	for _, off := range []int64{commit1, abort2, commit3} {
		if h, ok := ms[off]; !ok || h.HasDeleteHorizon() {
			t.Fatalf("pass 1: marker at %d: %+v (found %v), want it kept without horizon", off, h, ok)
		}
	}

	// Pass 2: the abort has no records left: its marker gets a horizon and
	// its index entry goes. The commits still have theirs.
	tl.plain(keyed("k4", "v1"))
	tl.clean(CleanOptions{})
	if got := tl.AbortedTxns(0, tl.EndOffset()); len(got) != 0 {
		t.Fatalf("pass 2 index: got %+v, want none", got)
	}
	ms = tl.markers()
	if h := ms[abort2]; !h.HasDeleteHorizon() || h.BaseTimestamp != tl.nowMs()+1000 {
		t.Fatalf("pass 2: abort marker %+v, want a delete horizon at now+1000", h)
	}
	if ms[commit1].HasDeleteHorizon() || ms[commit3].HasDeleteHorizon() {
		t.Fatalf("pass 2: commit markers got a horizon while their records stay")
	}

	// Producer 1's only record is superseded: pass 3 removes it (its
	// marker stays, as the pass read its batch), pass 4 gives the marker
	// a horizon; past the horizon pass 5 removes both markers.
	tl.plain(keyed("k1", "v2"))
	tl.clean(CleanOptions{})
	if ms = tl.markers(); ms[commit1].HasDeleteHorizon() {
		t.Fatalf("pass 3: commit marker of a transaction whose batch the pass read has a horizon")
	}
	tl.plain(keyed("k4", "v3"))
	tl.clean(CleanOptions{})
	if ms = tl.markers(); !ms[commit1].HasDeleteHorizon() || ms[commit3].HasDeleteHorizon() {
		t.Fatalf("pass 4: markers %+v, want a horizon on producer 1's commit only", ms)
	}
	tl.clock.Advance(999 * time.Millisecond)
	if st = tl.clean(CleanOptions{}); st.MarkersRemoved != 0 {
		t.Fatalf("pass before the horizon removed %d markers", st.MarkersRemoved)
	}
	tl.clock.Advance(time.Millisecond)
	if st = tl.clean(CleanOptions{}); st.MarkersRemoved != 2 {
		t.Fatalf("pass at the horizon: %+v, want both markers removed", st)
	}
	ms = tl.markers()
	if _, ok := ms[abort2]; ok || len(ms) != 1 || ms[commit3].HasDeleteHorizon() {
		t.Fatalf("markers left %+v, want producer 3's commit only", ms)
	}
	tl.check(false)

	mem.Crash()
	tl.reopen(false)
	tl.check(false)
	if got := tl.AbortedTxns(0, tl.EndOffset()); len(got) != 0 {
		t.Fatalf("after a crash: index %+v, want none", got)
	}
}

// TestCleanCarriesAbortedIndex: entries of aborted transactions whose
// records a pass removes stay in the cleaned segment's index, including
// across a restart; the others' go with them.
func TestCleanCarriesAbortedIndex(t *testing.T) {
	mem := newMemFS()
	tl := openTxnLog(t, mem)
	tl.produce(1, true, keyed("a", "x"))
	tl.end(1, false)
	tl.plain(keyed("a", "y"))
	tl.clean(CleanOptions{})
	tl.produce(2, true, keyed("b", "x"))
	tl.end(2, false)
	before := tl.AbortedTxns(0, tl.EndOffset())
	tl.clean(CleanOptions{})
	// Producer 1's abort had no records left; producer 2's lost them now.
	want := before[1:]
	if got := tl.AbortedTxns(0, tl.EndOffset()); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	tl.reopen(true)
	if got := tl.AbortedTxns(0, tl.EndOffset()); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a restart: got %+v, want %+v", got, want)
	}
	tl.check(false)
}

// TestCleanKeepsProducersLastBatch: a batch that loses all its records
// stays as a header when it holds its producer's last sequence, or is a
// marker of a producer whose epoch has no data; others go.
func TestCleanKeepsProducersLastBatch(t *testing.T) {
	tl := openTxnLog(t, newMemFS())
	tl.produce(1, false, keyed("a", "1"))
	last1 := tl.produce(1, false, keyed("a", "2"))
	tl.produce(2, true, keyed("b", "1"))
	abort2 := tl.end(2, false)
	tl.plain(keyed("a", "3"))
	producers := map[int64]ProducerLast{1: {LastDataOffset: last1, Epoch: 0}, 2: {LastDataOffset: -1, Epoch: 0}}
	tl.clean(CleanOptions{Producers: producers})
	tl.plain(keyed("c", "1"))
	tl.clean(CleanOptions{Producers: producers}) // the abort marker gets its horizon
	tl.clock.Advance(time.Second)
	if st := tl.clean(CleanOptions{Producers: producers}); st.MarkersRemoved != 1 {
		t.Fatalf("pass after the horizon: %+v, want the marker removed", st)
	}
	var got []recordbatch.Header
	for _, b := range batches(t, tl.readAll(0)) {
		h, _ := recordbatch.ReadHeader(b)
		if h.ProducerID >= 0 {
			got = append(got, h)
		}
	}
	if len(got) != 2 || got[0].LastOffset() != last1 || got[0].NumRecords != 0 || got[0].BaseSequence != 1 ||
		got[1].BaseOffset != abort2 || got[1].NumRecords != 0 || !got[1].Control() || !got[1].Transactional() {
		t.Fatalf("producer batches left %+v, want producer 1's last (sequence 1) and producer 2's marker, both empty", got)
	}
	tl.check(false)

	// Once producer 1 wrote again, its emptied batch goes.
	producers[1] = ProducerLast{LastDataOffset: tl.produce(1, false, keyed("a", "4")), Epoch: 0}
	tl.clean(CleanOptions{Producers: producers})
	for _, b := range batches(t, tl.readAll(0)) {
		if h, _ := recordbatch.ReadHeader(b); h.BaseOffset == last1 {
			t.Fatalf("producer 1's emptied batch %+v outlived its producer's next batch", h)
		}
	}
}

// randomWork appends n batches: records without a producer, and
// transactions of three producers, interleaved, committed or aborted; all
// end, and the index is fsynced.
func (tl *txnLog) randomWork(rng *rand.Rand, n, keys int) {
	tl.t.Helper()
	for range n {
		key := fmt.Sprintf("key-%02d", rng.IntN(keys))
		value := fmt.Sprint(rng.Int64())
		pid := int64(1 + rng.IntN(3))
		_, ongoing := tl.first[pid]
		switch op := rng.IntN(10); {
		case op < 3:
			tl.plain(keyed(key, value))
		case op < 8 || !ongoing:
			tl.produce(pid, true, keyed(key, value))
		default:
			tl.end(pid, rng.IntN(2) == 0)
		}
	}
	for _, pid := range slices.Sorted(maps.Keys(tl.first)) {
		tl.end(pid, rng.IntN(2) == 0)
	}
	if err := tl.SyncAbortedTxns(); err != nil {
		tl.t.Fatal(err)
	}
}

// TestCleanTxnCrashAtEveryStep injects a failure and a crash at every
// mutating file operation of a pass over a log with aborted transactions:
// recovery must always find either the old segments with their
// aborted-transaction indexes or the cleaned ones with theirs, so that no
// aborted record is ever outside an indexed transaction, and a later pass
// must remove them all.
func TestCleanTxnCrashAtEveryStep(t *testing.T) {
	for n := 0; ; n++ {
		mem := newMemFS()
		fsys := newFaultFS(mem)
		tl := openTxnLog(t, fsys)
		tl.randomWork(rand.New(rand.NewPCG(3, 4)), 60, 6)
		forceRoll(t, tl.Log)
		if len(tl.aborted) == 0 || tl.SegmentCount() < 4 {
			t.Fatalf("%d aborted records over %d segments; want some over several", len(tl.aborted), tl.SegmentCount())
		}
		before := fsys.ops
		fsys.failAfter(n)
		_, err := tl.Clean(t.Context(), CleanOptions{})
		used := fsys.ops - before
		if err != nil && !errors.Is(err, errInjected) {
			t.Fatalf("clean with fault after %d operations: %v", n, err)
		}
		fsys.failAfter(-1)
		mem.Crash()
		tl.reopen(false)
		tl.check(false)
		forceRoll(t, tl.Log) // recovery made the last segment active again
		if _, err := tl.Clean(t.Context(), CleanOptions{}); err != nil {
			t.Fatalf("fault after %d: clean after recovery: %v", n, err)
		}
		mem.Crash()
		tl.reopen(false)
		tl.check(false)
		for _, r := range readRecords(t, tl.Log) {
			if tl.aborted[r.off] {
				t.Fatalf("fault after %d: aborted record at %d outlived a full pass", n, r.off)
			}
		}
		if err == nil && used <= n {
			if n < 10 {
				t.Fatalf("pass finished within %d operations; want several swaps", n)
			}
			t.Logf("pass of %d operations", n)
			return
		}
	}
}

// TestCleanTxnModel runs random transactional and plain writes,
// compaction passes, crashes and clock jumps, and checks after every step
// that the log equals the model (aborted records aside, which must be in
// indexed transactions). At the end, with every horizon past, no aborted
// record, index entry or marker of a transaction without records is left.
func TestCleanTxnModel(t *testing.T) {
	runSeeds(t, 30, 6, func(t *testing.T, seed int) {
		rng := rand.New(rand.NewPCG(uint64(seed), 11))
		mem := newMemFS()
		tl := openTxnLog(t, mem)
		keys := 3 + rng.IntN(10)
		var producers map[int64]ProducerLast // with it, the producers' last batches stay
		if seed%2 == 1 {
			producers = tl.lastData
		}
		for range 30 {
			switch op := rng.IntN(10); {
			case op < 5:
				tl.randomWork(rng, 1+rng.IntN(10), keys)
			case op < 7:
				tl.clean(CleanOptions{DedupeBufferBytes: int64(rng.IntN(2) * 200), Producers: producers})
			case op < 8:
				mem.Crash()
				tl.reopen(false)
			default:
				tl.clock.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
			}
			tl.check(false)
		}
		for range 3 {
			tl.plain(keyed("filler", "x")) // makes each pass due
			tl.clean(CleanOptions{Producers: producers})
			tl.clock.Advance(time.Second)
		}
		tl.check(false)
		for _, e := range tl.AbortedTxns(0, tl.EndOffset()) {
			if last := producers[e.ProducerID].LastDataOffset; last < e.FirstOffset || last > e.LastOffset {
				t.Fatalf("index entry %+v left without its producer's last batch", e)
			}
		}
		open := map[int64]bool{} // producers with records since their last marker
		for _, b := range batches(t, tl.readAll(tl.StartOffset())) {
			h, _ := recordbatch.ReadHeader(b)
			switch {
			case h.Control() && !open[h.ProducerID]:
				t.Fatalf("marker at %d outlived its transaction's records", h.BaseOffset)
			case h.Control():
				open[h.ProducerID] = false
			case h.Transactional():
				open[h.ProducerID] = true
			}
			if h.NumRecords > 0 && tl.aborted[h.BaseOffset] {
				t.Fatalf("aborted batch at %d outlived the passes", h.BaseOffset)
			}
		}
	})
}

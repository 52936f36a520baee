package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/recordbatch"
)

// kv is one keyed record; a nil value is a tombstone, a nil key none.
type kv struct {
	key   []byte
	value []byte
}

func keyed(key, value string) kv { return kv{key: []byte(key), value: []byte(value)} }
func tombstone(key string) kv    { return kv{key: []byte(key)} }

// keyedBatch builds a batch of records kvs with timestamps ts, ts+1, ...
func keyedBatch(t testing.TB, ts int64, codec recordbatch.Codec, kvs ...kv) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, len(kvs))
	for i, r := range kvs {
		recs[i] = recordbatch.Record{TimestampDelta: int64(i), Key: r.key, Value: r.value}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{Codec: codec, BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

// model is what was written to a compacted log: every record by offset,
// and the latest value per key (nil for a tombstone).
type model struct {
	written map[int64]kv
	latest  map[string][]byte
	// tombstoned holds keys whose latest record is a tombstone.
	tombstoned map[string]bool
}

func newModel() *model {
	return &model{written: map[int64]kv{}, latest: map[string][]byte{}, tombstoned: map[string]bool{}}
}

// appendKeyed appends a batch of kvs and records it in m.
func (m *model) appendKeyed(t testing.TB, l *Log, ts int64, codec recordbatch.Codec, kvs ...kv) {
	t.Helper()
	res, err := l.Append(keyedBatch(t, ts, codec, kvs...))
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	for i, r := range kvs {
		m.written[res.BaseOffset+int64(i)] = r
		if r.key != nil {
			m.latest[string(r.key)] = r.value
			m.tombstoned[string(r.key)] = r.value == nil
		}
	}
}

// readRec is one record read back.
type readRec struct {
	off   int64
	ts    int64
	key   []byte
	value []byte
	hdr   recordbatch.Header
}

// readRecords reads the whole log from its start offset, checking that
// every batch passes recordbatch.Check and that offsets strictly increase
// and stay within their batch.
func readRecords(t testing.TB, l *Log) []readRec {
	t.Helper()
	res, err := l.Read(l.StartOffset(), math.MaxInt32, math.MaxInt64)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	var out []readRec
	prev := int64(-1)
	for _, b := range batches(t, res.Data) {
		h, _ := recordbatch.Check(b)
		if h.BaseOffset <= prev {
			t.Fatalf("batch base offset %d not above previous offset %d", h.BaseOffset, prev)
		}
		err := recordbatch.Iterate(b, nil, func(r *recordbatch.Record) error {
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off <= prev || off > h.LastOffset() {
				return fmt.Errorf("record offset %d after %d, batch ends at %d", off, prev, h.LastOffset())
			}
			prev = off
			out = append(out, readRec{off: off, ts: h.BaseTimestamp + r.TimestampDelta, key: bytes.Clone(r.Key), value: bytes.Clone(r.Value), hdr: h})
			return nil
		})
		if err != nil {
			t.Fatalf("batch at %d: %v", h.BaseOffset, err)
		}
		prev = max(prev, h.LastOffset())
	}
	if prev >= l.EndOffset() {
		t.Fatalf("read offset %d at or above end offset %d", prev, l.EndOffset())
	}
	return out
}

// check compares what l holds with m: each record read is the one
// written at its offset; per key, the last record read is the latest
// written, where a tombstoned key may also be absent. With compacted,
// each key appears at most once and tombstoned keys not at all.
func (m *model) check(t testing.TB, l *Log, compacted bool) {
	t.Helper()
	m.checkRecords(t, readRecords(t, l), compacted)
}

// checkRecords is check of the records recs read from a log.
func (m *model) checkRecords(t testing.TB, recs []readRec, compacted bool) {
	t.Helper()
	last := map[string][]byte{}
	seen := map[string]int{}
	for _, r := range recs {
		w, ok := m.written[r.off]
		if !ok || !bytes.Equal(w.key, r.key) || !bytes.Equal(w.value, r.value) || (w.value == nil) != (r.value == nil) {
			t.Fatalf("offset %d: got %q=%q, written %q=%q (found %v)", r.off, r.key, r.value, w.key, w.value, ok)
		}
		if r.key != nil {
			last[string(r.key)] = r.value
			seen[string(r.key)]++
		}
	}
	for k, v := range m.latest {
		got, ok := last[k]
		switch {
		case m.tombstoned[k] && compacted && ok:
			t.Fatalf("key %q: tombstoned key still present", k)
		case m.tombstoned[k] && ok && got != nil:
			t.Fatalf("key %q: got value %q, want tombstone or absent", k, got)
		case !m.tombstoned[k] && (!ok || !bytes.Equal(got, v)):
			t.Fatalf("key %q: got %q (present %v), want %q", k, got, ok, v)
		}
		if compacted && seen[k] > 1 {
			t.Fatalf("key %q appears %d times after compaction", k, seen[k])
		}
	}
}

// forceRoll seals the active segment so that everything written is
// cleanable.
func forceRoll(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.segs[len(l.segs)-1].size.Load() == 0 {
		return
	}
	if err := l.roll(); err != nil {
		t.Fatalf("roll: %v", err)
	}
}

func compactConfig() Config {
	c := testConfig()
	c.Compact = true
	c.SegmentBytes = 2048
	c.IndexIntervalBytes = 128
	return c
}

func clean(t testing.TB, l *Log) CleanStats {
	t.Helper()
	st, err := l.Clean(context.Background(), CleanOptions{})
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	return st
}

func TestCleanKeepsLatestPerKey(t *testing.T) {
	for _, codec := range []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd} {
		t.Run(codec.String(), func(t *testing.T) {
			clock := newClock()
			tl := openTest(t, newMemFS(), compactConfig(), Options{Now: clock.Now})
			m := newModel()
			n := 0
			for i := range 80 {
				var kvs []kv
				for j := range 3 {
					kvs = append(kvs, keyed(fmt.Sprintf("key-%d", (i*3+j)%10), fmt.Sprintf("value-%d-%d-%s", i, j, bytes.Repeat([]byte("x"), 30))))
					n++
				}
				m.appendKeyed(t, tl.Log, clock.Now().UnixMilli()+int64(i), codec, kvs...)
			}
			forceRoll(t, tl.Log)
			end, segsBefore := tl.EndOffset(), tl.SegmentCount()
			if segsBefore < 4 {
				t.Fatalf("got %d segments, want several", segsBefore)
			}
			if r := tl.CleanableRatio(); r != 1 {
				t.Fatalf("got cleanable ratio %v, want 1", r)
			}
			st := clean(t, tl.Log)
			if !st.Due || st.SegmentsCleaned != segsBefore-1 || st.BytesAfter >= st.BytesBefore || st.RecordsRemoved != int64(n-10) || st.TombstonesRemoved != 0 {
				t.Fatalf("got stats %+v, want due, %d segments cleaned, %d records removed", st, segsBefore-1, n-10)
			}
			if tl.EndOffset() != end || tl.StartOffset() != 0 {
				t.Fatalf("got offsets [%d, %d), want [0, %d)", tl.StartOffset(), tl.EndOffset(), end)
			}
			m.check(t, tl.Log, true)
			recs := readRecords(t, tl.Log)
			if len(recs) != 10 {
				t.Fatalf("got %d records, want 10", len(recs))
			}
			for _, r := range recs {
				if r.hdr.Codec() != codec {
					t.Fatalf("offset %d: got codec %v, want %v", r.off, r.hdr.Codec(), codec)
				}
			}
			if r := tl.CleanableRatio(); r != 0 {
				t.Fatalf("got cleanable ratio %v after cleaning, want 0", r)
			}
			if st := clean(t, tl.Log); st.Due {
				t.Fatalf("second clean: got %+v, want not due", st)
			}
			// Groups are sized by the segments before cleaning, as in
			// Kafka: the now small segments merge on the next pass.
			m.appendKeyed(t, tl.Log, clock.Now().UnixMilli(), codec, keyed("key-1", "newer"))
			forceRoll(t, tl.Log)
			end = tl.EndOffset()
			cfg := tl.cfg
			cfg.MinCleanableDirtyRatio = 0
			tl.SetConfig(cfg)
			if st := clean(t, tl.Log); st.SegmentsCleaned != segsBefore || st.RecordsRemoved != 1 || tl.SegmentCount() != 2 {
				t.Fatalf("merging clean: got %+v and %d segments, want %d merged into 1", st, tl.SegmentCount(), segsBefore)
			}
			m.check(t, tl.Log, true)
			for _, cleanShutdown := range []bool{true, false} {
				tl.reopen(cleanShutdown)
				m.check(t, tl.Log, true)
				if tl.EndOffset() != end {
					t.Fatalf("reopen: end offset %d, want %d", tl.EndOffset(), end)
				}
			}
			// Appends go on after the gaps.
			m.appendKeyed(t, tl.Log, clock.Now().UnixMilli(), codec, keyed("key-1", "after"))
			m.check(t, tl.Log, false)
		})
	}
}

func TestCleanTombstones(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0
	cfg.DeleteRetentionMs = 1000
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	m := newModel()
	ts := clock.Now().UnixMilli() - 5000
	m.appendKeyed(t, tl.Log, ts, recordbatch.CodecNone, keyed("a", "1"), keyed("b", "2"))
	m.appendKeyed(t, tl.Log, ts+10, recordbatch.CodecNone, tombstone("a"), keyed("c", "3"))
	forceRoll(t, tl.Log)

	st := clean(t, tl.Log)
	if st.RecordsRemoved != 1 || st.TombstonesRemoved != 0 {
		t.Fatalf("first clean: got %+v, want 1 record removed", st)
	}
	horizon := clock.Now().UnixMilli() + 1000
	recs := readRecords(t, tl.Log)
	if len(recs) != 3 || string(recs[1].key) != "a" || recs[1].value != nil {
		t.Fatalf("got %d records, want b, tombstone a, c", len(recs))
	}
	if h := recs[1].hdr; !h.HasDeleteHorizon() || h.BaseTimestamp != horizon || recs[1].ts != ts+10 || recs[2].ts != ts+11 {
		t.Fatalf("tombstone batch: horizon %v base %d ts %d, want horizon %d and ts %d", h.HasDeleteHorizon(), h.BaseTimestamp, recs[1].ts, horizon, ts+10)
	}
	if recs[0].hdr.HasDeleteHorizon() {
		t.Fatalf("batch without tombstones got a delete horizon")
	}
	for _, step := range []struct {
		advance time.Duration
		present bool
	}{{999 * time.Millisecond, true}, {time.Millisecond, false}} {
		clock.Advance(step.advance)
		st := clean(t, tl.Log)
		recs := readRecords(t, tl.Log)
		present := len(recs) == 3
		if present != step.present || !present && (len(recs) != 2 || st.TombstonesRemoved != 1 || st.RecordsRemoved != 1) {
			t.Fatalf("at horizon%+v: got %d records, stats %+v; want tombstone present %v", clock.Now().UnixMilli()-horizon, len(recs), st, step.present)
		}
	}
	// No dirt and no pending horizon: nothing to do, even at ratio 0.
	if st := clean(t, tl.Log); st.Due {
		t.Fatalf("got %+v on a clean log, want not due", st)
	}
	m.check(t, tl.Log, true)
	tl.reopen(false)
	m.check(t, tl.Log, true)
	// After Open pending horizons are unknown: one pass finds out.
	if st := clean(t, tl.Log); !st.Due || st.SegmentsCleaned != 0 {
		t.Fatalf("first clean after open: got %+v, want a pass that changes nothing", st)
	}
	if st := clean(t, tl.Log); st.Due {
		t.Fatalf("second clean after open: got %+v, want not due", st)
	}
}

func TestCleanMinCompactionLag(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0
	cfg.MinCompactionLagMs = 10_000
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	m := newModel()
	now := clock.Now().UnixMilli()
	for _, ts := range []int64{now - 20_000, now - 15_000, now - 1000} {
		m.appendKeyed(t, tl.Log, ts, recordbatch.CodecNone, keyed("a", fmt.Sprint(ts)), keyed("b", fmt.Sprint(ts)))
		forceRoll(t, tl.Log)
	}
	recentBase := tl.segs[2].base
	if st := clean(t, tl.Log); st.RecordsRemoved != 2 {
		t.Fatalf("got %+v, want only the oldest batch's 2 records removed", st)
	}
	if recs := readRecords(t, tl.Log); len(recs) != 4 || recs[2].off != recentBase {
		t.Fatalf("got %d records, want 4 with the recent segment intact", len(recs))
	}
	if got := tl.firstDirty; got != recentBase {
		t.Fatalf("got first dirty offset %d, want %d", got, recentBase)
	}
	clock.Advance(10 * time.Second)
	if st := clean(t, tl.Log); st.RecordsRemoved != 2 {
		t.Fatalf("got %+v, want 2 records removed once the lag passed", st)
	}
	m.check(t, tl.Log, true)
}

func TestCleanMaxCompactionLag(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0.9
	cfg.MaxCompactionLagMs = 5000
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	m := newModel()
	for i := range 40 {
		m.appendKeyed(t, tl.Log, clock.Now().UnixMilli(), recordbatch.CodecNone, keyed(fmt.Sprint("key-", i%20), fmt.Sprint(i, bytes.Repeat([]byte("v"), 50))))
	}
	forceRoll(t, tl.Log)
	if st := clean(t, tl.Log); !st.Due {
		t.Fatalf("all-dirty log not due: %+v", st)
	}
	m.appendKeyed(t, tl.Log, clock.Now().UnixMilli(), recordbatch.CodecNone, keyed("key-0", "new"))
	forceRoll(t, tl.Log)
	if r := tl.CleanableRatio(); r <= 0 || r >= 0.9 {
		t.Fatalf("got ratio %v, want in (0, 0.9)", r)
	}
	if st := clean(t, tl.Log); st.Due {
		t.Fatalf("got %+v below the ratio and the max lag, want not due", st)
	}
	clock.Advance(5001 * time.Millisecond)
	if st := clean(t, tl.Log); !st.Due || st.RecordsRemoved != 1 {
		t.Fatalf("got %+v past the max lag, want due and 1 record removed", st)
	}
	m.check(t, tl.Log, true)
}

func TestCleanMaxCompactionLagRollsActiveSegment(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.MaxCompactionLagMs = 5000
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	m := newModel()
	m.appendKeyed(t, tl.Log, clock.Now().UnixMilli(), recordbatch.CodecNone, keyed("a", "1"))
	clock.Advance(5 * time.Second)
	if err := tl.Tick(); err != nil {
		t.Fatal(err)
	}
	if tl.SegmentCount() != 2 {
		t.Fatalf("got %d segments, want the active one rolled after the max compaction lag", tl.SegmentCount())
	}
}

func TestCleanCompactDelete(t *testing.T) {
	clock := newClock()
	cfg := compactConfig()
	cfg.RetentionMs = 60_000
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	now := clock.Now().UnixMilli()
	m := newModel()
	for i := range 30 {
		m.appendKeyed(t, tl.Log, now-120_000, recordbatch.CodecNone, keyed(fmt.Sprint("old-", i%3), fmt.Sprint(i, bytes.Repeat([]byte("v"), 100))))
	}
	forceRoll(t, tl.Log)
	for i := range 30 {
		m.appendKeyed(t, tl.Log, now, recordbatch.CodecNone, keyed(fmt.Sprint("new-", i%3), fmt.Sprint(i, bytes.Repeat([]byte("v"), 100))))
	}
	forceRoll(t, tl.Log)
	if st := clean(t, tl.Log); st.RecordsRemoved != 54 {
		t.Fatalf("got %+v, want 54 records removed", st)
	}
	if n, err := tl.EnforceRetention(); err != nil || n == 0 {
		t.Fatalf("retention: got %d segments deleted, %v; want some", n, err)
	}
	recs := readRecords(t, tl.Log)
	if len(recs) != 3 || tl.StartOffset() == 0 {
		t.Fatalf("got %d records from start offset %d, want the 3 new keys only", len(recs), tl.StartOffset())
	}
	for _, r := range recs {
		if !bytes.HasPrefix(r.key, []byte("new-")) {
			t.Fatalf("got key %q, want only new keys", r.key)
		}
	}
}

func TestCleanKeepsNullKeysAndControlBatches(t *testing.T) {
	cfg := compactConfig()
	tl := openTest(t, newMemFS(), cfg, Options{})
	m := newModel()
	m.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed("a", "1"), kv{value: []byte("no key")}, keyed("a", "2"))
	ctrl, err := recordbatch.Build(recordbatch.BuildOptions{Control: true, Transactional: true, ProducerID: 7, BaseTimestamp: 1001},
		[]recordbatch.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	res, err := tl.Append(ctrl)
	if err != nil {
		t.Fatal(err)
	}
	m.written[res.BaseOffset] = kv{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 0}}
	m.appendKeyed(t, tl.Log, 1002, recordbatch.CodecNone, keyed("a", "3"), kv{value: []byte("no key 2")})
	forceRoll(t, tl.Log)
	if st := clean(t, tl.Log); st.RecordsRemoved != 2 {
		t.Fatalf("got %+v, want 2 records removed", st)
	}
	recs := readRecords(t, tl.Log)
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d:%x", r.off, r.value))
	}
	want := []string{"1:6e6f206b6579", "3:000000000000", "4:33", "5:6e6f206b65792032"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if !recs[1].hdr.Control() {
		t.Fatalf("control batch lost its control bit")
	}
	m.check(t, tl.Log, true)
}

func TestCleanNotCompacted(t *testing.T) {
	cfg := compactConfig()
	cfg.Compact = false
	tl := openTest(t, newMemFS(), cfg, Options{})
	m := newModel()
	m.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed("a", "1"), keyed("a", "2"))
	forceRoll(t, tl.Log)
	if st := clean(t, tl.Log); st != (CleanStats{}) {
		t.Fatalf("got %+v on a log without Compact, want nothing", st)
	}
}

func TestCleanReadersKeepReading(t *testing.T) {
	m := newMemFS()
	tl := openTest(t, m, compactConfig(), Options{})
	mod := newModel()
	for i := range 40 {
		mod.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed(fmt.Sprint(i%4), fmt.Sprint(i, bytes.Repeat([]byte("v"), 80))))
	}
	forceRoll(t, tl.Log)
	before := tl.readAll(0)
	v, err := tl.snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	clean(t, tl.Log)
	var got []byte
	if err := v.eachBatch(0, func(b []byte, _ recordbatch.Header) (bool, error) {
		got = append(got, b...)
		return true, nil
	}); err != nil {
		t.Fatalf("read through the old view: %v", err)
	}
	if !bytes.Equal(got, before) {
		t.Fatalf("old view read %d bytes, want the %d from before cleaning", len(got), len(before))
	}
	if !fileExists(t, m, segPath(0, logSuffix+deletedSuffix)) {
		t.Fatalf("replaced segment unlinked while a reader holds it")
	}
	v.release()
	if fileExists(t, m, segPath(0, logSuffix+deletedSuffix)) {
		t.Fatalf("replaced segment not unlinked after its last reader")
	}
	mod.check(t, tl.Log, true)
}

func TestCleanConcurrentWithAppendsAndReads(t *testing.T) {
	cfg := compactConfig()
	cfg.MinCleanableDirtyRatio = 0
	tl := openTest(t, newMemFS(), cfg, Options{})
	m := newModel()
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if _, err := tl.Clean(context.Background(), CleanOptions{}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for i := range 300 {
		m.appendKeyed(t, tl.Log, int64(1000+i), recordbatch.CodecNone, keyed(fmt.Sprint(i%7), fmt.Sprint(i, bytes.Repeat([]byte("v"), 40))))
		if i%50 == 0 {
			if _, err := tl.Read(0, 1<<20, math.MaxInt64); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("clean: %v", err)
	}
	forceRoll(t, tl.Log)
	clean(t, tl.Log)
	m.check(t, tl.Log, true)
}

func TestCleanCanceled(t *testing.T) {
	tl := openTest(t, newMemFS(), compactConfig(), Options{})
	m := newModel()
	for i := range 40 {
		m.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed(fmt.Sprint(i%4), fmt.Sprint(i, bytes.Repeat([]byte("v"), 80))))
	}
	forceRoll(t, tl.Log)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tl.Clean(ctx, CleanOptions{}); err == nil {
		t.Fatalf("got no error from a canceled clean")
	}
	m.check(t, tl.Log, false)
	tl.reopen(false)
	m.check(t, tl.Log, false)
	clean(t, tl.Log)
	m.check(t, tl.Log, true)
}

func TestCleanStopsWhenSegmentsChange(t *testing.T) {
	mem := newMemFS()
	tl := openTest(t, mem, compactConfig(), Options{})
	m := newModel()
	for i := range 40 {
		m.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed(fmt.Sprint(i%4), fmt.Sprint(i, bytes.Repeat([]byte("v"), 80))))
	}
	forceRoll(t, tl.Log)
	now := tl.nowMs()
	p, ok := tl.planClean(now, true, math.MaxInt64)
	if !ok || len(p.segs) < 3 {
		t.Fatalf("got plan of %d segments, want several", len(p.segs))
	}
	defer p.release()
	c := newCleaner(tl.Log, &p, CleanOptions{}, now)
	if _, err := c.buildMap(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Retention removes the first segment while the pass works on it.
	if err := tl.SetStartOffset(p.ends[0]); err != nil {
		t.Fatal(err)
	}
	if err := c.cleanGroup(context.Background(), 0, 1); !errors.Is(err, errCleanRace) {
		t.Fatalf("got %v, want errCleanRace", err)
	}
	names, err := mem.ReadDir(testDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasSuffix(n, cleanedSuffix) || strings.HasSuffix(n, swapSuffix) {
			t.Fatalf("leftover %s after an abandoned group", n)
		}
	}
	if err := c.cleanGroup(context.Background(), 1, 2); err != nil {
		t.Fatalf("clean an unchanged later group: %v", err)
	}
	if tl.StartOffset() != p.ends[0] {
		t.Fatalf("got start offset %d, want %d", tl.StartOffset(), p.ends[0])
	}
	readRecords(t, tl.Log)
	tl.reopen(false)
	readRecords(t, tl.Log)
}

// countThrottle counts the bytes a pass reports; on call cancelAt (if
// set) it cancels the pass's context and answers as a throttle whose
// context ended.
type countThrottle struct {
	bytes, calls, cancelAt int64
	cancel                 context.CancelFunc
}

func (c *countThrottle) Wait(ctx context.Context, n int64) error {
	c.bytes += n
	if c.calls++; c.calls == c.cancelAt {
		c.cancel()
	}
	return ctx.Err()
}

// TestCleanThrottle: a pass reports to its throttle every byte it reads
// (the dirty segments to map their keys, then each segment it rewrites)
// and writes, with small I/O buffers too; a throttle that ends the pass's
// context stops it with the log intact.
func TestCleanThrottle(t *testing.T) {
	tl := openTest(t, newMemFS(), compactConfig(), Options{})
	m := newModel()
	for i := range 60 {
		m.appendKeyed(t, tl.Log, 1000, recordbatch.CodecNone, keyed(fmt.Sprint(i%4), fmt.Sprint(i, bytes.Repeat([]byte("v"), 80))))
	}
	forceRoll(t, tl.Log)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopper := &countThrottle{cancelAt: 3, cancel: cancel}
	if _, err := tl.Clean(ctx, CleanOptions{Throttle: stopper}); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v from a pass its throttle stopped, want context.Canceled", err)
	}
	m.check(t, tl.Log, false)

	th := &countThrottle{}
	st, err := tl.Clean(context.Background(), CleanOptions{IOBufferBytes: 100, Throttle: th})
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsCleaned < 3 {
		t.Fatalf("cleaned %d segments, want several", st.SegmentsCleaned)
	}
	if want := 2*st.BytesBefore + st.BytesAfter; th.bytes < want {
		t.Fatalf("throttle told of %d bytes, want at least %d: the cleaned segments read twice and their replacements written", th.bytes, want)
	}
	m.check(t, tl.Log, true)
}

// TestCleanBelow: only segments wholly below the limit are cleaned, so a
// key's later value above it (which a truncation may yet remove) does not
// make the cleaner drop the earlier one.
func TestCleanBelow(t *testing.T) {
	tl := openTest(t, newMemFS(), compactConfig(), Options{})
	for i := range 60 {
		tl.append(keyedBatch(t, 1000, recordbatch.CodecNone, keyed(fmt.Sprint(i%3), fmt.Sprint(i, bytes.Repeat([]byte("v"), 80)))))
	}
	forceRoll(t, tl.Log)
	if tl.SegmentCount() < 4 {
		t.Fatalf("%d segments, want several", tl.SegmentCount())
	}
	tl.mu.RLock()
	limit := tl.segs[1].base // only the first segment lies wholly below
	tl.mu.RUnlock()
	stats, err := tl.CleanBelow(context.Background(), limit, CleanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stats.SegmentsCleaned != 1 {
		t.Fatalf("cleaned %d segments below %d, want 1", stats.SegmentsCleaned, limit)
	}
	// The first segment keeps the last record of each of the 3 keys; every
	// record above the limit is still there.
	if got, want := len(batches(t, tl.readAll(0))), 60-int(limit)+3; got != want {
		t.Fatalf("%d records after cleaning below %d, want %d", got, limit, want)
	}
}

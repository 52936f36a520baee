package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
)

var recordbatchCheck = recordbatch.Check

// FuzzRecover opens a log whose last segment holds arbitrary bytes, after
// a valid first segment. Invariants: Open never panics; when it succeeds,
// every batch Read returns passes recordbatch.Check with increasing
// offsets, and reopening yields the same end offset.
func FuzzRecover(f *testing.F) {
	b0 := batchOf(f, 3, 20, 1000)
	b1 := batchOf(f, 2, 10, 2000)
	recordbatch.PutBaseOffset(b1, 3)
	b2 := batchOf(f, 1, 5, 3000)
	recordbatch.PutBaseOffset(b2, 5)
	valid := append(append([]byte{}, b1...), b2...)
	f.Add([]byte{})
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add(append(append([]byte{}, valid...), make([]byte, 100)...))
	f.Add(append(append([]byte{}, b1...), 0xde, 0xad, 0xbe, 0xef))
	f.Add(append(append([]byte{}, valid[:20]...), b2...))
	f.Add(b0)
	f.Fuzz(func(t *testing.T, data []byte) {
		m := newMemFS()
		if err := m.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		first := append([]byte{}, b0...)
		recordbatch.PutBaseOffset(first, 0)
		m.write(segPath(0, logSuffix), first)
		m.write(segPath(3, logSuffix), data)
		cfg := testConfig()
		l, err := Open(testDir, cfg, Options{FS: m})
		if err != nil {
			return
		}
		res, err := l.Read(0, math.MaxInt32, math.MaxInt64)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		next := int64(0)
		for d := res.Data; len(d) > 0; {
			n := 12 + int(binary.BigEndian.Uint32(d[8:]))
			h, err := recordbatch.Check(d[:n])
			if err != nil {
				t.Fatalf("batch at %d: %v", next, err)
			}
			if h.BaseOffset < next {
				t.Fatalf("batch base %d below %d", h.BaseOffset, next)
			}
			next = h.NextOffset()
			d = d[n:]
		}
		if next != l.EndOffset() {
			t.Fatalf("batches end at %d, end offset %d", next, l.EndOffset())
		}
		end := l.EndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		for _, clean := range []bool{false, true} {
			l, err = Open(testDir, cfg, Options{FS: m, Clean: clean})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			if l.EndOffset() != end {
				t.Fatalf("reopen (clean %v): end offset %d, want %d", clean, l.EndOffset(), end)
			}
			if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
				t.Fatal(err)
			}
		}
	})
}

// FuzzRecoverSwap opens a log that a crash left in the middle of a cleaner
// swap: valid segments at 0, 3 and 5 (the last active), segment 3 with an
// aborted-transaction index, a .log.swap at 0 holding arbitrary bytes, the
// cleaned aborted-transaction index at 0 holding arbitrary bytes (as
// .txnindex.swap, or already renamed when renamed is set), the swap end
// checkpoint holding end, and .cleaned leftovers. Invariants: Open never
// panics; when it succeeds, no .swap or .cleaned file remains, every batch
// Read returns passes recordbatch.Check with increasing offsets up to the
// end offset, every aborted transaction returned is a valid entry of the
// log, and reopening yields the same end offset and aborted transactions.
func FuzzRecoverSwap(f *testing.F) {
	b0 := batchOf(f, 3, 20, 1000)
	b1 := batchOf(f, 2, 10, 2000)
	recordbatch.PutBaseOffset(b1, 3)
	b2 := batchOf(f, 1, 5, 3000)
	recordbatch.PutBaseOffset(b2, 5)
	cleaned, _, err := recordbatch.Rewrite(nil, b0, -1, nil, func(r *recordbatch.Record) bool { return r.OffsetDelta != 1 })
	if err != nil {
		f.Fatal(err)
	}
	merged := append(append([]byte{}, cleaned...), b1...)
	entry := appendAbortedTxn(nil, AbortedTxn{ProducerID: 1, FirstOffset: 1, LastOffset: 4, LastStableOffset: 5})
	f.Add(cleaned, int64(3), []byte{}, false)
	f.Add(merged, int64(5), entry, false)
	f.Add(merged, int64(5), entry, true)
	f.Add(merged, int64(3), entry[:20], false)
	f.Add(merged, int64(0), []byte{}, true)
	f.Add([]byte{}, int64(5), entry, false)
	f.Add(merged[:len(merged)-4], int64(5), []byte{}, false)
	f.Add(cleaned, int64(-1), entry, true)
	f.Add(append(append([]byte{}, merged...), b2...), int64(1<<62), entry, false)
	f.Fuzz(func(t *testing.T, swap []byte, end int64, txnIdx []byte, renamed bool) {
		m := newMemFS()
		if err := m.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		first := append([]byte{}, b0...)
		recordbatch.PutBaseOffset(first, 0)
		m.write(segPath(0, logSuffix), first)
		m.write(segPath(3, logSuffix), b1)
		m.write(segPath(5, logSuffix), b2)
		m.write(segPath(0, logSuffix+swapSuffix), swap)
		m.write(segPath(0, indexSuffix+swapSuffix), []byte{1, 2, 3})
		m.write(segPath(3, txnIndexSuffix), appendAbortedTxn(nil, AbortedTxn{ProducerID: 2, FirstOffset: 0, LastOffset: 3, LastStableOffset: 4}))
		if renamed {
			m.write(segPath(0, txnIndexSuffix), txnIdx)
		} else {
			m.write(segPath(0, txnIndexSuffix+swapSuffix), txnIdx)
		}
		m.write(segPath(5, logSuffix+cleanedSuffix), b2)
		if err := writeCheckpoint(m, testDir, swapEndFile, end); err != nil {
			t.Fatal(err)
		}
		cfg := testConfig()
		l, err := Open(testDir, cfg, Options{FS: m})
		if err != nil {
			return
		}
		names, err := m.ReadDir(testDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			if strings.HasSuffix(n, swapSuffix) || strings.HasSuffix(n, cleanedSuffix) {
				t.Fatalf("leftover %s after Open", n)
			}
		}
		res, err := l.Read(l.StartOffset(), math.MaxInt32, math.MaxInt64)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		next := int64(-1)
		for d := res.Data; len(d) > 0; {
			n := 12 + int(binary.BigEndian.Uint32(d[8:]))
			h, err := recordbatch.Check(d[:n])
			if err != nil {
				t.Fatalf("batch after %d: %v", next, err)
			}
			if h.BaseOffset <= next {
				t.Fatalf("batch base %d not above %d", h.BaseOffset, next)
			}
			next = h.LastOffset()
			d = d[n:]
		}
		if next >= l.EndOffset() {
			t.Fatalf("batches end at %d, end offset %d", next, l.EndOffset())
		}
		aborted := l.AbortedTxns(0, math.MaxInt64)
		checkAbortedTxns(t, aborted, l.EndOffset())
		endOff := l.EndOffset()
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(testDir, cfg, Options{FS: m})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if l.EndOffset() != endOff {
			t.Fatalf("reopen: end offset %d, want %d", l.EndOffset(), endOff)
		}
		if again := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(again, aborted) {
			t.Fatalf("reopen: aborted transactions %+v, want %+v", again, aborted)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzRecoverIndexes opens a one-segment log of 12 batches as a crash may
// leave it: the log file cut at some byte at or after the recovery point,
// each index file holding a prefix of what it held followed by zeros, with
// and without the clean-shutdown flag. Invariants: Open succeeds; the end
// offset is that of the last whole batch kept; every offset and every
// batch's first timestamp lead to its batch; reopening keeps the end.
func FuzzRecoverIndexes(f *testing.F) {
	indexSmallSegments(f)
	cfg := testConfig()
	cfg.IndexIntervalBytes = 200
	tl := openTest(f, newMemFS(), cfg, Options{})
	var ends []int64 // byte end of each batch
	for i := range 12 {
		tl.append(batchOf(f, 2+i%3, 40, 1000+int64(10*i)))
		ends = append(ends, tl.Size())
	}
	if err := tl.Close(); err != nil {
		f.Fatal(err)
	}
	mem := tl.fsys.(*memFS)
	logB, _ := mem.read(segPath(0, logSuffix))
	idxB, _ := mem.read(segPath(0, indexSuffix))
	tixB, _ := mem.read(segPath(0, timeIndexSuffix))
	acked := tl.acked
	f.Add(uint16(0), uint16(0xffff), uint16(0xffff), uint8(12), uint8(0), uint8(0), false)
	f.Add(uint16(5), uint16(9), uint16(30), uint8(7), uint8(8), uint8(12), false)
	f.Add(uint16(100), uint16(16), uint16(0), uint8(0), uint8(3), uint8(0), true)
	f.Fuzz(func(t *testing.T, logCut, idxCut, tixCut uint16, rpBatches, idxZeros, tixZeros uint8, clean bool) {
		kept := int(rpBatches) % (len(acked) + 1)
		rp, rpPos := int64(0), int64(0)
		for _, b := range acked[:kept] {
			h, _ := recordbatch.ReadHeader(b)
			rp, rpPos = h.NextOffset(), rpPos+int64(len(b))
		}
		logLen := rpPos + int64(logCut)%(int64(len(logB))-rpPos+1)
		m := newMemFS()
		if err := m.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		m.write(segPath(0, logSuffix), logB[:logLen])
		m.write(segPath(0, indexSuffix), append(idxB[:int(idxCut)%(len(idxB)+1):int(idxCut)%(len(idxB)+1)], make([]byte, idxZeros)...))
		m.write(segPath(0, timeIndexSuffix), append(tixB[:int(tixCut)%(len(tixB)+1):int(tixCut)%(len(tixB)+1)], make([]byte, tixZeros)...))
		if err := putCheckpoint(m, testDir, recoveryPointFile, rp, true); err != nil {
			t.Fatal(err)
		}
		l, err := Open(testDir, cfg, Options{FS: m, Clean: clean})
		if err != nil {
			t.Fatalf("open (clean %v, log cut at %d, recovery point %d): %v", clean, logLen, rp, err)
		}
		defer func() { l.Close() }()
		whole := 0
		for whole < len(ends) && ends[whole] <= logLen {
			whole++
		}
		end := int64(0)
		for i, b := range acked[:whole] {
			h, _ := recordbatch.ReadHeader(b)
			for off := h.BaseOffset; off < h.NextOffset(); off++ {
				res, err := l.Read(off, 1, math.MaxInt64)
				if err != nil || res.FirstOffset != h.BaseOffset || !bytes.HasPrefix(res.Data, b) {
					t.Fatalf("read %d: first offset %d, %v; want batch %d at %d", off, res.FirstOffset, err, i, h.BaseOffset)
				}
			}
			if off, _, ok := l.OffsetForTimestamp(1000 + int64(10*i)); !ok || off != h.BaseOffset {
				t.Fatalf("timestamp of batch %d: offset %d, %v; want %d", i, off, ok, h.BaseOffset)
			}
			end = h.NextOffset()
		}
		if l.EndOffset() != end {
			t.Fatalf("end offset %d, want %d (%d whole batches)", l.EndOffset(), end, whole)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if l, err = Open(testDir, cfg, Options{FS: m}); err != nil || l.EndOffset() != end {
			t.Fatalf("reopen: end %d, %v; want %d", l.EndOffset(), err, end)
		}
	})
}

// FuzzRecoverTxnIndex opens a log of segments at 0 and 3 (offsets 0-5)
// whose aborted-transaction index files hold arbitrary bytes, as a crash or
// a bad disk may leave them. Invariants: Open never panics and succeeds
// (the index is cut to its valid prefix, never trusted past it); every
// entry AbortedTxns returns lies in the log, with FirstOffset <=
// LastOffset and markers in increasing order; a reopen returns the same
// entries.
func FuzzRecoverTxnIndex(f *testing.F) {
	valid := func(es ...AbortedTxn) []byte {
		var b []byte
		for _, e := range es {
			b = appendAbortedTxn(b, e)
		}
		return b
	}
	f.Add([]byte{}, []byte{})
	f.Add(valid(AbortedTxn{1, 0, 1, 2}, AbortedTxn{2, 0, 2, 3}), valid(AbortedTxn{3, 1, 4, 5}))
	f.Add(valid(AbortedTxn{1, 0, 1, 2})[:20], valid(AbortedTxn{3, 1, 9, 10}))
	f.Add(valid(AbortedTxn{1, 0, 2, 2}, AbortedTxn{2, 0, 1, 3}), append(valid(AbortedTxn{3, 1, 4, 5}), 0, 1))
	f.Fuzz(func(t *testing.T, idx0, idx3 []byte) {
		m := newMemFS()
		if err := m.MkdirAll(testDir, 0o755); err != nil {
			t.Fatal(err)
		}
		b0, b1 := batchOf(t, 3, 20, 1000), batchOf(t, 3, 10, 2000)
		recordbatch.PutBaseOffset(b1, 3)
		m.write(segPath(0, logSuffix), b0)
		m.write(segPath(3, logSuffix), b1)
		m.write(segPath(0, txnIndexSuffix), idx0)
		m.write(segPath(3, txnIndexSuffix), idx3)
		cfg := testConfig()
		l, err := Open(testDir, cfg, Options{FS: m})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		got := l.AbortedTxns(0, math.MaxInt64)
		checkAbortedTxns(t, got, l.EndOffset())
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		l, err = Open(testDir, cfg, Options{FS: m})
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		defer l.Close()
		if again := l.AbortedTxns(0, math.MaxInt64); !slices.Equal(again, got) {
			t.Fatalf("reopen: got %+v, want %+v", again, got)
		}
	})
}

// checkAbortedTxns fails t unless got are valid index entries, in marker
// order, of a log ending at end.
func checkAbortedTxns(t *testing.T, got []AbortedTxn, end int64) {
	t.Helper()
	for i, e := range got {
		if e.FirstOffset < 0 || e.FirstOffset > e.LastOffset || e.LastOffset >= end ||
			i > 0 && e.LastOffset <= got[i-1].LastOffset {
			t.Fatalf("entry %d %+v of %+v is not a valid index entry of a log ending at %d", i, e, got, end)
		}
	}
}

package commitlog

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// readSliceBytes reads what ReadSlice locates, and its first offset.
func readSliceBytes(t *testing.T, l *Log, offset int64, maxBytes int32, maxOffset int64) (int64, []byte) {
	t.Helper()
	sl, err := l.ReadSlice(offset, maxBytes, maxOffset)
	if err != nil {
		t.Fatalf("read slice at %d: %v", offset, err)
	}
	defer sl.Release()
	b, err := sl.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	return sl.FirstOffset(), b
}

// TestReadSliceRecent checks that a read answered from the active
// segment's recent batches gives what a read that finds its batches in the
// file gives, for every offset, size limit and offset limit, as the log
// appends, rolls and is truncated; and that a read at the tail reads no
// batch headers from the file.
func TestReadSliceRecent(t *testing.T) {
	fsys := newMemFS()
	cfg := testConfig()
	cfg.SegmentBytes = 16 << 10
	tl := openTest(t, fsys, cfg, Options{})
	rng := rand.New(rand.NewPCG(1, 2))
	check := func() {
		t.Helper()
		leo := tl.EndOffset()
		for off := max(tl.StartOffset(), leo-3*recentBatches); off < leo; off++ {
			for _, maxBytes := range []int32{1, 200, 1000, 1 << 20} {
				for _, maxOffset := range []int64{leo, leo - 1, off + 1, off + int64(rng.IntN(10))} {
					first, got := readSliceBytes(t, tl.Log, off, maxBytes, maxOffset)
					// the same read with the recent places hidden
					s := tl.segs[len(tl.segs)-1]
					tl.mu.Lock()
					recent := s.recent
					s.recent = nil
					tl.mu.Unlock()
					wantFirst, want := readSliceBytes(t, tl.Log, off, maxBytes, maxOffset)
					tl.mu.Lock()
					s.recent = recent
					tl.mu.Unlock()
					if first != wantFirst || !bytes.Equal(got, want) {
						t.Fatalf("read at %d (max %d bytes, below %d): first offset %d and %d bytes, want %d and %d bytes",
							off, maxBytes, maxOffset, first, len(got), wantFirst, len(want))
					}
				}
			}
		}
	}
	for round := range 30 {
		for range 1 + rng.IntN(2*recentBatches) {
			tl.appendN(1, 1+rng.IntN(4), 1+rng.IntN(300), int64(round))
		}
		check()
		if round%5 == 4 {
			if err := tl.Truncate(tl.EndOffset() - int64(rng.IntN(10))); err != nil {
				t.Fatal(err)
			}
			check()
		}
	}
	if tl.SegmentCount() < 3 {
		t.Fatalf("the log has %d segments; the test means to roll", tl.SegmentCount())
	}

	leo := tl.EndOffset()
	tl.appendN(3, 2, 100, 0)
	reads := fsys.reads.Load()
	sl, err := tl.ReadSlice(leo, 1<<20, tl.EndOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Release()
	if n := fsys.reads.Load() - reads; n != 0 || sl.FirstOffset() != leo || sl.Len() == 0 {
		t.Fatalf("a read at the tail made %d file reads and located %d bytes from %d", n, sl.Len(), sl.FirstOffset())
	}
}

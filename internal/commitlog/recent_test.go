package commitlog

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

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
	read := func(off int64, maxBytes int32, maxOffset int64) ReadResult {
		t.Helper()
		res, err := tl.Read(off, maxBytes, maxOffset)
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		return res
	}
	check := func() {
		t.Helper()
		leo := tl.EndOffset()
		for off := max(tl.StartOffset(), leo-3*recentBatches); off < leo; off++ {
			for _, maxBytes := range []int32{1, 200, 1000, 1 << 20} {
				for _, maxOffset := range []int64{leo, leo - 1, off + 1, off + int64(rng.IntN(10))} {
					got := read(off, maxBytes, maxOffset)
					// the same read with the recent places hidden
					s := tl.segs[len(tl.segs)-1]
					tl.mu.Lock()
					recent := s.recent
					s.recent = nil
					tl.mu.Unlock()
					want := read(off, maxBytes, maxOffset)
					tl.mu.Lock()
					s.recent = recent
					tl.mu.Unlock()
					if got.FirstOffset != want.FirstOffset || !bytes.Equal(got.Data, want.Data) {
						t.Fatalf("read at %d (max %d bytes, below %d): first offset %d and %d bytes, want %d and %d bytes",
							off, maxBytes, maxOffset, got.FirstOffset, len(got.Data), want.FirstOffset, len(want.Data))
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

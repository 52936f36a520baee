package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/recordbatch"
)

func TestAppendAssignsOffsets(t *testing.T) {
	tl := openTest(t, newMemFS(), testConfig(), Options{})
	want := int64(0)
	for i, n := range []int{1, 5, 3, 10} {
		res := tl.append(batchOf(t, n, 10, 1000))
		if res.BaseOffset != want || res.LastOffset != want+int64(n)-1 {
			t.Fatalf("batch %d: got offsets [%d, %d], want [%d, %d]", i, res.BaseOffset, res.LastOffset, want, want+int64(n)-1)
		}
		want += int64(n)
	}
	if got := tl.EndOffset(); got != want {
		t.Fatalf("got end offset %d, want %d", got, want)
	}
	if got := tl.readAll(0); !bytes.Equal(got, tl.ackedFrom(0)) {
		t.Fatalf("read back %d bytes, want the %d appended", len(got), len(tl.ackedFrom(0)))
	}
}

func TestRead(t *testing.T) {
	tl := openTest(t, newMemFS(), testConfig(), Options{})
	// Batches of 10 records at offsets 0, 10, 20, ... 90, about 200 bytes each.
	tl.appendN(10, 10, 10, 1000)
	one := len(tl.acked[0])
	tests := []struct {
		name      string
		offset    int64
		maxBytes  int32
		maxOffset int64
		wantFirst int64 // base offset of the first batch returned
		wantN     int   // batches returned
		wantErr   error
	}{
		{"from start", 0, math.MaxInt32, math.MaxInt64, 0, 10, nil},
		{"middle of a batch", 25, math.MaxInt32, math.MaxInt64, 20, 8, nil},
		{"last record", 99, math.MaxInt32, math.MaxInt64, 90, 1, nil},
		{"max bytes two batches", 0, int32(2*one + one/2), math.MaxInt64, 0, 2, nil},
		{"max bytes exact", 10, int32(3 * one), math.MaxInt64, 10, 3, nil},
		{"first batch larger than max bytes", 30, 1, math.MaxInt64, 30, 1, nil},
		{"zero max bytes", 30, 0, math.MaxInt64, 30, 1, nil},
		{"max offset", 0, math.MaxInt32, 35, 0, 4, nil},
		{"max offset at batch base", 0, math.MaxInt32, 30, 0, 3, nil},
		{"offset at max offset", 40, math.MaxInt32, 40, 40, 0, nil},
		{"end offset", 100, math.MaxInt32, math.MaxInt64, 100, 0, nil},
		{"past end", 101, math.MaxInt32, math.MaxInt64, 101, 0, ErrOffsetOutOfRange},
		{"negative", -1, math.MaxInt32, math.MaxInt64, -1, 0, ErrOffsetOutOfRange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tl.Read(tt.offset, tt.maxBytes, tt.maxOffset)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("got error %v, want %v", err, tt.wantErr)
			}
			if res.FirstOffset != tt.wantFirst {
				t.Errorf("got first offset %d, want %d", res.FirstOffset, tt.wantFirst)
			}
			want := tl.ackedFrom(tt.wantFirst)[:0]
			for _, b := range tl.acked[tt.wantFirst/10 : min(int(tt.wantFirst/10)+tt.wantN, len(tl.acked))] {
				want = append(want, b...)
			}
			if tt.wantN == 0 {
				want = nil
			}
			if !bytes.Equal(res.Data, want) {
				t.Errorf("got %d bytes (%d batches), want %d bytes (%d batches)", len(res.Data), len(batches(t, res.Data)), len(want), tt.wantN)
			}
		})
	}
}

func TestRollBySize(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 2000
	tl := openTest(t, newMemFS(), cfg, Options{})
	tl.appendN(30, 5, 40, 1000)
	perSeg := int(cfg.SegmentBytes) / len(tl.acked[0])
	if got, want := tl.SegmentCount(), (30+perSeg-1)/perSeg; got != want {
		t.Fatalf("got %d segments, want %d", got, want)
	}
	for _, s := range tl.segs {
		if s.size.Load() > cfg.SegmentBytes {
			t.Errorf("segment %s holds %d bytes, more than %d", s.name(), s.size.Load(), cfg.SegmentBytes)
		}
	}
	// Reads cross segment boundaries, from every offset.
	for off := int64(0); off < tl.EndOffset(); off += 7 {
		first := off / 5 * 5
		if got, want := tl.readAll(off), tl.ackedFrom(first); !bytes.Equal(got, want) {
			t.Fatalf("read from %d: got %d bytes, want %d", off, len(got), len(want))
		}
	}
	if got, want := tl.Size(), int64(len(tl.ackedFrom(0))); got != want {
		t.Errorf("got size %d, want %d", got, want)
	}
}

func TestRollByTime(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentMs = 1000
	clock := newClock()
	tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
	tl.appendN(3, 1, 10, 1000)
	clock.Advance(999 * time.Millisecond)
	tl.appendN(1, 1, 10, 1000)
	if got := tl.SegmentCount(); got != 1 {
		t.Fatalf("got %d segments before SegmentMs, want 1", got)
	}
	clock.Advance(time.Millisecond)
	tl.appendN(1, 1, 10, 1000)
	if got := tl.SegmentCount(); got != 2 {
		t.Fatalf("got %d segments after SegmentMs, want 2", got)
	}
	// Tick rolls a segment that aged without appends; an empty one never.
	clock.Advance(time.Second)
	if err := tl.Tick(); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if err := tl.Tick(); err != nil {
		t.Fatal(err)
	}
	if got := tl.SegmentCount(); got != 3 {
		t.Fatalf("got %d segments after ticks, want 3", got)
	}
	if got, want := tl.readAll(0), tl.ackedFrom(0); !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes, want %d", len(got), len(want))
	}
}

func TestRollWhenIndexFull(t *testing.T) {
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1
	cfg.SegmentIndexBytes = 4 * timeEntrySize
	tl := openTest(t, newMemFS(), cfg, Options{})
	tl.appendN(20, 1, 10, 1000)
	if got := tl.SegmentCount(); got < 4 {
		t.Fatalf("got %d segments, want at least 4", got)
	}
	for _, s := range tl.segs {
		if int64(len(s.tix)) > cfg.SegmentIndexBytes || int64(len(s.idx)) > cfg.SegmentIndexBytes {
			t.Errorf("segment %s: index sizes %d and %d past %d", s.name(), len(s.idx), len(s.tix), cfg.SegmentIndexBytes)
		}
	}
}

func TestReopen(t *testing.T) {
	for _, clean := range []bool{true, false} {
		for _, fsName := range []string{"mem", "os"} {
			t.Run(map[bool]string{true: "clean", false: "unclean"}[clean]+"/"+fsName, func(t *testing.T) {
				var fsys FS = newMemFS()
				if fsName == "os" {
					fsys = chrootFS{root: t.TempDir()}
				}
				cfg := testConfig()
				cfg.SegmentBytes = 3000
				tl := openTest(t, fsys, cfg, Options{})
				tl.appendN(40, 4, 30, 1000)
				if err := tl.SetStartOffset(37); err != nil {
					t.Fatal(err)
				}
				if err := tl.Sync(); err != nil {
					t.Fatal(err)
				}
				end, segs := tl.EndOffset(), tl.SegmentCount()
				idx, tix := tl.segs[1].idx, tl.segs[1].tix
				tl.reopen(clean)
				if got := tl.EndOffset(); got != end {
					t.Errorf("got end offset %d, want %d", got, end)
				}
				if got := tl.StartOffset(); got != 37 {
					t.Errorf("got start offset %d, want 37", got)
				}
				if got := tl.SegmentCount(); got != segs {
					t.Errorf("got %d segments, want %d", got, segs)
				}
				if !bytes.Equal(tl.segs[1].idx, idx) || !bytes.Equal(tl.segs[1].tix, tix) {
					t.Errorf("indexes of segment 1 differ after reopen")
				}
				if got, want := tl.readAll(37), tl.ackedFrom(36); !bytes.Equal(got, want) {
					t.Errorf("got %d bytes, want %d", len(got), len(want))
				}
				tl.appendN(3, 4, 30, 2000)
				if got, want := tl.readAll(37), tl.ackedFrom(36); !bytes.Equal(got, want) {
					t.Errorf("after more appends: got %d bytes, want %d", len(got), len(want))
				}
			})
		}
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	tl := openTest(t, newMemFS(), cfg, Options{})
	// Batch i holds 5 records with timestamps 1000+10i .. 1000+10i+4, at offsets 5i.. 5i+4.
	for i := range 30 {
		tl.append(batchOf(t, 5, 30, 1000+10*int64(i)))
	}
	tests := []struct {
		ts, wantOff, wantTS int64
		ok                  bool
	}{
		{0, 0, 1000, true},
		{1000, 0, 1000, true},
		{1003, 3, 1003, true},
		{1005, 5, 1010, true},
		{1152, 77, 1152, true},
		{1294, 149, 1294, true},
		{1295, -1, -1, false},
	}
	for _, tt := range tests {
		off, ts, ok := tl.OffsetForTimestamp(tt.ts)
		if off != tt.wantOff || ts != tt.wantTS || ok != tt.ok {
			t.Errorf("OffsetForTimestamp(%d): got %d, %d, %v, want %d, %d, %v", tt.ts, off, ts, ok, tt.wantOff, tt.wantTS, tt.ok)
		}
	}
	if err := tl.SetStartOffset(77); err != nil {
		t.Fatal(err)
	}
	if off, _, _ := tl.OffsetForTimestamp(1000); off != 77 {
		t.Errorf("after start offset 77: got offset %d, want 77", off)
	}
}

func TestMaxTimestamp(t *testing.T) {
	tl := openTest(t, newMemFS(), testConfig(), Options{})
	if ts, off := tl.MaxTimestamp(); ts != -1 || off != -1 {
		t.Fatalf("empty log: got %d, %d, want -1, -1", ts, off)
	}
	tl.append(batchOf(t, 5, 10, 1000)) // 1000..1004 at 0..4
	tl.append(batchOf(t, 5, 10, 5000)) // 5000..5004 at 5..9
	tl.append(batchOf(t, 3, 10, 5002)) // 5002..5004 at 10..12
	tl.append(batchOf(t, 2, 10, 10))
	check := func(wantTS, wantOff int64) {
		t.Helper()
		if ts, off := tl.MaxTimestamp(); ts != wantTS || off != wantOff {
			t.Fatalf("got %d at %d, want %d at %d", ts, off, wantTS, wantOff)
		}
	}
	check(5004, 9)
	b := batchOf(t, 4, 10, 1)
	recordbatch.SetLogAppendTime(b, 9000)
	tl.append(b) // 15..18
	check(9000, 18)
	tl.reopen(true)
	check(9000, 18)
	tl.reopen(false)
	check(9000, 18)
}

func TestRetention(t *testing.T) {
	clock := newClock()
	now := clock.Now().UnixMilli()
	tests := []struct {
		name        string
		ms, bytes   int64
		wantDeleted int
		limit       int64 // EnforceRetentionBelow's; 0 for EnforceRetention
	}{
		{"infinite", -1, -1, 0, 0},
		{"by time", 60_000, -1, 7, 0}, // segments 0-6 hold timestamps older than a minute
		{"by bytes", -1, 4 * 1000, 5, 0},
		{"both", 150_000, 8 * 1000, 3, 0},
		{"zero time keeps active", 0, -1, 9, 0},
		{"only below the limit", 60_000, -1, 3, 35}, // segment 3 holds offsets 30-39
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.SegmentBytes = 1000
			cfg.RetentionMs, cfg.RetentionBytes = tt.ms, tt.bytes
			tl := openTest(t, newMemFS(), cfg, Options{Now: clock.Now})
			// 10 segments of 5 batches of ~180 bytes; segment i's
			// timestamps are 200 - 20i seconds old.
			for i := range 10 {
				ts := now - int64(10-i)*20_000
				for range 5 {
					tl.append(batchOf(t, 2, 50, ts))
				}
			}
			if got := tl.SegmentCount(); got != 10 {
				t.Fatalf("got %d segments, want 10", got)
			}
			retain := tl.EnforceRetention
			if tt.limit > 0 {
				retain = func() (int, error) { return tl.EnforceRetentionBelow(tt.limit) }
			}
			n, err := retain()
			if err != nil {
				t.Fatal(err)
			}
			if n != tt.wantDeleted {
				t.Fatalf("got %d deleted, want %d", n, tt.wantDeleted)
			}
			wantStart := int64(n * 10)
			if got := tl.StartOffset(); got != wantStart {
				t.Errorf("got start offset %d, want %d", got, wantStart)
			}
			if got := tl.SegmentCount(); got != 10-n {
				t.Errorf("got %d segments, want %d", got, 10-n)
			}
			if got, want := tl.readAll(wantStart), tl.ackedFrom(wantStart); !bytes.Equal(got, want) {
				t.Errorf("got %d bytes, want %d", len(got), len(want))
			}
			if _, err := tl.Read(wantStart-1, 100, math.MaxInt64); wantStart > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
				t.Errorf("read below start: got %v, want ErrOffsetOutOfRange", err)
			}
			if fileExists(t, tl.fsys, segPath(0, logSuffix)) != (n == 0) {
				t.Errorf("first segment file exists: %v, want %v", !(n == 0), n == 0)
			}
			tl.reopen(false)
			if got := tl.StartOffset(); got != wantStart {
				t.Errorf("after reopen: got start offset %d, want %d", got, wantStart)
			}
		})
	}
}

func TestSetStartOffset(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	tl := openTest(t, newMemFS(), cfg, Options{})
	tl.appendN(20, 2, 50, 1000) // 5 batches (10 offsets) per segment
	if got := tl.SegmentCount(); got != 4 {
		t.Fatalf("got %d segments, want 4", got)
	}
	for _, tt := range []struct {
		off      int64
		wantErr  error
		wantSegs int
	}{
		{-1, ErrOffsetOutOfRange, 4},
		{41, ErrOffsetOutOfRange, 4},
		{3, nil, 4},
		{2, ErrOffsetOutOfRange, 4},
		{10, nil, 3},
		{23, nil, 2},
		{40, nil, 1},
	} {
		err := tl.SetStartOffset(tt.off)
		if !errors.Is(err, tt.wantErr) {
			t.Fatalf("SetStartOffset(%d): got %v, want %v", tt.off, err, tt.wantErr)
		}
		if got := tl.SegmentCount(); got != tt.wantSegs {
			t.Fatalf("SetStartOffset(%d): got %d segments, want %d", tt.off, got, tt.wantSegs)
		}
	}
	if got := tl.StartOffset(); got != 40 {
		t.Fatalf("got start %d, want 40", got)
	}
	tl.reopen(true)
	if got, end := tl.StartOffset(), tl.EndOffset(); got != 40 || end != 40 {
		t.Fatalf("after reopen: got start %d end %d, want 40 40", got, end)
	}
}

func TestSizeFrom(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	tl := openTest(t, newMemFS(), cfg, Options{})
	tl.appendN(20, 2, 50, 1000) // batches of 2 offsets, 4 segments
	for off := int64(-1); off <= 41; off++ {
		want := int64(len(tl.ackedFrom(max(off, 0) / 2 * 2)))
		if got, err := tl.SizeFrom(off); err != nil || got != want {
			t.Errorf("SizeFrom(%d): got %d, %v; want %d", off, got, err, want)
		}
	}
	// Below the start offset, what is left of the batch holding it on.
	if err := tl.SetStartOffset(13); err != nil {
		t.Fatal(err)
	}
	if got, err := tl.SizeFrom(0); err != nil || got != int64(len(tl.ackedFrom(12))) {
		t.Errorf("SizeFrom(0) from start 13: got %d, %v; want %d", got, err, len(tl.ackedFrom(12)))
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		name    string
		offset  int64
		wantEnd int64
		wantErr error
	}{
		{"at end", 80, 80, nil},
		{"above end", 90, 80, nil},
		{"batch boundary in last segment", 76, 76, nil},
		{"middle of a batch", 61, 60, nil},
		{"segment base", 32, 32, nil},
		{"middle of first segment", 5, 4, nil},
		{"everything", 0, 0, nil},
	}
	for _, tt := range tests {
		for _, clean := range []bool{true, false} {
			t.Run(tt.name, func(t *testing.T) {
				cfg := testConfig()
				cfg.SegmentBytes = 1500
				tl := openTest(t, newMemFS(), cfg, Options{})
				tl.appendN(20, 4, 50, 1000) // 4 records, ~330 bytes per batch: 4 batches per segment
				err := tl.Truncate(tt.offset)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				check := func(when string) {
					t.Helper()
					if got := tl.EndOffset(); got != tt.wantEnd {
						t.Fatalf("%s: got end %d, want %d", when, got, tt.wantEnd)
					}
					var want []byte
					for _, b := range tl.acked {
						if int64(binary.BigEndian.Uint64(b)) < tt.wantEnd {
							want = append(want, b...)
						}
					}
					if got := tl.readAll(0); !bytes.Equal(got, want) {
						t.Fatalf("%s: got %d bytes, want %d", when, len(got), len(want))
					}
				}
				check("after truncate")
				tl.reopen(clean)
				check("after reopen")
				res := tl.append(batchOf(t, 1, 10, 5000))
				if res.BaseOffset != tt.wantEnd {
					t.Fatalf("got next append at %d, want %d", res.BaseOffset, tt.wantEnd)
				}
				if off, ts, _ := tl.OffsetForTimestamp(5000); off != tt.wantEnd || ts != 5000 {
					t.Fatalf("got timestamp 5000 at %d (%d), want %d", off, ts, tt.wantEnd)
				}
			})
		}
	}
}

func TestTruncateBelowStart(t *testing.T) {
	tl := openTest(t, newMemFS(), testConfig(), Options{})
	tl.appendN(5, 2, 10, 1000)
	if err := tl.SetStartOffset(4); err != nil {
		t.Fatal(err)
	}
	if err := tl.Truncate(3); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("got %v, want ErrOffsetOutOfRange", err)
	}
}

func TestScan(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1000
	tl := openTest(t, newMemFS(), cfg, Options{})
	tl.appendN(12, 3, 50, 1000)
	var got []int64
	if err := tl.Scan(10, func(b []byte, h recordbatch.Header) (bool, error) {
		if _, err := recordbatch.Check(b); err != nil {
			return false, err
		}
		got = append(got, h.BaseOffset)
		return len(got) < 5, nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []int64{9, 12, 15, 18, 21}
	if !equalInts(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestClosed(t *testing.T) {
	tl := openTest(t, newMemFS(), testConfig(), Options{})
	tl.appendN(1, 1, 10, 1000)
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tl.Append(batchOf(t, 1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("append: got %v, want ErrClosed", err)
	}
	if _, err := tl.Read(0, 100, 100); !errors.Is(err, ErrClosed) {
		t.Errorf("read: got %v, want ErrClosed", err)
	}
	if err := tl.Close(); !errors.Is(err, ErrClosed) {
		t.Errorf("second close: got %v, want ErrClosed", err)
	}
}

func TestDelete(t *testing.T) {
	fsys := newMemFS()
	tl := openTest(t, fsys, testConfig(), Options{})
	tl.appendN(2, 1, 10, 1000)
	syncs := fsys.logSyncs.Load()
	if err := tl.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := fsys.ReadDir(testDir); err == nil {
		t.Fatal("directory still exists")
	}
	if n := fsys.logSyncs.Load() - syncs; n != 0 {
		t.Errorf("delete synced the log %d times; its data is going anyway", n)
	}
	if _, err := tl.Append(batchOf(t, 1, 1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("append after delete: got %v, want ErrClosed", err)
	}
}

package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"
)

// corruptCase damages the files of a log of 20 batches in two segments
// (batches 0-9 in the first, 10-19 in the last) and says which batches
// survive recovery, or that Open must fail with a CorruptionError.
type corruptCase struct {
	name    string
	damage  func(t *testing.T, m *memFS, pos []int64) // pos: file positions of the last segment's batches, plus its end
	clean   bool
	survive int  // batches left; ignored when corrupt
	corrupt bool // Open returns *CorruptionError and leaves the files alone
}

func lastSeg(m *memFS) string { return segPath(10*3, logSuffix) }

func modify(t *testing.T, m *memFS, name string, fn func([]byte) []byte) {
	t.Helper()
	b, ok := m.read(name)
	if !ok {
		t.Fatalf("%s missing", name)
	}
	m.write(name, fn(b))
}

func removeRecoveryPoint(t *testing.T, m *memFS) {
	t.Helper()
	if err := m.Remove(filepath.Join(testDir, recoveryPointFile)); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryPointTrusted: without a clean shutdown, the batches of the
// last segment below the recovery point are taken from its index, not read
// again; those above it are read and checked. A damaged batch below it is
// not noticed at open, one above it is corruption.
func TestRecoveryPointTrusted(t *testing.T) {
	for _, tt := range []struct {
		name    string
		damaged int // batch index, of 20 batches of 3 offsets
		rp      int64
		corrupt bool
	}{
		{"damage below the recovery point", 2, 45, false},
		{"damage above the recovery point", 17, 45, true},
		{"damage below the recovery point, none kept", 2, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			indexSmallSegments(t)
			m := newMemFS()
			cfg := testConfig()
			cfg.IndexIntervalBytes = 300
			tl := openTest(t, m, cfg, Options{})
			var pos []int64
			for i := range 20 {
				pos = append(pos, tl.Size())
				tl.append(batchOf(t, 3, 60, 1000+int64(i)))
			}
			if err := tl.Close(); err != nil {
				t.Fatal(err)
			}
			modify(t, m, segPath(0, logSuffix), func(b []byte) []byte { b[pos[tt.damaged]+70] ^= 0xff; return b })
			if err := putCheckpoint(m, testDir, recoveryPointFile, tt.rp, true); err != nil {
				t.Fatal(err)
			}
			l, err := Open(testDir, cfg, Options{FS: m})
			if tt.corrupt {
				if !errors.Is(err, ErrCorruption) {
					t.Fatalf("open: %v, want corruption", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			defer l.Close()
			if got := l.EndOffset(); got != 60 {
				t.Fatalf("end offset %d, want 60", got)
			}
		})
	}
}

func TestRecoverCorruptions(t *testing.T) {
	cases := []corruptCase{
		{name: "intact", damage: func(*testing.T, *memFS, []int64) {}, survive: 20},
		{name: "torn mid header", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return b[:pos[9]+30] })
		}, survive: 19},
		{name: "torn in length field", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return b[:pos[9]+10] })
		}, survive: 19},
		{name: "torn mid records", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return b[:len(b)-5] })
		}, survive: 19},
		{name: "bad crc in last batch", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })
		}, survive: 19},
		{name: "bad length in last batch", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { binary.BigEndian.PutUint32(b[pos[9]+8:], 1<<30); return b })
		}, survive: 19},
		{name: "zero-filled tail", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
		}, survive: 20},
		{name: "zeroed last batches", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { clear(b[pos[7]:]); return b })
		}, survive: 17},
		{name: "garbage appended", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return append(b, bytes.Repeat([]byte{2, 0, 0, 1, 7}, 300)...) })
		}, survive: 20},
		{name: "torn tail with clean flag", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { return b[:len(b)-5] })
		}, survive: 19},
		// Batches below the recovery point are trusted (see
		// TestRecoveryPointTrusted): these are above it.
		{name: "bad crc in the middle", corrupt: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { b[pos[4]+70] ^= 0xff; return b })
			removeRecoveryPoint(t, m)
		}},
		{name: "bad length in the middle", corrupt: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, lastSeg(m), func(b []byte) []byte { binary.BigEndian.PutUint32(b[pos[4]+8:], 7); return b })
			removeRecoveryPoint(t, m)
		}},
		{name: "bad batch in first segment", corrupt: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(0, logSuffix), func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b })
		}},
		{name: "torn first segment and empty last", damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(0, logSuffix), func(b []byte) []byte { return b[:len(b)-5] })
			modify(t, m, lastSeg(m), func(b []byte) []byte { return b[:0] })
		}, survive: 9},
		{name: "missing index", damage: func(t *testing.T, m *memFS, pos []int64) {
			if err := m.Remove(segPath(30, indexSuffix)); err != nil {
				t.Fatal(err)
			}
			if err := m.Remove(segPath(0, timeIndexSuffix)); err != nil {
				t.Fatal(err)
			}
		}, survive: 20},
		{name: "missing index clean", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			if err := m.Remove(segPath(0, indexSuffix)); err != nil {
				t.Fatal(err)
			}
		}, survive: 20},
		{name: "truncated index clean", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(0, indexSuffix), func(b []byte) []byte { return b[:len(b)-3] })
			modify(t, m, segPath(30, timeIndexSuffix), func(b []byte) []byte { return b[:len(b)-5] })
		}, survive: 20},
		{name: "index past the end clean", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(30, indexSuffix), func(b []byte) []byte {
				return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(b, 100), uint32(pos[10]+1000))
			})
		}, survive: 20},
		{name: "index pointing inside a batch clean", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(30, indexSuffix), func(b []byte) []byte {
				binary.BigEndian.PutUint32(b[len(b)-4:], binary.BigEndian.Uint32(b[len(b)-4:])+3)
				return b
			})
		}, survive: 20},
		{name: "garbage time index clean", clean: true, damage: func(t *testing.T, m *memFS, pos []int64) {
			modify(t, m, segPath(30, timeIndexSuffix), func(b []byte) []byte { return bytes.Repeat([]byte{0xff}, 24) })
		}, survive: 20},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			indexSmallSegments(t)
			m := newMemFS()
			cfg := testConfig()
			cfg.IndexIntervalBytes = 300
			tl := openTest(t, m, cfg, Options{})
			for i := range 20 {
				if i == 10 {
					if err := tl.roll(); err != nil {
						t.Fatal(err)
					}
				}
				tl.append(batchOf(t, 3, 60, 1000+int64(i)))
			}
			var pos []int64
			for _, b := range tl.acked[10:] {
				pos = append(pos, int64(len(pos))*int64(len(b)))
			}
			pos = append(pos, int64(len(pos))*int64(len(tl.acked[10])))
			if err := tl.Close(); err != nil {
				t.Fatal(err)
			}
			tc.damage(t, m, pos)
			before0, _ := m.read(segPath(0, logSuffix))
			before1, _ := m.read(lastSeg(m))

			l, err := Open(testDir, cfg, Options{FS: m, Clean: tc.clean})
			if tc.corrupt {
				var ce *CorruptionError
				if !errors.As(err, &ce) || !errors.Is(err, ErrCorruption) {
					t.Fatalf("got %v, want a CorruptionError", err)
				}
				after0, _ := m.read(segPath(0, logSuffix))
				after1, _ := m.read(lastSeg(m))
				if !bytes.Equal(before0, after0) || !bytes.Equal(before1, after1) {
					t.Fatal("corrupt log files were modified")
				}
				return
			}
			if err != nil {
				t.Fatalf("open: %v", err)
			}
			tl.Log = l
			want := int64(3 * tc.survive)
			if got := l.EndOffset(); got != want {
				t.Fatalf("got end offset %d, want %d", got, want)
			}
			var wantData []byte
			for _, b := range tl.acked[:tc.survive] {
				wantData = append(wantData, b...)
			}
			if got := tl.readAll(0); !bytes.Equal(got, wantData) {
				t.Fatalf("got %d bytes, want %d", len(got), len(wantData))
			}
			// The indexes are usable: every offset reads its batch.
			for off := int64(0); off < want; off += 2 {
				res, err := l.Read(off, 1, math.MaxInt64)
				if err != nil || res.FirstOffset != off/3*3 {
					t.Fatalf("read %d: got first offset %d, %v; want %d", off, res.FirstOffset, err, off/3*3)
				}
			}
			if off, _, ok := l.OffsetForTimestamp(1005); !ok || off != 11 {
				t.Fatalf("got timestamp 1005 at %d, %v; want 11", off, ok)
			}
			tl.append(batchOf(t, 1, 1, 1))
			tl.reopen(false)
			if got := l.EndOffset(); got != want+1 {
				t.Fatalf("after append and reopen: got end %d, want %d", got, want+1)
			}
		})
	}
}

func TestCrashDurability(t *testing.T) {
	for _, tt := range []struct {
		name     string
		flush    int64
		prealloc bool
	}{
		{"flush every append", 1, false},
		{"flush every append preallocated", 1, true},
		{"never flush", math.MaxInt64, false},
		{"flush every 7 records", 7, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemFS()
			cfg := testConfig()
			cfg.SegmentBytes = 2000
			cfg.FlushMessages = tt.flush
			cfg.Preallocate = tt.prealloc
			tl := openTest(t, m, cfg, Options{})
			for round := range 3 {
				tl.appendN(15, 2, 40, int64(1000*round))
				m.Crash()
				tl.reopen(false)
				got := batches(t, tl.readAll(tl.StartOffset()))
				if tt.flush == 1 && len(got) != len(tl.acked) {
					t.Fatalf("round %d: %d batches survived, want all %d acknowledged", round, len(got), len(tl.acked))
				}
				if len(got) > len(tl.acked) {
					t.Fatalf("round %d: %d batches, more than the %d appended", round, len(got), len(tl.acked))
				}
				for i, b := range got {
					if !bytes.Equal(b, tl.acked[i]) {
						t.Fatalf("round %d: batch %d differs from what was appended", round, i)
					}
				}
				tl.acked = tl.acked[:len(got)]
				end := tl.EndOffset()
				tl.reopen(false)
				if tl.EndOffset() != end {
					t.Fatalf("round %d: second reopen moved end offset from %d to %d", round, end, tl.EndOffset())
				}
			}
		})
	}
}

func TestGroupCommit(t *testing.T) {
	m := newMemFS()
	cfg := testConfig()
	cfg.FlushMessages = 1
	tl := openTest(t, m, cfg, Options{})
	const writers, each = 8, 50
	// The first fsync waits until every writer has appended its first
	// batch: those appended during a round must share the next one.
	var first sync.Once
	m.onLogSync = func() {
		first.Do(func() {
			deadline := time.Now().Add(10 * time.Second)
			for tl.EndOffset() < writers && time.Now().Before(deadline) {
				runtime.Gosched()
			}
		})
	}
	before := m.logSyncs.Load()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := tl.Append(batchOf(t, 1, 100, int64(w*1000+i))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	syncs := m.logSyncs.Load() - before
	t.Logf("%d appends, %d fsyncs", writers*each, syncs)
	if syncs >= writers*each {
		t.Errorf("got %d fsyncs for %d appends, want fewer", syncs, writers*each)
	}
	m.Crash()
	tl.reopen(false)
	if got := tl.EndOffset(); got != writers*each {
		t.Fatalf("after crash: got end offset %d, want %d", got, writers*each)
	}
}

func TestConcurrentReadersDuringAppendsAndRetention(t *testing.T) {
	cfg := testConfig()
	cfg.SegmentBytes = 1500
	cfg.RetentionBytes = 6000
	tl := openTest(t, newMemFS(), cfg, Options{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for r := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				start, end := tl.StartOffset(), tl.EndOffset()
				off := start + int64(r)%max(end-start, 1)
				res, err := tl.Read(off, 2000, end)
				if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
					t.Errorf("read %d: %v", off, err)
					return
				}
				for len(res.Data) > 0 {
					n := 12 + int(binary.BigEndian.Uint32(res.Data[8:]))
					if _, err := recordbatchCheck(res.Data[:n]); err != nil {
						t.Errorf("read %d: bad batch: %v", off, err)
						return
					}
					res.Data = res.Data[n:]
				}
				tl.OffsetForTimestamp(1500)
				tl.MaxTimestamp()
			}
		}()
	}
	for i := range 400 {
		if _, err := tl.Append(batchOf(t, 2, 50, int64(1000+i))); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			if _, err := tl.EnforceRetention(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
	if _, err := tl.EnforceRetention(); err != nil {
		t.Fatal(err)
	}
	if tl.Size() > 6000+1500 {
		t.Errorf("got size %d after retention, want at most %d", tl.Size(), 7500)
	}
}

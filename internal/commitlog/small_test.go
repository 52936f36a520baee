package commitlog

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// indexFiles reports which of the files that recovery can do without
// exist for the segment at base 0.
func indexFiles(t *testing.T, m FS) (idx, tix, rp bool) {
	t.Helper()
	return fileExists(t, m, segPath(0, indexSuffix)), fileExists(t, m, segPath(0, timeIndexSuffix)),
		fileExists(t, m, filepath.Join(testDir, recoveryPointFile))
}

// TestSmallLogFiles: a log of one segment smaller than smallSegmentBytes
// is stopped, synced and recovered without creating its index files or its
// recovery point file, keeps its contents and its time lookups, and gets
// the files once it grows past that size.
func TestSmallLogFiles(t *testing.T) {
	for _, tt := range []struct {
		name  string
		clean bool
	}{{"clean stop", true}, {"crash after sync", false}} {
		t.Run(tt.name, func(t *testing.T) {
			m := newMemFS()
			cfg := testConfig()
			cfg.IndexIntervalBytes = 300
			tl := openTest(t, m, cfg, Options{})
			tl.appendN(10, 3, 60, 1000)
			if err := tl.Sync(); err != nil {
				t.Fatal(err)
			}
			if !tt.clean {
				m.Crash()
			}
			tl.reopen(tt.clean)
			if idx, tix, rp := indexFiles(t, m); idx || tix || rp {
				t.Fatalf("got index %v, time index %v, recovery point %v; want none of them", idx, tix, rp)
			}
			if got, want := tl.readAll(0), tl.ackedFrom(0); !bytes.Equal(got, want) {
				t.Fatalf("read %d bytes, want the %d appended", len(got), len(want))
			}
			if got := tl.EndOffset(); got != 30 {
				t.Fatalf("got end offset %d, want 30", got)
			}
			// Record j of batch i is offset 3i+j, at time 1000+i+j.
			if off, _, ok := tl.OffsetForTimestamp(1004); !ok || off != 8 {
				t.Fatalf("offset for time 1004: got %d, %v; want 8", off, ok)
			}
			tl.appendN(60, 3, 400, 2000) // past smallSegmentBytes
			tl.reopen(true)
			if idx, tix, rp := indexFiles(t, m); !idx || !tix || !rp {
				t.Fatalf("got index %v, time index %v, recovery point %v; want all of them", idx, tix, rp)
			}
		})
	}
}

// TestSmallLogTornTail: a crash that tears the last batch of a small log,
// which has no recovery point, loses only that batch.
func TestSmallLogTornTail(t *testing.T) {
	m := newMemFS()
	tl := openTest(t, m, testConfig(), Options{})
	tl.appendN(5, 2, 50, 1000)
	tl.abandon()
	modify(t, m, segPath(0, logSuffix), func(b []byte) []byte { return b[:len(b)-7] })
	tl.acked = tl.acked[:4]
	opts := tl.opts
	l, err := Open(testDir, tl.cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	tl.Log = l
	if got, want := tl.readAll(0), tl.ackedFrom(0); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d of the first 4 batches", len(got), len(want))
	}
}

// TestIdleCloseWritesNothing: stopping a broker (CloseAll) that reopened
// a log after a clean stop, with nothing appended since, writes no file:
// its index files already hold what recovery loaded (every partition's
// index files used to be rewritten at every stop).
func TestIdleCloseWritesNothing(t *testing.T) {
	w := &countFS{memFS: newMemFS()}
	cfg := testConfig()
	cfg.IndexIntervalBytes = 300
	tl := openTest(t, w, cfg, Options{})
	tl.appendN(60, 3, 400, 1000) // past smallSegmentBytes, so it has index files
	if err := tl.roll(); err != nil {
		t.Fatal(err)
	}
	tl.appendN(60, 3, 400, 2000)
	tl.reopen(true)
	before := w.writes.Load()
	if err := CloseAll([]*Log{tl.Log}); err != nil {
		t.Fatal(err)
	}
	if got := w.writes.Load() - before; got != 0 {
		t.Fatalf("stop made %d file writes, want none", got)
	}
}

// TestOpenTriesNoMissingFile: Open looks only for the checkpoint and index
// files its directory listing holds; a small log has none, and trying to
// open them was a third of the start of a broker with 10,000 partitions.
func TestOpenTriesNoMissingFile(t *testing.T) {
	m := &countFS{memFS: newMemFS()}
	tl := openTest(t, m, testConfig(), Options{})
	tl.appendN(5, 2, 50, 1000)
	for _, clean := range []bool{true, false} {
		tl.reopen(clean)
		if got := m.misses.Load(); got != 0 {
			t.Fatalf("clean %v: got %d opens of missing files, want 0", clean, got)
		}
	}
	if got, want := tl.readAll(0), tl.ackedFrom(0); !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d appended", len(got), len(want))
	}
}

// countFS counts the files it creates or truncates and the writes to its
// files (writes), and the opens of files that do not exist (misses).
type countFS struct {
	*memFS
	writes, misses atomic.Int64
}

func (c *countFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	if flag&(os.O_CREATE|os.O_TRUNC) != 0 {
		c.writes.Add(1)
	}
	f, err := c.memFS.OpenFile(name, flag, perm)
	if errors.Is(err, fs.ErrNotExist) {
		c.misses.Add(1)
	}
	if err != nil {
		return nil, err
	}
	return &countFile{File: f, c: c}, nil
}

type countFile struct {
	File
	c *countFS
}

func (f *countFile) WriteAt(b []byte, off int64) (int, error) {
	f.c.writes.Add(1)
	return f.File.WriteAt(b, off)
}

// TestSealedSegmentWithoutIndexFiles: a sealed segment whose index files
// are gone (a crash before the sync that writes them) gets back the time
// index entry of its largest timestamp, which a sealed segment's time
// index ends with.
func TestSealedSegmentWithoutIndexFiles(t *testing.T) {
	m := newMemFS()
	cfg := testConfig()
	cfg.IndexIntervalBytes = 1 << 20 // no entries but the seal's
	tl := openTest(t, m, cfg, Options{})
	tl.appendN(5, 2, 50, 1000)
	if err := tl.roll(); err != nil {
		t.Fatal(err)
	}
	tl.appendN(1, 2, 50, 2000)
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	// The offset index has no entries, so no file.
	if err := m.Remove(segPath(0, timeIndexSuffix)); err != nil {
		t.Fatal(err)
	}
	l, err := Open(testDir, cfg, Options{FS: m, Clean: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := l.segs[0]
	// Batch 4 holds offsets 8 and 9 at times 1004 and 1005.
	if ts, rel, ok := lastTimeEntry(s.tix); !ok || ts != 1005 || rel != 9 {
		t.Fatalf("got last time entry %d at %d (%v), want 1005 at 9", ts, rel, ok)
	}
}

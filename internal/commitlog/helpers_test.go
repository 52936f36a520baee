package commitlog

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/stratalog/strata/internal/recordbatch"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testDir = "/data/topic-0"

// testConfig is a small-segment configuration for tests.
func testConfig() Config {
	c := DefaultConfig()
	c.SegmentBytes = 1 << 20
	c.SegmentMs = 0
	c.RetentionMs = -1
	c.IndexIntervalBytes = 256
	return c
}

// fakeClock is a settable Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.UnixMilli(1_700_000_000_000)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// batchOf builds a valid uncompressed batch of n records of valueSize
// bytes each, timestamps ts, ts+1, ...
func batchOf(t testing.TB, n, valueSize int, ts int64) []byte {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{TimestampDelta: int64(i), Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte('a' + i%26)}, valueSize)}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatalf("build batch: %v", err)
	}
	return b
}

// tlog wraps a Log under test with the batches it acknowledged.
type tlog struct {
	*Log
	t     testing.TB
	fsys  FS
	cfg   Config
	opts  Options
	acked [][]byte // stored bytes of every acknowledged batch, in order
}

func openTest(t testing.TB, fsys FS, cfg Config, opts Options) *tlog {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.FS = fsys
	l, err := Open(testDir, cfg, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	tl := &tlog{Log: l, t: t, fsys: fsys, cfg: cfg, opts: opts}
	t.Cleanup(func() {
		if err := tl.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return tl
}

// reopen closes (cleanly or, after a crash, by abandoning) and opens again.
func (tl *tlog) reopen(clean bool) {
	tl.t.Helper()
	if clean {
		if err := tl.Close(); err != nil {
			tl.t.Fatalf("close: %v", err)
		}
	} else {
		tl.abandon()
	}
	opts := tl.opts
	opts.Clean = clean
	l, err := Open(testDir, tl.cfg, opts)
	if err != nil {
		tl.t.Fatalf("reopen: %v", err)
	}
	tl.Log = l
}

// abandon drops the log without closing it, as a crash would, but
// releases its files so that goroutine and handle accounting stays clean.
func (tl *tlog) abandon() {
	tl.mu.Lock()
	tl.closed = true
	segs := tl.segs
	tl.segs = nil
	tl.mu.Unlock()
	for _, s := range segs {
		s.release()
	}
}

func (tl *tlog) append(b []byte) AppendResult {
	tl.t.Helper()
	res, err := tl.Append(b)
	if err != nil {
		tl.t.Fatalf("append: %v", err)
	}
	tl.acked = append(tl.acked, b)
	return res
}

// appendN appends n batches of recs records of valueSize bytes.
func (tl *tlog) appendN(n, recs, valueSize int, ts int64) {
	tl.t.Helper()
	for i := range n {
		tl.append(batchOf(tl.t, recs, valueSize, ts+int64(i)))
	}
}

// readAll reads every batch from offset to the end.
func (tl *tlog) readAll(from int64) []byte {
	tl.t.Helper()
	res, err := tl.Read(from, math.MaxInt32, math.MaxInt64)
	if err != nil {
		tl.t.Fatalf("read from %d: %v", from, err)
	}
	return res.Data
}

// batches splits back-to-back batches, checking each.
func batches(t testing.TB, data []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(data) > 0 {
		if len(data) < recordbatch.LogOverhead {
			t.Fatalf("%d stray bytes", len(data))
		}
		n := recordbatch.LogOverhead + int(binary.BigEndian.Uint32(data[8:]))
		if n > len(data) {
			t.Fatalf("batch of %d bytes, %d left", n, len(data))
		}
		if _, err := recordbatch.Check(data[:n]); err != nil {
			t.Fatalf("batch at offset %d: %v", binary.BigEndian.Uint64(data), err)
		}
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// ackedFrom returns the acknowledged batches whose base offset is >= from.
func (tl *tlog) ackedFrom(from int64) []byte {
	var out []byte
	for _, b := range tl.acked {
		if int64(binary.BigEndian.Uint64(b)) >= from {
			out = append(out, b...)
		}
	}
	return out
}

func segPath(base int64, suffix string) string {
	return testDir + "/" + segmentName(base, suffix)
}

func fileExists(t testing.TB, fsys FS, name string) bool {
	t.Helper()
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

// chrootFS is OSFS below a root directory, so that tests on the real file
// system use the same paths as those on memFS.
type chrootFS struct{ root string }

func (c chrootFS) p(name string) string { return c.root + name }

func (c chrootFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	return OSFS{}.OpenFile(c.p(name), flag, perm)
}
func (c chrootFS) Remove(name string) error             { return os.Remove(c.p(name)) }
func (c chrootFS) RemoveAll(name string) error          { return os.RemoveAll(c.p(name)) }
func (c chrootFS) Rename(oldpath, newpath string) error { return os.Rename(c.p(oldpath), c.p(newpath)) }
func (c chrootFS) ReadDir(name string) ([]string, error) {
	return OSFS{}.ReadDir(c.p(name))
}
func (c chrootFS) MkdirAll(name string, perm os.FileMode) error { return os.MkdirAll(c.p(name), perm) }
func (c chrootFS) SyncDir(name string) error                    { return OSFS{}.SyncDir(c.p(name)) }
func (c chrootFS) SyncFS(name string) error                     { return OSFS{}.SyncFS(c.p(name)) }

// indexSmallSegments makes logs write index and recovery point files for
// segments of any size until the test ends, for tests that look at or
// damage those files.
func indexSmallSegments(t testing.TB) {
	t.Helper()
	old := smallSegmentBytes
	smallSegmentBytes = 0
	t.Cleanup(func() { smallSegmentBytes = old })
}

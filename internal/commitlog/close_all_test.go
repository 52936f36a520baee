package commitlog

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"testing"
)

// openLogs opens n logs in data directory /data of fsys, each with rounds
// batches appended (never flushed), and returns them with their batches.
func openLogs(t *testing.T, fsys FS, n, rounds int) ([]*Log, [][][]byte) {
	t.Helper()
	cfg := testConfig()
	cfg.SegmentBytes = 2000 // several segments per log
	logs := make([]*Log, n)
	appended := make([][][]byte, n)
	for i := range logs {
		l, err := Open(fmt.Sprintf("/data/t-%d", i), cfg, Options{FS: fsys, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("open log %d: %v", i, err)
		}
		logs[i] = l
		for r := range rounds + i {
			b := batchOf(t, 2, 40, int64(r))
			if _, err := l.Append(b); err != nil {
				t.Fatalf("append to log %d: %v", i, err)
			}
			appended[i] = append(appended[i], b)
		}
	}
	return logs, appended
}

// reopenLogs opens the logs of openLogs again and returns, for each, the
// batches it holds and its recovery point checkpoint.
func reopenLogs(t *testing.T, fsys FS, n int, clean bool) ([][][]byte, []int64) {
	t.Helper()
	got := make([][][]byte, n)
	rps := make([]int64, n)
	for i := range n {
		dir := fmt.Sprintf("/data/t-%d", i)
		l, err := Open(dir, testConfig(), Options{FS: fsys, Clean: clean, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatalf("reopen log %d: %v", i, err)
		}
		res, err := l.Read(l.StartOffset(), math.MaxInt32, math.MaxInt64)
		if err != nil {
			t.Fatalf("read log %d: %v", i, err)
		}
		got[i] = batches(t, res.Data)
		if rps[i], _, err = readCheckpoint(fsys, dir, recoveryPointFile); err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		if err := l.Close(); err != nil {
			t.Fatalf("close log %d: %v", i, err)
		}
	}
	return got, rps
}

func TestCloseAllIsDurableWithoutFileSyncs(t *testing.T) {
	const n = 4
	// The files Close leaves, one log after another, are the reference.
	ref := newMemFS()
	refLogs, _ := openLogs(t, ref, n, 30)
	for i, l := range refLogs {
		if err := l.Close(); err != nil {
			t.Fatalf("close log %d: %v", i, err)
		}
	}
	ref.Crash()

	m := newMemFS()
	logs, appended := openLogs(t, m, n, 30)
	before := m.logSyncs.Load()
	if err := CloseAll(logs); err != nil {
		t.Fatalf("close all: %v", err)
	}
	if got := m.logSyncs.Load() - before; got != 0 {
		t.Errorf("got %d fsyncs of log files, want 0: the file system sync covers them", got)
	}
	m.Crash()
	if len(m.files) != len(ref.files) {
		t.Errorf("got %d files after a crash, want the %d Close leaves", len(m.files), len(ref.files))
	}
	for name := range ref.files {
		want, _ := ref.read(name)
		got, ok := m.read(name)
		if !ok || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes after a crash, want the %d Close leaves", name, len(got), len(want))
		}
	}
	// A crash right after CloseAll is a clean shutdown: the broker writes
	// its marker once CloseAll returned nil.
	got, rps := reopenLogs(t, m, n, true)
	for i := range n {
		if !slices.EqualFunc(got[i], appended[i], bytes.Equal) {
			t.Errorf("log %d: %d batches after reopening, want the %d appended", i, len(got[i]), len(appended[i]))
		}
		if want := int64(2 * len(appended[i])); rps[i] != want {
			t.Errorf("log %d: recovery point %d, want the end offset %d", i, rps[i], want)
		}
	}
	for i, l := range logs {
		if err := l.Close(); !errors.Is(err, ErrClosed) {
			t.Errorf("log %d: second close: got %v, want ErrClosed", i, err)
		}
	}
}

// TestCloseAllFailures fails the file system after each of the mutating
// operations a CloseAll makes, crashes, and opens the logs again: each
// holds a prefix of what was appended, and all of it when CloseAll
// reported success.
func TestCloseAllFailures(t *testing.T) {
	const n, rounds = 3, 12
	dry := newFaultFS(newMemFS())
	logs, _ := openLogs(t, dry, n, rounds)
	dry.ops = 0
	if err := CloseAll(logs); err != nil {
		t.Fatalf("close all: %v", err)
	}
	for budget := range dry.ops + 1 {
		t.Run(fmt.Sprint(budget), func(t *testing.T) {
			f := newFaultFS(newMemFS())
			logs, appended := openLogs(t, f, n, rounds)
			f.failAfter(budget)
			err := CloseAll(logs)
			for i, l := range logs {
				if cerr := l.Close(); !errors.Is(cerr, ErrClosed) {
					t.Errorf("log %d left open by CloseAll: close: %v", i, cerr)
				}
			}
			f.failAfter(-1)
			f.Crash()
			got, _ := reopenLogs(t, f, n, err == nil)
			for i := range n {
				if len(got[i]) > len(appended[i]) || !slices.EqualFunc(got[i], appended[i][:len(got[i])], bytes.Equal) {
					t.Fatalf("log %d: %d batches after the crash, not a prefix of the %d appended", i, len(got[i]), len(appended[i]))
				}
				if err == nil && len(got[i]) != len(appended[i]) {
					t.Errorf("log %d: CloseAll succeeded but %d of %d batches survived", i, len(got[i]), len(appended[i]))
				}
			}
		})
	}
}

package commitlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/recordbatch"
)

// modelLog is a compacted log on a faultFS under the model test.
type modelLog struct {
	t     *testing.T
	mem   *memFS
	fsys  *faultFS
	clock *fakeClock
	cfg   Config
	clean CleanOptions // the options of every pass
	l     *Log
	m     *model
	// swapsCompleted counts recoveries that completed an interrupted swap.
	swapsCompleted *countHandler
}

// countHandler is a slog.Handler counting records with message msg.
type countHandler struct {
	msg string
	n   atomic.Int64
}

func (h *countHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		h.n.Add(1)
	}
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func openModelLog(t *testing.T, cfg Config) *modelLog {
	t.Helper()
	mem := newMemFS()
	ml := &modelLog{t: t, mem: mem, fsys: newFaultFS(mem), clock: newClock(), cfg: cfg, m: newModel(),
		swapsCompleted: &countHandler{msg: "completing interrupted segment swap"}}
	ml.open()
	t.Cleanup(func() { ml.abandon() })
	return ml
}

func (ml *modelLog) open() {
	ml.t.Helper()
	l, err := Open(testDir, ml.cfg, Options{FS: ml.fsys, Now: ml.clock.Now, Logger: slog.New(ml.swapsCompleted)})
	if err != nil {
		ml.t.Fatalf("open: %v", err)
	}
	ml.l = l
}

// abandon drops the log as a crash would.
func (ml *modelLog) abandon() {
	if ml.l == nil {
		return
	}
	(&tlog{Log: ml.l}).abandon()
	ml.l = nil
}

// crash forgets everything not durable and recovers.
func (ml *modelLog) crash() {
	ml.t.Helper()
	ml.fsys.failAfter(-1)
	ml.abandon()
	ml.mem.Crash()
	ml.open()
}

// cleanWithFault runs Clean with the FS failing after n mutating
// operations, then crashes and recovers. It reports whether the budget
// outlasted the pass.
func (ml *modelLog) cleanWithFault(n int) bool {
	ml.t.Helper()
	before := ml.fsys.ops
	ml.fsys.failAfter(n)
	_, err := ml.l.Clean(context.Background(), ml.clean)
	used := ml.fsys.ops - before
	if err != nil && !errors.Is(err, errInjected) {
		ml.t.Fatalf("clean with fault after %d operations: %v", n, err)
	}
	ml.crash()
	return err == nil && used <= n
}

// randomBatch appends a batch of random keyed writes and deletes.
func (ml *modelLog) randomBatch(rng *rand.Rand, keys int) {
	ml.t.Helper()
	codecs := []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecNone, recordbatch.CodecGzip, recordbatch.CodecSnappy, recordbatch.CodecLZ4, recordbatch.CodecZstd}
	kvs := make([]kv, 1+rng.IntN(4))
	for i := range kvs {
		key := fmt.Sprintf("key-%03d", rng.IntN(keys))
		if rng.IntN(6) == 0 {
			kvs[i] = tombstone(key)
		} else {
			kvs[i] = keyed(key, fmt.Sprintf("%d%s", rng.Int64(), bytes.Repeat([]byte("v"), rng.IntN(60))))
		}
	}
	ml.m.appendKeyed(ml.t, ml.l, ml.clock.Now().UnixMilli(), codecs[rng.IntN(len(codecs))], kvs...)
}

// runSeeds runs fn as a subtest for each of n seeds, short of them under
// -short.
func runSeeds(t *testing.T, n, short int, fn func(t *testing.T, seed int)) {
	if testing.Short() {
		n = short
	}
	for seed := range n {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) { fn(t, seed) })
	}
}

// TestCleanModel runs random keyed writes and deletes, compaction rounds,
// crashes between them and crashes injected inside Clean, and checks after
// every step that what a reader reads from the start equals a map of the
// latest value per key (tombstoned keys may show as tombstones), with
// offsets increasing. At the end, with every tombstone's horizon past, it
// checks the log holds exactly the live keys once each.
func TestCleanModel(t *testing.T) {
	runSeeds(t, 60, 12, func(t *testing.T, seed int) {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		cfg := compactConfig()
		cfg.FlushMessages = 1 // every acknowledged append is durable
		cfg.SegmentBytes = int64(600 + rng.IntN(2000))
		cfg.MinCleanableDirtyRatio = []float64{0, 0.3, 0.5}[rng.IntN(3)]
		cfg.DeleteRetentionMs = 1000
		ml := openModelLog(t, cfg)
		if rng.IntN(3) == 0 {
			ml.clean.DedupeBufferBytes = 300 // a few keys per pass
		}
		if seed%4 == 1 {
			ml.clean.IOBufferBytes = 100 // reads and writes of a batch or two
		}
		keys := 5 + rng.IntN(30)
		for step := range 120 {
			switch op := rng.IntN(20); {
			case op < 13:
				ml.randomBatch(rng, keys)
			case op < 15:
				if _, err := ml.l.Clean(context.Background(), ml.clean); err != nil {
					t.Fatalf("step %d: clean: %v", step, err)
				}
			case op < 17:
				ml.cleanWithFault(rng.IntN(40))
			case op < 18:
				ml.crash()
			case op < 19:
				forceRoll(t, ml.l)
			default:
				ml.clock.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
			}
			ml.m.check(t, ml.l, false)
		}
		// Every tombstone gets its horizon, then the horizon passes.
		forceRoll(t, ml.l)
		cfg.MinCleanableDirtyRatio = 0
		ml.clean = CleanOptions{}
		ml.l.SetConfig(cfg)
		ml.cfg = cfg
		for range 2 {
			if _, err := ml.l.Clean(context.Background(), CleanOptions{}); err != nil {
				t.Fatalf("final clean: %v", err)
			}
			ml.clock.Advance(time.Duration(cfg.DeleteRetentionMs) * time.Millisecond)
		}
		if _, err := ml.l.Clean(context.Background(), CleanOptions{}); err != nil {
			t.Fatalf("final clean: %v", err)
		}
		ml.m.check(t, ml.l, true)
		ml.crash()
		ml.m.check(t, ml.l, true)
	})
}

// TestCleanCrashAtEveryStep injects a failure and a crash at every
// mutating file operation of one cleaning pass in turn; recovery must
// always find everything, and a later pass must finish the job.
func TestCleanCrashAtEveryStep(t *testing.T) {
	completed := 0
	for n := 0; ; n++ {
		cfg := compactConfig()
		cfg.FlushMessages = 1
		cfg.SegmentBytes = 700
		ml := openModelLog(t, cfg)
		rng := rand.New(rand.NewPCG(1, 2))
		for range 40 {
			ml.randomBatch(rng, 8)
		}
		forceRoll(t, ml.l)
		finished := ml.cleanWithFault(n)
		if ml.swapsCompleted.n.Load() > 0 {
			completed++
		}
		ml.m.check(t, ml.l, false)
		if _, err := ml.l.Clean(context.Background(), CleanOptions{}); err != nil {
			t.Fatalf("fault after %d: clean after recovery: %v", n, err)
		}
		ml.m.check(t, ml.l, false)
		ml.crash()
		ml.m.check(t, ml.l, false)
		ml.abandon()
		if finished {
			if n < 10 || completed == 0 {
				t.Fatalf("pass finished within %d operations, %d recoveries completed a swap; want several swaps, some completed", n, completed)
			}
			t.Logf("pass of %d operations; %d crash points left a swap to complete", n, completed)
			return
		}
	}
}

package cluster

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// memLog is a correct in-memory partition: a log behind a mutex.
type memLog struct {
	mu   sync.Mutex
	vals [][]byte
}

func (m *memLog) produce(v []byte) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals = append(m.vals, v)
	return int64(len(m.vals) - 1)
}

func (m *memLog) fetch(o int64) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if o >= int64(len(m.vals)) {
		return nil, false
	}
	return m.vals[o], true
}

func (m *memLog) len() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.vals))
}

// TestLogHistoryConcurrentLinearizable records a concurrent workload on a
// correct log through the public API, including produces whose outcome is
// reported unknown (some applied, some not), and expects it to check.
func TestLogHistoryConcurrentLinearizable(t *testing.T) {
	var log memLog
	h := NewLogHistory()
	const clients, opsEach = 6, 60
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(c), 1))
			for i := range opsEach {
				if rng.IntN(2) == 0 {
					v := fmt.Appendf(nil, "c%d-%d", c, i)
					call := h.Produce(c, v)
					switch rng.IntN(10) {
					case 0: // timed out after it was appended
						log.produce(v)
						call.Unknown()
					case 1: // failed before it was appended
						call.Unknown()
					default:
						call.Acked(log.produce(v))
					}
					continue
				}
				o := rng.Int64N(log.len() + 3)
				call := h.Fetch(c, o)
				if rng.IntN(20) == 0 {
					call.Failed()
					continue
				}
				if v, ok := log.fetch(o); ok {
					call.Got(v)
				} else {
					call.NothingYet()
				}
			}
		})
	}
	wg.Wait()
	if got, want := h.Len(), clients*opsEach; got != want {
		t.Fatalf("got %d operations, want %d", got, want)
	}
	CheckLinearizable(t, h, 10*time.Second)
}

// op is one operation of a hand-made history with explicit times.
type op struct {
	client    int
	call, ret int64
	in        logInput
	out       logOutput
}

func produce(client int, call, ret int64, v string, offset int64) op {
	return op{client, call, ret, logInput{produce: true, value: v}, logOutput{offset: offset}}
}

func produceUnknown(client int, call int64, v string) op {
	return op{client, call, unknownReturn, logInput{produce: true, value: v}, logOutput{unknown: true}}
}

func fetch(client int, call, ret int64, offset int64, v string) op {
	return op{client, call, ret, logInput{offset: offset}, logOutput{found: true, value: v}}
}

func fetchNothing(client int, call, ret int64, offset int64) op {
	return op{client, call, ret, logInput{offset: offset}, logOutput{}}
}

func (o op) operation() porcupine.Operation {
	return porcupine.Operation{ClientId: o.client, Input: o.in, Output: o.out, Call: o.call, Return: o.ret}
}

func history(ops ...op) *LogHistory {
	h := NewLogHistory()
	for _, o := range ops {
		h.ops = append(h.ops, o.operation())
	}
	return h
}

func TestLogModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []op
		want porcupine.CheckResult
	}{
		{"sequential", []op{
			produce(0, 0, 10, "a", 0), produce(0, 20, 30, "b", 1),
			fetch(1, 40, 50, 0, "a"), fetch(1, 60, 70, 1, "b"), fetchNothing(1, 80, 90, 2),
		}, porcupine.Ok},
		{"concurrent produces in either order", []op{
			produce(0, 0, 100, "a", 1), produce(1, 0, 100, "b", 0),
			fetch(2, 200, 210, 0, "b"),
		}, porcupine.Ok},
		{"a fetch during a produce may or may not see it", []op{
			produce(0, 0, 100, "a", 0),
			fetchNothing(1, 10, 20, 0), fetch(1, 30, 40, 0, "a"),
		}, porcupine.Ok},
		{"fetch sees a value before it was produced", []op{
			fetch(1, 0, 10, 0, "a"),
			produce(0, 20, 30, "a", 0),
		}, porcupine.Illegal},
		{"two produces got the same offset", []op{
			produce(0, 0, 10, "a", 0), produce(1, 0, 10, "b", 0),
		}, porcupine.Illegal},
		{"acknowledged value lost", []op{
			produce(0, 0, 10, "a", 0),
			fetchNothing(1, 20, 30, 0),
		}, porcupine.Illegal},
		{"acknowledged value replaced", []op{
			produce(0, 0, 10, "a", 0),
			fetch(1, 20, 30, 0, "b"),
		}, porcupine.Illegal},
		{"stale read after a fresh one", []op{
			produce(0, 0, 100, "a", 0),
			fetch(1, 10, 20, 0, "a"), fetchNothing(2, 30, 40, 0),
		}, porcupine.Illegal},
		{"produce acknowledged past the end", []op{
			produce(0, 0, 10, "a", 1),
		}, porcupine.Illegal},
		{"unknown produce applied later", []op{
			produceUnknown(0, 0, "a"),
			fetchNothing(1, 20, 30, 0), fetch(1, 40, 50, 0, "a"),
		}, porcupine.Ok},
		{"unknown produce never applied", []op{
			produceUnknown(0, 0, "a"),
			produce(1, 20, 30, "b", 0), fetch(1, 40, 50, 0, "b"), fetchNothing(1, 60, 70, 1),
		}, porcupine.Ok},
		{"unknown produce applied twice", []op{
			produceUnknown(0, 0, "a"),
			fetch(1, 20, 30, 0, "a"), fetch(1, 40, 50, 1, "a"),
		}, porcupine.Illegal},
		{"unknown produce seen before its call", []op{
			fetch(1, 0, 10, 0, "a"),
			produceUnknown(0, 20, "a"),
		}, porcupine.Illegal},
		{"an unseen unknown produce fills an offset", []op{
			produceUnknown(0, 0, "x"),
			produce(1, 10, 20, "b", 1), fetch(1, 30, 40, 1, "b"),
		}, porcupine.Ok},
		{"the earliest unseen unknown produce fills an offset", []op{
			produceUnknown(0, 0, "x"), produceUnknown(2, 50, "y"),
			produce(1, 10, 20, "b", 1),
		}, porcupine.Ok},
		{"no unknown produce was called in time to fill an offset", []op{
			produceUnknown(2, 50, "y"),
			produce(1, 10, 20, "b", 1),
		}, porcupine.Illegal},
		{"an offset filled by an unseen value is then fetched", []op{
			produceUnknown(0, 0, "x"),
			produce(1, 10, 20, "b", 1), fetch(1, 30, 40, 0, "c"),
		}, porcupine.Illegal},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := porcupine.CheckOperations(logModel, history(tc.ops...).operations())
			if want := tc.want == porcupine.Ok; got != want {
				t.Errorf("linearizable: got %v, want %v", got, want)
			}
		})
	}
}

// TestLogReductionKeepsVerdicts compares the checker's verdict on random
// small histories with and without the reduction of unknown produces. Each
// history is a correct execution with random overlaps, unknown outcomes
// and, half the time, one corrupted output.
func TestLogReductionKeepsVerdicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	counts := map[bool]int{}
	for i := range 2000 {
		h := randomHistory(rng)
		raw := porcupine.CheckOperations(logModel, h.rawOperations())
		reduced := porcupine.CheckOperations(logModel, h.operations())
		if raw != reduced {
			for _, op := range h.rawOperations() {
				t.Logf("  [%d, %d] %s", op.Call, op.Return, logModel.DescribeOperation(op.Input, op.Output))
			}
			t.Fatalf("history %d: linearizable %v without the reduction, %v with it", i, raw, reduced)
		}
		counts[raw]++
	}
	// Both verdicts must be common, or the test proves little.
	if counts[true] < 300 || counts[false] < 300 {
		t.Fatalf("got %d linearizable and %d not, want at least 300 of each", counts[true], counts[false])
	}
}

// randomHistory runs 3 to 10 operations on a correct log, each taking
// effect at time 10*i within a random interval around it, then corrupts
// one output half the time.
func randomHistory(rng *rand.Rand) *LogHistory {
	h := NewLogHistory()
	var log []string
	n := 3 + rng.IntN(8)
	for i := range n {
		at := int64(10 * (i + 1))
		call, ret := at-rng.Int64N(25), at+rng.Int64N(25)
		if rng.IntN(2) == 0 {
			v := fmt.Sprintf("v%d", i)
			switch rng.IntN(4) {
			case 0: // unknown, appended
				log = append(log, v)
				h.ops = append(h.ops, produceUnknown(0, call, v).operation())
			case 1: // unknown, never appended
				h.ops = append(h.ops, produceUnknown(0, call, v).operation())
			default:
				log = append(log, v)
				h.ops = append(h.ops, produce(0, call, ret, v, int64(len(log)-1)).operation())
			}
			continue
		}
		o := rng.Int64N(int64(len(log)) + 2)
		if o < int64(len(log)) {
			h.ops = append(h.ops, fetch(1, call, ret, o, log[o]).operation())
		} else {
			h.ops = append(h.ops, fetchNothing(1, call, ret, o).operation())
		}
	}
	if rng.IntN(2) == 0 {
		i := rng.IntN(len(h.ops))
		in, out := h.ops[i].Input.(logInput), h.ops[i].Output.(logOutput)
		switch {
		case in.produce && !out.unknown:
			out.offset += int64(rng.IntN(3)) - 1
		case in.produce: // a value nobody produced; values stay unique
			h.ops[i].Input = logInput{produce: true, value: "corrupt"}
		case out.found && rng.IntN(2) == 0:
			out.found, out.value = false, ""
		default:
			out.found, out.value = true, fmt.Sprintf("v%d", rng.IntN(n))
		}
		h.ops[i].Output = out
	}
	return h
}

func TestLogHistoryUnfinishedCalls(t *testing.T) {
	h := NewLogHistory()
	h.Produce(0, []byte("a")) // never completes: the client died
	h.Fetch(1, 5)             // never completes: dropped
	h.Fetch(1, 0).Got([]byte("a"))
	if !CheckLinearizable(t, h, 5*time.Second) {
		t.Fatal("an unfinished produce must count as possibly applied")
	}
}

func TestCheckLinearizableWritesVisualization(t *testing.T) {
	h := history(produce(0, 0, 10, "a", 0), fetchNothing(1, 20, 30, 0))
	r := &recorder{TB: t}
	if CheckLinearizable(r, h, 5*time.Second) {
		t.Fatal("a lost acknowledged value passed the check")
	}
	if len(r.errors) != 1 {
		t.Fatalf("got errors %q, want one", r.errors)
	}
	path := filepath.Join(t.ArtifactDir(), "linearizability.html")
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Fatalf("visualization: %v", err)
	}
}

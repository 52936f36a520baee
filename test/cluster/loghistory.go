package cluster

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// LogHistory collects the produces and fetches of many clients on one
// partition, with call and return times from a monotonic clock, for
// CheckLinearizable. Safe for concurrent use.
//
// The sequential specification is a log, a sequence of values: a produce
// appends its value and returns its offset; a fetch of offset o returns
// the value at o, or "nothing yet" if o is at or past the end (the high
// watermark). A produce whose outcome is unknown (an error, a timeout, a
// call never completed) may have been appended at any time after its call,
// or never.
//
// Produced values must be unique. Unknown produces make the check
// expensive; end the history with a fetch of every offset up to the high
// watermark (after the producers have stopped) and it stays fast, since
// every unknown produce is then either seen somewhere or provably absent.
type LogHistory struct {
	start time.Time // time.Now carries a monotonic reading; durations since it use it

	mu  sync.Mutex
	ops []porcupine.Operation
}

// NewLogHistory returns an empty history whose clock starts now.
func NewLogHistory() *LogHistory {
	return &LogHistory{start: time.Now()}
}

// logInput is the input of one operation.
type logInput struct {
	produce bool
	value   string // produce
	offset  int64  // fetch
	filler  bool   // produce with unknown outcome whose value no fetch returned
	rank    int    // filler: its place in call order among the fillers
}

// logOutput is the output of one operation.
type logOutput struct {
	offset  int64  // produce: where it was appended (if pinned, where it was seen)
	unknown bool   // produce: outcome unknown
	pinned  bool   // produce with unknown outcome whose value a fetch returned at offset
	found   bool   // fetch: a value was there
	value   string // fetch, if found
	failed  bool   // fetch failed: observes nothing, dropped from the history
}

// pending marks an operation that has not returned yet.
const pending = -1

// unknownReturn is the return time of a produce with an unknown outcome:
// after every other event, so the checker may linearize it at any point
// after its call, including after everything (never applied).
const unknownReturn = math.MaxInt64

func (h *LogHistory) now() int64 { return int64(time.Since(h.start)) }

// begin records the call of an operation and returns its index.
func (h *LogHistory) begin(client int, in logInput) int {
	call := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ops = append(h.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Return: pending})
	return len(h.ops) - 1
}

// end records the return of operation i.
func (h *LogHistory) end(i int, out logOutput, ret int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ops[i].Return != pending {
		panic(fmt.Sprintf("cluster.LogHistory: operation %d completed twice", i))
	}
	h.ops[i].Output = out
	h.ops[i].Return = ret
}

// ProduceCall is a produce recorded by LogHistory.Produce; record its
// outcome with exactly one of its methods.
type ProduceCall struct {
	h *LogHistory
	i int
}

// Produce records that client calls produce of value now. client numbers
// the goroutine (0, 1, ...), for the visualization; one client's calls
// should not overlap.
func (h *LogHistory) Produce(client int, value []byte) ProduceCall {
	return ProduceCall{h, h.begin(client, logInput{produce: true, value: string(value)})}
}

// Acked records that the produce returned offset now.
func (c ProduceCall) Acked(offset int64) {
	c.h.end(c.i, logOutput{offset: offset}, c.h.now())
}

// Unknown records that the produce failed or timed out: it may or may not
// have been appended. Only a produce known not to have been appended may be
// left out of a history, and most produce errors are not that certain.
func (c ProduceCall) Unknown() {
	c.h.end(c.i, logOutput{unknown: true}, unknownReturn)
}

// FetchCall is a fetch recorded by LogHistory.Fetch; record its outcome
// with exactly one of its methods.
type FetchCall struct {
	h *LogHistory
	i int
}

// Fetch records that client calls fetch of offset now.
func (h *LogHistory) Fetch(client int, offset int64) FetchCall {
	return FetchCall{h, h.begin(client, logInput{offset: offset})}
}

// Got records that the fetch returned value at its offset now.
func (c FetchCall) Got(value []byte) {
	c.h.end(c.i, logOutput{found: true, value: string(value)}, c.h.now())
}

// NothingYet records that the fetch found no record at its offset now: the
// offset was at or past the high watermark.
func (c FetchCall) NothingYet() {
	c.h.end(c.i, logOutput{}, c.h.now())
}

// Failed records that the fetch failed; it observed nothing and is left out
// of the history.
func (c FetchCall) Failed() {
	c.h.end(c.i, logOutput{failed: true}, c.h.now())
}

// Len returns the number of operations recorded.
func (h *LogHistory) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.ops)
}

// operations returns the history for porcupine: failed fetches and fetches
// that never returned are left out; produces that never returned count as
// unknown. Unknown produces are then reduced, which the checker needs:
// each may be linearized anywhere after its call, so a few dozen of them
// make the search exponential. The reductions keep the verdict, given that
// produced values are unique:
//
//   - An unknown produce whose value a fetch returned at offset o can only
//     have been appended at o (a log never changes an offset's value): it
//     is pinned there.
//   - The other unknown produces were never observed, so they matter only
//     as fillers of the offsets below the highest known one that no fetch
//     or acknowledgement pins (appending one past those only makes
//     "nothing yet" fetches harder to explain). With u such offsets, the u
//     earliest-called fillers can stand in for any others, and the rest
//     are left out.
//   - Fillers are interchangeable: no fetch returned their values, so the
//     model appends an anonymous entry for each, and in any linearization
//     two fillers can swap places if the later-called one comes first. So
//     the model takes them in call order only, which keeps the search
//     linear in their number.
func (h *LogHistory) operations() []porcupine.Operation {
	return reduce(h.rawOperations())
}

// rawOperations returns the history without the reduction of unknown
// produces.
func (h *LogHistory) rawOperations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	ops := make([]porcupine.Operation, 0, len(h.ops))
	for _, op := range h.ops {
		in := op.Input.(logInput)
		switch {
		case op.Return == pending && in.produce:
			op.Output, op.Return = logOutput{unknown: true}, unknownReturn
		case op.Return == pending, op.Output.(logOutput).failed:
			continue
		}
		ops = append(ops, op)
	}
	return ops
}

// reduce pins or drops unknown produces, as operations describes; it
// modifies ops.
func reduce(ops []porcupine.Operation) []porcupine.Operation {
	seenAt := map[string]int64{} // value -> first offset a fetch returned it at
	pinned := map[int64]bool{}   // offsets whose value is known
	end := int64(0)              // one past the highest known offset
	for _, op := range ops {
		in, out := op.Input.(logInput), op.Output.(logOutput)
		switch {
		case !in.produce && out.found && in.offset >= 0:
			if _, ok := seenAt[out.value]; !ok {
				seenAt[out.value] = in.offset
			}
			pinned[in.offset] = true
			end = max(end, in.offset+1)
		case in.produce && !out.unknown && out.offset >= 0:
			pinned[out.offset] = true
			end = max(end, out.offset+1)
		}
	}

	var fillers []int // indexes in ops of unobserved unknown produces
	for i, op := range ops {
		in, out := op.Input.(logInput), op.Output.(logOutput)
		if !in.produce || !out.unknown {
			continue
		}
		if o, ok := seenAt[in.value]; ok {
			ops[i].Output = logOutput{unknown: true, pinned: true, offset: o}
			continue
		}
		fillers = append(fillers, i)
	}
	slices.SortStableFunc(fillers, func(a, b int) int { return cmp.Compare(ops[a].Call, ops[b].Call) })
	keep := min(len(fillers), int(end)-len(pinned))
	for rank, i := range fillers[:keep] {
		ops[i].Input = logInput{produce: true, value: ops[i].Input.(logInput).value, filler: true, rank: rank}
	}
	if keep == len(fillers) {
		return ops
	}
	drop := map[int]bool{}
	for _, i := range fillers[keep:] {
		drop[i] = true
	}
	kept := ops[:0]
	for i, op := range ops {
		if !drop[i] {
			kept = append(kept, op)
		}
	}
	return kept
}

// duplicateProduce returns a value produced twice in h, if any: the
// reductions of operations, like the Ledger, rely on unique values.
func (h *LogHistory) duplicateProduce() (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	for _, op := range h.ops {
		in := op.Input.(logInput)
		if !in.produce {
			continue
		}
		if seen[in.value] {
			return in.value, true
		}
		seen[in.value] = true
	}
	return "", false
}

// CheckLinearizable checks h against the log specification with porcupine,
// for at most timeout, and reports whether the history is linearizable. If
// it is not, or the check did not finish in time, it fails the test and
// writes porcupine's HTML visualization to the test's artifact directory
// (a temporary directory unless go test -artifacts is given), logging the
// file's path.
func CheckLinearizable(t testing.TB, h *LogHistory, timeout time.Duration) bool {
	t.Helper()
	if v, ok := h.duplicateProduce(); ok {
		t.Errorf("cannot check linearizability: %s was produced twice; produce unique values", short(v))
		return false
	}
	ops := h.operations()
	res, info := porcupine.CheckOperationsVerbose(logModel, ops, timeout)
	if res == porcupine.Ok {
		return true
	}
	path := filepath.Join(t.ArtifactDir(), "linearizability.html")
	if err := porcupine.VisualizePath(logModel, info, path); err != nil {
		t.Errorf("write linearizability visualization: %v", err)
	} else {
		t.Logf("linearizability visualization: %s", path)
	}
	if res == porcupine.Illegal {
		t.Errorf("the history of %d operations on the log is not linearizable", len(ops))
	} else {
		t.Errorf("the linearizability check of %d operations did not finish within %v; shorten the history", len(ops), timeout)
	}
	return false
}

// logState is the model's state: the log. It is never modified once
// built, as porcupine requires; hash is an FNV-based digest of the entries,
// maintained as they are appended.
type logState struct {
	entries []logEntry
	fillers int // anonymous entries appended so far
	hash    uint64
}

// logEntry is a value of the log, or an anonymous one appended by a filler:
// no fetch returned it, so no fetch may return it.
type logEntry struct {
	value string
	anon  bool
}

// appended returns a new state with e appended.
func (s *logState) appended(e logEntry) *logState {
	h := fnv.New64a()
	if e.anon {
		h.Write([]byte{1})
	} else {
		h.Write([]byte{0})
		h.Write([]byte(e.value))
	}
	n := &logState{
		entries: append(slices.Clip(s.entries), e), // Clip: always a new array
		fillers: s.fillers,
		hash:    (s.hash ^ h.Sum64()) * 1099511628211,
	}
	if e.anon {
		n.fillers++
	}
	return n
}

var logModel = porcupine.Model{
	Init: func() any { return &logState{hash: 14695981039346656037} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(*logState), input.(logInput), output.(logOutput)
		end := int64(len(s.entries))
		switch {
		case in.filler:
			return in.rank == s.fillers, s.appended(logEntry{anon: true})
		case in.produce:
			if (!out.unknown || out.pinned) && out.offset != end {
				return false, s
			}
			return true, s.appended(logEntry{value: in.value})
		case in.offset < 0:
			return false, s
		case !out.found:
			return in.offset >= end, s
		default:
			e := logEntry{value: out.value}
			return in.offset < end && s.entries[in.offset] == e, s
		}
	},
	Equal: func(a, b any) bool {
		x, y := a.(*logState), b.(*logState)
		return x.hash == y.hash && slices.Equal(x.entries, y.entries)
	},
	Hash: func(state any) uint64 { return state.(*logState).hash },
	DescribeOperation: func(input, output any) string {
		in, out := input.(logInput), output.(logOutput)
		switch {
		case in.filler:
			return fmt.Sprintf("produce(%s) -> unknown, never seen (filler %d)", short(in.value), in.rank)
		case in.produce && out.pinned:
			return fmt.Sprintf("produce(%s) -> unknown, seen at %d", short(in.value), out.offset)
		case in.produce && out.unknown:
			return fmt.Sprintf("produce(%s) -> unknown", short(in.value))
		case in.produce:
			return fmt.Sprintf("produce(%s) -> %d", short(in.value), out.offset)
		case out.found:
			return fmt.Sprintf("fetch(%d) -> %s", in.offset, short(out.value))
		default:
			return fmt.Sprintf("fetch(%d) -> nothing yet", in.offset)
		}
	},
	DescribeState: func(state any) string {
		s := state.(*logState)
		const shown = 5
		var b strings.Builder
		fmt.Fprintf(&b, "%d records", len(s.entries))
		if len(s.entries) > 0 {
			b.WriteString(": ")
			first := max(0, len(s.entries)-shown)
			if first > 0 {
				b.WriteString("... ")
			}
			for i, e := range s.entries[first:] {
				if i > 0 {
					b.WriteString(", ")
				}
				v := "(unseen)"
				if !e.anon {
					v = short(e.value)
				}
				fmt.Fprintf(&b, "%d=%s", first+i, v)
			}
		}
		return b.String()
	},
}

// short quotes a value for the visualization, cut to a readable length.
func short(v string) string {
	const max = 24
	if len(v) > max {
		return fmt.Sprintf("%q...", v[:max])
	}
	return fmt.Sprintf("%q", v)
}

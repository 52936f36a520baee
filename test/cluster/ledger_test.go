package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// ack is an acknowledgement in a hand-made history of topic "t".
type ack struct {
	p      int32
	offset int64
	value  string
}

// recs builds records read back from offset, value pairs.
func recs(pairs ...any) []Record {
	var out []Record
	for i := 0; i < len(pairs); i += 2 {
		out = append(out, Record{Offset: int64(pairs[i].(int)), Value: []byte(pairs[i+1].(string))})
	}
	return out
}

func TestLedgerVerify(t *testing.T) {
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	threeAcked := []ack{{0, 0, "a"}, {0, 1, "b"}, {0, 2, "c"}}
	for _, tc := range []struct {
		name      string
		acked     []ack
		attempted []string
		read      map[TopicPartition][]Record
		want      []ViolationKind
		wantText  []string // substrings of the violations' text, in order
	}{
		{
			name:  "all present",
			acked: threeAcked,
			read:  map[TopicPartition][]Record{tp0: recs(0, "a", 1, "b", 2, "c")},
		},
		{
			name:      "attempted values may appear once or not at all",
			acked:     threeAcked,
			attempted: []string{"x", "y"},
			read:      map[TopicPartition][]Record{tp0: recs(0, "a", 1, "b", 2, "c", 3, "x")},
		},
		{
			name:  "gaps in offsets are allowed",
			acked: []ack{{0, 0, "a"}, {0, 5, "b"}},
			read:  map[TopicPartition][]Record{tp0: recs(0, "a", 5, "b")},
		},
		{
			name:     "missing record",
			acked:    threeAcked,
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 2, "c")},
			want:     []ViolationKind{Missing},
			wantText: []string{`t/0 offset 1: acknowledged "b" is missing; no record was read at that offset`},
		},
		{
			name:     "missing partition",
			acked:    []ack{{0, 0, "a"}, {1, 0, "b"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a")},
			want:     []ViolationKind{Missing},
			wantText: []string{`t/1 offset 0: acknowledged "b" is missing`},
		},
		{
			name:     "duplicate",
			acked:    threeAcked,
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 1, "b", 2, "c", 3, "b")},
			want:     []ViolationKind{Duplicate},
			wantText: []string{`t/0 offset 1: acknowledged "b" appears 2 times, at t/0 offset 1, t/0 offset 3`},
		},
		{
			name:     "wrong offset",
			acked:    []ack{{0, 0, "a"}, {0, 1, "b"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 2, "b")},
			want:     []ViolationKind{Moved},
			wantText: []string{`t/0 offset 1: acknowledged "b" is at t/0 offset 2 instead; no record was read at that offset`},
		},
		{
			name:     "wrong partition",
			acked:    []ack{{0, 0, "a"}},
			read:     map[TopicPartition][]Record{tp0: nil, tp1: recs(0, "a")},
			want:     []ViolationKind{Moved},
			wantText: []string{`t/0 offset 0: acknowledged "a" is at t/1 offset 0 instead`},
		},
		{
			name:  "values swapped",
			acked: threeAcked,
			read:  map[TopicPartition][]Record{tp0: recs(0, "a", 1, "c", 2, "b")},
			want:  []ViolationKind{Moved, Moved},
			wantText: []string{
				`t/0 offset 1: acknowledged "b" is at t/0 offset 2 instead; got "c" there`,
				`t/0 offset 2: acknowledged "c" is at t/0 offset 1 instead; got "b" there`,
			},
		},
		{
			name:     "offsets read out of order",
			acked:    threeAcked,
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 2, "c", 1, "b")},
			want:     []ViolationKind{OutOfOrder},
			wantText: []string{`t/0: read offset 1 after offset 2 (value "b")`},
		},
		{
			name:     "offset read twice",
			acked:    []ack{{0, 0, "a"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 0, "a")},
			want:     []ViolationKind{Duplicate, OutOfOrder},
			wantText: []string{`appears 2 times`, `read offset 0 after offset 0`},
		},
		{
			name:     "unknown value",
			acked:    []ack{{0, 0, "a"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a", 1, "zzz")},
			want:     []ViolationKind{Unknown},
			wantText: []string{`t/0 offset 1: got "zzz", which no producer sent`},
		},
		{
			name:  "unknown value over an acknowledged one",
			acked: []ack{{0, 0, "a"}},
			read:  map[TopicPartition][]Record{tp0: recs(0, "zzz")},
			want:  []ViolationKind{Missing, Unknown},
			wantText: []string{
				`t/0 offset 0: acknowledged "a" is missing; got "zzz" there`,
				`t/0 offset 0: got "zzz", which no producer sent; acknowledged there: "a"`,
			},
		},
		{
			name:      "attempted value twice",
			acked:     []ack{{0, 0, "a"}},
			attempted: []string{"x"},
			read:      map[TopicPartition][]Record{tp0: recs(0, "a", 1, "x", 2, "x")},
			want:      []ViolationKind{Duplicate},
			wantText:  []string{`t/0 offset 2: unacknowledged "x" appears 2 times, at t/0 offset 1, t/0 offset 2`},
		},
		{
			name:     "two values acknowledged at one offset",
			acked:    []ack{{0, 0, "a"}, {0, 0, "b"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a")},
			want:     []ViolationKind{AckConflict},
			wantText: []string{`t/0 offset 0 acknowledged twice: for "a" and for "b"`},
		},
		{
			name:     "one value acknowledged at two offsets",
			acked:    []ack{{0, 0, "a"}, {0, 1, "a"}},
			read:     map[TopicPartition][]Record{tp0: recs(0, "a")},
			want:     []ViolationKind{AckConflict},
			wantText: []string{`value "a" acknowledged twice: at t/0 offset 0 and at t/0 offset 1`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewLedger()
			for _, v := range tc.attempted {
				l.Attempted([]byte(v))
			}
			for _, a := range tc.acked {
				l.Attempted([]byte(a.value))
				l.Acked("t", a.p, a.offset, []byte(a.value))
			}
			vs := l.Verify(tc.read)
			var kinds []ViolationKind
			for _, v := range vs {
				kinds = append(kinds, v.Kind)
			}
			if !slices.Equal(kinds, tc.want) {
				t.Fatalf("got violations %v, want kinds %v", vs, tc.want)
			}
			for i, want := range tc.wantText {
				if !strings.Contains(vs[i].String(), want) {
					t.Errorf("violation %d: got %q, want it to contain %q", i, vs[i], want)
				}
			}
		})
	}
}

// recorder is a testing.TB that records failures instead of failing, to
// test helpers that report through t.
type recorder struct {
	testing.TB
	errors []string
}

func (r *recorder) Helper() {}
func (r *recorder) Error(args ...any) {
	r.errors = append(r.errors, fmt.Sprint(args...))
}
func (r *recorder) Errorf(format string, args ...any) {
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}
func (r *recorder) Logf(format string, args ...any) { r.TB.Logf(format, args...) }

func TestCheckAgainstReportsEachViolationAndASummary(t *testing.T) {
	l := NewLedger()
	for i := range 30 {
		l.Acked("t", 0, int64(i), fmt.Appendf(nil, "v%d", i))
	}
	r := &recorder{TB: t}
	l.CheckAgainst(r, map[TopicPartition][]Record{{"t", 0}: nil})
	// 20 violations, one line counting the rest, one summary.
	if len(r.errors) != maxReported+2 {
		t.Fatalf("got %d errors, want %d: %q", len(r.errors), maxReported+2, r.errors)
	}
	if got, want := r.errors[0], `missing: t/0 offset 0: acknowledged "v0" is missing`; !strings.HasPrefix(got, want) {
		t.Errorf("first error: got %q, want prefix %q", got, want)
	}
	if got, want := r.errors[maxReported], "... and 10 more violations"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if got, want := r.errors[maxReported+1], "30 violations; the ledger holds 30 acknowledged and 0 attempted values, 0 records were read"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}

	r = &recorder{TB: t}
	l.CheckAgainst(r, map[TopicPartition][]Record{{"t", 0}: func() []Record {
		var rs []Record
		for i := range 30 {
			rs = append(rs, Record{Offset: int64(i), Value: fmt.Appendf(nil, "v%d", i)})
		}
		return rs
	}()})
	if len(r.errors) != 0 {
		t.Errorf("a complete log: got errors %q", r.errors)
	}
}

func TestLedgerIsSafeForConcurrentUse(t *testing.T) {
	l := NewLedger()
	const writers, each = 8, 200
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range each {
				v := fmt.Appendf(nil, "w%d-%d", w, i)
				l.Attempted(v)
				l.Acked("t", int32(w), int64(i), v)
			}
		}()
	}
	for range writers {
		<-done
	}
	if got := l.NumAcked(); got != writers*each {
		t.Fatalf("got %d acknowledged, want %d", got, writers*each)
	}
}

package cluster

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s/%d", tp.Topic, tp.Partition) }

func compareTP(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Record is one record read back from a partition.
type Record struct {
	Offset int64
	Value  []byte
}

// location is where a record sits.
type location struct {
	tp     TopicPartition
	offset int64
}

func (l location) String() string { return fmt.Sprintf("%s offset %d", l.tp, l.offset) }

func compareLocation(a, b location) int {
	return cmp.Or(compareTP(a.tp, b.tp), cmp.Compare(a.offset, b.offset))
}

// Ledger records what producers were told, for checking a log read back
// after faults. Records are identified by their values, so every value a
// test produces must be unique. Safe for concurrent use.
type Ledger struct {
	mu        sync.Mutex
	acked     map[string]location // value -> where the broker acknowledged it
	ackedAt   map[location]string // the reverse, to catch two acks at one offset
	attempted map[string]bool     // values sent whose outcome may be unknown
	conflicts []Violation         // contradictory acknowledgements, found as they came
}

// NewLedger returns an empty ledger.
func NewLedger() *Ledger {
	return &Ledger{
		acked:     map[string]location{},
		ackedAt:   map[location]string{},
		attempted: map[string]bool{},
	}
}

// Attempted records that value was (or is about to be) sent, so it may be
// in the log even though no acknowledgement arrives: call it before
// producing. A value may appear at most once unless acknowledged.
func (l *Ledger) Attempted(value []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.attempted[string(value)] = true
}

// Acked records that the broker acknowledged value (with acks=all) at
// offset of the partition. Two acknowledgements of one offset, or of one
// value at two offsets, are violations reported by Verify.
func (l *Ledger) Acked(topic string, partition int32, offset int64, value []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	at := location{TopicPartition{topic, partition}, offset}
	v := string(value)
	if prev, ok := l.acked[v]; ok && prev != at {
		l.conflicts = append(l.conflicts, Violation{Kind: AckConflict, TP: at.tp, Offset: at.offset, Want: v,
			Detail: fmt.Sprintf("value %s acknowledged twice: at %s and at %s", quote(v), prev, at)})
		return
	}
	if prev, ok := l.ackedAt[at]; ok && prev != v {
		l.conflicts = append(l.conflicts, Violation{Kind: AckConflict, TP: at.tp, Offset: at.offset, Want: v,
			Detail: fmt.Sprintf("%s acknowledged twice: for %s and for %s", at, quote(prev), quote(v))})
		return
	}
	l.acked[v] = at
	l.ackedAt[at] = v
}

// Promise records the outcome of a kgo produce; pass it (or call it from)
// the promise of kgo.Client.Produce. An error leaves the record attempted.
func (l *Ledger) Promise(r *kgo.Record, err error) {
	if err != nil {
		l.Attempted(r.Value)
		return
	}
	l.Acked(r.Topic, r.Partition, r.Offset, r.Value)
}

// NumAcked returns how many records have been acknowledged.
func (l *Ledger) NumAcked() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.acked)
}

// AckedValues returns every value acknowledged, in no order.
func (l *Ledger) AckedValues() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, 0, len(l.acked))
	for v := range l.acked {
		out = append(out, v)
	}
	return out
}

// ViolationKind classifies a Violation.
type ViolationKind int

const (
	// Missing: an acknowledged value is nowhere in the log.
	Missing ViolationKind = iota + 1
	// Moved: an acknowledged value is in the log, but not at its
	// acknowledged offset.
	Moved
	// Duplicate: a value appears more than once.
	Duplicate
	// OutOfOrder: offsets read from a partition are not strictly increasing.
	OutOfOrder
	// Unknown: a value no producer sent is in the log (corruption).
	Unknown
	// AckConflict: the broker acknowledged two values at one offset, or
	// one value at two offsets.
	AckConflict
)

func (k ViolationKind) String() string {
	switch k {
	case Missing:
		return "missing"
	case Moved:
		return "moved"
	case Duplicate:
		return "duplicate"
	case OutOfOrder:
		return "out of order"
	case Unknown:
		return "unknown value"
	case AckConflict:
		return "conflicting acknowledgements"
	}
	return fmt.Sprintf("ViolationKind(%d)", int(k))
}

// Violation is one way a log read back differs from the ledger.
type Violation struct {
	Kind   ViolationKind
	TP     TopicPartition
	Offset int64  // the offset concerned
	Want   string // the acknowledged value there, if any
	Detail string // a sentence with the offsets and values involved
}

func (v Violation) String() string { return fmt.Sprintf("%s: %s", v.Kind, v.Detail) }

// Verify compares records read back (per partition, in the order read) with
// the ledger and returns every violation, sorted by partition and offset:
//   - offsets read from each partition must be strictly increasing;
//   - every acknowledged value must be present exactly once, at its
//     acknowledged partition and offset;
//   - a value attempted but not acknowledged may appear at most once;
//   - a value neither acknowledged nor attempted must not appear.
//
// Records of the ledger's partitions that are absent from records count as
// missing, so read every partition the test produced to.
func (l *Ledger) Verify(records map[TopicPartition][]Record) []Violation {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Violation
	out = append(out, l.conflicts...)

	seen := map[string][]location{} // value -> where it was read
	readAt := map[location]string{}
	tps := make([]TopicPartition, 0, len(records))
	for tp := range records {
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, compareTP)
	for _, tp := range tps {
		prev := int64(-1)
		for i, r := range records[tp] {
			at := location{tp, r.Offset}
			v := string(r.Value)
			if i > 0 && r.Offset <= prev {
				out = append(out, Violation{Kind: OutOfOrder, TP: tp, Offset: r.Offset,
					Detail: fmt.Sprintf("%s: read offset %d after offset %d (value %s)", tp, r.Offset, prev, quote(v))})
			}
			prev = r.Offset
			seen[v] = append(seen[v], at)
			if _, ok := readAt[at]; !ok {
				readAt[at] = v
			}
			if _, ok := l.acked[v]; !ok && !l.attempted[v] {
				want, wasAcked := l.ackedAt[at]
				detail := fmt.Sprintf("%s: got %s, which no producer sent", at, quote(v))
				if wasAcked {
					detail += "; acknowledged there: " + quote(want)
				}
				out = append(out, Violation{Kind: Unknown, TP: tp, Offset: r.Offset, Want: want, Detail: detail})
			}
		}
	}

	for v, at := range l.acked {
		locs := seen[v]
		n := 0
		for _, s := range locs {
			if s == at {
				n++
			}
		}
		switch {
		case len(locs) == 0:
			out = append(out, Violation{Kind: Missing, TP: at.tp, Offset: at.offset, Want: v,
				Detail: fmt.Sprintf("%s: acknowledged %s is missing; %s", at, quote(v), describeAt(readAt, at))})
		case n == 0:
			out = append(out, Violation{Kind: Moved, TP: at.tp, Offset: at.offset, Want: v,
				Detail: fmt.Sprintf("%s: acknowledged %s is at %s instead; %s", at, quote(v), joinLocations(locs), describeAt(readAt, at))})
		case len(locs) > 1:
			out = append(out, Violation{Kind: Duplicate, TP: at.tp, Offset: at.offset, Want: v,
				Detail: fmt.Sprintf("%s: acknowledged %s appears %d times, at %s", at, quote(v), len(locs), joinLocations(locs))})
		}
	}
	for v := range l.attempted {
		if _, ok := l.acked[v]; ok {
			continue
		}
		if locs := seen[v]; len(locs) > 1 {
			out = append(out, Violation{Kind: Duplicate, TP: locs[1].tp, Offset: locs[1].offset,
				Detail: fmt.Sprintf("%s: unacknowledged %s appears %d times, at %s", locs[1], quote(v), len(locs), joinLocations(locs))})
		}
	}
	slices.SortStableFunc(out, func(a, b Violation) int {
		return cmp.Or(compareTP(a.TP, b.TP), cmp.Compare(a.Offset, b.Offset), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Detail, b.Detail))
	})
	return out
}

// maxReported bounds the violations CheckAgainst prints; the rest are
// counted.
const maxReported = 20

// CheckAgainst fails the test with one error per violation (see Verify)
// unless records match the ledger.
func (l *Ledger) CheckAgainst(t testing.TB, records map[TopicPartition][]Record) {
	t.Helper()
	vs := l.Verify(records)
	for i, v := range vs {
		if i == maxReported {
			t.Errorf("... and %d more violations", len(vs)-maxReported)
			break
		}
		t.Error(v)
	}
	if len(vs) > 0 {
		l.mu.Lock()
		acked, attempted := len(l.acked), len(l.attempted)
		l.mu.Unlock()
		n := 0
		for _, rs := range records {
			n += len(rs)
		}
		t.Errorf("%d violations; the ledger holds %d acknowledged and %d attempted values, %d records were read",
			len(vs), acked, attempted, n)
	}
}

// describeAt says what was read at a location.
func describeAt(readAt map[location]string, at location) string {
	if v, ok := readAt[at]; ok {
		return "got " + quote(v) + " there"
	}
	return "no record was read at that offset"
}

func joinLocations(locs []location) string {
	locs = slices.Clone(locs)
	slices.SortFunc(locs, compareLocation)
	s := make([]string, len(locs))
	for i, l := range locs {
		s[i] = l.String()
	}
	return strings.Join(s, ", ")
}

// quote formats a value for a message, cut to keep messages readable.
func quote(v string) string {
	const max = 64
	if len(v) > max {
		return fmt.Sprintf("%q... (%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}

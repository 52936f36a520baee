package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in microseconds from 1 µs up to
// one hour with three significant digits. A latency below the lowest bound
// is recorded as 1 µs and one above the highest as the highest, so every
// recorded value counts.
const (
	lowestLatencyMicros  = 1
	highestLatencyMicros = int64(time.Hour / time.Microsecond)
	latencySigFigs       = 3
)

// Stats accumulates the records, bytes and latencies of one run. It is safe
// for concurrent use; the zero value is not usable, call NewStats.
type Stats struct {
	mu      sync.Mutex
	records int64
	bytes   int64
	hist    *hdrhistogram.Histogram
}

// NewStats returns empty Stats.
func NewStats() *Stats {
	return &Stats{hist: hdrhistogram.New(lowestLatencyMicros, highestLatencyMicros, latencySigFigs)}
}

// Add counts records records of bytes bytes in total without a latency.
func (s *Stats) Add(records, bytes int64) {
	s.mu.Lock()
	s.records += records
	s.bytes += bytes
	s.mu.Unlock()
}

// AddLatency counts one record of bytes bytes whose latency was d.
func (s *Stats) AddLatency(bytes int64, d time.Duration) {
	s.mu.Lock()
	s.records++
	s.bytes += bytes
	s.recordLocked(d)
	s.mu.Unlock()
}

// AddLatencies counts one record per element of latencies, bytes bytes in
// total, under one lock: for a consumer handing over a whole fetch.
func (s *Stats) AddLatencies(bytes int64, latencies []time.Duration) {
	s.mu.Lock()
	s.records += int64(len(latencies))
	s.bytes += bytes
	for _, d := range latencies {
		s.recordLocked(d)
	}
	s.mu.Unlock()
}

func (s *Stats) recordLocked(d time.Duration) {
	us := min(max(d.Microseconds(), lowestLatencyMicros), highestLatencyMicros)
	// us is within the histogram's range, so RecordValue cannot fail.
	_ = s.hist.RecordValue(us)
}

// Snapshot returns the counts and latency percentiles so far.
func (s *Stats) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Records: s.records, Bytes: s.bytes}
	if n := s.hist.TotalCount(); n > 0 {
		q := s.hist.ValueAtPercentiles([]float64{50, 95, 99, 99.9})
		snap.Latency = &Latency{
			Count: n,
			Min:   s.hist.Min(),
			Mean:  s.hist.Mean(),
			P50:   q[50],
			P95:   q[95],
			P99:   q[99],
			P999:  q[99.9],
			Max:   s.hist.Max(),
		}
	}
	return snap
}

// Snapshot is a point-in-time copy of Stats.
type Snapshot struct {
	Records int64
	Bytes   int64
	// Latency is nil when no latency was recorded.
	Latency *Latency
}

// Latency summarises a latency histogram, all values in microseconds.
// Invariant: 0 < Min <= P50 <= P95 <= P99 <= P999 <= Max.
type Latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P95   int64   `json:"p95"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

package main

// The measuring parts, written to match Strata's internal/bench package
// (pacer.go, value.go, stats.go, summary.go) so that the NATS figures mean
// exactly what `strata bench e2e` reports for a Kafka broker. That package
// is internal to Strata's module, so it is restated here rather than
// imported.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// stampSize is the number of bytes at the start of a value that stamp
// writes: the scheduled send time as Unix nanoseconds, big-endian (the same
// layout as Strata's bench.Stamp).
const stampSize = 8

// stamp writes t into the first stampSize bytes of value, which must be at
// least that long.
func stamp(value []byte, t time.Time) {
	binary.BigEndian.PutUint64(value, uint64(t.UnixNano()))
}

// stampTime returns the time stamp wrote into value; ok is false for a
// value too short to hold one.
func stampTime(value []byte) (t time.Time, ok bool) {
	if len(value) < stampSize {
		return time.Time{}, false
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(value))), true
}

// pacer spaces sends on an absolute schedule: send i (from 0) is due at
// start + i/rate. A late wake-up does not shift later sends: those that fell
// due meanwhile go out at once, each still carrying its own due time, so the
// average rate stays exact and latency includes the producer falling behind
// (no coordinated omission). A pacer is not safe for concurrent use.
type pacer struct {
	start  time.Time
	perSec float64 // > 0
	next   int64
	timer  *time.Timer
}

// due returns the time send i is due at.
func (p *pacer) due(i int64) time.Time {
	return p.start.Add(time.Duration(float64(i) / p.perSec * float64(time.Second)))
}

// wait blocks until the next send is due and returns its due time. It
// returns false without waiting when that send would be due at or after
// end, and false when ctx ends first.
func (p *pacer) wait(ctx context.Context, end time.Time) (time.Time, bool) {
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	due := p.due(p.next)
	if !due.Before(end) {
		return time.Time{}, false
	}
	p.next++
	d := time.Until(due)
	if d <= 0 {
		return due, true
	}
	if p.timer == nil {
		p.timer = time.NewTimer(d)
	} else {
		p.timer.Reset(d)
	}
	select {
	case <-p.timer.C:
		return due, true
	case <-ctx.Done():
		p.timer.Stop()
		return time.Time{}, false
	}
}

// Value pool bounds, as in Strata: at most poolBytes of values and at most
// poolMax of them, so no value repeats within a ~1 MB batch.
const (
	poolBytes = 16 << 20
	poolMax   = 1 << 17
)

// values hands out random payloads of one size, all made up front (before
// the clock starts) from a ChaCha8 stream. Callers must not modify what next
// returns: stamp a copy. Not safe for concurrent use.
type values struct {
	pool [][]byte
	i    int
}

func newValues(size int, seed uint64) *values {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	rng := rand.NewChaCha8(s)
	n := min(max(poolBytes/size, 1), poolMax)
	all := make([]byte, n*size)
	_, _ = rng.Read(all) // ChaCha8.Read never fails
	v := &values{pool: make([][]byte, n)}
	for i := range v.pool {
		v.pool[i] = all[i*size : (i+1)*size : (i+1)*size]
	}
	return v
}

func (v *values) next() []byte {
	b := v.pool[v.i]
	v.i = (v.i + 1) % len(v.pool)
	return b
}

// Histogram bounds, as in Strata: 1 µs to one hour, three significant
// digits; values outside are clamped so every record counts.
const (
	lowestMicros  = 1
	highestMicros = int64(time.Hour / time.Microsecond)
	sigFigs       = 3
)

// stats accumulates the consumer's records, bytes and latencies. Safe for
// concurrent use.
type stats struct {
	mu      sync.Mutex
	records int64
	bytes   int64
	hist    *hdrhistogram.Histogram
}

func newStats() *stats {
	return &stats{hist: hdrhistogram.New(lowestMicros, highestMicros, sigFigs)}
}

// add counts one record of bytes bytes whose latency was d and returns the
// number of records counted so far.
func (s *stats) add(bytes int64, d time.Duration) int64 {
	us := min(max(d.Microseconds(), lowestMicros), highestMicros)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records++
	s.bytes += bytes
	_ = s.hist.RecordValue(us) // us is in range, so this cannot fail
	return s.records
}

// snapshot is a point-in-time copy of stats.
type snapshot struct {
	records, bytes int64
	latency        *latency // nil when nothing was recorded
}

func (s *stats) snapshot() snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := snapshot{records: s.records, bytes: s.bytes}
	if n := s.hist.TotalCount(); n > 0 {
		q := s.hist.ValueAtPercentiles([]float64{50, 95, 99, 99.9})
		snap.latency = &latency{
			Count: n, Min: s.hist.Min(), Mean: s.hist.Mean(),
			P50: q[50], P95: q[95], P99: q[99], P999: q[99.9],
			Max: s.hist.Max(),
		}
	}
	return snap
}

// latency is Strata's bench.Latency: a histogram summary in microseconds.
type latency struct {
	Count int64   `json:"count"`
	Min   int64   `json:"min"`
	Mean  float64 `json:"mean"`
	P50   int64   `json:"p50"`
	P95   int64   `json:"p95"`
	P99   int64   `json:"p99"`
	P999  int64   `json:"p99_9"`
	Max   int64   `json:"max"`
}

const mib = 1 << 20

// summary has exactly the JSON shape of Strata's bench.Summary; Topic holds
// the stream name.
type summary struct {
	Mode          string   `json:"mode"`
	Topic         string   `json:"topic"`
	Records       int64    `json:"records"`
	Bytes         int64    `json:"bytes"`
	Seconds       float64  `json:"seconds"`
	RecordsPerSec float64  `json:"records_per_sec"`
	MBPerSec      float64  `json:"mb_per_sec"` // MiB/s
	Latency       *latency `json:"latency_us,omitempty"`
}

func newSummary(stream string, snap snapshot, elapsed time.Duration) summary {
	s := summary{
		Mode: "e2e", Topic: stream,
		Records: snap.records, Bytes: snap.bytes,
		Seconds: elapsed.Seconds(), Latency: snap.latency,
	}
	if s.Seconds > 0 {
		s.RecordsPerSec = float64(s.Records) / s.Seconds
		s.MBPerSec = float64(s.Bytes) / mib / s.Seconds
	}
	return s
}

func (s summary) writeJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(s)
}

// writeText writes s for people, in the same two lines as Strata's
// Summary.WriteText.
func (s summary) writeText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "%s %q: %d records, %d bytes in %.3f s: %.1f records/s, %.2f MB/s\n",
		s.Mode, s.Topic, s.Records, s.Bytes, s.Seconds, s.RecordsPerSec, s.MBPerSec)
	if err != nil || s.Latency == nil {
		return err
	}
	l := s.Latency
	_, err = fmt.Fprintf(w, "%s latency ms: p50 %s, p95 %s, p99 %s, p99.9 %s, max %s (%d samples)\n",
		s.Mode, millis(l.P50), millis(l.P95), millis(l.P99), millis(l.P999), millis(l.Max), l.Count)
	return err
}

func millis(us int64) string { return fmt.Sprintf("%.3f", float64(us)/1000) }

// startProgress writes a line about st to w every second from start on,
// in Strata's ProgressLine format, until the returned stop is called; stop
// returns once the writer goroutine has exited.
func startProgress(w io.Writer, st *stats, start time.Time) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		prev, prevAt := snapshot{}, start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				cur := st.snapshot()
				secs := now.Sub(prevAt).Seconds()
				line := fmt.Sprintf("e2e %6.1fs: %d records, %.1f records/s, %.2f MB/s",
					now.Sub(start).Seconds(), cur.records,
					float64(cur.records-prev.records)/secs, float64(cur.bytes-prev.bytes)/mib/secs)
				if cur.latency != nil {
					line += fmt.Sprintf(", latency so far p50 %s ms, p99 %s ms", millis(cur.latency.P50), millis(cur.latency.P99))
				}
				_, _ = io.WriteString(w, line+"\n") // progress is advisory
				prev, prevAt = cur, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

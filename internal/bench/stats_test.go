package bench

import (
	"sync"
	"testing"
	"time"
)

// checkLatency fails unless l holds count samples and its invariant
// 0 < Min <= P50 <= P95 <= P99 <= P999 <= Max.
func checkLatency(t *testing.T, l *Latency, count int64) {
	t.Helper()
	if l == nil {
		t.Fatal("got no latency, want some")
	}
	if l.Count != count {
		t.Errorf("got latency count %d, want %d", l.Count, count)
	}
	ordered := []int64{l.Min, l.P50, l.P95, l.P99, l.P999, l.Max}
	if ordered[0] <= 0 {
		t.Errorf("got min %d, want > 0", ordered[0])
	}
	for i := 1; i < len(ordered); i++ {
		if ordered[i] < ordered[i-1] {
			t.Errorf("latency not ordered: min,p50,p95,p99,p99.9,max = %v", ordered)
			break
		}
	}
}

func TestStatsPercentiles(t *testing.T) {
	tests := []struct {
		name      string
		latencies []time.Duration
		wantP50   int64 // µs, within the histogram's 3 significant digits
		wantMax   int64
	}{
		{name: "one", latencies: []time.Duration{5 * time.Millisecond}, wantP50: 5000, wantMax: 5000},
		{name: "sub-microsecond counts as 1µs", latencies: []time.Duration{0, 10 * time.Nanosecond}, wantP50: 1, wantMax: 1},
		{name: "beyond an hour is clamped", latencies: []time.Duration{2 * time.Hour}, wantP50: highestLatencyMicros, wantMax: highestLatencyMicros},
		{name: "spread", latencies: spread(1000), wantP50: 500, wantMax: 1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStats()
			for _, d := range tt.latencies {
				s.AddLatency(10, d)
			}
			snap := s.Snapshot()
			n := int64(len(tt.latencies))
			if snap.Records != n || snap.Bytes != 10*n {
				t.Errorf("got %d records %d bytes, want %d and %d", snap.Records, snap.Bytes, n, 10*n)
			}
			checkLatency(t, snap.Latency, n)
			if !near(snap.Latency.P50, tt.wantP50) {
				t.Errorf("got p50 %d µs, want about %d", snap.Latency.P50, tt.wantP50)
			}
			if !near(snap.Latency.Max, tt.wantMax) {
				t.Errorf("got max %d µs, want about %d", snap.Latency.Max, tt.wantMax)
			}
		})
	}
}

// spread returns latencies of 1, 2, ..., n microseconds.
func spread(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Microsecond
	}
	return out
}

// near reports whether got is within 0.1% (the histogram's precision) of want.
func near(got, want int64) bool {
	diff := got - want
	if diff < 0 {
		diff = -diff
	}
	return diff*1000 <= want
}

func TestStatsCountsWithoutLatency(t *testing.T) {
	s := NewStats()
	s.Add(3, 300)
	s.Add(2, 7)
	snap := s.Snapshot()
	if snap.Records != 5 || snap.Bytes != 307 || snap.Latency != nil {
		t.Errorf("got %+v, want 5 records, 307 bytes, no latency", snap)
	}
}

func TestStatsConcurrent(t *testing.T) {
	s := NewStats()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 1000 {
				s.AddLatency(1, time.Duration(i)*time.Microsecond)
			}
			s.AddLatencies(2, []time.Duration{time.Millisecond, 2 * time.Millisecond})
		})
	}
	wg.Wait()
	snap := s.Snapshot()
	if snap.Records != 4*1002 || snap.Bytes != 4*1002 {
		t.Errorf("got %d records %d bytes, want %d of each", snap.Records, snap.Bytes, 4*1002)
	}
	checkLatency(t, snap.Latency, 4*1002)
}

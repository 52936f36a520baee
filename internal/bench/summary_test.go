package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNewSummary(t *testing.T) {
	lat := &Latency{Count: 4, Min: 1, P50: 2, P95: 3, P99: 3, P999: 3, Max: 3}
	tests := []struct {
		name     string
		snap     Snapshot
		elapsed  time.Duration
		wantRPS  float64
		wantMBPS float64
	}{
		{name: "two seconds", snap: Snapshot{Records: 4, Bytes: 4 << 20, Latency: lat}, elapsed: 2 * time.Second, wantRPS: 2, wantMBPS: 2},
		{name: "no time", snap: Snapshot{Records: 4, Bytes: 10}, elapsed: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSummary(ModeProduce, "t", tt.snap, tt.elapsed)
			if s.RecordsPerSec != tt.wantRPS || s.MBPerSec != tt.wantMBPS {
				t.Errorf("got %g records/s %g MB/s, want %g and %g", s.RecordsPerSec, s.MBPerSec, tt.wantRPS, tt.wantMBPS)
			}
			if s.Records != tt.snap.Records || s.Bytes != tt.snap.Bytes || s.Latency != tt.snap.Latency {
				t.Errorf("got %+v, want the snapshot's counts and latency", s)
			}
		})
	}
}

func TestSummaryJSONFieldNames(t *testing.T) {
	tests := []struct {
		name string
		lat  *Latency
		want []string
		not  []string
	}{
		{
			name: "with latency",
			lat:  &Latency{Count: 1, Min: 1, Mean: 1, P50: 1, P95: 1, P99: 1, P999: 1, Max: 1},
			want: []string{"mode", "topic", "records", "bytes", "seconds", "records_per_sec", "mb_per_sec", "latency_us"},
		},
		{
			name: "consume has no latency",
			want: []string{"mode", "topic", "records", "bytes", "seconds", "records_per_sec", "mb_per_sec"},
			not:  []string{"latency_us"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			s := NewSummary(ModeConsume, "t", Snapshot{Records: 1, Bytes: 1, Latency: tt.lat}, time.Second)
			if err := s.WriteJSON(&buf); err != nil {
				t.Fatal(err)
			}
			if strings.Count(buf.String(), "\n") != 1 {
				t.Errorf("got %q, want one line", buf.String())
			}
			var m map[string]any
			if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.want {
				if _, ok := m[k]; !ok {
					t.Errorf("got no field %q in %s", k, buf.String())
				}
			}
			for _, k := range tt.not {
				if _, ok := m[k]; ok {
					t.Errorf("got field %q in %s, want none", k, buf.String())
				}
			}
			if tt.lat == nil {
				return
			}
			l, _ := m["latency_us"].(map[string]any)
			for _, k := range []string{"count", "min", "mean", "p50", "p95", "p99", "p99_9", "max"} {
				if _, ok := l[k]; !ok {
					t.Errorf("got no latency field %q in %s", k, buf.String())
				}
			}
		})
	}
}

func TestSummaryText(t *testing.T) {
	var buf bytes.Buffer
	s := NewSummary(ModeProduce, "orders", Snapshot{Records: 10, Bytes: 1 << 20,
		Latency: &Latency{Count: 10, Min: 100, P50: 1500, P95: 2000, P99: 2500, P999: 3000, Max: 4000}}, time.Second)
	if err := s.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	want := `produce "orders": 10 records, 1048576 bytes in 1.000 s: 10.0 records/s, 1.00 MB/s
produce latency ms: p50 1.500, p95 2.000, p99 2.500, p99.9 3.000, max 4.000 (10 samples)
`
	if buf.String() != want {
		t.Errorf("got\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestProgressLine(t *testing.T) {
	prev := Snapshot{Records: 100, Bytes: 100 << 20}
	cur := Snapshot{Records: 300, Bytes: 300 << 20, Latency: &Latency{P50: 1000, P99: 9000}}
	tests := []struct {
		name     string
		interval time.Duration
		cur      Snapshot
		want     string
	}{
		{name: "latency", interval: 2 * time.Second, cur: cur,
			want: "produce    3.0s: 300 records, 100.0 records/s, 100.00 MB/s, latency so far p50 1.000 ms, p99 9.000 ms\n"},
		{name: "no latency, no interval", cur: Snapshot{Records: 300, Bytes: 300 << 20},
			want: "produce    3.0s: 300 records, 0.0 records/s, 0.00 MB/s\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProgressLine(ModeProduce, 3*time.Second, tt.interval, prev, tt.cur); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

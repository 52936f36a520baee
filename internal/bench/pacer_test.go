package bench

import (
	"context"
	"testing"
	"time"
)

func TestPacerDue(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name   string
		perSec float64
		i      int64
		want   time.Time
	}{
		{name: "first is start", perSec: 100, i: 0, want: start},
		{name: "100/s", perSec: 100, i: 250, want: start.Add(2500 * time.Millisecond)},
		{name: "fractional rate", perSec: 0.5, i: 3, want: start.Add(6 * time.Second)},
		{name: "high rate no drift", perSec: 50000, i: 50000 * 3600, want: start.Add(time.Hour)},
		{name: "unpaced", perSec: 0, i: 12345, want: start},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewPacer(start, tt.perSec).Due(tt.i); !got.Equal(tt.want) {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPacerWait(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	past := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		ctx    context.Context
		start  time.Time
		perSec float64
		end    time.Time
		sends  int // Waits expected to succeed before the first false
	}{
		// Sends due in the past go at once: 1000/s from an hour ago until
		// 5 ms after that start is 5 sends, without sleeping.
		{name: "catch up without sleeping", ctx: context.Background(), start: past, perSec: 1000, end: past.Add(5 * time.Millisecond), sends: 5},
		{name: "end at start", ctx: context.Background(), start: past, perSec: 1000, end: past, sends: 0},
		{name: "canceled", ctx: canceled, start: past, perSec: 1000, sends: 0},
		{name: "unpaced stops at end", ctx: context.Background(), start: past, perSec: 0, end: past, sends: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPacer(tt.start, tt.perSec)
			for i := range tt.sends {
				due, ok := p.Wait(tt.ctx, tt.end)
				if !ok {
					t.Fatalf("send %d: got not ok, want ok", i)
				}
				if want := p.Due(int64(i)); !due.Equal(want) {
					t.Errorf("send %d: got due %s, want %s", i, due, want)
				}
			}
			if _, ok := p.Wait(tt.ctx, tt.end); ok {
				t.Errorf("send %d: got ok, want the pacer to stop", tt.sends)
			}
		})
	}
}

func TestPacerWaitBlocksUntilDue(t *testing.T) {
	start := time.Now()
	p := NewPacer(start, 200) // send 1 is due 5 ms after start
	for i := range 2 {
		due, ok := p.Wait(context.Background(), time.Time{})
		if !ok {
			t.Fatalf("send %d: got not ok", i)
		}
		if now := time.Now(); now.Before(due) {
			t.Errorf("send %d: returned at %s, before its due time %s", i, now, due)
		}
	}
}

func TestPacerWaitCanceledWhileSleeping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := NewPacer(time.Now().Add(time.Hour), 1)
	done := make(chan bool)
	go func() {
		_, ok := p.Wait(ctx, time.Time{})
		done <- ok
	}()
	cancel()
	if ok := <-done; ok {
		t.Error("got ok, want not ok after cancel")
	}
}

package bench

import (
	"context"
	"time"
)

// Pacer spaces sends at a fixed rate on an absolute schedule: send i (from
// 0) is due at start + i/rate. Because every due time derives from start,
// not from when the previous send happened, waking late does not shift
// later sends: the sends that fell due meanwhile go out at once and the
// average rate stays exact, without a sleep per record and without drift.
// A Pacer is not safe for concurrent use.
type Pacer struct {
	start   time.Time
	perSec  float64
	next    int64
	unpaced bool
	timer   *time.Timer
}

// NewPacer returns a pacer whose first send is due at start. perSec <= 0
// means no rate limit: every send is due at once.
func NewPacer(start time.Time, perSec float64) *Pacer {
	return &Pacer{start: start, perSec: perSec, unpaced: perSec <= 0}
}

// Due returns the time send i is due at. For an unpaced Pacer it is start.
func (p *Pacer) Due(i int64) time.Time {
	if p.unpaced {
		return p.start
	}
	return p.start.Add(time.Duration(float64(i) / p.perSec * float64(time.Second)))
}

// Wait blocks until the next send is due, then returns its due time and
// moves past it. It returns false, without waiting, when that send would
// be due at or after end (unless end is zero), and false when ctx ends
// first. An unpaced Pacer does not block and returns the current time:
// its sends are due when they happen.
func (p *Pacer) Wait(ctx context.Context, end time.Time) (time.Time, bool) {
	if ctx.Err() != nil {
		return time.Time{}, false
	}
	// start plus the monotonic time since: one clock read where time.Now
	// takes two, and the load generator reads the clock for every record.
	now := p.start.Add(time.Since(p.start))
	due := now
	if !p.unpaced {
		due = p.Due(p.next)
	}
	if !end.IsZero() && !due.Before(end) {
		return time.Time{}, false
	}
	p.next++
	d := due.Sub(now)
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

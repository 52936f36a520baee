package bench

import (
	"context"
	"io"
	"sync"
	"time"
)

// progressInterval is how often a running workload reports progress.
const progressInterval = time.Second

// StartProgress writes a ProgressLine about stats to w every interval
// from start on, in a goroutine, until the returned stop is called; stop
// returns once the goroutine has exited. With a nil w it does nothing.
// Write errors are ignored: progress is advisory.
func StartProgress(w io.Writer, mode string, stats *Stats, start time.Time, interval time.Duration) (stop func()) {
	if w == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		prev, prevAt := Snapshot{}, start
		for {
			select {
			case <-ctx.Done():
				return
			case now := <-t.C:
				cur := stats.Snapshot()
				_, _ = io.WriteString(w, ProgressLine(mode, now.Sub(start), now.Sub(prevAt), prev, cur))
				prev, prevAt = cur, now
			}
		}
	}()
	return func() {
		cancel()
		wg.Wait()
	}
}

// Failure keeps the first error of concurrent workers and cancels their
// shared context when it happens. It is safe for concurrent use.
type Failure struct {
	mu     sync.Mutex
	err    error
	cancel context.CancelFunc
}

// NewFailure returns a Failure that calls cancel on the first error.
func NewFailure(cancel context.CancelFunc) *Failure { return &Failure{cancel: cancel} }

// Set records err if it is the first and cancels the workers' context.
func (f *Failure) Set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
		f.cancel()
	}
}

// Get returns the first error recorded, or nil.
func (f *Failure) Get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

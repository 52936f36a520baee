package partition

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/config"
)

// TestForEachAtOnce: the calls run n at once, never more, and all of them
// run. Every call waits until n are running together, so a pool that ran
// fewer at once would not finish.
func TestForEachAtOnce(t *testing.T) {
	const n, total = 3, 7
	parts := map[TopicPartition]*Partition{}
	for i := range total {
		parts[TopicPartition{"t", int32(i)}] = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex
	active, most, calls := 0, 0, 0
	full := make(chan struct{})
	var once sync.Once
	forEachAtOnce(ctx, parts, n, func(TopicPartition, *Partition) {
		mu.Lock()
		active++
		calls++
		most = max(most, active)
		if active == n {
			once.Do(func() { close(full) })
		}
		mu.Unlock()
		select {
		case <-full:
		case <-ctx.Done():
		}
		mu.Lock()
		active--
		mu.Unlock()
	})
	if ctx.Err() != nil {
		t.Fatalf("calls never ran %d at once", n)
	}
	if most != n || calls != total {
		t.Fatalf("got %d calls, at most %d at once; want %d, %d at once", calls, most, total, n)
	}
}

// TestCleanOptions maps the cleaner's settings as Kafka shares them out
// among its threads.
func TestCleanOptions(t *testing.T) {
	tests := []struct {
		settings      map[string]string
		dedupe, ioBuf int64
		limited       bool // the throttle has a rate
	}{
		{nil, 128 << 20 * 9 / 10, 256 << 10, false},
		{map[string]string{"log.cleaner.threads": "4", "log.cleaner.dedupe.buffer.size": "40000000",
			"log.cleaner.io.buffer.load.factor": "0.5", "log.cleaner.io.buffer.size": "80000"}, 5000000, 10000, false},
		{map[string]string{"log.cleaner.io.buffer.size": "0", "log.cleaner.io.max.bytes.per.second": "1000.5"}, 128 << 20 * 9 / 10, 1, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.settings), func(t *testing.T) {
			s, err := config.ParseBroker(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			q := &Quota{}
			q.SetRate(s.LogCleanerIOMaxBytesPerSecond())
			o := cleanOptions(s, q)
			if o.DedupeBufferBytes != tt.dedupe || o.IOBufferBytes != tt.ioBuf || o.Throttle != q {
				t.Errorf("got dedupe %d, I/O buffer %d; want %d, %d", o.DedupeBufferBytes, o.IOBufferBytes, tt.dedupe, tt.ioBuf)
			}
			if q.unlimited() == tt.limited {
				t.Errorf("throttle unlimited %v at %d bytes/s, want %v", q.unlimited(), s.LogCleanerIOMaxBytesPerSecond(), !tt.limited)
			}
		})
	}
}

package bench

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestBudgetTake(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		takes []int64
		want  []int64
		spent bool
	}{
		{name: "exact", limit: 5, takes: []int64{2, 3, 1}, want: []int64{2, 3, 0}, spent: true},
		{name: "partial last", limit: 5, takes: []int64{4, 4}, want: []int64{4, 1}, spent: true},
		{name: "left over", limit: 5, takes: []int64{1}, want: []int64{1}},
		{name: "unlimited", limit: 0, takes: []int64{1 << 40, 7}, want: []int64{1 << 40, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewBudget(tt.limit)
			for i, n := range tt.takes {
				if got := b.Take(n); got != tt.want[i] {
					t.Errorf("take %d of %d: got %d, want %d", i, n, got, tt.want[i])
				}
			}
			if got := b.Spent(); got != tt.spent {
				t.Errorf("got spent %v, want %v", got, tt.spent)
			}
		})
	}
}

func TestBudgetConcurrent(t *testing.T) {
	const limit = 10000
	b := NewBudget(limit)
	var total atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				got := b.Take(3)
				if got == 0 {
					return
				}
				total.Add(got)
			}
		})
	}
	wg.Wait()
	if got := total.Load(); got != limit {
		t.Errorf("got %d records taken, want %d", got, limit)
	}
}

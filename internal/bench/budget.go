package bench

import "sync/atomic"

// Budget is a record quota shared by concurrent workers: workers take
// records from it until it is spent. A Budget with limit 0 is unlimited.
// It is safe for concurrent use.
type Budget struct {
	limit int64
	taken atomic.Int64
}

// NewBudget returns a budget of limit records; 0 means unlimited.
func NewBudget(limit int64) *Budget {
	return &Budget{limit: limit}
}

// Take claims up to n records and returns how many it got: n, fewer when
// the budget runs out, or 0 once it is spent.
func (b *Budget) Take(n int64) int64 {
	if b.limit == 0 {
		b.taken.Add(n)
		return n
	}
	for {
		cur := b.taken.Load()
		got := min(n, b.limit-cur)
		if got <= 0 {
			return 0
		}
		if b.taken.CompareAndSwap(cur, cur+got) {
			return got
		}
	}
}

// Spent reports whether a limited budget has no records left.
func (b *Budget) Spent() bool {
	return b.limit != 0 && b.taken.Load() >= b.limit
}

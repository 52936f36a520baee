package txn

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
)

// DefaultIDBlockSize is how many producer ids a broker reserves at a time
// when NewIDAllocator is given no block size; Kafka reserves 1000.
const DefaultIDBlockSize = 1000

// Sentinel errors.
var (
	// ErrBlockOutOfRange is returned by IDAllocator.Next when the reserve
	// function returns a block that does not fit in [0, math.MaxInt64].
	ErrBlockOutOfRange = errors.New("producer id block out of range")
)

// IDAllocator hands out producer ids from blocks reserved through the
// metadata log, so that ids are unique across the cluster and across
// restarts. Ids left in a block when the broker stops are never used, as in
// Kafka. It is safe for concurrent use.
type IDAllocator struct {
	reserve   func(ctx context.Context, count int64) (first int64, err error)
	blockSize int64
	// sem holds one token while a caller takes an id or refills the block,
	// so that only one reservation is in flight and waiters can give up
	// when their context ends.
	sem chan struct{}
	// [next, end) are the unused ids of the current block.
	next, end int64
}

// NewIDAllocator returns an allocator that calls reserve(ctx, blockSize)
// whenever its block is used up; reserve returns the first id of a block of
// blockSize ids nobody else will use. A blockSize below 1 means
// DefaultIDBlockSize. It reserves nothing until the first Next.
func NewIDAllocator(reserve func(ctx context.Context, count int64) (first int64, err error), blockSize int64) *IDAllocator {
	if blockSize < 1 {
		blockSize = DefaultIDBlockSize
	}
	return &IDAllocator{reserve: reserve, blockSize: blockSize, sem: make(chan struct{}, 1)}
}

// Next returns an unused producer id (>= 0). When the current block is used
// up it reserves a new one; callers arriving meanwhile wait for it, or
// return ctx.Err() if ctx ends first. A reserve error is returned wrapped
// and the next call tries again; a block outside [0, math.MaxInt64] gives
// ErrBlockOutOfRange.
func (a *IDAllocator) Next(ctx context.Context) (int64, error) {
	select {
	case a.sem <- struct{}{}:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	defer func() { <-a.sem }()
	if a.next >= a.end {
		first, err := a.reserve(ctx, a.blockSize)
		if err != nil {
			return -1, fmt.Errorf("reserve %d producer ids: %w", a.blockSize, err)
		}
		if first < 0 || first > math.MaxInt64-a.blockSize {
			return -1, fmt.Errorf("reserved block of %d ids at %d: %w", a.blockSize, first, ErrBlockOutOfRange)
		}
		a.next, a.end = first, first+a.blockSize
	}
	id := a.next
	a.next++
	return id, nil
}

// InitProducer answers InitProducerId (API key 22) for a producer without
// a transactional id (the transaction coordinator answers the others): a
// fresh producer id with epoch 0, always. The ProducerID and ProducerEpoch
// a KIP-360 client sends do not matter: an idempotent client bumps its
// epoch itself after a sequence error and calls InitProducerId only when
// the epoch would pass math.MaxInt16, so a new id is the right answer there
// too, as in Kafka's TransactionCoordinator.handleInitProducerId. When no id
// can be reserved, the reserve error is wrapped together with
// COORDINATOR_LOAD_IN_PROGRESS, which Kafka answers when its id block is
// exhausted and clients retry.
func InitProducer(ctx context.Context, alloc *IDAllocator) (id int64, epoch int16, err error) {
	id, err = alloc.Next(ctx)
	if err != nil {
		return -1, noProducerEpoch, fmt.Errorf("allocate producer id (%w): %w", kerr.CoordinatorLoadInProgress, err)
	}
	return id, 0, nil
}

package txn

import (
	"context"
	"errors"
	"math"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// blocks is a reserve function backed by a counter, like the metadata log's
// next-producer-id record. It counts calls and can be told to fail.
type blocks struct {
	mu    sync.Mutex
	next  int64
	calls int
	err   error
}

func (b *blocks) reserve(_ context.Context, count int64) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls++
	if b.err != nil {
		return 0, b.err
	}
	first := b.next
	b.next += count
	return first, nil
}

func TestIDAllocatorConcurrentUnique(t *testing.T) {
	const (
		workers   = 8
		perWorker = 250
		blockSize = 7
	)
	src := &blocks{next: 100}
	a := NewIDAllocator(src.reserve, blockSize)
	ids := make(chan int64, workers*perWorker)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perWorker {
				id, err := a.Next(context.Background())
				if err != nil {
					errs <- err
					return
				}
				ids <- id
			}
		}()
	}
	wg.Wait()
	close(ids)
	close(errs)
	for err := range errs {
		t.Fatalf("Next: %v", err)
	}
	seen := make(map[int64]bool)
	for id := range ids {
		if seen[id] {
			t.Fatalf("id %d handed out twice", id)
		}
		if id < 100 || id >= 100+workers*perWorker {
			t.Fatalf("got id %d, want one in [100, %d)", id, 100+workers*perWorker)
		}
		seen[id] = true
	}
	if got, want := len(seen), workers*perWorker; got != want {
		t.Fatalf("got %d ids, want %d", got, want)
	}
	if got, want := src.calls, (workers*perWorker+blockSize-1)/blockSize; got != want {
		t.Fatalf("got %d reservations, want %d", got, want)
	}
}

func TestIDAllocatorReservesWhenExhausted(t *testing.T) {
	src := &blocks{}
	a := NewIDAllocator(src.reserve, 3)
	ctx := context.Background()
	tests := []struct {
		wantID    int64
		wantCalls int
	}{{0, 1}, {1, 1}, {2, 1}, {3, 2}, {4, 2}, {5, 2}, {6, 3}}
	for _, tt := range tests {
		id, err := a.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if id != tt.wantID || src.calls != tt.wantCalls {
			t.Fatalf("got id %d after %d reservations, want id %d after %d", id, src.calls, tt.wantID, tt.wantCalls)
		}
	}
}

func TestIDAllocatorDefaultBlockSize(t *testing.T) {
	var got int64
	a := NewIDAllocator(func(_ context.Context, count int64) (int64, error) {
		got = count
		return 0, nil
	}, 0)
	if _, err := a.Next(context.Background()); err != nil {
		t.Fatalf("Next: %v", err)
	}
	if got != DefaultIDBlockSize {
		t.Fatalf("got block size %d, want %d", got, DefaultIDBlockSize)
	}
}

func TestIDAllocatorReserveError(t *testing.T) {
	errDown := errors.New("metadata log unavailable")
	src := &blocks{err: errDown}
	a := NewIDAllocator(src.reserve, 10)
	ctx := context.Background()
	if _, err := a.Next(ctx); !errors.Is(err, errDown) {
		t.Fatalf("got %v, want %v", err, errDown)
	}
	src.err = nil
	id, err := a.Next(ctx)
	if err != nil || id != 0 {
		t.Fatalf("after recovery got (%d, %v), want (0, nil)", id, err)
	}
	if src.calls != 2 {
		t.Fatalf("got %d reservations, want 2", src.calls)
	}
}

func TestIDAllocatorBlockOutOfRange(t *testing.T) {
	for _, first := range []int64{-1, math.MaxInt64 - 5} {
		a := NewIDAllocator(func(context.Context, int64) (int64, error) { return first, nil }, 10)
		if _, err := a.Next(context.Background()); !errors.Is(err, ErrBlockOutOfRange) {
			t.Fatalf("block at %d: got %v, want ErrBlockOutOfRange", first, err)
		}
	}
}

// TestIDAllocatorWaiterHonoursContext holds a reservation open and checks
// that another caller whose context ends returns instead of waiting.
func TestIDAllocatorWaiterHonoursContext(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	a := NewIDAllocator(func(context.Context, int64) (int64, error) {
		close(entered)
		<-release
		return 0, nil
	}, 10)
	done := make(chan error, 1)
	go func() {
		_, err := a.Next(context.Background())
		done <- err
	}()
	<-entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := a.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("first Next: %v", err)
	}
	if id, err := a.Next(context.Background()); err != nil || id != 1 {
		t.Fatalf("got (%d, %v), want (1, nil)", id, err)
	}
}

func TestInitProducer(t *testing.T) {
	errDown := errors.New("metadata log unavailable")
	tests := []struct {
		name       string
		reserveErr error
		wantID     int64
		wantErr    error
	}{
		{name: "fresh idempotent producer", wantID: 50},
		{name: "reserve fails", reserveErr: errDown, wantErr: kerr.CoordinatorLoadInProgress},
		{name: "reserve error kept", reserveErr: errDown, wantErr: errDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &blocks{next: 50, err: tt.reserveErr}
			id, epoch, err := InitProducer(context.Background(), NewIDAllocator(src.reserve, 10))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got (%d, %d, %v), want error %v", id, epoch, err, tt.wantErr)
				}
				var ke *kerr.Error
				if !errors.As(err, &ke) {
					t.Fatalf("error %v wraps no kerr value", err)
				}
				return
			}
			if err != nil || id != tt.wantID || epoch != 0 {
				t.Fatalf("got (%d, %d, %v), want (%d, 0, nil)", id, epoch, err, tt.wantID)
			}
		})
	}
}

package server

import (
	"context"
	"time"
)

// A throttled connection is muted as Kafka mutes it: no request is read
// from it for the response's throttle time, counted from when the
// response was sent (KIP-219), or the response itself waits that long for
// versions before KIP-219. A client that ignores throttle_time_ms thus
// gets no more service than its quota.

// wait blocks for d, or until ctx is done; it reports whether d passed.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// muteAfter waits, for a frame throttled after its response, until the
// writer has sent it (it signals sent) and then for the throttle time. It
// reports false when the connection is done meanwhile.
func muteAfter(ctx context.Context, throttle time.Duration, sent <-chan struct{}, writerDone <-chan struct{}) bool {
	select {
	case <-sent:
	case <-writerDone:
		return false
	case <-ctx.Done():
		return false
	}
	return wait(ctx, throttle)
}

// signalSent tells the reader, without blocking, that a throttled frame
// has been flushed to the socket.
func signalSent(sent chan<- struct{}) {
	select {
	case sent <- struct{}{}:
	default:
	}
}

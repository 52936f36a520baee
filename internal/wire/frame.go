package wire

import (
	"bufio"
	"context"
	"io"
	"sync"
	"time"

	"github.com/stratalog/strata/internal/commitlog"
)

// Frame is an encoded response frame: Bytes, size prefix included, with
// each splice's record set inserted at its position. Only Fetch responses
// have splices; they let big record sets go from the segment files to the
// socket without passing through memory.
type Frame struct {
	Bytes   []byte
	Splices []Splice // by ascending At
	pooled  *[]byte  // Bytes's buffer, back to fetchBufs at Release
	// Throttle is the response's throttle_time_ms: the connection reads
	// no request for that long after the response is sent, or, with
	// DelayResponse (versions before KIP-219), before it is sent. A frame
	// without bytes (no response) mutes the connection from when it is
	// served.
	Throttle      time.Duration
	DelayResponse bool
	// await, set on a pending frame, waits for the response and encodes it.
	await func(context.Context) (Frame, error)
}

// Pending reports whether the frame is a response still waiting for its
// records to be committed (an acks=all Produce): it has no bytes until
// Complete. Throttle and DelayResponse are already set.
func (f *Frame) Pending() bool { return f.await != nil }

// Complete waits for a pending frame's response and returns it encoded
// (with the same throttle); a frame that is not pending is returned as it
// is. ctx ending cuts the wait short: the response then says the records
// were not committed in time.
func (f Frame) Complete(ctx context.Context) (Frame, error) {
	if f.await == nil {
		return f, nil
	}
	done, err := f.await(ctx)
	if err != nil {
		return Frame{}, err
	}
	done.Throttle, done.DelayResponse = f.Throttle, f.DelayResponse
	return done, nil
}

// fetchBufs recycles the buffers of Fetch response frames: a consumer
// that keeps up gets one small response per produce, and growing a fresh
// buffer for each was a fifth of the broker's allocations.
var fetchBufs sync.Pool // of *[]byte

// fetchBufMax is the largest buffer put back: bigger ones are rare (record
// sets of 64 KiB or more are spliced, not copied) and would pin memory.
const fetchBufMax = 1 << 20

// newFetchFrame returns an empty frame whose Bytes come from fetchBufs.
func newFetchFrame() Frame {
	p, _ := fetchBufs.Get().(*[]byte)
	if p == nil {
		b := make([]byte, 0, 4<<10)
		p = &b
	}
	return Frame{Bytes: (*p)[:0], pooled: p}
}

// Splice is a record set that goes into a frame before byte At of Bytes.
type Splice struct {
	At      int
	Records commitlog.Slice
}

// Len is the frame's size on the wire.
func (f *Frame) Len() int {
	n := len(f.Bytes)
	for i := range f.Splices {
		n += int(f.Splices[i].Records.Len())
	}
	return n
}

// Release lets go of the record sets and of the buffer; call it for a
// frame that will not be written (WriteTo releases it itself). Bytes must
// not be used afterwards. A pending frame is completed without waiting for
// the commit: its records still get the fsync their flush policy wants,
// which the high watermark waits for.
func (f *Frame) Release() {
	if f.await != nil {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if done, err := f.await(ctx); err == nil {
			done.Release()
		}
		f.await = nil
	}
	for i := range f.Splices {
		f.Splices[i].Records.Release()
	}
	if p := f.pooled; p != nil {
		f.pooled = nil
		if cap(f.Bytes) <= fetchBufMax {
			*p = f.Bytes[:0]
			fetchBufs.Put(p)
		}
	}
}

// WriteTo writes the frame: its bytes through bw, and each record set,
// after flushing bw, straight to w (with sendfile when w is a socket). bw
// must write to w. The record sets are released whatever happens.
func (f *Frame) WriteTo(bw *bufio.Writer, w io.Writer) error {
	defer f.Release()
	last := 0
	for i := range f.Splices {
		s := &f.Splices[i]
		if _, err := bw.Write(f.Bytes[last:s.At]); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if _, err := s.Records.WriteTo(w); err != nil {
			return err
		}
		last = s.At
	}
	_, err := bw.Write(f.Bytes[last:])
	return err
}

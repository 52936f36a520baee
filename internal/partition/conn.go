package partition

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Conn is a client connection to a broker's Kafka listener, for the
// requests brokers send each other (a follower's fetches, a forwarded admin
// request): one request at a time.
type Conn struct {
	c    net.Conn
	r    *bufio.Reader
	buf  []byte
	body []byte
	corr int32
	fmtr *kmsg.RequestFormatter
}

// NewConn wraps c, sending clientID in every request header.
func NewConn(c net.Conn, clientID string) *Conn {
	return &Conn{c: c, r: bufio.NewReaderSize(c, 64<<10), fmtr: kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID))}
}

// Close closes the connection.
func (k *Conn) Close() error { return k.c.Close() }

// RoundTrip sends req and decodes its answer into resp, giving up after
// timeout or when ctx ends. A response larger than maxResponse bytes is an
// error. Byte fields of resp (record batches) may alias a buffer the next
// call reuses.
func (k *Conn) RoundTrip(ctx context.Context, req kmsg.Request, resp kmsg.Response, timeout time.Duration, maxResponse uint32) error {
	k.corr++
	k.buf = k.fmtr.AppendRequest(k.buf[:0], req, k.corr)
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = k.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = k.c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := k.c.Write(k.buf); err != nil {
		return err
	}
	var size [4]byte
	if _, err := io.ReadFull(k.r, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxResponse {
		return fmt.Errorf("response of %d bytes", n)
	}
	if cap(k.body) < int(n) {
		k.body = make([]byte, n)
	}
	body := k.body[:n]
	if _, err := io.ReadFull(k.r, body); err != nil {
		return err
	}
	rd := kbin.Reader{Src: body}
	if corr := rd.Int32(); corr != k.corr {
		return fmt.Errorf("response correlation id %d, want %d", corr, k.corr)
	}
	resp.SetVersion(req.GetVersion())
	if resp.IsFlexible() {
		// The response header's tagged fields, none of which we use.
		for n := rd.Uvarint(); n > 0 && rd.Ok(); n-- {
			rd.Uvarint()
			rd.Span(int(rd.Uvarint()))
		}
	}
	if err := rd.Complete(); err != nil {
		return fmt.Errorf("response header: %w", err)
	}
	return resp.ReadFrom(rd.Src)
}

// RoundTrip sends one request to the Kafka listener at addr on a
// connection of its own, dialed with dial (nil: a net.Dialer).
func RoundTrip(ctx context.Context, dial func(context.Context, string) (net.Conn, error), addr, clientID string,
	req kmsg.Request, resp kmsg.Response, timeout time.Duration, maxResponse uint32) error {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	c, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	k := NewConn(c, clientID)
	defer k.Close()
	return k.RoundTrip(ctx, req, resp, timeout, maxResponse)
}

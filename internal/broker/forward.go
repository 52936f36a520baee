package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxForwardedResponse bounds the response to a request one broker
// forwards to another; the requests forwarded are small admin requests.
const maxForwardedResponse = 1 << 20

// errNotRegistered says a node has no broker registration to reach it by.
var errNotRegistered = errors.New("not a registered broker")

// roundTrip sends req to the Kafka listener at addr on a new connection,
// with clientID in the request header, and decodes the answer into resp. It
// dials with dial (nil: a net.Dialer) and gives up when ctx ends.
func roundTrip(ctx context.Context, dial func(context.Context, string) (net.Conn, error), addr, clientID string,
	req kmsg.Request, resp kmsg.Response) error {
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	c, err := dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(d)
	}
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	const correlationID = 1
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID(clientID)).AppendRequest(nil, req, correlationID)
	if _, err := c.Write(frame); err != nil {
		return err
	}
	r := bufio.NewReader(c)
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxForwardedResponse {
		return fmt.Errorf("response of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	rd := kbin.Reader{Src: body}
	if got := rd.Int32(); got != correlationID {
		return fmt.Errorf("response correlation id %d, want %d", got, correlationID)
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

package broker

import (
	"context"
	"errors"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/partition"
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
	return partition.RoundTrip(ctx, dial, addr, clientID, req, resp, forwardTimeout, maxForwardedResponse)
}

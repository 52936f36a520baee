package broker

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/partition"
)

// API is one request kind the broker serves and its version range [Min, Max].
type API struct {
	Key        int16
	MinVersion int16
	MaxVersion int16
}

// ConnInfo describes the connection a request arrived on.
type ConnInfo struct {
	ID     uint64
	Remote net.Addr
	// Listener names the listener the connection came in on (Kafka's
	// listener name, such as PLAINTEXT or SASL_SSL).
	Listener string
	// Principal is who the connection authenticated as, in Kafka's
	// form: User:alice, or User:ANONYMOUS before or without
	// authentication. Authorization checks it.
	Principal string
}

// AnonymousPrincipal is the principal of a connection that has not
// authenticated, as Kafka names it.
const AnonymousPrincipal = "User:ANONYMOUS"

// Request is one decoded request.
type Request struct {
	Key           int16
	Version       int16
	CorrelationID int32
	ClientID      *string
	Body          kmsg.Request
	Conn          *ConnInfo
	// Size is the request frame's size, which producer_byte_rate counts.
	Size int
	// Mute is set by Handle for a request that gets no response (a
	// produce with acks=0) over its quota: the connection reads nothing
	// more for that long, as Kafka mutes it.
	Mute time.Duration
	// Await is set by Handle on a request whose response is complete
	// only once its records are committed (an acks=all Produce). The
	// caller may serve the connection's next Produce meanwhile (so that
	// one replication round carries both), and calls Await, which waits
	// for the commit or the request's timeout and fills in the response,
	// before it encodes the response. Nil for every other request.
	Await func(ctx context.Context)
	// waited is how long the handler waited for data (a long-polling
	// fetch); request_percentage does not count it.
	waited time.Duration
}

// handlerFunc serves one API. It returns the response, nil for no response
// (acks=0), or an error that closes the connection.
type handlerFunc func(b *Broker, ctx context.Context, req *Request) (kmsg.Response, error)

type registration struct {
	api     API
	handler handlerFunc
}

// registry is filled by each API file's init: one file per API.
var registry = map[int16]registration{}

func register(key, minVersion, maxVersion int16, h handlerFunc) {
	if _, dup := registry[key]; dup {
		panic(fmt.Sprintf("api key %d registered twice", key))
	}
	registry[key] = registration{api: API{Key: key, MinVersion: minVersion, MaxVersion: maxVersion}, handler: h}
}

// APIs returns the served API table (ApiVersions itself excluded), sorted by key.
func (b *Broker) APIs() []API {
	apis := make([]API, 0, len(registry))
	for _, r := range registry {
		apis = append(apis, r.api)
	}
	slices.SortFunc(apis, func(x, y API) int { return int(x.Key) - int(y.Key) })
	return apis
}

// Feature is a feature flag ApiVersions v3+ reports (KIP-584): the
// levels this node supports, [MinVersion, MaxVersion], and the level the
// cluster has finalized, which clients act on.
type Feature struct {
	Name       string
	MinVersion int16
	MaxVersion int16
	Level      int16
}

// Features returns the feature flags the broker reports. Every node runs
// the same levels, so the finalized level is fixed rather than voted.
func (b *Broker) Features() []Feature {
	// transaction.version 2 (KIP-890 part 2): EndTxn v5 bumps the epoch,
	// Produce v12 and TxnOffsetCommit v5 add their partition to the
	// transaction. Clients that ignore the feature stay on version 1.
	return []Feature{{Name: "transaction.version", MinVersion: 0, MaxVersion: 2, Level: 2}}
}

// Handle serves one decoded request whose version the caller has checked
// against APIs.
func (b *Broker) Handle(ctx context.Context, req *Request) (kmsg.Response, error) {
	r, ok := registry[req.Key]
	if !ok {
		return nil, fmt.Errorf("unknown api key %d", req.Key)
	}
	start := time.Now()
	resp, err := r.handler(b, ctx, req)
	switch {
	case err != nil:
	case resp != nil:
		b.applyQuotas(req, resp, start)
	default:
		req.Mute = b.silentThrottle(req)
	}
	return resp, err
}

// topicPartition names one partition.
type topicPartition = partition.TopicPartition

package cli

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/partition"
)

// dialFunc connects to another node's Kafka listener.
type dialFunc = func(ctx context.Context, addr string) (net.Conn, error)

const (
	// saslClientID names the node in the SASL requests it sends others.
	saslClientID = "strata-inter-broker"
	// saslTimeout bounds one SASL exchange with another node.
	saslTimeout = 10 * time.Second
	// maxSASLResponse bounds a SASL response (a SCRAM challenge is tiny).
	maxSASLResponse = 64 << 10
)

// nodeDial returns how this node dials the other nodes' Kafka listeners:
// as the inter-broker listener's protocol says, with TLS (interBrokerDial)
// and SASL (saslDial). dial is the plain dialer (nil: a net.Dialer); the
// result is dial itself on a PLAINTEXT inter-broker listener.
func (s *listenerSet) nodeDial(settings config.Broker, dial dialFunc) (dialFunc, error) {
	dial = interBrokerDial(s.interTLS, dial)
	i := slices.IndexFunc(s.listeners, func(l config.Listener) bool { return l.Name == s.inter })
	mech, err := interBrokerMechanism(settings, s.listeners[i])
	if err != nil || mech == nil {
		return dial, err
	}
	return saslDial(mech, dial), nil
}

// interBrokerMechanism returns the SASL mechanism this node authenticates
// to the inter-broker listener inter with, nil when that listener's
// protocol is not SASL (Kafka's sasl.mechanism.inter.broker.protocol and
// listener.name.<inter>.<mechanism>.sasl.jaas.config).
func interBrokerMechanism(settings config.Broker, inter config.Listener) (sasl.Mechanism, error) {
	if !isSASL(inter.SecurityProtocol) {
		return nil, nil
	}
	mech, user, password, err := settings.InterBrokerSASL(inter.Name)
	if err != nil {
		return nil, err
	}
	// InterBrokerSASL admits only PLAIN and SCRAM.
	m, _ := passwordMechanism(mech, user, password)
	return m, nil
}

// saslDial wraps dial so that every connection it returns has
// authenticated with mech (SaslHandshake, then SaslAuthenticate, KIP-152):
// the callers (replica fetchers, forwarding, transaction markers) send
// their requests as before. A connection whose session has a lifetime
// (connections.max.reauth.ms on the listener, KIP-368) re-authenticates
// before its next request once 85-95% of the lifetime has passed, as
// Kafka's clients do. A request may come later than the end of the session
// (a fetch's long poll can span the rest of a short one, or the connection
// was idle): the node still takes the re-authentication first, as Kafka's
// does, and only a request other than SaslHandshake is refused. A failed
// re-authentication fails the request; the callers then dial again (the
// fetcher does on any error; the others dial per request).
func saslDial(mech sasl.Mechanism, dial dialFunc) dialFunc {
	if dial == nil {
		d := net.Dialer{Timeout: saslTimeout}
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		sc := &saslConn{Conn: c, kc: partition.NewConn(c, saslClientID), mech: mech, addr: addr}
		if err := sc.authenticate(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return sc, nil
	}
}

// saslConn is an authenticated connection to another node. Its user sends
// one request at a time and reads the whole response before the next
// (partition.Conn does), so a re-authentication run inside Write never
// interleaves with a request.
type saslConn struct {
	net.Conn
	kc   *partition.Conn // the SASL requests' own framing on the same connection
	mech sasl.Mechanism
	addr string

	mu       sync.Mutex
	deadline time.Time // the user's, put back after a re-authentication
	reauthAt time.Time // zero: the session does not end
}

func (c *saslConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.deadline = t
	c.mu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *saslConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	reauthAt, deadline := c.reauthAt, c.deadline
	c.mu.Unlock()
	if !reauthAt.IsZero() && !time.Now().Before(reauthAt) {
		ctx, cancel := context.WithTimeout(context.Background(), saslTimeout)
		err := c.authenticate(ctx)
		cancel()
		_ = c.Conn.SetDeadline(deadline)
		if err != nil {
			return 0, fmt.Errorf("re-authenticate: %w", err)
		}
	}
	return c.Conn.Write(b)
}

// authenticate runs one SASL exchange and notes when to run the next.
func (c *saslConn) authenticate(ctx context.Context) error {
	hreq := kmsg.NewPtrSASLHandshakeRequest()
	hreq.Version = 1
	hreq.Mechanism = c.mech.Name()
	hresp := hreq.ResponseKind().(*kmsg.SASLHandshakeResponse)
	if err := c.kc.RoundTrip(ctx, hreq, hresp, saslTimeout, maxSASLResponse); err != nil {
		return fmt.Errorf("SASL handshake with %s: %w", c.addr, err)
	}
	if err := kerr.ErrorForCode(hresp.ErrorCode); err != nil {
		return fmt.Errorf("SASL handshake with %s for %s (the node offers %v): %w", c.addr, c.mech.Name(), hresp.SupportedMechanisms, err)
	}
	session, msg, err := c.mech.Authenticate(ctx, c.addr)
	if err != nil {
		return err
	}
	for {
		areq := kmsg.NewPtrSASLAuthenticateRequest()
		areq.Version = 2
		areq.SASLAuthBytes = msg
		aresp := areq.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if err := c.kc.RoundTrip(ctx, areq, aresp, saslTimeout, maxSASLResponse); err != nil {
			return fmt.Errorf("SASL authenticate with %s: %w", c.addr, err)
		}
		if err := kerr.ErrorForCode(aresp.ErrorCode); err != nil {
			msg := ""
			if aresp.ErrorMessage != nil {
				msg = ": " + *aresp.ErrorMessage
			}
			return fmt.Errorf("SASL %s authentication to %s failed: %w%s", c.mech.Name(), c.addr, err, msg)
		}
		done, next, err := session.Challenge(aresp.SASLAuthBytes)
		if err != nil {
			return fmt.Errorf("SASL %s authentication to %s: %w", c.mech.Name(), c.addr, err)
		}
		if done {
			c.scheduleReauth(time.Duration(aresp.SessionLifetimeMillis) * time.Millisecond)
			return nil
		}
		msg = next
	}
}

// scheduleReauth notes a new session of lifetime (0: no end).
func (c *saslConn) scheduleReauth(lifetime time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reauthAt = time.Time{}
	if lifetime > 0 {
		c.reauthAt = time.Now().Add(time.Duration(float64(lifetime) * (0.85 + 0.1*rand.Float64())))
	}
}

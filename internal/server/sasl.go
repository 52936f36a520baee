package server

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/wire"
)

// SASL configures a SASL listener (SASL_PLAINTEXT, SASL_SSL): every
// connection authenticates before anything but ApiVersions is served.
type SASL struct {
	// Mechanisms are the enabled ones (sasl.enabled.mechanisms), in the
	// order SaslHandshake lists them.
	Mechanisms []auth.Mechanism
	// MaxReceiveSize is sasl.server.max.receive.size: the largest frame
	// accepted while a connection is not authenticated.
	MaxReceiveSize int32
	// MaxReauth is connections.max.reauth.ms: how long an authentication
	// holds before the client must re-authenticate (KIP-368); 0: forever,
	// unless the credential expires.
	MaxReauth time.Duration
	// FailedAuthDelay is connection.failed.authentication.delay.ms: a
	// failed authentication is answered, and its connection closed, only
	// after this long, which slows a client trying passwords.
	FailedAuthDelay time.Duration
}

// The APIs a SASL connection serves itself.
const (
	keySaslHandshake    = 17
	keyApiVersions      = 18
	keySaslAuthenticate = 36
)

// minReauthInterval is how often a connection may start re-authenticating,
// as Kafka allows: a handshake sooner goes to the broker, which refuses it.
const minReauthInterval = time.Second

type saslState int

const (
	awaitHandshake    saslState = iota // before SaslHandshake: ApiVersions and SaslHandshake only
	awaitAuthenticate                  // after it: SaslAuthenticate (or v0's bare tokens) only
	authenticated
)

// saslConn is one connection's authentication. Its reader goroutine alone
// uses it, between requests, so the ConnInfo it updates is never read
// concurrently.
type saslConn struct {
	cfg      *SASL
	info     *broker.ConnInfo
	logger   *slog.Logger
	badInput *BadInputLog // failed authentications are bad input

	state     saslState
	rawTokens bool // SaslHandshake v0: tokens come without Kafka headers
	mech      auth.Mechanism
	exchange  auth.Exchange
	reauth    bool // the exchange is a re-authentication
	// refusalLogged: the exchange's refusal (auth.Refuser) was logged.
	refusalLogged bool
	// sessionEnd is when the authentication stops holding; zero: never.
	sessionEnd  time.Time
	lastReauth  time.Time
	mechanisms  []string
	authVersion int16 // the SaslAuthenticate version of the last exchange
}

func newSASLConn(cfg *SASL, info *broker.ConnInfo, logger *slog.Logger, badInput *BadInputLog) *saslConn {
	c := &saslConn{cfg: cfg, info: info, logger: logger, badInput: badInput}
	for _, m := range cfg.Mechanisms {
		c.mechanisms = append(c.mechanisms, m.Name())
	}
	return c
}

// maxFrame is the largest request frame accepted now.
func (c *saslConn) maxFrame(established int32) int32 {
	if c.state == authenticated {
		return established
	}
	return c.cfg.MaxReceiveSize
}

// errAuthFailed closes a connection whose authentication failed, after
// the response that tells why, as Kafka does; the failure is logged
// already.
var errAuthFailed = errors.New("SASL authentication failed")

// handle serves frame if it belongs to the authentication: it returns the
// response frame to send (nil for none) and handled. An error closes the
// connection after the response, if any, is sent. A frame not handled
// goes to the dispatcher.
func (c *saslConn) handle(frame []byte, now time.Time) (resp []byte, handled bool, err error) {
	if c.state == awaitAuthenticate && c.rawTokens {
		return c.rawToken(frame, now)
	}
	if len(frame) < 2 {
		return nil, false, nil // the dispatcher reports the malformed header
	}
	key := int16(binary.BigEndian.Uint16(frame))
	switch c.state {
	case authenticated:
		if key == keySaslHandshake && !c.sessionEnd.IsZero() && now.Sub(c.lastReauth) >= minReauthInterval {
			c.lastReauth = now
			c.reauth = true
			return c.handshake(frame)
		}
		if !c.sessionEnd.IsZero() && now.After(c.sessionEnd) {
			return nil, true, fmt.Errorf("SASL session of %s expired at %s without re-authentication (connections.max.reauth.ms)",
				c.info.Principal, c.sessionEnd.Format(time.RFC3339Nano))
		}
		return nil, false, nil
	case awaitHandshake:
		switch key {
		case keyApiVersions:
			return nil, false, nil
		case keySaslHandshake:
			return c.handshake(frame)
		}
		return nil, true, fmt.Errorf("unexpected %s request before SASL authentication", kmsg.NameForKey(key))
	default:
		if key == keySaslAuthenticate {
			return c.authenticate(frame, now)
		}
		return nil, true, fmt.Errorf("unexpected %s request during SASL authentication", kmsg.NameForKey(key))
	}
}

// handshake answers SaslHandshake: the mechanism must be enabled (and,
// re-authenticating, the one the connection authenticated with).
func (c *saslConn) handshake(frame []byte) ([]byte, bool, error) {
	h, body, err := wire.ParseRequest(frame)
	if err != nil {
		return nil, true, err
	}
	if h.APIVersion > 1 {
		return nil, true, fmt.Errorf("unsupported version %d of SaslHandshake (serving 0-1)", h.APIVersion)
	}
	req := body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = c.mechanisms
	var mech auth.Mechanism
	for _, m := range c.cfg.Mechanisms {
		if m.Name() == req.Mechanism {
			mech = m
		}
	}
	switch {
	case mech == nil:
		err = fmt.Errorf("SASL mechanism %q requested by the client is not enabled", req.Mechanism)
	case c.reauth && mech != c.mech:
		err = fmt.Errorf("SASL mechanism %q requested by the client is not supported for re-authentication of mechanism %q",
			req.Mechanism, c.mech.Name())
	}
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		return wire.AppendResponse(nil, h, resp), true, err
	}
	c.mech, c.exchange, c.refusalLogged = mech, mech.Start(), false
	c.rawTokens = h.APIVersion == 0
	c.state = awaitAuthenticate
	return wire.AppendResponse(nil, h, resp), true, nil
}

// authenticate answers SaslAuthenticate with the exchange's next step.
func (c *saslConn) authenticate(frame []byte, now time.Time) ([]byte, bool, error) {
	h, body, err := wire.ParseRequest(frame)
	if err != nil {
		return nil, true, err
	}
	if h.APIVersion > 2 {
		return nil, true, fmt.Errorf("unsupported version %d of SaslAuthenticate (serving 0-2)", h.APIVersion)
	}
	req := body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c.authVersion = h.APIVersion
	reply, done, err := c.step(req.SASLAuthBytes, now)
	resp.SASLAuthBytes = reply
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := err.Error()
		resp.ErrorMessage = &msg
		return wire.AppendResponse(nil, h, resp), true, errAuthFailed
	}
	if done && h.APIVersion >= 1 && !c.sessionEnd.IsZero() {
		resp.SessionLifetimeMillis = max(c.sessionEnd.Sub(now).Milliseconds(), 0)
	}
	return wire.AppendResponse(nil, h, resp), true, nil
}

// rawToken serves a bare token of SaslHandshake v0's exchange; its reply
// goes back size-prefixed. A failure cannot be told: the connection closes.
func (c *saslConn) rawToken(frame []byte, now time.Time) ([]byte, bool, error) {
	reply, _, err := c.step(frame, now)
	if err != nil {
		return nil, true, errAuthFailed
	}
	out := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(reply)), uint32(len(reply)))
	return append(out, reply...), true, nil
}

// step runs the exchange one message on; when it completes, the
// connection is authenticated for its session.
// logFailure logs a failed authentication: no credential in the line (the
// exchange's message is what the client is told; a refused token's reason
// is for the log only), and a flood of failures summed up (badInput).
func (c *saslConn) logFailure(err error) {
	args := []any{"mechanism", c.mech.Name(), "reauthentication", c.reauth, "err", err}
	if bad, ok := errors.AsType[*auth.InvalidTokenError](err); ok {
		args = append(args, "reason", bad.Reason)
	}
	c.badInput.Warn(c.logger, c.info.Remote, "SASL authentication failed", args...)
}

func (c *saslConn) step(msg []byte, now time.Time) (reply []byte, done bool, err error) {
	reply, done, err = c.exchange.Step(msg)
	if err == nil && done && c.reauth && c.exchange.Principal() != c.info.Principal {
		err = fmt.Errorf("Cannot change principals during re-authentication from %s: %s", c.info.Principal, c.exchange.Principal())
	}
	if err != nil {
		if !c.refusalLogged {
			c.logFailure(err)
		}
		return reply, true, err
	}
	if !done {
		// A refusal the client is to acknowledge is logged now: it may
		// hang up instead.
		if r, ok := c.exchange.(auth.Refuser); ok && r.Refused() != nil {
			c.logFailure(r.Refused())
			c.refusalLogged = true
		}
		return reply, false, nil
	}
	c.info.Principal = c.exchange.Principal()
	c.sessionEnd = sessionEnd(now, c.cfg.MaxReauth, c.exchange.Expiry())
	c.state, c.exchange, c.reauth, c.rawTokens = authenticated, nil, false, false
	c.logger.Debug("SASL authenticated", "mechanism", c.mech.Name(), "principal", c.info.Principal)
	return reply, true, nil
}

// sessionEnd is when an authentication at now stops holding: after
// maxReauth, or at the credential's expiry if sooner; zero for never.
func sessionEnd(now time.Time, maxReauth time.Duration, expiry time.Time) time.Time {
	var end time.Time
	if maxReauth > 0 {
		end = now.Add(maxReauth)
	}
	if !expiry.IsZero() && (end.IsZero() || expiry.Before(end)) {
		end = expiry
		if end.Before(now) {
			end = now
		}
	}
	return end
}

package broker

// SaslHandshake (key 17), versions 0-1, and SaslAuthenticate (key 36),
// versions 0-2.
//
// Behavior: the server answers both itself on a SASL listener while a
// connection authenticates or re-authenticates (internal/server/sasl.go);
// they are registered here so ApiVersions lists them, and what reaches the
// broker is a request on a connection that cannot authenticate now (a
// listener without SASL, or one already authenticated with no
// re-authentication due), which Kafka answers ILLEGAL_SASL_STATE.
//
// KIPs: KIP-43 (SaslHandshake), KIP-152 (SaslAuthenticate), KIP-368
// (re-authentication, SaslAuthenticate v1), KIP-482 (v2 flexible).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(17, 0, 1, (*Broker).handleSaslHandshake)
	register(36, 0, 2, (*Broker).handleSaslAuthenticate)
}

func (b *Broker) handleSaslHandshake(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Body.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	return resp, nil
}

func (b *Broker) handleSaslAuthenticate(_ context.Context, req *Request) (kmsg.Response, error) {
	resp := req.Body.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	resp.ErrorCode = kerr.IllegalSaslState.Code
	msg := "SaslAuthenticate request received after successful authentication"
	resp.ErrorMessage = &msg
	return resp, nil
}

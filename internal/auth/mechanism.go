// Package auth holds Strata's security model below the network: the
// server side of the SASL mechanisms (PLAIN, SCRAM-SHA-256/512,
// OAUTHBEARER) and the ACL authorizer. It does no I/O on client
// connections: the server package drives an Exchange with the bytes a
// client sends, and the broker asks the authorizer before it acts. Its only
// I/O is fetching OAUTHBEARER's JWKS.
package auth

import (
	"errors"
	"time"
)

// A Mechanism is the server side of one SASL mechanism.
type Mechanism interface {
	// Name is the mechanism's IANA name, as SaslHandshake carries it
	// (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER).
	Name() string
	// Start begins one authentication.
	Start() Exchange
}

// An Exchange is one authentication in progress: the client's messages go
// in through Step, one per SaslAuthenticate request.
type Exchange interface {
	// Step takes the client's next message and returns the reply to send
	// back. done reports that the exchange is over; with a nil error it
	// succeeded and Principal names who authenticated. An error ends the
	// exchange as failed; its text goes to the client (SaslAuthenticate's
	// error message) and must not reveal whether a user exists. A reply
	// may accompany a failure (OAUTHBEARER's error JSON).
	Step(msg []byte) (reply []byte, done bool, err error)
	// Principal is the authenticated principal in Kafka's form
	// ("User:alice"), valid once Step reported done without error.
	Principal() string
	// Expiry is when the credential presented stops being valid (a
	// token's exp claim), or the zero time when it does not expire. The
	// connection must re-authenticate before it (KIP-368).
	Expiry() time.Time
}

// A Refuser is an Exchange that may refuse a credential before it ends:
// OAUTHBEARER answers a bad token with an error the client acknowledges
// with one more message. Refused is why, once it has refused (nil before);
// the server logs it then, since the client may hang up instead. Such an
// exchange's final error repeats the refusal.
type Refuser interface {
	Refused() error
}

// ErrAuthentication is the error an Exchange fails with on bad
// credentials; its text is what clients are told.
var ErrAuthentication = errors.New("authentication failed: invalid credentials")

package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"

	"github.com/xdg-go/scram"
)

// ScramMechanism is a SCRAM mechanism by Kafka's type number, as
// DescribeUserScramCredentials and AlterUserScramCredentials carry it.
type ScramMechanism int8

// Kafka's SCRAM mechanism types.
const (
	ScramSHA256 ScramMechanism = 1
	ScramSHA512 ScramMechanism = 2
)

// ScramMechanisms are the SCRAM mechanisms served.
var ScramMechanisms = []ScramMechanism{ScramSHA256, ScramSHA512}

// The iteration counts Kafka accepts for a SCRAM credential (both
// mechanisms): fewer is too weak, more makes authentication a way to
// burn the broker's CPU.
const (
	MinScramIterations = 4096
	MaxScramIterations = 16384
)

// ParseScramMechanism returns the mechanism named name (SCRAM-SHA-256 or
// SCRAM-SHA-512).
func ParseScramMechanism(name string) (ScramMechanism, bool) {
	for _, m := range ScramMechanisms {
		if m.String() == name {
			return m, true
		}
	}
	return 0, false
}

// Valid reports whether m is a mechanism served.
func (m ScramMechanism) Valid() bool { return m == ScramSHA256 || m == ScramSHA512 }

func (m ScramMechanism) String() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("SCRAM(%d)", int8(m))
}

func (m ScramMechanism) hash() func() hash.Hash {
	if m == ScramSHA512 {
		return sha512.New
	}
	return sha256.New
}

func (m ScramMechanism) library() scram.HashGeneratorFcn {
	if m == ScramSHA512 {
		return scram.SHA512
	}
	return scram.SHA256
}

// KeySize is the length of m's stored and server keys.
func (m ScramMechanism) KeySize() int { return m.hash()().Size() }

// ScramCredential is what the server keeps of a SCRAM password (RFC
// 5802): enough to check a proof, never the password.
type ScramCredential struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte
	ServerKey  []byte
}

// SaltPassword is RFC 5802's SaltedPassword: PBKDF2 of the password with
// m's hash.
func SaltPassword(m ScramMechanism, password string, salt []byte, iterations int) ([]byte, error) {
	return pbkdf2.Key(m.hash(), password, salt, iterations, m.KeySize())
}

// NewScramCredential derives the stored and server keys from a salted
// password, as the server keeps them (KIP-554: clients send the salted
// password, never the password).
func NewScramCredential(m ScramMechanism, salt, saltedPassword []byte, iterations int) ScramCredential {
	h := m.hash()
	clientKey := hmacOf(h, saltedPassword, "Client Key")
	stored := h()
	stored.Write(clientKey)
	return ScramCredential{Salt: salt, Iterations: iterations,
		StoredKey: stored.Sum(nil), ServerKey: hmacOf(h, saltedPassword, "Server Key")}
}

func hmacOf(h func() hash.Hash, key []byte, msg string) []byte {
	mac := hmac.New(h, key)
	mac.Write([]byte(msg))
	return mac.Sum(nil)
}

// CheckPassword reports, in constant time for the key comparison, whether
// password is the one c was made from.
func (c ScramCredential) CheckPassword(m ScramMechanism, password string) bool {
	salted, err := SaltPassword(m, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return hmac.Equal(NewScramCredential(m, c.Salt, salted, c.Iterations).StoredKey, c.StoredKey)
}

// CredentialLookup returns the SCRAM credential of user for m. It is
// called for every authentication, so credentials changed in the metadata
// log take effect at the next one.
type CredentialLookup func(user string, m ScramMechanism) (ScramCredential, bool)

// scramMechanism is the server side of SCRAM-SHA-256 or SCRAM-SHA-512:
// xdg-go/scram parses the client-first message and makes the nonce and
// server-first message; the final step is ours (see final). It adds Kafka's rules: the iteration bounds, no
// delegation tokens, the authorization id equal to the user name.
type scramMechanism struct {
	mech   ScramMechanism
	lookup CredentialLookup
	// decoy is the credential of users that do not exist: the exchange
	// goes on with it and fails at the proof, as a wrong password does,
	// so that neither the reply nor the step tells a name exists.
	decoy func(user string) ScramCredential
}

// NewScram returns the server side of m, checking proofs against the
// credentials lookup returns.
func NewScram(m ScramMechanism, lookup CredentialLookup) Mechanism {
	secret := make([]byte, 32)
	rand.Read(secret) // never fails: crypto/rand panics rather than return short
	return &scramMechanism{mech: m, lookup: lookup, decoy: func(user string) ScramCredential {
		salt := hmacOf(sha256.New, secret, user)[:16]
		key := hmacOf(m.hash(), secret, "key "+user)
		return ScramCredential{Salt: salt, Iterations: MinScramIterations, StoredKey: key, ServerKey: key}
	}}
}

func (s *scramMechanism) Name() string { return s.mech.String() }

func (s *scramMechanism) Start() Exchange { return &scramExchange{m: s} }

// errScram is the failure of every SCRAM exchange, whatever went wrong:
// Kafka's text, which names no cause.
type errScram struct{ mech ScramMechanism }

func (e errScram) Error() string {
	return "Authentication failed during authentication due to invalid credentials with SASL mechanism " + e.mech.String()
}

func (e errScram) Is(target error) bool { return target == ErrAuthentication }

type scramExchange struct {
	m       *scramMechanism
	user    string
	unknown bool
	step    int
	cred    ScramCredential
	// What the final step checks the proof against: the client-first
	// message's GS2 header and bare part, the server-first message and
	// its nonce.
	gs2, c1b, s1, nonce string
}

func (x *scramExchange) Step(msg []byte) ([]byte, bool, error) {
	fail := errScram{x.m.mech}
	x.step++
	switch x.step {
	case 1:
		if tokenAuth(string(msg)) {
			// Delegation tokens (KIP-48) do not exist here, so a token
			// never authenticates.
			return nil, true, fail
		}
		srv, err := x.m.mech.library().NewServer(x.lookup)
		if err != nil {
			return nil, true, fail
		}
		conv := srv.NewConversation()
		reply, err := conv.Step(string(msg))
		if err != nil {
			return nil, true, fail
		}
		if a := conv.AuthzID(); a != "" && a != conv.Username() {
			return nil, true, errors.New("Authentication failed: Client requested an authorization id that is different from username")
		}
		// The library parsed and checked the message: its parts are
		// well-formed.
		fields := strings.SplitN(string(msg), ",", 3)
		x.gs2, x.c1b, x.s1 = fields[0]+","+fields[1]+",", fields[2], reply
		x.nonce = strings.TrimPrefix(strings.SplitN(reply, ",", 2)[0], "r=")
		return []byte(reply), false, nil
	case 2:
		reply, ok := x.final(string(msg))
		if !ok || x.unknown {
			return nil, true, fail
		}
		return reply, true, nil
	}
	return nil, true, fail
}

// final checks the client-final message's proof (RFC 5802 section 3)
// and returns the server-final message. As Kafka, it takes a nonce that
// ends with the server's rather than equals it: librdkafka sends its
// client nonce before the whole server nonce (which starts with the
// client's), and the proof covers the message as sent. The library's own
// final step insists on equality, so this step is ours.
func (x *scramExchange) final(msg string) ([]byte, bool) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false
	}
	withoutProof := msg[:i]
	proof, err := base64.StdEncoding.DecodeString(msg[i+3:])
	attrs := strings.Split(withoutProof, ",")
	if err != nil || len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(x.gs2)) ||
		!strings.HasPrefix(attrs[1], "r=") || !strings.HasSuffix(attrs[1], x.nonce) {
		return nil, false
	}
	h := x.m.mech.hash()
	authMessage := x.c1b + "," + x.s1 + "," + withoutProof
	signature := hmacOf(h, x.cred.StoredKey, authMessage)
	if len(proof) != len(signature) {
		return nil, false
	}
	for i := range proof {
		proof[i] ^= signature[i] // proof becomes the client key
	}
	stored := h()
	stored.Write(proof)
	if !hmac.Equal(stored.Sum(nil), x.cred.StoredKey) {
		return nil, false
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacOf(h, x.cred.ServerKey, authMessage))), true
}

// lookup is the library's credential callback: the user's credential, or
// the decoy for an unknown user or one outside Kafka's iteration bounds.
func (x *scramExchange) lookup(user string) (scram.StoredCredentials, error) {
	x.user = user
	c, ok := x.m.lookup(user, x.m.mech)
	if !ok || c.Iterations < MinScramIterations || c.Iterations > MaxScramIterations {
		x.unknown = true
		c = x.m.decoy(user)
	}
	x.cred = c
	return scram.StoredCredentials{KeyFactors: scram.KeyFactors{Salt: string(c.Salt), Iters: c.Iterations},
		StoredKey: c.StoredKey, ServerKey: c.ServerKey}, nil
}

func (x *scramExchange) Principal() string { return "User:" + x.user }

func (x *scramExchange) Expiry() time.Time { return time.Time{} }

// tokenAuth reports whether a client-first message asks for delegation
// token authentication: Kafka's extension tokenauth=true after the nonce.
func tokenAuth(clientFirst string) bool {
	fields := strings.Split(clientFirst, ",")
	if len(fields) <= 4 {
		return false
	}
	for _, f := range fields[4:] {
		if k, v, _ := strings.Cut(f, "="); k == "tokenauth" && strings.EqualFold(v, "true") {
			return true
		}
	}
	return false
}

package auth

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/stratalog/strata/internal/config"
)

// OAUTHBEARER (RFC 7628) with the access token a JWT validated as Kafka's
// broker-side JWT validator does: signature by a key from a JWKS, exp and
// iat required, nbf honoured, all with clock skew, then optional audience
// and issuer checks; the principal is "User:" plus the subject claim.

// Kafka's setting names for the OAUTHBEARER validator.
const (
	settingJWKSURL          = "sasl.oauthbearer.jwks.endpoint.url"
	settingJWKSRefresh      = "sasl.oauthbearer.jwks.endpoint.refresh.ms"
	settingJWKSBackoff      = "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms"
	settingJWKSBackoffMax   = "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms"
	settingClockSkew        = "sasl.oauthbearer.clock.skew.seconds"
	settingExpectedAudience = "sasl.oauthbearer.expected.audience"
	settingExpectedIssuer   = "sasl.oauthbearer.expected.issuer"
	settingSubClaim         = "sasl.oauthbearer.sub.claim.name"
	settingScopeClaim       = "sasl.oauthbearer.scope.claim.name"
)

// OAuthBearerSettings are the names of the settings
// ParseOAuthBearerConfig reads.
var OAuthBearerSettings = []string{settingJWKSURL, settingJWKSRefresh, settingJWKSBackoff, settingJWKSBackoffMax,
	settingClockSkew, settingExpectedAudience, settingExpectedIssuer, settingSubClaim, settingScopeClaim}

// OAuthBearerConfig configures the OAUTHBEARER mechanism; each field is the
// Kafka setting named beside it. ParseOAuthBearerConfig fills it from
// settings.
type OAuthBearerConfig struct {
	JWKSURL          string        // sasl.oauthbearer.jwks.endpoint.url: https://, http:// or file://
	JWKSRefresh      time.Duration // sasl.oauthbearer.jwks.endpoint.refresh.ms
	JWKSBackoff      time.Duration // sasl.oauthbearer.jwks.endpoint.retry.backoff.ms
	JWKSBackoffMax   time.Duration // sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms
	ClockSkew        time.Duration // sasl.oauthbearer.clock.skew.seconds
	ExpectedAudience []string      // sasl.oauthbearer.expected.audience: any one must be in aud
	ExpectedIssuer   string        // sasl.oauthbearer.expected.issuer
	SubClaim         string        // sasl.oauthbearer.sub.claim.name
	ScopeClaim       string        // sasl.oauthbearer.scope.claim.name

	// now and client are replaced by tests; nil means time.Now and a
	// client with jwksFetchTimeout.
	now    func() time.Time
	client *http.Client
}

// ParseOAuthBearerConfig reads the sasl.oauthbearer.* settings (Kafka's
// names; other keys are ignored), taking the defaults of those not given
// from the broker's setting definitions. An error names the setting at
// fault.
func ParseOAuthBearerConfig(settings map[string]string) (OAuthBearerConfig, error) {
	get := func(name string) string {
		if v, ok := settings[name]; ok {
			return strings.TrimSpace(v)
		}
		v, _ := config.DefaultBroker().Value(name)
		return v
	}
	c := OAuthBearerConfig{
		JWKSURL:        get(settingJWKSURL),
		ExpectedIssuer: get(settingExpectedIssuer),
		SubClaim:       get(settingSubClaim),
		ScopeClaim:     get(settingScopeClaim),
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
		unit time.Duration
	}{
		{settingJWKSRefresh, &c.JWKSRefresh, time.Millisecond},
		{settingJWKSBackoff, &c.JWKSBackoff, time.Millisecond},
		{settingJWKSBackoffMax, &c.JWKSBackoffMax, time.Millisecond},
		{settingClockSkew, &c.ClockSkew, time.Second},
	} {
		v := get(d.name)
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > int64(math.MaxInt64/d.unit) {
			return OAuthBearerConfig{}, fmt.Errorf("%s: %q is not a non-negative integer", d.name, v)
		}
		*d.dst = time.Duration(n) * d.unit
	}
	for a := range strings.SplitSeq(get(settingExpectedAudience), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.ExpectedAudience = append(c.ExpectedAudience, a)
		}
	}
	for name, v := range map[string]string{settingSubClaim: c.SubClaim, settingScopeClaim: c.ScopeClaim} {
		if v == "" {
			return OAuthBearerConfig{}, fmt.Errorf("%s: must not be empty", name)
		}
	}
	return c, nil
}

// OAuthBearer is the server side of SASL OAUTHBEARER. It is safe for
// concurrent use by many connections.
type OAuthBearer struct {
	cfg  OAuthBearerConfig
	keys *keySet
}

// NewOAuthBearer checks cfg and loads the JWKS once, so that a wrong URL,
// an unreadable file or a set without usable keys fails at startup rather
// than at the first client. It starts no goroutine: the keys are fetched
// again when a validation finds them older than cfg.JWKSRefresh, or meets
// an unknown key id.
func NewOAuthBearer(cfg OAuthBearerConfig, logger *slog.Logger) (*OAuthBearer, error) {
	if cfg.now == nil {
		cfg.now = time.Now
	}
	if cfg.JWKSRefresh <= 0 {
		return nil, fmt.Errorf("%s: must be positive", settingJWKSRefresh)
	}
	if cfg.JWKSBackoff > cfg.JWKSBackoffMax {
		return nil, fmt.Errorf("%s (%v) must not exceed %s (%v)", settingJWKSBackoff, cfg.JWKSBackoff, settingJWKSBackoffMax, cfg.JWKSBackoffMax)
	}
	if cfg.SubClaim == "" || cfg.ScopeClaim == "" {
		return nil, fmt.Errorf("%s and %s must not be empty", settingSubClaim, settingScopeClaim)
	}
	ks, err := newKeySet(cfg, logger)
	if err != nil {
		return nil, err
	}
	return &OAuthBearer{cfg: cfg, keys: ks}, nil
}

// Name implements Mechanism.
func (*OAuthBearer) Name() string { return "OAUTHBEARER" }

// Start implements Mechanism.
func (m *OAuthBearer) Start() Exchange { return &oauthExchange{m: m} }

// signatureAlgorithms are the JWS algorithms a token may be signed with:
// the asymmetric ones. "none" is not among them, nor HMAC, whose key would
// have to be published in the JWKS for the broker to check it.
var signatureAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512,
	jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
	jose.EdDSA,
}

// invalidTokenReply is RFC 7628's error the server sends when the token is
// not accepted; Kafka sends the same, with status invalid_token.
const invalidTokenReply = `{"status":"invalid_token"}`

// InvalidTokenError fails an exchange whose token was not accepted. Its
// text is RFC 7628's error JSON, what Kafka tells the client; Reason says
// why, for the broker's log only.
type InvalidTokenError struct{ Reason error }

func (e *InvalidTokenError) Error() string { return invalidTokenReply }

// Unwrap makes the error match ErrAuthentication and its reason.
func (e *InvalidTokenError) Unwrap() []error { return []error{ErrAuthentication, e.Reason} }

// errBadMessage fails an exchange whose client message is not one RFC 7628
// allows.
func errBadMessage(why string) error {
	return fmt.Errorf("%w: invalid OAUTHBEARER client message: %s", ErrAuthentication, why)
}

// oauthExchange is one OAUTHBEARER authentication. RFC 7628 section 3.2.2:
// a valid token ends it at once with an empty reply; an invalid one gets
// the error JSON as a challenge, to which the client answers %x01, and
// only then does the exchange fail.
type oauthExchange struct {
	m *OAuthBearer
	// failed is why the token was refused, once the error JSON went out.
	failed     error
	done       bool
	principal  string
	expiry     time.Time
	scope      []string
	extensions map[string]string
}

// Step implements Exchange.
// Refused is the refusal of a bad token, sent as RFC 7628's error reply.
func (x *oauthExchange) Refused() error {
	if x.failed == nil {
		return nil
	}
	return &InvalidTokenError{Reason: x.failed}
}

func (x *oauthExchange) Step(msg []byte) ([]byte, bool, error) {
	switch {
	case x.done:
		return nil, true, errBadMessage("the exchange is over")
	case x.failed != nil:
		x.done = true
		if len(msg) != 1 || msg[0] != kvsep {
			return nil, true, errBadMessage("expected %x01 after the error")
		}
		return nil, true, &InvalidTokenError{Reason: x.failed}
	}
	cm, err := parseClientMessage(msg)
	if err != nil {
		x.done = true
		return nil, true, err
	}
	tok, err := x.m.validate(cm.token)
	if err != nil {
		x.failed = err
		return []byte(invalidTokenReply), false, nil
	}
	x.done = true
	// RFC 7628 lets the client name an authorization identity; as in
	// Kafka, it must be the token's own principal.
	if cm.authzid != "" && cm.authzid != tok.subject {
		return nil, true, fmt.Errorf("%w: client requested an authorization id (%q) that is different from the token's principal name (%q)", ErrAuthentication, cm.authzid, tok.subject)
	}
	x.principal = "User:" + tok.subject
	x.expiry = tok.expiry
	x.scope = tok.scope
	x.extensions = cm.extensions
	return []byte{}, true, nil
}

// Principal implements Exchange.
func (x *oauthExchange) Principal() string { return x.principal }

// Expiry implements Exchange: the token's exp.
func (x *oauthExchange) Expiry() time.Time { return x.expiry }

// Scope is the token's scope claim (sasl.oauthbearer.scope.claim.name),
// for an authorizer that grants by scope.
func (x *oauthExchange) Scope() []string { return x.scope }

// Extensions are the SASL extensions the client sent beside the token
// (Kafka's SaslExtensions, KIP-342); Kafka's default validator accepts any.
func (x *oauthExchange) Extensions() map[string]string { return x.extensions }

// validToken is what an accepted token says.
type validToken struct {
	subject string
	expiry  time.Time
	scope   []string
}

// validate checks the token's signature and claims; the error says why it
// was refused, for the log.
func (m *OAuthBearer) validate(token string) (validToken, error) {
	jws, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		return validToken{}, fmt.Errorf("parse token: %w", err)
	}
	if len(jws.Headers) != 1 {
		return validToken{}, errors.New("token has more than one signature")
	}
	h := jws.Headers[0]
	var std jwt.Claims
	var all map[string]any
	// The token's own "jwk" or "x5c" headers are never trusted: only keys
	// from the JWKS verify.
	verifyErr := errors.New("no key with a matching kid and alg")
	for _, k := range m.keys.lookup(h.KeyID) {
		if k.Algorithm != "" && k.Algorithm != h.Algorithm {
			continue
		}
		if verifyErr = jws.Claims(k.Key, &std, &all); verifyErr == nil {
			break
		}
	}
	if verifyErr != nil {
		return validToken{}, fmt.Errorf("no key in the JWKS verifies the token (kid %q, alg %s): %w", h.KeyID, h.Algorithm, verifyErr)
	}
	if std.Expiry == nil {
		return validToken{}, errors.New("token has no exp claim")
	}
	if std.IssuedAt == nil {
		return validToken{}, errors.New("token has no iat claim")
	}
	exp := jwt.Expected{Issuer: m.cfg.ExpectedIssuer, AnyAudience: m.cfg.ExpectedAudience, Time: m.cfg.now()}
	if err := std.ValidateWithLeeway(exp, m.cfg.ClockSkew); err != nil {
		return validToken{}, err
	}
	sub, _ := all[m.cfg.SubClaim].(string)
	if sub = strings.TrimSpace(sub); sub == "" {
		return validToken{}, fmt.Errorf("token has no %s claim with a non-empty string", m.cfg.SubClaim)
	}
	scope, err := scopeClaim(all[m.cfg.ScopeClaim])
	if err != nil {
		return validToken{}, fmt.Errorf("%s claim: %w", m.cfg.ScopeClaim, err)
	}
	return validToken{subject: sub, expiry: std.Expiry.Time(), scope: scope}, nil
}

// scopeClaim reads a scope claim as Kafka does: a space-separated string
// or a list of strings; absent is no scope.
func scopeClaim(v any) ([]string, error) {
	switch s := v.(type) {
	case nil:
		return nil, nil
	case string:
		return strings.Fields(s), nil
	case []any:
		out := make([]string, 0, len(s))
		for _, e := range s {
			str, ok := e.(string)
			if str = strings.TrimSpace(str); !ok || str == "" {
				return nil, errors.New("not a list of non-empty strings")
			}
			out = append(out, str)
		}
		return out, nil
	}
	return nil, errors.New("neither a string nor a list of strings")
}

// kvsep separates RFC 7628's key/value pairs; alone, it is the client's
// answer to an error.
const kvsep = 0x01

// clientMessage is RFC 7628's client initial response.
type clientMessage struct {
	authzid    string
	token      string
	extensions map[string]string
}

// parseClientMessage parses the client initial response as strictly as
// Kafka (RFC 7628 section 3.1):
//
//	"n," ["a=" saslname] "," %x01 *(key "=" value %x01) %x01
//
// with no channel binding, the pair auth=Bearer <token> required, keys
// of letters, each key once, values of printable ASCII, space, tab, CR or
// LF, and the token of base64url characters and dots, as a JWT is.
func parseClientMessage(msg []byte) (clientMessage, error) {
	rest, ok := bytes.CutPrefix(msg, []byte("n,"))
	if !ok {
		return clientMessage{}, errBadMessage("the GS2 header must start with n, (no channel binding)")
	}
	header, rest, ok := bytes.Cut(rest, []byte{','})
	if !ok {
		return clientMessage{}, errBadMessage("the GS2 header does not end with a comma")
	}
	var cm clientMessage
	if len(header) > 0 {
		name, ok := bytes.CutPrefix(header, []byte("a="))
		if !ok {
			return clientMessage{}, errBadMessage("the GS2 header holds something other than a=authzid")
		}
		if cm.authzid, ok = saslName(name); !ok {
			return clientMessage{}, errBadMessage("the authorization identity is not a valid saslname")
		}
	}
	rest, ok = bytes.CutPrefix(rest, []byte{kvsep})
	if !ok {
		return clientMessage{}, errBadMessage("no %x01 after the GS2 header")
	}
	pairs, ok := bytes.CutSuffix(rest, []byte{kvsep})
	if !ok {
		return clientMessage{}, errBadMessage("the message does not end with %x01")
	}
	auth := ""
	for len(pairs) > 0 {
		pair, tail, ok := bytes.Cut(pairs, []byte{kvsep})
		if !ok {
			return clientMessage{}, errBadMessage("a key/value pair does not end with %x01")
		}
		pairs = tail
		k, v, ok := bytes.Cut(pair, []byte{'='})
		if !ok || !validKey(k) || !validValue(v) {
			return clientMessage{}, errBadMessage("a key/value pair is malformed")
		}
		key := string(k)
		if key == "auth" {
			if auth != "" {
				return clientMessage{}, errBadMessage("auth given twice")
			}
			auth = string(v)
			continue
		}
		if _, dup := cm.extensions[key]; dup {
			return clientMessage{}, errBadMessage("an extension is given twice")
		}
		if cm.extensions == nil {
			cm.extensions = map[string]string{}
		}
		cm.extensions[key] = string(v)
	}
	if auth == "" {
		return clientMessage{}, errBadMessage("'auth' not specified")
	}
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || !validToken68(token) {
		return clientMessage{}, errBadMessage("'auth' is not Bearer followed by a token")
	}
	cm.token = token
	return cm, nil
}

// saslName decodes RFC 5801's saslname: ASCII without NUL, "=" or ",",
// with "=2C" and "=3D" for "," and "=".
func saslName(b []byte) (string, bool) {
	if len(b) == 0 {
		return "", false
	}
	var sb strings.Builder
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '=':
			switch string(b[i+1 : min(i+3, len(b))]) {
			case "2C":
				sb.WriteByte(',')
			case "3D":
				sb.WriteByte('=')
			default:
				return "", false
			}
			i += 2
		case c == 0 || c == ',' || c > 0x7f:
			return "", false
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), true
}

// validKey: RFC 7628's key, 1*(ALPHA).
func validKey(k []byte) bool {
	for _, c := range k {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return len(k) > 0
}

// validValue: RFC 7628's value, *(VCHAR / SP / HTAB / CR / LF), which Kafka
// requires non-empty.
func validValue(v []byte) bool {
	for _, c := range v {
		if (c < 0x21 || c > 0x7e) && c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return len(v) > 0
}

// validToken68 accepts the characters of a JWS compact serialization
// (base64url and dots), the token alphabet Kafka accepts.
func validToken68(t string) bool {
	for i := 0; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return len(t) > 0
}

package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
)

// testKey is a signing key of the test's identity provider.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv crypto.Signer
}

// rsaPriv is generated once: RSA generation is slow.
var (
	rsaOnce sync.Once
	rsaPriv *rsa.PrivateKey
)

func newRSAKey(t *testing.T, kid string) testKey {
	t.Helper()
	rsaOnce.Do(func() {
		var err error
		if rsaPriv, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return testKey{kid: kid, alg: jose.RS256, priv: rsaPriv}
}

// newECKey makes a new P-256 key.
func newECKey(t *testing.T, kid string) testKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return testKey{kid: kid, alg: jose.ES256, priv: k}
}

// jwksDoc is the JWKS publishing keys' public halves.
func jwksDoc(t *testing.T, keys ...testKey) []byte {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.priv.Public(), KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sign(t *testing.T, k testKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// unsigned is a token with alg "none", which go-jose refuses to make.
func unsigned(claims map[string]any) string {
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(claims)
	return enc.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + enc.EncodeToString(body) + "."
}

// clientFirst is the client initial response franz-go's OAUTHBEARER
// client sends.
func clientFirst(t *testing.T, a oauth.Auth) []byte {
	t.Helper()
	_, msg, err := a.AsMechanism().Authenticate(context.Background(), "127.0.0.1:9092")
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

func bearer(t *testing.T, token string) []byte {
	return clientFirst(t, oauth.Auth{Token: token})
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func writeJWKS(t *testing.T, path string, doc []byte) {
	t.Helper()
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
}

// fileMechanism is an OAUTHBEARER mechanism on a JWKS file holding keys.
func fileMechanism(t *testing.T, clock *testClock, settings map[string]string, keys ...testKey) (*OAuthBearer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, jwksDoc(t, keys...))
	all := map[string]string{settingJWKSURL: "file://" + path}
	for k, v := range settings {
		all[k] = v
	}
	cfg, err := ParseOAuthBearerConfig(all)
	if err != nil {
		t.Fatal(err)
	}
	cfg.now = clock.now
	m, err := NewOAuthBearer(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return m, path
}

// authenticate runs one exchange with the client message and returns the
// exchange and its final error; it checks that a refused token is
// answered as RFC 7628 says: error JSON, then failure on the client's %x01.
func authenticate(t *testing.T, m Mechanism, msg []byte) (Exchange, error) {
	t.Helper()
	x := m.Start()
	reply, done, err := x.Step(msg)
	if done {
		if err == nil && len(reply) != 0 {
			t.Fatalf("success with reply %q, want an empty one", reply)
		}
		return x, err
	}
	if err != nil || string(reply) != `{"status":"invalid_token"}` {
		t.Fatalf("first step: reply %q, err %v; want the invalid_token JSON and no error", reply, err)
	}
	reply, done, err = x.Step([]byte{0x01})
	if !done || err == nil || len(reply) != 0 {
		t.Fatalf("after %%x01: reply %q, done %v, err %v; want a failure", reply, done, err)
	}
	if err.Error() != `{"status":"invalid_token"}` || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("got error %q, want the invalid_token JSON wrapping ErrAuthentication", err)
	}
	return x, err
}

func TestOAuthBearerTokens(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	now := clock.now()
	rsaK, ecK := newRSAKey(t, "rsa-1"), newECKey(t, "ec-1")
	m, _ := fileMechanism(t, clock, map[string]string{
		settingExpectedAudience: "strata, other",
		settingExpectedIssuer:   "https://idp.example",
	}, rsaK, ecK)

	claims := func(edit func(c map[string]any)) map[string]any {
		c := map[string]any{
			"sub": "alice", "iss": "https://idp.example", "aud": []string{"strata"},
			"iat": now.Add(-time.Minute).Unix(), "exp": now.Add(time.Hour).Unix(),
			"scope": "produce consume",
		}
		if edit != nil {
			edit(c)
		}
		return c
	}
	intruder := newECKey(t, "ec-1") // same kid, key not in the JWKS

	for _, tc := range []struct {
		name  string
		token string
		// zid is the client's authorization identity, if any.
		zid     string
		wantErr string // "" for success
	}{
		{name: "good RSA token", token: sign(t, rsaK, claims(nil))},
		{name: "good EC token", token: sign(t, ecK, claims(nil))},
		{name: "expired within clock skew", token: sign(t, rsaK, claims(func(c map[string]any) { c["exp"] = now.Add(-20 * time.Second).Unix() }))},
		{name: "other expected audience", token: sign(t, rsaK, claims(func(c map[string]any) { c["aud"] = "other" }))},
		{name: "authzid is the subject", token: sign(t, rsaK, claims(nil)), zid: "alice"},
		{name: "expired", token: sign(t, rsaK, claims(func(c map[string]any) { c["exp"] = now.Add(-time.Minute).Unix() })), wantErr: "invalid_token"},
		{name: "not yet valid", token: sign(t, rsaK, claims(func(c map[string]any) { c["nbf"] = now.Add(time.Minute).Unix() })), wantErr: "invalid_token"},
		{name: "issued in the future", token: sign(t, rsaK, claims(func(c map[string]any) { c["iat"] = now.Add(time.Minute).Unix() })), wantErr: "invalid_token"},
		{name: "no exp", token: sign(t, rsaK, claims(func(c map[string]any) { delete(c, "exp") })), wantErr: "invalid_token"},
		{name: "no iat", token: sign(t, rsaK, claims(func(c map[string]any) { delete(c, "iat") })), wantErr: "invalid_token"},
		{name: "wrong audience", token: sign(t, rsaK, claims(func(c map[string]any) { c["aud"] = "someone-else" })), wantErr: "invalid_token"},
		{name: "no audience", token: sign(t, rsaK, claims(func(c map[string]any) { delete(c, "aud") })), wantErr: "invalid_token"},
		{name: "wrong issuer", token: sign(t, rsaK, claims(func(c map[string]any) { c["iss"] = "https://evil.example" })), wantErr: "invalid_token"},
		{name: "missing sub", token: sign(t, rsaK, claims(func(c map[string]any) { delete(c, "sub") })), wantErr: "invalid_token"},
		{name: "blank sub", token: sign(t, rsaK, claims(func(c map[string]any) { c["sub"] = "  " })), wantErr: "invalid_token"},
		{name: "sub not a string", token: sign(t, rsaK, claims(func(c map[string]any) { c["sub"] = 42 })), wantErr: "invalid_token"},
		{name: "scope not strings", token: sign(t, rsaK, claims(func(c map[string]any) { c["scope"] = []any{1} })), wantErr: "invalid_token"},
		{name: "bad signature", token: sign(t, intruder, claims(nil)), wantErr: "invalid_token"},
		{name: "tampered payload", token: tamper(sign(t, rsaK, claims(nil))), wantErr: "invalid_token"},
		{name: "alg none", token: unsigned(claims(nil)), wantErr: "invalid_token"},
		{name: "not a JWT", token: "abc.def", wantErr: "invalid_token"},
		{name: "authzid is someone else", token: sign(t, rsaK, claims(nil)), zid: "bob", wantErr: "different from the token's principal"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := authenticate(t, m, clientFirst(t, oauth.Auth{Token: tc.token, Zid: tc.zid}))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
				}
				if !errors.Is(err, ErrAuthentication) {
					t.Fatalf("error %v does not wrap ErrAuthentication", err)
				}
				if x.Principal() != "" {
					t.Fatalf("failed exchange has principal %q", x.Principal())
				}
				t.Logf("refused: %v", err)
				if r := reason(err); r != nil {
					t.Logf("reason: %v", r)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v (%v), want success", err, reason(err))
			}
			if got := x.Principal(); got != "User:alice" {
				t.Fatalf("got principal %q, want User:alice", got)
			}
			if got, exp := x.Expiry(), tokenExp(t, tc.token); !got.Equal(exp) {
				t.Fatalf("got expiry %v, want the token's exp %v", got, exp)
			}
			if got := x.(*oauthExchange).Scope(); !reflect.DeepEqual(got, []string{"produce", "consume"}) {
				t.Fatalf("got scope %q, want [produce consume]", got)
			}
		})
	}
}

func reason(err error) error {
	var ite *InvalidTokenError
	if errors.As(err, &ite) {
		return ite.Reason
	}
	return nil
}

func tokenExp(t *testing.T, token string) time.Time {
	t.Helper()
	tok, err := jwt.ParseSigned(token, signatureAlgorithms)
	if err != nil {
		t.Fatal(err)
	}
	var c jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.Expiry.Time()
}

// tamper swaps the payload's subject while keeping the signature.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	body = []byte(strings.Replace(string(body), `"alice"`, `"admin"`, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(body)
	return strings.Join(parts, ".")
}

// TestOAuthBearerClaimNames takes the principal and scope from the claims
// the settings name, with a scope given as a list.
func TestOAuthBearerClaimNames(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k := newECKey(t, "ec-1")
	m, _ := fileMechanism(t, clock, map[string]string{settingSubClaim: "client_id", settingScopeClaim: "scp"}, k)
	now := clock.now()
	tok := sign(t, k, map[string]any{"client_id": "svc-orders", "sub": "ignored", "scp": []string{"a", "b"},
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	x, err := authenticate(t, m, clientFirst(t, oauth.Auth{Token: tok, Extensions: map[string]string{"traceId": "abc 123"}}))
	if err != nil {
		t.Fatalf("got %v (%v), want success", err, reason(err))
	}
	ox := x.(*oauthExchange)
	if x.Principal() != "User:svc-orders" || !reflect.DeepEqual(ox.Scope(), []string{"a", "b"}) {
		t.Fatalf("got principal %q scope %q, want User:svc-orders [a b]", x.Principal(), ox.Scope())
	}
	if !reflect.DeepEqual(ox.Extensions(), map[string]string{"traceId": "abc 123"}) {
		t.Fatalf("got extensions %v", ox.Extensions())
	}
}

// TestOAuthBearerExchangeOrder checks the exchange refuses messages out of
// turn: anything but %x01 after the error, and anything after the end.
func TestOAuthBearerExchangeOrder(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k := newECKey(t, "ec-1")
	m, _ := fileMechanism(t, clock, nil, k)

	x := m.Start()
	if reply, done, err := x.Step(bearer(t, unsigned(map[string]any{"sub": "a"}))); done || err != nil || string(reply) != invalidTokenReply {
		t.Fatalf("got %q %v %v, want the error JSON", reply, done, err)
	}
	if _, done, err := x.Step(bearer(t, "retry.with.another")); !done || err == nil {
		t.Fatalf("a second token after the error: done %v err %v, want failure", done, err)
	}

	now := clock.now()
	x = m.Start()
	good := sign(t, k, map[string]any{"sub": "a", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if _, done, err := x.Step(bearer(t, good)); !done || err != nil {
		t.Fatalf("good token: done %v err %v", done, err)
	}
	if _, done, err := x.Step([]byte{0x01}); !done || err == nil {
		t.Fatalf("a step after success: done %v err %v, want failure", done, err)
	}
}

// jwksServer serves a JWKS document that the test can change, on
// 127.0.0.1, counting the requests.
type jwksServer struct {
	*httptest.Server
	hits   atomic.Int64
	mu     sync.Mutex
	doc    []byte
	status int
}

func newJWKSServer(t *testing.T, tls bool, doc []byte) *jwksServer {
	s := &jwksServer{doc: doc, status: http.StatusOK}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.status)
		w.Write(s.doc)
	})
	if tls {
		s.Server = httptest.NewTLSServer(h)
	} else {
		s.Server = httptest.NewServer(h)
	}
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(status int, doc []byte) {
	s.mu.Lock()
	s.status, s.doc = status, doc
	s.mu.Unlock()
}

func httpMechanism(t *testing.T, clock *testClock, srv *jwksServer) *OAuthBearer {
	t.Helper()
	cfg, err := ParseOAuthBearerConfig(map[string]string{
		settingJWKSURL:        srv.URL + "/jwks.json",
		settingJWKSRefresh:    "60000",
		settingJWKSBackoff:    "1000",
		settingJWKSBackoffMax: "10000",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.now, cfg.client = clock.now, srv.Client()
	m, err := NewOAuthBearer(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestOAuthBearerJWKSRotation serves the JWKS over HTTP and rotates keys:
// an unknown kid fetches the set again at most once per backoff maximum,
// the set is fetched again once older than the refresh interval, and a
// failed fetch keeps the keys held.
func TestOAuthBearerJWKSRotation(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k1, k2, k3 := newRSAKey(t, "k1"), newECKey(t, "k2"), newECKey(t, "k3")
	srv := newJWKSServer(t, false, jwksDoc(t, k1))
	m := httpMechanism(t, clock, srv)
	token := func(k testKey) []byte {
		now := clock.now()
		return bearer(t, sign(t, k, map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))
	}
	ok := func(k testKey, want bool) {
		t.Helper()
		_, err := authenticate(t, m, token(k))
		if (err == nil) != want {
			t.Fatalf("token signed by %s: got error %v (%v), want success %v", k.kid, err, reason(err), want)
		}
	}
	hits := func(want int64) {
		t.Helper()
		if got := srv.hits.Load(); got != want {
			t.Fatalf("got %d JWKS fetches, want %d", got, want)
		}
	}
	hits(1) // the constructor's
	ok(k1, true)
	srv.set(http.StatusOK, jwksDoc(t, k1, k2))
	ok(k2, false) // unknown kid, but a fetch happened just now
	hits(1)

	clock.advance(10 * time.Second)
	ok(k2, true) // unknown kid fetches the rotated set
	hits(2)
	ok(k3, false) // another unknown kid right after: rate-limited
	hits(2)

	// The periodic refresh drops k1.
	srv.set(http.StatusOK, jwksDoc(t, k2))
	clock.advance(50 * time.Second)
	ok(k1, true) // 50s old: no refresh yet
	hits(2)
	clock.advance(10 * time.Second)
	ok(k1, false)
	hits(3)

	// The identity provider fails: the keys held stay in use and the
	// retries back off.
	srv.set(http.StatusInternalServerError, []byte("down"))
	clock.advance(time.Minute)
	ok(k2, true)
	hits(4)
	ok(k3, false) // within the 1s backoff
	hits(4)
	clock.advance(time.Second)
	ok(k2, true) // stale: retries, fails again, keeps the keys
	hits(5)
	clock.advance(time.Second)
	ok(k2, true) // the backoff doubled to 2s
	hits(5)
}

// TestOAuthBearerHTTPS fetches the JWKS over TLS.
func TestOAuthBearerHTTPS(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k := newECKey(t, "ec-1")
	srv := newJWKSServer(t, true, jwksDoc(t, k))
	m := httpMechanism(t, clock, srv)
	now := clock.now()
	if _, err := authenticate(t, m, bearer(t, sign(t, k, map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}))); err != nil {
		t.Fatalf("got %v (%v), want success", err, reason(err))
	}
}

// TestOAuthBearerFileRefresh rereads a JWKS file once it is stale.
func TestOAuthBearerFileRefresh(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k1, k2 := newECKey(t, "ec-1"), newECKey(t, "ec-2")
	m, path := fileMechanism(t, clock, nil, k1)
	writeJWKS(t, path, jwksDoc(t, k2))
	clock.advance(time.Hour)
	now := clock.now()
	tok := sign(t, k2, map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()})
	if _, err := authenticate(t, m, bearer(t, tok)); err != nil {
		t.Fatalf("got %v (%v), want success with the rotated file", err, reason(err))
	}
}

func TestParseOAuthBearerConfig(t *testing.T) {
	c, err := ParseOAuthBearerConfig(map[string]string{settingJWKSURL: "https://idp.example/jwks", "num.partitions": "3"})
	if err != nil {
		t.Fatal(err)
	}
	want := OAuthBearerConfig{JWKSURL: "https://idp.example/jwks", JWKSRefresh: time.Hour, JWKSBackoff: 100 * time.Millisecond,
		JWKSBackoffMax: 10 * time.Second, ClockSkew: 30 * time.Second, SubClaim: "sub", ScopeClaim: "scope"}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v, want Kafka's defaults %+v", c, want)
	}
	for _, tc := range []struct {
		settings map[string]string
		wantErr  string
	}{
		{map[string]string{settingClockSkew: "-1"}, settingClockSkew},
		{map[string]string{settingJWKSRefresh: "soon"}, settingJWKSRefresh},
		{map[string]string{settingJWKSBackoffMax: "99999999999999999999"}, settingJWKSBackoffMax},
		{map[string]string{settingSubClaim: " "}, settingSubClaim},
	} {
		if _, err := ParseOAuthBearerConfig(tc.settings); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%v: got error %v, want one naming %s", tc.settings, err, tc.wantErr)
		}
	}
}

func TestNewOAuthBearerErrors(t *testing.T) {
	dir := t.TempDir()
	symmetric := filepath.Join(dir, "oct.json")
	writeJWKS(t, symmetric, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0c2VjcmV0c2VjcmV0"}]}`))
	encOnly := filepath.Join(dir, "enc.json")
	var doc map[string][]map[string]any
	json.Unmarshal(jwksDoc(t, newECKey(t, "ec-1")), &doc)
	doc["keys"][0]["use"] = "enc"
	b, _ := json.Marshal(doc)
	writeJWKS(t, encOnly, b)
	garbage := filepath.Join(dir, "garbage.json")
	writeJWKS(t, garbage, []byte("not json"))

	for _, tc := range []struct {
		name, url, wantErr string
	}{
		{"no URL", "", "needs the JWKS URL"},
		{"other scheme", "ftp://idp.example/jwks", `scheme "ftp"`},
		{"relative file URL", "file:jwks.json", "file:///absolute/path"},
		{"missing file", "file://" + filepath.Join(dir, "missing.json"), "no such file"},
		{"not JSON", "file://" + garbage, "not JSON"},
		{"only a symmetric key", "file://" + symmetric, "no usable signature key"},
		{"only an encryption key", "file://" + encOnly, "no usable signature key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseOAuthBearerConfig(map[string]string{settingJWKSURL: tc.url})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := NewOAuthBearer(cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
	cfg, _ := ParseOAuthBearerConfig(map[string]string{settingJWKSURL: "file://" + symmetric, settingJWKSBackoff: "20000"})
	if _, err := NewOAuthBearer(cfg, testLogger(t)); err == nil || !strings.Contains(err.Error(), "must not exceed") {
		t.Fatalf("backoff over its maximum: got %v", err)
	}
}

func TestParseClientMessage(t *testing.T) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	for _, tc := range []struct {
		name string
		msg  string
		want clientMessage // zero: an error
	}{
		{"franz-go's bytes", string(clientFirst(t, oauth.Auth{Token: tok})), clientMessage{token: tok}},
		{"authzid and extensions", "n,a=al=2Cice=3D,\x01auth=Bearer " + tok + "\x01ext=a b\x01x=\t\x01\x01",
			clientMessage{authzid: "al,ice=", token: tok, extensions: map[string]string{"ext": "a b", "x": "\t"}}},
		{"scheme in any case, extra spaces", "n,,\x01auth=bEaReR   " + tok + "\x01\x01", clientMessage{token: tok}},
		{"empty", "", clientMessage{}},
		{"channel binding y", "y,,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"channel binding p", "p=tls-unique,,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"no comma after header", "n,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"no separator after header", "n,,auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"no final separator", "n,,\x01auth=Bearer " + tok + "\x01", clientMessage{}},
		{"trailing garbage", "n,,\x01auth=Bearer " + tok + "\x01\x01x", clientMessage{}},
		{"no auth", "n,,\x01x=y\x01\x01", clientMessage{}},
		{"auth twice", "n,,\x01auth=Bearer " + tok + "\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"extension twice", "n,,\x01auth=Bearer " + tok + "\x01x=1\x01x=2\x01\x01", clientMessage{}},
		{"key with a digit", "n,,\x01auth=Bearer " + tok + "\x01x1=1\x01\x01", clientMessage{}},
		{"empty value", "n,,\x01auth=Bearer " + tok + "\x01x=\x01\x01", clientMessage{}},
		{"value with a control character", "n,,\x01auth=Bearer " + tok + "\x01x=\x02\x01\x01", clientMessage{}},
		{"pair without =", "n,,\x01auth=Bearer " + tok + "\x01x\x01\x01", clientMessage{}},
		{"basic scheme", "n,,\x01auth=Basic " + tok + "\x01\x01", clientMessage{}},
		{"no token", "n,,\x01auth=Bearer \x01\x01", clientMessage{}},
		{"token with a slash", "n,,\x01auth=Bearer a/b\x01\x01", clientMessage{}},
		{"bad authzid escape", "n,a=x=2D,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"empty authzid", "n,a=,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
		{"other GS2 field", "n,b=x,\x01auth=Bearer " + tok + "\x01\x01", clientMessage{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseClientMessage([]byte(tc.msg))
			if tc.want.token == "" {
				if err == nil || !errors.Is(err, ErrAuthentication) {
					t.Fatalf("got %+v, %v; want an authentication error", got, err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// FuzzParseClientMessage: the parser never panics, and whatever it accepts
// is made of RFC 7628's characters and parses the same once written back.
func FuzzParseClientMessage(f *testing.F) {
	const tok = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"
	for _, s := range []string{
		"", "\x01", "n,,\x01\x01", "n,,\x01auth=Bearer " + tok + "\x01\x01",
		"n,a=al=2Cice=3D,\x01auth=Bearer " + tok + "\x01ext=a b\x01\x01",
		"n,a=x=,\x01auth=Bearer " + tok + "\x01\x01", "n,a=x=2",
		"n,,\x01auth=Bearer " + tok + "\x01\x01garbage",
		"n,,\x01auth=Bearer " + strings.Repeat("A", 4096) + "\x01\x01",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		cm, err := parseClientMessage(msg)
		if err != nil {
			if !errors.Is(err, ErrAuthentication) {
				t.Fatalf("error %v does not wrap ErrAuthentication", err)
			}
			return
		}
		if !validToken68(cm.token) {
			t.Fatalf("accepted token %q", cm.token)
		}
		for k, v := range cm.extensions {
			if !validKey([]byte(k)) || !validValue([]byte(v)) || k == "auth" {
				t.Fatalf("accepted extension %q=%q", k, v)
			}
		}
		again, err := parseClientMessage(writeClientMessage(cm))
		if err != nil || !reflect.DeepEqual(again, cm) {
			t.Fatalf("%q parsed as %+v, written back parses as %+v, %v", msg, cm, again, err)
		}
	})
}

// writeClientMessage is the client initial response for cm, escaping the
// authorization identity as RFC 5801 says.
func writeClientMessage(cm clientMessage) []byte {
	zid := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(cm.authzid)
	if zid != "" {
		zid = "a=" + zid
	}
	s := fmt.Sprintf("n,%s,\x01auth=Bearer %s\x01", zid, cm.token)
	for k, v := range cm.extensions {
		s += k + "=" + v + "\x01"
	}
	return []byte(s + "\x01")
}

// TestOAuthBearerFranzGoSession runs franz-go's OAUTHBEARER client session
// against the server side: it must accept the server's answer to a good
// token as the end, and treat the error JSON as a failure.
func TestOAuthBearerFranzGoSession(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k := newECKey(t, "ec-1")
	m, _ := fileMechanism(t, clock, nil, k)
	now := clock.now()
	for _, tc := range []struct {
		name  string
		token string
		ok    bool
	}{
		{"good", sign(t, k, map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}), true},
		{"expired", sign(t, k, map[string]any{"sub": "alice", "iat": now.Add(-2 * time.Hour).Unix(), "exp": now.Add(-time.Hour).Unix()}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			session, first, err := oauth.Auth{Token: tc.token}.AsMechanism().Authenticate(context.Background(), "127.0.0.1:9092")
			if err != nil {
				t.Fatal(err)
			}
			x := m.Start()
			reply, serverDone, serverErr := x.Step(first)
			clientDone, _, clientErr := session.Challenge(reply)
			if tc.ok {
				if !serverDone || serverErr != nil || !clientDone || clientErr != nil || x.Principal() != "User:alice" {
					t.Fatalf("server done %v err %v, client done %v err %v, principal %q", serverDone, serverErr, clientDone, clientErr, x.Principal())
				}
				return
			}
			if serverDone || clientErr == nil {
				t.Fatalf("server done %v, client err %v; want the server waiting for %%x01 and the client failing", serverDone, clientErr)
			}
		})
	}
}

// TestOAuthBearerConcurrent authenticates from many goroutines while the
// JWKS goes stale and is fetched again (run with -race).
func TestOAuthBearerConcurrent(t *testing.T) {
	clock := &testClock{t: time.Unix(1_700_000_000, 0)}
	k := newECKey(t, "ec-1")
	srv := newJWKSServer(t, false, jwksDoc(t, k))
	m := httpMechanism(t, clock, srv)
	now := clock.now()
	msg := bearer(t, sign(t, k, map[string]any{"sub": "alice", "iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			for range 20 {
				clock.advance(10 * time.Second)
				x := m.Start()
				if _, done, err := x.Step(msg); !done || err != nil {
					errs <- fmt.Errorf("done %v err %v", done, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if srv.hits.Load() < 2 {
		t.Fatalf("got %d JWKS fetches, want refreshes as the set went stale", srv.hits.Load())
	}
}

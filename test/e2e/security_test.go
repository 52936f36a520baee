package e2e

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/internal/config"
)

// secureNode is a node with an authorizer, a PLAINTEXT listener whose
// User:ANONYMOUS is the super user (an operator's private admin port), and
// the listeners the test adds.
type secureNode struct {
	listeners map[string]string
	admin     *kadm.Client
	log       *logBuffer
}

func startSecureNode(t *testing.T, settings map[string]string) *secureNode {
	t.Helper()
	all := map[string]string{
		"authorizer.class.name": config.StandardAuthorizer,
		"super.users":           "User:ANONYMOUS",
	}
	for k, v := range settings {
		all[k] = v
	}
	log := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := cli.StartNode(ctx, cli.ServeOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
		NodeID: 1, Settings: all}, logger)
	if err != nil {
		cancel()
		t.Fatalf("start node: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := n.Wait(); err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
	})
	s := &secureNode{listeners: map[string]string{}, log: log}
	for name, addr := range n.Listeners {
		s.listeners[name] = addr.String()
	}
	s.admin = kadm.NewClient(newClient(t, s.listeners["PLAINTEXT"]))
	return s
}

// newClient is a franz-go client of addr with opts, closed when the test
// ends.
func newClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0),
		kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// produceErr produces one record and returns its error.
func produceErr(t *testing.T, cl *kgo.Client, topic string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
}

func mustNot(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestSASLSSLWithACLs runs SCRAM-SHA-512 over TLS (SASL_SSL) against an
// authorizer: users created through AlterUserScramCredentials, ACLs on
// them, and each user's produce, consume and group access allowed or
// refused with Kafka's errors, a DENY over an ALLOW, a wrong password
// refused; no password reaches the log.
func TestSASLSSLWithACLs(t *testing.T) {
	ca := newCA(t, "test CA")
	dir := t.TempDir()
	keystore, truststore := filepath.Join(dir, "server.pem"), filepath.Join(dir, "ca.pem")
	writeFile(t, keystore, issue(t, ca, "broker", []string{"127.0.0.1"}, time.Time{}, time.Time{}).Keystore())
	writeFile(t, truststore, ca.PEM)
	n := startSecureNode(t, map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0",
		"sasl.enabled.mechanisms": "SCRAM-SHA-512",
		"ssl.keystore.location":   keystore,
		"ssl.truststore.location": truststore,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const alicePass, bobPass = "alice-s3cret-pw", "bob-s3cret-pw"
	res, err := n.admin.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{
		{User: "alice", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: alicePass},
		{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: bobPass},
	})
	mustNot(t, "create users", err)
	for _, r := range res {
		mustNot(t, "create user "+r.User, r.Err)
	}
	_, err = n.admin.CreateTopic(ctx, 1, 1, nil, "orders")
	mustNot(t, "create topic", err)
	acls := kadm.NewACLs().Allow("User:alice").Topics("orders").Groups("g-alice").
		Operations(kadm.OpRead, kadm.OpWrite, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral)
	created, err := n.admin.CreateACLs(ctx, acls)
	mustNot(t, "create ACLs", err)
	for _, c := range created {
		mustNot(t, "create ACL", c.Err)
	}

	tlsCfg := clientTLS(ca.PEM, nil)
	user := func(name, pass string, opts ...kgo.Opt) *kgo.Client {
		m := scram.Auth{User: name, Pass: pass}.AsSha512Mechanism()
		return newClient(t, n.listeners["SASL_SSL"], append([]kgo.Opt{kgo.DialTLSConfig(tlsCfg), kgo.SASL(m)}, opts...)...)
	}
	alice, bob := user("alice", alicePass), user("bob", bobPass)

	// alice writes and reads orders in her group.
	for range 5 {
		mustNot(t, "alice produces", produceErr(t, alice, "orders"))
	}
	consumer := user("alice", alicePass, kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("g-alice"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < 5 && ctx.Err() == nil {
		fs := consumer.PollFetches(ctx)
		mustNot(t, "alice consumes", fs.Err())
		got += fs.NumRecords()
	}
	if got != 5 {
		t.Fatalf("alice consumed %d records, want 5", got)
	}
	mustNot(t, "alice commits", consumer.CommitUncommittedOffsets(ctx))

	// bob may do none of it, and is not told orders exists.
	if err := produceErr(t, bob, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob's produce: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	topics, err := kadm.NewClient(bob).ListTopics(ctx)
	mustNot(t, "bob lists topics", err)
	if topics.Has("orders") {
		t.Fatal("bob's metadata lists orders")
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g-alice"
	resp, err := fc.RequestWith(ctx, bob)
	mustNot(t, "bob's FindCoordinator", err)
	if resp.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("bob's FindCoordinator for g-alice: got %v, want GROUP_AUTHORIZATION_FAILED", kerr.ErrorForCode(resp.ErrorCode))
	}

	// Only the cluster's ALTER and DESCRIBE manage credentials.
	bobAdm := kadm.NewClient(bob)
	altered, err := bobAdm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "bob", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "new"}})
	if err == nil {
		err = altered["bob"].Err
	}
	if !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob altering credentials: got %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}
	if _, err := bobAdm.DescribeUserSCRAMs(ctx); !errors.Is(err, kerr.ClusterAuthorizationFailed) {
		t.Fatalf("bob describing credentials: got %v, want CLUSTER_AUTHORIZATION_FAILED", err)
	}

	// A DENY wins over alice's ALLOW.
	deny := kadm.NewACLs().Deny("User:alice").Topics("orders").Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	created, err = n.admin.CreateACLs(ctx, deny)
	mustNot(t, "create DENY", err)
	mustNot(t, "create DENY", created[0].Err)
	if err := produceErr(t, alice, "orders"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice's produce under a DENY: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// A wrong password authenticates nothing.
	if err := user("alice", "wrong").Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("wrong password: got %v, want SASL_AUTHENTICATION_FAILED", err)
	}
	for _, pw := range []string{alicePass, bobPass} {
		if strings.Contains(n.log.String(), pw) {
			t.Fatalf("the node's log holds a password")
		}
	}
}

// TestOAuthBearer authenticates franz-go's OAUTHBEARER client with JWTs
// checked against a JWKS file: the token's subject is the principal ACLs
// apply to; an expired token and one signed by another key are refused.
func TestOAuthBearer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	mustNot(t, "key", err)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	mustNot(t, "key", err)
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "RS256", Use: "sig"}}})
	mustNot(t, "JWKS", err)
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	mustNot(t, "write JWKS", os.WriteFile(jwksPath, jwks, 0o600))
	n := startSecureNode(t, map[string]string{
		"listeners":                          "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms":            "OAUTHBEARER",
		"sasl.oauthbearer.jwks.endpoint.url": "file://" + jwksPath,
		"sasl.oauthbearer.expected.audience": "strata",
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, topic := range []string{"carols", "others"} {
		_, err := n.admin.CreateTopic(ctx, 1, 1, nil, topic)
		mustNot(t, "create topic", err)
	}
	created, err := n.admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:carol").Topics("carols").
		Operations(kadm.OpWrite, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	mustNot(t, "create ACL", err)
	mustNot(t, "create ACL", created[0].Err)

	token := func(signer *rsa.PrivateKey, exp time.Duration) string {
		s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: signer, KeyID: "k1"}},
			(&jose.SignerOptions{}).WithType("JWT"))
		mustNot(t, "signer", err)
		now := time.Now()
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Subject: "carol", Audience: jwt.Audience{"strata"},
			IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), Expiry: jwt.NewNumericDate(now.Add(exp))}).Serialize()
		mustNot(t, "token", err)
		return tok
	}
	client := func(tok string) *kgo.Client {
		var m sasl.Mechanism = oauth.Oauth(func(context.Context) (oauth.Auth, error) { return oauth.Auth{Token: tok}, nil })
		return newClient(t, n.listeners["SASL_PLAINTEXT"], kgo.SASL(m))
	}

	carol := client(token(key, time.Hour))
	mustNot(t, "carol produces", produceErr(t, carol, "carols"))
	if err := produceErr(t, carol, "others"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("carol's produce to others: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// franz-go, as Kafka's own clients, fails on RFC 7628's error reply
	// (a client may acknowledge it instead, and is then told
	// SASL_AUTHENTICATION_FAILED); the node logs each refusal's reason.
	for name, tok := range map[string]string{
		"expired":        token(key, -10*time.Minute),
		"another signer": token(other, time.Hour),
	} {
		if err := client(tok).Ping(ctx); err == nil {
			t.Errorf("%s token: authenticated", name)
		}
	}
	if got := strings.Count(n.log.String(), "SASL authentication failed"); got != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", got, n.log.String())
	}
	for _, reason := range []string{"token is expired", "no key in the JWKS verifies the token"} {
		if !strings.Contains(n.log.String(), reason) {
			t.Errorf("no refusal logged with %q in its reason:\n%s", reason, n.log.String())
		}
	}
}

// TestInlineKeyNeverShown serves TLS from a key and certificate chain given
// inline as settings: a client connects, DescribeConfigs reports the key
// sensitive without its value, and the key appears nowhere in the node's
// log (at debug level).
func TestInlineKeyNeverShown(t *testing.T) {
	ca := newCA(t, "test CA")
	server := issue(t, ca, "broker", []string{"127.0.0.1"}, time.Time{}, time.Time{})
	n := startSecureNode(t, map[string]string{
		"listeners":                      "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.key":               string(server.KeyPEM),
		"ssl.keystore.certificate.chain": string(server.CertPEM),
		"ssl.truststore.certificates":    string(ca.PEM),
	})
	if err := ping(t, n.listeners["SSL"], clientTLS(ca.PEM, nil)); err != nil {
		t.Fatalf("TLS with the inline key: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rcs, err := n.admin.DescribeBrokerConfigs(ctx, 1)
	mustNot(t, "describe configs", err)
	rc, err := rcs.On("1", nil)
	mustNot(t, "describe configs", err)
	found := false
	for _, c := range rc.Configs {
		if c.Key == "ssl.keystore.key" {
			found = true
			if !c.Sensitive || c.Value != nil {
				t.Errorf("ssl.keystore.key described as sensitive=%v value=%v", c.Sensitive, c.MaybeValue())
			}
		}
	}
	if !found {
		t.Error("ssl.keystore.key not described")
	}
	body := strings.Split(strings.TrimSpace(string(server.KeyPEM)), "\n")[1] // a line of the key's base64
	if log := n.log.String(); strings.Contains(log, "PRIVATE KEY") || strings.Contains(log, body) {
		t.Fatal("the node's log holds the private key")
	}
}

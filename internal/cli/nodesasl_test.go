package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/partition"
)

// startSASLNode starts a node with a SASL_PLAINTEXT listener offering PLAIN
// (user broker, password broker-pw) and SCRAM-SHA-512, sessions of reauth
// ms, and returns its PLAINTEXT and SASL_PLAINTEXT addresses.
func startSASLNode(t *testing.T, reauth string) (plaintext, saslAddr string) {
	t.Helper()
	n := startNodeWith(t, map[string]string{
		"listeners":                 "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms":   "PLAIN,SCRAM-SHA-512",
		"sasl.plain.users":          "broker:broker-pw",
		"connections.max.reauth.ms": reauth,
	})
	return n.Listeners["PLAINTEXT"].String(), n.Listeners["SASL_PLAINTEXT"].String()
}

// nodeDialer is the dialer of a node whose inter-broker listener is
// SASL_PLAINTEXT with mechanism mech and that JAAS login.
func nodeDialer(t *testing.T, mech, jaas string) dialFunc {
	t.Helper()
	settings, err := config.ParseBroker(map[string]string{
		"sasl.enabled.mechanisms":                                               "PLAIN,SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol":                                  mech,
		"listener.name.internal." + strings.ToLower(mech) + ".sasl.jaas.config": jaas,
	})
	if err != nil {
		t.Fatal(err)
	}
	set := &listenerSet{listeners: []config.Listener{{Name: "INTERNAL", SecurityProtocol: "SASL_PLAINTEXT"}}, inter: "INTERNAL"}
	dial, err := set.nodeDial(settings, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dial
}

// metadataOn sends a Metadata request on k: only an authenticated
// connection gets an answer.
func metadataOn(ctx context.Context, k *partition.Conn) error {
	req := kmsg.NewPtrMetadataRequest()
	req.Version = 12
	return k.RoundTrip(ctx, req, req.ResponseKind(), 5*time.Second, 1<<20)
}

// TestNodeDialSASL: the inter-broker dialer's connections are
// authenticated (PLAIN from sasl.plain.users, SCRAM-SHA-512 from the
// metadata log) before they are handed back; wrong credentials are
// SASL_AUTHENTICATION_FAILED at the dial, never a password in the error.
func TestNodeDialSASL(t *testing.T) {
	plaintext, addr := startSASLNode(t, "0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(newTestClient(t, plaintext))
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "node", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "node-pw"}}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, mech, jaas string
		want             error
	}{
		{"plain", "PLAIN", config.PlainLoginModule + ` required username="broker" password="broker-pw";`, nil},
		{"scram", "SCRAM-SHA-512", config.ScramLoginModule + ` required username="node" password="node-pw";`, nil},
		{"plain wrong password", "PLAIN", config.PlainLoginModule + ` required username="broker" password="wrong-pw";`, kerr.SaslAuthenticationFailed},
		{"scram unknown user", "SCRAM-SHA-512", config.ScramLoginModule + ` required username="nobody" password="wrong-pw";`, kerr.SaslAuthenticationFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := nodeDialer(t, tt.mech, tt.jaas)(ctx, addr)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || strings.Contains(err.Error(), "wrong-pw") {
					t.Fatalf("got %v, want %v without the password", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k := partition.NewConn(c, "test")
			defer k.Close()
			if err := metadataOn(ctx, k); err != nil {
				t.Fatalf("metadata on an authenticated connection: %v", err)
			}
		})
	}
}

// TestNodeDialReauthenticates: with connections.max.reauth.ms set, the
// dialer's connection re-authenticates on its own before the first request
// after its renewal time, also when that comes after the session's end
// (an idle connection): the node, which refuses any other request then,
// takes the re-authentication and serves the request.
func TestNodeDialReauthenticates(t *testing.T) {
	_, addr := startSASLNode(t, "2000")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := nodeDialer(t, "PLAIN", config.PlainLoginModule+` required username="broker" password="broker-pw";`)(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	sessionEnd := time.Now().Add(2 * time.Second)
	sc := c.(*saslConn)
	k := partition.NewConn(c, "test")
	defer k.Close()
	sc.mu.Lock()
	reauthAt := sc.reauthAt
	sc.mu.Unlock()
	if reauthAt.IsZero() || reauthAt.After(sessionEnd) {
		t.Fatalf("re-authentication due at %v, want before the 2s session ends", reauthAt)
	}
	if err := metadataOn(ctx, k); err != nil {
		t.Fatal(err)
	}
	// What is awaited is the clock passing the session's end, nothing else.
	<-time.After(time.Until(sessionEnd.Add(100 * time.Millisecond)))
	if err := metadataOn(ctx, k); err != nil {
		t.Fatalf("request after the session's end: %v", err)
	}
	sc.mu.Lock()
	renewed := sc.reauthAt.After(sessionEnd)
	sc.mu.Unlock()
	if !renewed {
		t.Fatal("the session was not renewed")
	}
}

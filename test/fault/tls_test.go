package fault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"maps"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/test/cluster"
)

// TestTLSBetweenNodes runs a 3-node cluster whose nodes replicate, forward
// and send markers over INTERNAL, an SSL listener requiring client
// certificates: a node that dialed it without TLS and its certificate
// would get nothing. Clients use PLAINTEXT; acks=all produces keep being
// acknowledged through a leader's death, and the ledger check finds every
// acknowledged record.
func TestTLSBetweenNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	ca := newCA(t, "cluster CA")
	keystore, truststore := nodeCerts(t, ca)
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, map[string]string{
		"inter.broker.listener.name": "INTERNAL",
		"ssl.keystore.location":      keystore,
		"ssl.truststore.location":    truststore,
		"ssl.client.auth":            "required",
	})
	const topic, parts = "tls-between-nodes", 3
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: settings,
		Listeners: []cluster.Listener{{Name: "INTERNAL", Protocol: "SSL"}}})
	c.WaitReady(30 * time.Second)

	// The inter-broker listener speaks only TLS with a client certificate.
	if err := refusesPlainAndAnonymous(c.Node(1).ListenerAddr("INTERNAL"), ca.PEM); err != nil {
		t.Fatal(err)
	}

	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 1000, 30*time.Second, "acks=all replicated over TLS")
	killLeaderAndCheck(t, c, cl, p, topic, parts)
}

// refusesPlainAndAnonymous checks that a TLS client without a certificate
// gets no answer from addr.
func refusesPlainAndAnonymous(addr string, ca []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(&d, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		return nil // refused in the handshake (TLS 1.2)
	}
	defer c.Close()
	// With TLS 1.3 the server checks the client's certificate after the
	// client has finished its handshake: the refusal comes on the first read.
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		return errors.New("a TLS client without a certificate got bytes from the inter-broker listener")
	}
	return nil
}

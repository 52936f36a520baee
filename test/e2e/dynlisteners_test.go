package e2e

// End-to-end tests of the dynamic listener settings through kadm: a
// listener added and removed at runtime, a keystore rotated under the
// listener's prefix (and a bad one refused), and max.connections.per.ip
// lowered on a running node.

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// listenerAddr polls the node until it has a listener named name and
// returns its address.
func listenerAddr(t *testing.T, n *node, name string) string {
	t.Helper()
	var addr string
	eventually(t, 10*time.Second, "listener "+name, func() bool {
		a, ok := n.ListenerAddrs()[name]
		if ok {
			addr = a.String()
		}
		return ok
	})
	return addr
}

// metadataAddr returns where Metadata asked through addr says broker 1 is.
func metadataAddr(ctx context.Context, t *testing.T, addr string) string {
	t.Helper()
	md, err := kadm.NewClient(franzClient(t, addr)).BrokerMetadata(ctx)
	if err != nil || len(md.Brokers) != 1 {
		t.Fatalf("metadata through %s: %v, %d brokers", addr, err, len(md.Brokers))
	}
	return net.JoinHostPort(md.Brokers[0].Host, strconv.Itoa(int(md.Brokers[0].Port)))
}

// TestDynamicListenerAddRemove adds a listener to a running node, checks
// that it serves and that Metadata on it names it (then its new advertised
// address), removes it and checks that its connection is closed and new
// ones are refused; the inter-broker listener cannot be removed.
func TestDynamicListenerAddRemove(t *testing.T) {
	n := startNode(t, "", nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	protocols := setConfig("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,EXTRA:PLAINTEXT")
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{protocols,
		setConfig("listeners", "PLAINTEXT://127.0.0.1:0,EXTRA://127.0.0.1:0")}, 1)
	extra := listenerAddr(t, n, "EXTRA")
	// The listener serves before the node's new registration is applied.
	eventually(t, 10*time.Second, "metadata on EXTRA naming EXTRA", func() bool {
		return metadataAddr(ctx, t, extra) == extra
	})
	if got := metadataAddr(ctx, t, n.addr); got != n.addr {
		t.Fatalf("metadata on PLAINTEXT: broker at %s, want %s", got, n.addr)
	}
	// Advertising another name for EXTRA re-registers the node.
	_, port, _ := net.SplitHostPort(extra)
	advertised := "localhost:" + port
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("advertised.listeners", "EXTRA://"+advertised)}, 1)
	eventually(t, 10*time.Second, "EXTRA advertised as "+advertised, func() bool {
		return metadataAddr(ctx, t, extra) == advertised
	})

	open := dial(t, extra)
	if !answers(t, open, 10*time.Second) {
		t.Fatal("connection to EXTRA not served")
	}
	// advertised.listeners may name only listeners that stay (Kafka's
	// rule): it goes with EXTRA.
	r := alterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listeners", "PLAINTEXT://127.0.0.1:0")}, 1)
	if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.HasPrefix(r.ErrMessage, "advertised.listeners listener names must be") {
		t.Fatalf("removing an advertised listener alone: got %v (%s), want INVALID_REQUEST", r.Err, r.ErrMessage)
	}
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listeners", "PLAINTEXT://127.0.0.1:0"),
		{Op: kadm.DeleteConfig, Name: "advertised.listeners"}}, 1)
	if !closedByBroker(open, 10*time.Second) {
		t.Fatal("connection to the removed listener not closed")
	}
	eventually(t, 10*time.Second, "EXTRA refusing connections", func() bool {
		c, err := net.DialTimeout("tcp", extra, time.Second)
		if err != nil {
			return true
		}
		c.Close()
		return false
	})
	if _, ok := n.ListenerAddrs()["EXTRA"]; ok {
		t.Fatal("EXTRA still listed")
	}

	r = alterBroker(ctx, t, adm, []kadm.AlterConfig{protocols, setConfig("listeners", "EXTRA://127.0.0.1:0")}, 1)
	if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage != "Advertised listener must be specified for inter-broker listener PLAINTEXT" {
		t.Fatalf("removing the inter-broker listener: got %v (%s), want INVALID_REQUEST with Kafka's message", r.Err, r.ErrMessage)
	}
	r = alterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listeners", "PLAINTEXT://127.0.0.1:0")})
	if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.HasPrefix(r.ErrMessage, "Cannot update these configs at default cluster level") {
		t.Fatalf("listeners as the cluster-wide default: got %v (%s), want INVALID_REQUEST", r.Err, r.ErrMessage)
	}
}

// servedCert returns the common name of the certificate a new TLS
// connection to addr is served.
func servedCert(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatalf("TLS dial %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// TestDynamicKeystoreRotation points the SSL listener at a new keystore
// with IncrementalAlterConfigs: the next connection is served the new
// certificate and franz-go works over it. A keystore that does not load,
// and the keystore setting without the listener prefix, are refused with
// INVALID_REQUEST and change nothing. The node allows the certificate's
// subject to change (ssl.allow.dn.changes).
func TestDynamicKeystoreRotation(t *testing.T) {
	f := startTLSNode(t, map[string]string{"ssl.allow.dn.changes": "true"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := clientTLS(f.ca.PEM, nil)
	cfg.ServerName = "127.0.0.1"
	if got := servedCert(t, f.sslAddr, cfg); got != "broker" {
		t.Fatalf("served %q, want broker", got)
	}
	adm := kadm.NewClient(franzClient(t, f.sslAddr, kgo.DialTLSConfig(cfg)))

	rotated := filepath.Join(f.dir, "rotated.pem")
	writeFile(t, rotated, issue(t, f.ca, "rotated", []string{"127.0.0.1"}, time.Time{}, time.Time{}).Keystore())
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listener.name.ssl.ssl.keystore.location", rotated)}, 1)
	eventually(t, 10*time.Second, "the rotated certificate served", func() bool {
		return servedCert(t, f.sslAddr, cfg) == "rotated"
	})
	if err := ping(t, f.sslAddr, cfg); err != nil {
		t.Fatalf("franz-go over the rotated certificate: %v", err)
	}

	for _, bad := range []kadm.AlterConfig{
		setConfig("listener.name.ssl.ssl.keystore.location", filepath.Join(f.dir, "missing.pem")),
		setConfig("listener.name.ssl.ssl.keystore.location", f.truststore), // a CA, no key
	} {
		r := alterBroker(ctx, t, adm, []kadm.AlterConfig{bad}, 1)
		if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.HasPrefix(r.ErrMessage, "Invalid dynamic configuration: listener SSL") {
			t.Errorf("keystore %s: got %v (%s), want INVALID_REQUEST", *bad.Value, r.Err, r.ErrMessage)
		}
	}
	r := alterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("ssl.keystore.location", rotated)}, 1)
	if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage != "These security configs can be dynamically updated only per-listener using the listener prefix: Set(ssl.keystore.location)" {
		t.Errorf("unprefixed keystore: got %v (%s), want INVALID_REQUEST with Kafka's message", r.Err, r.ErrMessage)
	}
	if c, ok := describeBroker(ctx, t, adm, "listener.name.ssl.ssl.keystore.location", 1); ok && (c.Value == nil || *c.Value != rotated) {
		t.Errorf("after the refusals the keystore setting is %v, want %s", c.Value, rotated)
	}
	if got := servedCert(t, f.sslAddr, cfg); got != "rotated" {
		t.Errorf("after the refusals served %q, want rotated", got)
	}
}

// TestDynamicKeystoreKeepsSubject checks Kafka's rule for a keystore
// changed at runtime: by default its certificate must keep the subject and
// the subject alternative names of the one in use; a new key and
// certificate for the same subject and names is taken.
func TestDynamicKeystoreKeepsSubject(t *testing.T) {
	f := startTLSNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := clientTLS(f.ca.PEM, nil)
	cfg.ServerName = "127.0.0.1"
	adm := kadm.NewClient(franzClient(t, f.sslAddr, kgo.DialTLSConfig(cfg)))
	for name, want := range map[string]struct {
		cn    string
		hosts []string
		msg   string
	}{
		"other subject": {"rotated", []string{"127.0.0.1"}, "Keystore DistinguishedName does not match"},
		"other names":   {"broker", []string{"127.0.0.1", "localhost"}, "Keystore SubjectAltNames do not match"},
	} {
		path := filepath.Join(f.dir, strings.ReplaceAll(name, " ", "-")+".pem")
		writeFile(t, path, issue(t, f.ca, want.cn, want.hosts, time.Time{}, time.Time{}).Keystore())
		r := alterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listener.name.ssl.ssl.keystore.location", path)}, 1)
		if !errors.Is(r.Err, kerr.InvalidRequest) || !strings.Contains(r.ErrMessage, want.msg) {
			t.Errorf("%s: got %v (%s), want INVALID_REQUEST: %s", name, r.Err, r.ErrMessage, want.msg)
		}
	}
	same := issue(t, f.ca, "broker", []string{"127.0.0.1"}, time.Time{}, time.Time{})
	leaf, _ := pem.Decode(same.CertPEM)
	renewed := filepath.Join(f.dir, "renewed.pem")
	writeFile(t, renewed, same.Keystore())
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("listener.name.ssl.ssl.keystore.location", renewed)}, 1)
	eventually(t, 10*time.Second, "the renewed certificate served", func() bool {
		c, err := tls.Dial("tcp", f.sslAddr, cfg)
		if err != nil {
			t.Fatalf("TLS dial: %v", err)
		}
		defer c.Close()
		return bytes.Equal(c.ConnectionState().PeerCertificates[0].Raw, leaf.Bytes)
	})
}

// TestDynamicConnectionsPerIP lowers max.connections.per.ip cluster-wide
// on a running node: the connections open stay served, the next one from
// the address is closed; deleting the setting lets connections in again.
func TestDynamicConnectionsPerIP(t *testing.T) {
	n := startNode(t, "", nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	first := dial(t, n.addr)
	if !answers(t, first, 10*time.Second) {
		t.Fatal("first connection not served")
	}
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("max.connections.per.ip", "1")})
	refused := func() bool {
		c := dial(t, n.addr)
		defer c.Close()
		return !answers(t, c, 10*time.Second)
	}
	eventually(t, 10*time.Second, "a connection beyond max.connections.per.ip refused", refused)
	if !answers(t, first, 10*time.Second) {
		t.Fatal("a connection open before the change stopped serving")
	}
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: "max.connections.per.ip"}})
	eventually(t, 10*time.Second, "connections served again", func() bool { return !refused() })
}

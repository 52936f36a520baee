package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/cli"
	"github.com/stratalog/strata/internal/tlsconfig"
)

// logBuffer collects a node's log lines, safe for concurrent writes.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tlsFixture is a CA and a node with a PLAINTEXT and an SSL listener whose
// keystore and truststore are files in dir.
type tlsFixture struct {
	ca                   *tlsconfig.CA
	dir                  string
	keystore, truststore string
	sslAddr              string
	log                  *logBuffer
}

func newCA(t *testing.T, cn string) *tlsconfig.CA {
	t.Helper()
	ca, err := tlsconfig.NewCA(cn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue issues a certificate valid from notBefore to notAfter (zero: the
// hour around now).
func issue(t *testing.T, ca *tlsconfig.CA, cn string, hosts []string, notBefore, notAfter time.Time) tlsconfig.Issued {
	t.Helper()
	if notBefore.IsZero() {
		notBefore, notAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	is, err := ca.Issue(tlsconfig.CertRequest{Subject: pkix.Name{CommonName: cn, Organization: []string{"Strata tests"}},
		Hosts: hosts, NotBefore: notBefore, NotAfter: notAfter})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// startTLSNode starts a node whose SSL listener uses a fresh CA's server
// certificate, with the extra settings given.
func startTLSNode(t *testing.T, extra map[string]string) *tlsFixture {
	t.Helper()
	f := &tlsFixture{ca: newCA(t, "test CA"), dir: t.TempDir(), log: &logBuffer{}}
	f.keystore, f.truststore = filepath.Join(f.dir, "server.pem"), filepath.Join(f.dir, "ca.pem")
	writeFile(t, f.keystore, issue(t, f.ca, "broker", []string{"127.0.0.1"}, time.Time{}, time.Time{}).Keystore())
	writeFile(t, f.truststore, f.ca.PEM)
	settings := map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0",
		"ssl.keystore.location":   f.keystore,
		"ssl.truststore.location": f.truststore,
	}
	for k, v := range extra {
		settings[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	logger := slog.New(slog.NewTextHandler(f.log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n, err := cli.StartNode(ctx, cli.ServeOptions{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Admin: "127.0.0.1:0",
		NodeID: 1, Settings: settings}, logger)
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
	f.sslAddr = n.Listeners["SSL"].String()
	return f
}

// clientTLS trusts roots and presents client (nil: no certificate).
func clientTLS(roots []byte, client *tlsconfig.Issued) *tls.Config {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	c := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if client != nil {
		cert, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
		if err != nil {
			panic(err)
		}
		// Always presented: Go's client would leave out a certificate
		// whose CA the server does not list, and a test wants it sent.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	return c
}

// ping reports whether a franz-go client with cfg gets an answer from addr.
func ping(t *testing.T, addr string, cfg *tls.Config) error {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(cfg), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// TestTLSProduceConsume produces and consumes over an SSL listener with
// franz-go; Metadata sends the client on to the SSL listener's address.
func TestTLSProduceConsume(t *testing.T) {
	f := startTLSNode(t, nil)
	topic := topicName(t)
	cfg := clientTLS(f.ca.PEM, nil)
	cl := franzClient(t, f.sslAddr, kgo.DialTLSConfig(cfg), kgo.DefaultProduceTopic(topic),
		kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 200
	for i := range n {
		cl.Produce(ctx, &kgo.Record{Value: []byte(strings.Repeat("x", i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("fetch after %d records: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if len(r.Value) != int(r.Offset) {
				t.Fatalf("offset %d: got %d bytes, want %d", r.Offset, len(r.Value), r.Offset)
			}
			got++
		})
	}
	// An old protocol version is refused: the minimum is TLS 1.2.
	old := clientTLS(f.ca.PEM, nil)
	old.MaxVersion = tls.VersionTLS11
	if err := ping(t, f.sslAddr, old); err == nil {
		t.Error("TLS 1.1 client: got an answer, want the handshake refused")
	}
}

// TestMutualTLS requires client certificates: none, one from another CA
// and an expired one are refused; a good one authenticates as the
// principal the mapping rules make of its subject.
func TestMutualTLS(t *testing.T) {
	f := startTLSNode(t, map[string]string{
		"ssl.client.auth":             "required",
		"ssl.principal.mapping.rules": "RULE:^CN=([^,]*),O=Strata tests$/$1/L, DEFAULT",
	})
	other := newCA(t, "another CA")
	expired := issue(t, f.ca, "Old", nil, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	foreign := issue(t, other, "Mallory", nil, time.Time{}, time.Time{})
	for name, cfg := range map[string]*tls.Config{
		"no certificate":      clientTLS(f.ca.PEM, nil),
		"another CA":          clientTLS(f.ca.PEM, &foreign),
		"expired certificate": clientTLS(f.ca.PEM, &expired),
	} {
		if err := ping(t, f.sslAddr, cfg); err == nil {
			t.Errorf("%s: got an answer, want the connection refused", name)
		}
	}
	// The client may see the refusal before the node has logged it.
	for _, want := range []string{"client didn't provide a certificate", "unknown authority", "expired"} {
		eventually(t, 10*time.Second, fmt.Sprintf("a log line about %q", want), func() bool {
			return strings.Contains(f.log.String(), want)
		})
	}

	good := issue(t, f.ca, "Alice", nil, time.Time{}, time.Time{})
	if err := ping(t, f.sslAddr, clientTLS(f.ca.PEM, &good)); err != nil {
		t.Fatalf("good certificate: %v", err)
	}
	if !strings.Contains(f.log.String(), `principal=User:alice`) {
		t.Errorf("log has no connection authenticated as User:alice:\n%s", f.log.String())
	}
}

// TestTLSCertificateReload replaces the keystore and truststore files of a
// running node: the next connection gets the new certificate, with no
// restart.
func TestTLSCertificateReload(t *testing.T) {
	f := startTLSNode(t, map[string]string{"ssl.client.auth": "requested"})
	if err := ping(t, f.sslAddr, clientTLS(f.ca.PEM, nil)); err != nil {
		t.Fatalf("before the renewal: %v", err)
	}
	renewed := newCA(t, "renewed CA")
	writeFile(t, f.keystore, issue(t, renewed, "broker", []string{"127.0.0.1"}, time.Time{}, time.Time{}).Keystore())
	writeFile(t, f.truststore, renewed.PEM)
	if err := ping(t, f.sslAddr, clientTLS(f.ca.PEM, nil)); err == nil {
		t.Error("client trusting the old CA: got an answer, want the new certificate refused")
	}
	client := issue(t, renewed, "bob", nil, time.Time{}, time.Time{})
	if err := ping(t, f.sslAddr, clientTLS(renewed.PEM, &client)); err != nil {
		t.Fatalf("after the renewal: %v", err)
	}
	if !strings.Contains(f.log.String(), "principal=\"User:CN=bob,O=Strata tests\"") {
		t.Errorf("log has no connection authenticated by the renewed truststore")
	}
}

package tlsconfig

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func issue(t *testing.T, ca *CA, cn string, hosts ...string) Issued {
	t.Helper()
	is, err := ca.Issue(CertRequest{Subject: pkix.Name{CommonName: cn}, Hosts: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func newCA(t *testing.T, cn string) *CA {
	t.Helper()
	ca, err := NewCA(cn, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// serveOnce accepts connections with cfg and answers each one's handshake
// with the principal of its client certificate.
func serveOnce(t *testing.T, st *Store) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", st.ServerConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tc := c.(*tls.Conn)
			if err := tc.Handshake(); err == nil {
				p, err := st.Principal(tc.ConnectionState())
				if err != nil {
					p = "error: " + err.Error()
				}
				io.WriteString(tc, p+"\n")
			}
			tc.Close()
		}
	}()
	return ln.Addr().String()
}

func write(t *testing.T, path string, data []byte) {
	t.Helper()
	// Written aside and renamed, as a certificate renewal does.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestReloadAndPrincipal serves mutual TLS from files, maps the client
// certificate to a principal, and picks up a new server certificate and a
// new truststore on the next connection after the files change.
func TestReloadAndPrincipal(t *testing.T) {
	dir := t.TempDir()
	ca1, ca2 := newCA(t, "ca one"), newCA(t, "ca two")
	keystore, truststore := filepath.Join(dir, "server.pem"), filepath.Join(dir, "ca.pem")
	write(t, keystore, issue(t, ca1, "server one", "127.0.0.1").Keystore())
	write(t, truststore, ca1.PEM)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := Load(Settings{KeystoreLocation: keystore, TruststoreLocation: truststore, ClientAuth: "required",
		Protocols: []string{"TLSv1.2", "TLSv1.3"}, PrincipalRules: "RULE:^CN=([^,]*)$/$1/L"}, true, logger)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveOnce(t, srv)

	dial := func(trust *CA, client Issued) (serverCN, reply string, err error) {
		st, err := Load(Settings{KeystoreKey: string(client.KeyPEM), KeystoreChain: string(client.CertPEM),
			TruststoreCerts: string(trust.PEM), Protocols: []string{"TLSv1.2", "TLSv1.3"}, VerifyHostname: true}, false, logger)
		if err != nil {
			t.Fatal(err)
		}
		c, err := tls.Dial("tcp", addr, st.ClientConfig(addr))
		if err != nil {
			return "", "", err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		return c.ConnectionState().PeerCertificates[0].Subject.CommonName, strings.TrimSpace(string(b)), err
	}
	cn, reply, err := dial(ca1, issue(t, ca1, "Alice"))
	if err != nil || cn != "server one" || reply != "User:alice" {
		t.Fatalf("first connection: got server %q, principal %q, %v; want server one, User:alice", cn, reply, err)
	}
	if _, reply, err := dial(ca1, issue(t, ca2, "Mallory")); err == nil && reply != "" {
		t.Fatalf("client of another CA: got principal %q, want refused", reply)
	}

	write(t, keystore, issue(t, ca2, "server two", "127.0.0.1").Keystore())
	write(t, truststore, append(append([]byte{}, ca1.PEM...), ca2.PEM...))
	cn, reply, err = dial(ca2, issue(t, ca2, "Bob"))
	if err != nil || cn != "server two" || reply != "User:bob" {
		t.Fatalf("after reload: got server %q, principal %q, %v; want server two, User:bob", cn, reply, err)
	}

	// A half-written file keeps the last good certificate.
	write(t, keystore, []byte("-----BEGIN PRIVATE KEY-----\n"))
	if cn, _, err := dial(ca2, issue(t, ca2, "Bob")); err != nil || cn != "server two" {
		t.Fatalf("after a bad file: got server %q, %v; want server two", cn, err)
	}
}

func TestLoadErrors(t *testing.T) {
	ca := newCA(t, "ca")
	is := issue(t, ca, "x")
	ok := []string{"TLSv1.2", "TLSv1.3"}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, s := range map[string]Settings{
		"no keystore":       {Protocols: ok},
		"key without chain": {KeystoreKey: string(is.KeyPEM), Protocols: ok},
		"both keystores":    {KeystoreKey: string(is.KeyPEM), KeystoreChain: string(is.CertPEM), KeystoreLocation: "/x", Protocols: ok},
		"missing file":      {KeystoreLocation: filepath.Join(t.TempDir(), "none.pem"), Protocols: ok},
		"old protocol":      {KeystoreKey: string(is.KeyPEM), KeystoreChain: string(is.CertPEM), Protocols: []string{"TLSv1.1"}},
		"empty trust":       {KeystoreKey: string(is.KeyPEM), KeystoreChain: string(is.CertPEM), TruststoreCerts: "junk", Protocols: ok},
		"bad rules":         {KeystoreKey: string(is.KeyPEM), KeystoreChain: string(is.CertPEM), PrincipalRules: "RULE:x", Protocols: ok},
		"encrypted key":     {KeystoreKey: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n", KeystoreChain: string(is.CertPEM), Protocols: ok},
	} {
		if _, err := Load(s, true, logger); err == nil {
			t.Errorf("%s: got no error", name)
		}
	}
}

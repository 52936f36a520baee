// Package tlsconfig builds the TLS configurations of Strata's listeners and
// of a node's connections to other nodes from Kafka's ssl.* settings (PEM
// keystores and truststores, files or inline), reloads certificate files
// when they change on disk, and maps a client certificate to a principal as
// Kafka's ssl.principal.mapping.rules do. crypto/tls does the cryptography.
package tlsconfig

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/stratalog/strata/internal/config"
)

// Settings are one listener's TLS settings, resolved from the broker's
// with the listener's listener.name.<name>. overrides.
type Settings struct {
	KeystoreLocation   string // PEM file with the key and the certificate chain
	KeystoreKey        string // inline PEM key, with KeystoreChain
	KeystoreChain      string
	TruststoreLocation string // PEM file of CA certificates
	TruststoreCerts    string // inline PEM CA certificates
	ClientAuth         string // required, requested or none
	Protocols          []string
	VerifyHostname     bool // ssl.endpoint.identification.algorithm=https
	PrincipalRules     string
	// AllowDNChanges and AllowSANChanges (ssl.allow.dn.changes,
	// ssl.allow.san.changes) let a dynamic keystore change give the
	// certificate another subject or other alternative names.
	AllowDNChanges, AllowSANChanges bool
}

// FromBroker resolves listener's TLS settings from b (listener "" for the
// plain settings).
func FromBroker(b config.Broker, listener string) Settings {
	v := func(name string) string { s, _ := b.ListenerValue(listener, name); return s }
	return Settings{
		KeystoreLocation:   v("ssl.keystore.location"),
		KeystoreKey:        v("ssl.keystore.key"),
		KeystoreChain:      v("ssl.keystore.certificate.chain"),
		TruststoreLocation: v("ssl.truststore.location"),
		TruststoreCerts:    v("ssl.truststore.certificates"),
		ClientAuth:         v("ssl.client.auth"),
		Protocols:          strings.Split(v("ssl.enabled.protocols"), ","),
		VerifyHostname:     v("ssl.endpoint.identification.algorithm") == "https",
		PrincipalRules:     v("ssl.principal.mapping.rules"),
		AllowDNChanges:     v("ssl.allow.dn.changes") == "true",
		AllowSANChanges:    v("ssl.allow.san.changes") == "true",
	}
}

// Store holds one set of TLS settings loaded: the keystore and truststore
// (reloaded when their files change), the protocol versions and the
// principal mapping. Update replaces the settings of a running listener.
type Store struct {
	needKey bool
	logger  *slog.Logger
	cur     atomic.Pointer[stores]
}

// stores is one set of settings loaded.
type stores struct {
	s        Settings
	keystore *pemSource[*tls.Certificate]
	trust    *pemSource[*x509.CertPool] // nil: the system's roots
	min, max uint16
	rules    Rules
}

// Load checks s and loads its stores. needKey asks for a keystore (a
// listener needs one; a client without one presents no certificate).
func Load(s Settings, needKey bool, logger *slog.Logger) (*Store, error) {
	st := &Store{needKey: needKey, logger: logger}
	if err := st.Update(s); err != nil {
		return nil, err
	}
	return st, nil
}

// Settings returns the settings in force.
func (st *Store) Settings() Settings { return st.cur.Load().s }

// Update loads s and, once it has loaded, makes it the settings of every
// later handshake; on an error the settings in force stay.
func (st *Store) Update(s Settings) error {
	loaded, err := load(s, st.needKey, st.logger)
	if err != nil {
		return err
	}
	st.cur.Store(loaded)
	return nil
}

// CheckKeystoreChange checks, as Kafka does before it reconfigures a
// listener's keystore, that next's certificate keeps the subject and the
// subject alternative names of cur's, unless next's settings allow them to
// change.
func CheckKeystoreChange(cur, next *Store) error {
	old, nw := cur.leaf(), next.leaf()
	if old == nil || nw == nil {
		return nil
	}
	s := next.Settings()
	if !s.AllowDNChanges && !bytes.Equal(old.RawSubject, nw.RawSubject) {
		return fmt.Errorf("Keystore DistinguishedName does not match: existing={DN=%s}, new={DN=%s}", old.Subject, nw.Subject)
	}
	if !s.AllowSANChanges && !slices.Equal(altNames(old), altNames(nw)) {
		return fmt.Errorf("Keystore SubjectAltNames do not match: existing={SAN=%v}, new={SAN=%v}", altNames(old), altNames(nw))
	}
	return nil
}

// leaf is the keystore's certificate, or nil without a keystore.
func (st *Store) leaf() *x509.Certificate {
	ks := st.cur.Load().keystore
	if ks == nil {
		return nil
	}
	cert := ks.get()
	if cert == nil || len(cert.Certificate) == 0 {
		return nil
	}
	if cert.Leaf != nil {
		return cert.Leaf
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// altNames lists a certificate's subject alternative names, sorted.
func altNames(c *x509.Certificate) []string {
	names := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		names = append(names, "IP:"+ip.String())
	}
	names = append(names, c.EmailAddresses...)
	for _, u := range c.URIs {
		names = append(names, u.String())
	}
	slices.Sort(names)
	return names
}

// Equal reports whether s and o are the same settings.
func (s Settings) Equal(o Settings) bool { return reflect.DeepEqual(s, o) }

func load(s Settings, needKey bool, logger *slog.Logger) (*stores, error) {
	st := &stores{s: s}
	var err error
	if st.min, st.max, err = versions(s.Protocols); err != nil {
		return nil, err
	}
	if st.rules, err = ParseRules(s.PrincipalRules); err != nil {
		return nil, err
	}
	switch {
	case s.KeystoreLocation != "" && (s.KeystoreKey != "" || s.KeystoreChain != ""):
		return nil, errors.New("ssl.keystore.location and ssl.keystore.key/ssl.keystore.certificate.chain are exclusive")
	case s.KeystoreLocation != "":
		st.keystore, err = newPEMSource("keystore", s.KeystoreLocation, nil, parseKeystore, logger)
	case s.KeystoreKey != "" || s.KeystoreChain != "":
		if s.KeystoreKey == "" || s.KeystoreChain == "" {
			return nil, errors.New("inline keystore: ssl.keystore.key and ssl.keystore.certificate.chain go together")
		}
		st.keystore, err = newPEMSource("keystore", "", []byte(s.KeystoreKey+"\n"+s.KeystoreChain), parseKeystore, logger)
	case needKey:
		return nil, errors.New("TLS needs a keystore: set ssl.keystore.location (or ssl.keystore.key and ssl.keystore.certificate.chain)")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case s.TruststoreLocation != "" && s.TruststoreCerts != "":
		return nil, errors.New("ssl.truststore.location and ssl.truststore.certificates are exclusive")
	case s.TruststoreLocation != "":
		st.trust, err = newPEMSource("truststore", s.TruststoreLocation, nil, parseTruststore, logger)
	case s.TruststoreCerts != "":
		st.trust, err = newPEMSource("truststore", "", []byte(s.TruststoreCerts), parseTruststore, logger)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// versions turns ssl.enabled.protocols into the lowest and highest version.
func versions(protocols []string) (lo, hi uint16, err error) {
	for _, p := range protocols {
		var v uint16
		switch strings.TrimSpace(p) {
		case "TLSv1.2":
			v = tls.VersionTLS12
		case "TLSv1.3":
			v = tls.VersionTLS13
		default:
			return 0, 0, fmt.Errorf("ssl.enabled.protocols: %q is not TLSv1.2 or TLSv1.3", p)
		}
		if lo == 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if lo == 0 {
		return 0, 0, errors.New("ssl.enabled.protocols is empty")
	}
	return lo, hi, nil
}

// parseKeystore reads a private key and its certificate chain, leaf first,
// from PEM blocks in any order.
func parseKeystore(data []byte) (*tls.Certificate, error) {
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if b.Type == "ENCRYPTED PRIVATE KEY" || b.Headers["Proc-Type"] != "" {
			return nil, errors.New("the private key is encrypted: Strata reads unencrypted PEM keys only (no ssl.key.password)")
		}
	}
	cert, err := tls.X509KeyPair(data, data)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

func parseTruststore(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("no PEM certificate found")
	}
	return pool, nil
}

func (st *stores) roots() *x509.CertPool {
	if st.trust == nil {
		return nil
	}
	return st.trust.get()
}

// ServerConfig is the TLS configuration of a listener: every handshake
// takes the stores as they are on disk then, so a renewed certificate or CA
// applies to the next connection.
func (s *Store) ServerConfig() *tls.Config {
	first := s.cur.Load()
	return &tls.Config{
		MinVersion: first.min,
		MaxVersion: first.max,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			st := s.cur.Load()
			auth := map[string]tls.ClientAuthType{
				"required":  tls.RequireAndVerifyClientCert,
				"requested": tls.VerifyClientCertIfGiven,
			}[st.s.ClientAuth] // none: NoClientCert
			return &tls.Config{
				MinVersion:   st.min,
				MaxVersion:   st.max,
				Certificates: []tls.Certificate{*st.keystore.get()},
				ClientAuth:   auth,
				ClientCAs:    st.roots(),
			}, nil
		},
	}
}

// ClientConfig is the TLS configuration for one connection to addr (a
// node-to-node connection): it trusts the truststore, presents the
// keystore's certificate when there is one, and checks the host name unless
// ssl.endpoint.identification.algorithm is empty.
func (s *Store) ClientConfig(addr string) *tls.Config {
	st := s.cur.Load()
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	c := &tls.Config{MinVersion: st.min, MaxVersion: st.max, RootCAs: st.roots(), ServerName: host}
	if st.keystore != nil {
		cert := st.keystore.get()
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	if !st.s.VerifyHostname {
		// The chain is still checked, only not against the host name.
		c.InsecureSkipVerify = true
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the server sent no certificate")
			}
			inter := x509.NewCertPool()
			for _, ic := range cs.PeerCertificates[1:] {
				inter.AddCert(ic)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: c.RootCAs, Intermediates: inter})
			return err
		}
	}
	return c
}

// Principal is the principal of a TLS connection, as Kafka's default
// principal builder gives it: User: and the client certificate's subject
// mapped by ssl.principal.mapping.rules; "" without a client certificate
// (the caller's anonymous principal). An error means no rule maps the
// subject: Kafka refuses the connection.
func (s *Store) Principal(cs tls.ConnectionState) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", nil
	}
	dn, err := FormatDN(cs.PeerCertificates[0].RawSubject)
	if err != nil {
		return "", err
	}
	name, err := s.cur.Load().rules.Map(dn)
	if err != nil {
		return "", err
	}
	return "User:" + name, nil
}

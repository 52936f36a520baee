package cli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/config"
)

// clientSecurityKeys are the client settings --command-config and -X take:
// Kafka's Java client names, and librdkafka's (kcat's) where they differ.
var clientSecurityKeys = []string{
	"enable.ssl.certificate.verification", "sasl.jaas.config", "sasl.mechanism", "sasl.mechanisms",
	"sasl.oauthbearer.token", "sasl.password", "sasl.username", "security.protocol", "ssl.ca.location",
	"ssl.certificate.location", "ssl.endpoint.identification.algorithm", "ssl.key.location",
	"ssl.keystore.location", "ssl.keystore.type", "ssl.truststore.location", "ssl.truststore.type",
}

// security returns the kgo options of the client settings given with
// --command-config and -X (which wins).
func (o *clientOptions) security() ([]kgo.Opt, error) {
	s := map[string]string{}
	if o.commandConfig != "" {
		var err error
		if s, err = readClientConfig(o.commandConfig); err != nil {
			return nil, fmt.Errorf("--command-config: %w", err)
		}
	}
	for _, kv := range o.clientSettings {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-X %q: want key=value", kv)
		}
		s[k] = v
	}
	return securityOpts(s)
}

// readClientConfig reads a Java properties file of client settings:
// key=value lines, # and ! comments.
func readClientConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("%s:%d: want key=value", path, n)
		}
		m[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return m, sc.Err()
}

// securityOpts turns client security settings into kgo options: TLS for
// SSL and SASL_SSL, a SASL mechanism for SASL_PLAINTEXT and SASL_SSL.
func securityOpts(s map[string]string) ([]kgo.Opt, error) {
	for k := range s {
		if !slices.Contains(clientSecurityKeys, k) {
			return nil, fmt.Errorf("unknown client setting %q (known: %s)", k, strings.Join(clientSecurityKeys, ", "))
		}
	}
	protocol := strings.ToUpper(s["security.protocol"])
	var opts []kgo.Opt
	switch protocol {
	case "", "PLAINTEXT", "SASL_PLAINTEXT":
	case "SSL", "SASL_SSL":
		cfg, err := clientTLS(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	default:
		return nil, fmt.Errorf("security.protocol %q: want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL", s["security.protocol"])
	}
	if strings.HasPrefix(protocol, "SASL_") {
		m, err := clientSASL(s)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// first returns the value of the first of keys that is set.
func first(s map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := s[k]; v != "" {
			return v
		}
	}
	return ""
}

// clientTLS builds the TLS config: the CA to trust (none: the system's),
// the client certificate for mutual TLS, and whether to check the
// broker's name.
func clientTLS(s map[string]string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if ca := first(s, "ssl.ca.location", "ssl.truststore.location"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", ca)
		}
	}
	certFile, keyFile := s["ssl.certificate.location"], s["ssl.key.location"]
	if ks := s["ssl.keystore.location"]; ks != "" && certFile == "" {
		certFile, keyFile = ks, ks // a PEM keystore holds both
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	switch {
	case s["enable.ssl.certificate.verification"] == "false":
		cfg.InsecureSkipVerify = true
	case s["ssl.endpoint.identification.algorithm"] == "" && hasKey(s, "ssl.endpoint.identification.algorithm"),
		s["ssl.endpoint.identification.algorithm"] == "none":
		// The chain is still checked, only not the broker's name.
		roots := cfg.RootCAs
		cfg.InsecureSkipVerify = true
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			opts := x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool()}
			for _, c := range cs.PeerCertificates[1:] {
				opts.Intermediates.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(opts)
			return err
		}
	}
	return cfg, nil
}

func hasKey(s map[string]string, k string) bool { _, ok := s[k]; return ok }

// clientSASL builds the SASL mechanism from sasl.mechanism and the
// credentials: sasl.username and sasl.password, or a Java client's
// sasl.jaas.config line.
func clientSASL(s map[string]string) (sasl.Mechanism, error) {
	user, pass := s["sasl.username"], s["sasl.password"]
	if j := s["sasl.jaas.config"]; j != "" {
		login, err := config.ParseJAAS(j)
		if err != nil {
			return nil, fmt.Errorf("sasl.jaas.config: %w", err)
		}
		user, pass = login.Options["username"], login.Options["password"]
	}
	mech := strings.ToUpper(first(s, "sasl.mechanism", "sasl.mechanisms"))
	if mech == "" {
		mech = "PLAIN"
	}
	if m, ok := passwordMechanism(mech, user, pass); ok {
		return m, nil
	}
	if mech == "OAUTHBEARER" {
		token := s["sasl.oauthbearer.token"]
		if token == "" {
			return nil, errors.New("sasl.mechanism OAUTHBEARER needs sasl.oauthbearer.token")
		}
		return oauth.Oauth(func(context.Context) (oauth.Auth, error) { return oauth.Auth{Token: token}, nil }), nil
	}
	return nil, fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER", mech)
}

// passwordMechanism is the client side of a mechanism that authenticates
// with a user name and password: PLAIN or SCRAM; ok is false for another.
func passwordMechanism(mech, user, pass string) (m sasl.Mechanism, ok bool) {
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), true
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), true
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), true
	}
	return nil, false
}

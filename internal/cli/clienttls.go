package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
)

// clientTLS are the root's TLS flags: a client command connects with TLS
// when any is given (Kafka's security.protocol=SSL), trusting --tls-ca (or
// the system's roots) and presenting --tls-cert/--tls-key for mutual TLS.
type clientTLS struct {
	enable        bool
	ca, cert, key string
}

func (c *clientTLS) register(pf *pflag.FlagSet) {
	pf.BoolVar(&c.enable, "tls", false, "connect with TLS (Kafka's security.protocol=SSL); implied by the other --tls-* flags (env STRATA_TLS)")
	pf.StringVar(&c.ca, "tls-ca", "", "PEM file of the CA certificates to trust (default: the system's) (env STRATA_TLS_CA)")
	pf.StringVar(&c.cert, "tls-cert", "", "PEM file with the client certificate for mutual TLS; may hold the key too (env STRATA_TLS_CERT)")
	pf.StringVar(&c.key, "tls-key", "", "PEM file with the client's private key (default: --tls-cert) (env STRATA_TLS_KEY)")
}

// config returns the TLS configuration the flags ask for, or nil for
// plaintext.
func (c *clientTLS) config() (*tls.Config, error) {
	if !c.enable && c.ca == "" && c.cert == "" && c.key == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.ca != "" {
		pem, err := os.ReadFile(c.ca)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca: no PEM certificate in %s", c.ca)
		}
	}
	switch {
	case c.cert != "":
		key := c.key
		if key == "" {
			key = c.cert
		}
		cert, err := tls.LoadX509KeyPair(c.cert, key)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case c.key != "":
		return nil, errors.New("--tls-key needs --tls-cert")
	}
	return cfg, nil
}

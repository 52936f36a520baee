package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/stratalog/strata/internal/broker"
)

// tlsHandshakeTimeout bounds a TLS handshake, so a client that connects
// and says nothing does not hold a connection's goroutines.
const tlsHandshakeTimeout = 10 * time.Second

// usesTLS reports whether a listener's security protocol runs over TLS.
func usesTLS(protocol string) bool { return protocol == "SSL" || protocol == "SASL_SSL" }

// startTLS runs the server side of the TLS handshake on c. On an SSL
// listener the client certificate names the principal (Kafka's
// User:ANONYMOUS without one); on SASL_SSL the SASL exchange does. An
// error closes the connection: the handshake failed (no or a bad client
// certificate, an old protocol version) or no principal mapping rule
// applies to the certificate.
func (s *Server) startTLS(ctx context.Context, c net.Conn, info *broker.ConnInfo, logger *slog.Logger) (*tls.Conn, error) {
	tc := tls.Server(c, s.tlsConfig)
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		return nil, fmt.Errorf("TLS handshake: %w", err)
	}
	if s.cfg.SecurityProtocol != "SSL" {
		return tc, nil
	}
	p, err := s.cfg.TLS.Principal(tc.ConnectionState())
	if err != nil {
		return nil, err
	}
	if p != "" {
		info.Principal = p
		logger.Debug("authenticated by TLS client certificate", "principal", p)
	}
	return tc, nil
}

// checkTLS checks that a listener has TLS settings exactly when its
// protocol needs them.
func checkTLS(cfg Config) error {
	switch {
	case usesTLS(cfg.SecurityProtocol) && cfg.TLS == nil:
		return fmt.Errorf("listener %s (%s) needs TLS settings: ssl.keystore.location or ssl.keystore.key", cfg.Name, cfg.SecurityProtocol)
	case !usesTLS(cfg.SecurityProtocol) && cfg.TLS != nil:
		return fmt.Errorf("listener %s is %s, which has no TLS", cfg.Name, cfg.SecurityProtocol)
	}
	return nil
}

package cli

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/tlsconfig"
)

// listenerTLS loads the TLS settings of listener l, with its
// listener.name. overrides; nil for a listener without TLS.
func listenerTLS(settings config.Broker, l config.Listener, logger *slog.Logger) (*tlsconfig.Store, error) {
	if l.SecurityProtocol != "SSL" && l.SecurityProtocol != "SASL_SSL" {
		return nil, nil
	}
	return tlsconfig.Load(tlsconfig.FromBroker(settings, l.Name), true, logger.With("listener", l.Name))
}

// interBrokerDial returns how this node dials other nodes' Kafka listeners
// (replica fetchers, forwarding to the controller, transaction markers):
// with TLS when the inter-broker listener has it, trusting its truststore
// and presenting its keystore's certificate, as Kafka's inter-broker
// clients use that listener's settings. dial is the plain dialer (nil: a
// net.Dialer); the result is dial itself for a listener without TLS.
func interBrokerDial(st *tlsconfig.Store, dial func(context.Context, string) (net.Conn, error)) func(context.Context, string) (net.Conn, error) {
	if st == nil {
		return dial
	}
	if dial == nil {
		var d net.Dialer
		dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := dial(ctx, addr)
		if err != nil {
			return nil, err
		}
		tc := tls.Client(c, st.ClientConfig(addr))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.Close()
			return nil, err
		}
		return tc, nil
	}
}

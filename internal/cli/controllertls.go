package cli

import (
	"log/slog"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/raft"
	"github.com/stratalog/strata/internal/tlsconfig"
)

// controllerTLS returns the TLS of the Raft connections between the
// controller quorum's members, nil when the controller listener is
// PLAINTEXT. As Kafka configures a controller listener, an SSL entry for it
// in listener.security.protocol.map (CONTROLLER:SSL) turns TLS on, with its
// listener.name.<name>.ssl.* settings over the plain ssl.* ones: the
// listener presents its keystore's certificate and, with
// ssl.client.auth=required, accepts only members with a certificate its
// truststore trusts; a member dialing another presents the same
// certificate and checks the other's. Every node needs it, broker-only
// ones too, as they dial the voters.
func controllerTLS(settings config.Broker, logger *slog.Logger) (*raft.TLS, error) {
	name, protocol, err := settings.ControllerListener()
	if err != nil || protocol == "PLAINTEXT" {
		return nil, err
	}
	st, err := tlsconfig.Load(tlsconfig.FromBroker(settings, name), true, logger.With("listener", name))
	if err != nil {
		return nil, err
	}
	return &raft.TLS{Server: st.ServerConfig(), Client: st.ClientConfig}, nil
}

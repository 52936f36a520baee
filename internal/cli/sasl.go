package cli

import (
	"strings"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/server"
)

// saslSettings returns what the SASL listeners of a node share: the
// mechanisms of sasl.enabled.mechanisms, checking passwords against lookup
// (the metadata log's SCRAM credentials) and sasl.plain.users.
func saslSettings(settings config.Broker, lookup auth.CredentialLookup) (*server.SASL, error) {
	cfg := &server.SASL{MaxReceiveSize: settings.SASLMaxReceiveSize(), MaxReauth: settings.ConnectionsMaxReauth()}
	for _, name := range settings.SASLMechanisms() {
		if m, ok := auth.ParseScramMechanism(name); ok {
			cfg.Mechanisms = append(cfg.Mechanisms, auth.NewScram(m, lookup))
			continue
		}
		// PLAIN: config.ParseBroker admits no other name.
		var list []string
		if raw := settings.SASLPlainUsers(); raw != "" {
			list = strings.Split(raw, ",")
		}
		users, err := auth.ParseUsers(list)
		if err != nil {
			return nil, err
		}
		cfg.Mechanisms = append(cfg.Mechanisms, auth.NewPlain(lookup, users))
	}
	return cfg, nil
}

// isSASL reports whether a listener of security protocol p authenticates
// with SASL.
func isSASL(p string) bool { return p == "SASL_PLAINTEXT" || p == "SASL_SSL" }

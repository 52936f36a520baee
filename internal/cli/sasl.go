package cli

import (
	"log/slog"
	"strings"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/server"
)

// saslSettings returns what the SASL listeners of a node share: the
// mechanisms of sasl.enabled.mechanisms, checking passwords against lookup
// (the metadata log's SCRAM credentials) and sasl.plain.users.
func saslSettings(settings config.Broker, lookup auth.CredentialLookup, logger *slog.Logger) (*server.SASL, error) {
	cfg := &server.SASL{MaxReceiveSize: settings.SASLMaxReceiveSize(), MaxReauth: settings.ConnectionsMaxReauth(),
		FailedAuthDelay: settings.FailedAuthenticationDelay()}
	for _, name := range settings.SASLMechanisms() {
		if m, ok := auth.ParseScramMechanism(name); ok {
			cfg.Mechanisms = append(cfg.Mechanisms, auth.NewScram(m, lookup))
			continue
		}
		if name == "OAUTHBEARER" {
			m, err := oauthBearer(settings, logger)
			if err != nil {
				return nil, err
			}
			cfg.Mechanisms = append(cfg.Mechanisms, m)
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

// oauthBearer builds the OAUTHBEARER mechanism from its sasl.oauthbearer.*
// settings; it fetches the JWKS once, so a wrong URL stops the start.
func oauthBearer(settings config.Broker, logger *slog.Logger) (auth.Mechanism, error) {
	values := map[string]string{}
	for _, name := range auth.OAuthBearerSettings {
		if v, ok := settings.Value(name); ok {
			values[name] = v
		}
	}
	cfg, err := auth.ParseOAuthBearerConfig(values)
	if err != nil {
		return nil, err
	}
	return auth.NewOAuthBearer(cfg, logger.With("component", "oauthbearer"))
}

// isSASL reports whether a listener of security protocol p authenticates
// with SASL.
func isSASL(p string) bool { return p == "SASL_PLAINTEXT" || p == "SASL_SSL" }

package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
)

// The node's listeners live above the broker (internal/cli), which applies
// their dynamic settings: it reads them here, is told when they may have
// changed, and registers its listeners anew when they did. The broker
// checks a change of them before storing it through Config.CheckSettings.

// Settings returns this node's broker settings in force (the command
// line's with the dynamic ones of the metadata log over them).
func (b *Broker) Settings() config.Broker { return b.settings() }

// SettingsChanged returns a channel closed at the next change of the
// metadata image, which may have changed the settings in force.
func (b *Broker) SettingsChanged() <-chan struct{} { return b.imageChanged.wait() }

// UpdateListeners registers this process again with the endpoints of its
// listeners now (nil for a single listener serving every name), so every
// node's Metadata answers give them; the broker epoch stays. The
// inter-broker listener, the registration's address, does not change.
func (b *Broker) UpdateListeners(ctx context.Context, eps []metadata.Endpoint) error {
	return b.retry(ctx, "register the listeners", func() error {
		_, err := b.ctrl.RegisterBroker(ctx, metadata.RegisterBroker{
			ID: b.cfg.NodeID, Host: b.host, Port: b.port, Rack: b.cfg.Settings.BrokerRack(), Incarnation: b.incarnation,
			Listeners: eps,
		})
		return err
	})
}

// checkListenerSettings runs Config.CheckSettings on a change of this
// node's own dynamic settings to perBroker: a refusal is INVALID_REQUEST,
// as Kafka answers a reconfiguration that fails ("Invalid dynamic
// configuration").
func (b *Broker) checkListenerSettings(perBroker map[string]string) error {
	if b.cfg.CheckSettings == nil {
		return nil
	}
	cur := b.settings()
	next := b.cfg.Settings.WithDynamic(b.store.Current().BrokerConfigs(metadata.ClusterDefault), perBroker)
	err := b.cfg.CheckSettings(cur, next)
	if err == nil || errors.Is(err, kerr.InvalidRequest) {
		return err
	}
	return apiErrorf(kerr.InvalidRequest, "Invalid dynamic configuration: %v", err)
}

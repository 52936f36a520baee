package cli

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/server"
	"github.com/stratalog/strata/internal/tlsconfig"
)

// Dynamic listener settings (Kafka's DynamicListenerConfig, its SSL
// reconfiguration and SocketServer's connection limits): the metadata log
// holds them, the broker checks a change before storing it (checkSettings)
// and every node applies its own as they change (reconfigure): listeners
// added start serving, listeners removed stop and close their connections,
// a listener's changed keystore or truststore takes the next handshake, and
// the connection limits change for the next connections. The node
// registers its listeners again when their addresses changed, so Metadata
// answers give them.

// listenerBroker is what applying dynamic listener settings needs of the
// broker.
type listenerBroker interface {
	Settings() config.Broker
	SettingsChanged() <-chan struct{}
	UpdateListeners(ctx context.Context, eps []metadata.Endpoint) error
}

// checkSettings checks a change of this node's dynamic settings from cur
// to next (see config.CheckListenerChange), and that the TLS stores of
// every listener whose TLS settings change, or that is new, load, as Kafka
// builds a listener's SSL engine before it stores the change; and the SASL
// settings of a new SASL listener.
func (s *listenerSet) checkSettings(cur, next config.Broker) error {
	if err := config.CheckListenerChange(cur, next, s.opts.Listen, s.opts.Advertise); err != nil {
		return err
	}
	old, _, _ := cur.Listeners(s.opts.Listen, s.opts.Advertise)
	ls, _, _ := next.Listeners(s.opts.Listen, s.opts.Advertise)
	for _, l := range ls {
		stays := slices.Contains(old, l)
		if stays && tlsconfig.FromBroker(cur, l.Name).Equal(tlsconfig.FromBroker(next, l.Name)) {
			continue
		}
		st, err := listenerTLS(next, l, s.logger)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l.Name, err)
		}
		if cur := s.storeOf(l.Name); stays && cur != nil && st != nil {
			if err := tlsconfig.CheckKeystoreChange(cur, st); err != nil {
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
		if !stays && isSASL(l.SecurityProtocol) {
			if _, err := saslSettings(next, s.creds, s.logger); err != nil {
				return fmt.Errorf("listener %s: %w", l.Name, err)
			}
		}
	}
	return nil
}

// reconfigure applies b's settings now and at every change until ctx is
// done: the metadata log may hold dynamic settings the command line lacks.
func (s *listenerSet) reconfigure(ctx context.Context, b listenerBroker) {
	registered, err := s.endpoints()
	for ctx.Err() == nil {
		changed := b.SettingsChanged()
		settings := b.Settings()
		s.applyLimits(settings)
		s.applyListeners(settings)
		s.applyTLS(settings)
		if eps, eerr := s.endpoints(); eerr != nil {
			s.logger.Error("cannot register the listeners", "err", eerr)
		} else if err != nil || !slices.Equal(eps, registered) {
			if err = b.UpdateListeners(ctx, eps); err != nil {
				s.logger.Error("cannot register the listeners", "err", err)
			} else {
				registered = eps
				s.logger.Info("registered the listeners", "listeners", eps)
			}
		}
		select {
		case <-ctx.Done():
		case <-changed:
		}
	}
}

// applyLimits sets the connection limits when they changed.
func (s *listenerSet) applyLimits(settings config.Broker) {
	lim := connLimits(settings)
	if lim.MaxConnections == s.lastLim.MaxConnections && lim.MaxPerIP == s.lastLim.MaxPerIP &&
		maps.Equal(lim.PerIPOverrides, s.lastLim.PerIPOverrides) {
		return
	}
	s.lastLim = lim
	s.limits.SetCounts(lim)
	s.logger.Info("connection limits changed", "max.connections", lim.MaxConnections,
		"max.connections.per.ip", lim.MaxPerIP, "max.connections.per.ip.overrides", lim.PerIPOverrides)
}

// applyListeners stops the listeners settings no longer has, or has with
// another address or protocol, and starts those it adds. The inter-broker
// listener stays as it is (checkSettings refuses to change it). A listener
// that cannot start is logged and left out.
func (s *listenerSet) applyListeners(settings config.Broker) {
	want, _, err := settings.Listeners(s.opts.Listen, s.opts.Advertise)
	if err != nil {
		s.logger.Error("cannot apply the dynamic listener settings", "err", err)
		return
	}
	byName := make(map[string]config.Listener, len(want))
	for _, l := range want {
		byName[l.Name] = l
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.named = settings.IsSet("listeners")
	for i := len(s.listeners) - 1; i >= 0; i-- {
		l := s.listeners[i]
		w, ok := byName[l.Name]
		switch {
		case l.Name == s.inter:
			continue
		case ok && w.Bind == l.Bind && w.SecurityProtocol == l.SecurityProtocol:
			s.listeners[i].Advertised = w.Advertised
			continue
		}
		s.remove(i)
	}
	var sasl *server.SASL
	for _, l := range want {
		if slices.ContainsFunc(s.listeners, func(o config.Listener) bool { return o.Name == l.Name }) {
			continue
		}
		// As Kafka builds a new listener's channel with the settings in
		// force, a new SASL listener takes sasl.enabled.mechanisms now.
		if isSASL(l.SecurityProtocol) && sasl == nil {
			if sasl, err = saslSettings(settings, s.creds, s.logger); err != nil {
				s.logger.Error("cannot start listener", "listener", l.Name, "err", err)
				continue
			}
		}
		if err := s.add(settings, l, sasl); err != nil {
			s.logger.Error("cannot start listener", "listener", l.Name, "err", err)
			continue
		}
		s.logger.Info("listener started", "listener", l.Name, "addr", s.servers[len(s.servers)-1].Addr().String(),
			"protocol", l.SecurityProtocol)
	}
}

// remove stops listener i, closing its connections. The caller holds mu.
func (s *listenerSet) remove(i int) {
	if stop := s.stops[i]; stop != nil {
		stop()
	} else {
		s.servers[i].Close()
	}
	s.logger.Info("listener stopped", "listener", s.listeners[i].Name)
	s.listeners = slices.Delete(s.listeners, i, i+1)
	s.servers = slices.Delete(s.servers, i, i+1)
	s.stores = slices.Delete(s.stores, i, i+1)
	s.stops = slices.Delete(s.stops, i, i+1)
}

// applyTLS gives each TLS listener its TLS settings in force when they
// changed; the next handshake uses them. A store that no longer loads
// (its file went away since the change was checked) keeps the one in use.
// storeOf is listener name's TLS store in use, or nil.
func (s *listenerSet) storeOf(name string) *tlsconfig.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.listeners {
		if l.Name == name {
			return s.stores[i]
		}
	}
	return nil
}

func (s *listenerSet) applyTLS(settings config.Broker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, st := range s.stores {
		if st == nil {
			continue
		}
		name := s.listeners[i].Name
		want := tlsconfig.FromBroker(settings, name)
		if want.Equal(st.Settings()) {
			continue
		}
		if err := st.Update(want); err != nil {
			s.logger.Error("cannot apply the listener's new TLS settings; keeping those in use", "listener", name, "err", err)
			continue
		}
		s.logger.Info("listener TLS settings changed", "listener", name)
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/server"
	"github.com/stratalog/strata/internal/tlsconfig"
	"github.com/stratalog/strata/internal/wire"
)

// listenerSet is a node's Kafka listeners: one server each.
type listenerSet struct {
	listeners []config.Listener
	servers   []*server.Server
	inter     string // the inter-broker listener's name
	// interTLS is the inter-broker listener's TLS, which this node's
	// connections to other nodes use too; nil without TLS.
	interTLS *tlsconfig.Store
}

// listen binds every listener; on an error it closes those it bound.
func listen(settings config.Broker, opts ServeOptions, logger *slog.Logger, metrics *server.Metrics, creds auth.CredentialLookup) (*listenerSet, error) {
	ls, inter, err := settings.Listeners(opts.Listen, opts.Advertise)
	if err != nil {
		return nil, err
	}
	var sasl *server.SASL
	if slices.ContainsFunc(ls, func(l config.Listener) bool { return isSASL(l.SecurityProtocol) }) {
		if sasl, err = saslSettings(settings, creds, logger); err != nil {
			return nil, err
		}
	}
	set := &listenerSet{listeners: ls, inter: inter}
	limits := server.NewConnLimits(server.Limits{
		MaxConnections: settings.MaxConnections(), MaxPerIP: settings.MaxConnectionsPerIP(),
		PerIPOverrides: settings.MaxConnectionsPerIPOverrides(), Idle: settings.ConnectionsMaxIdle(),
	})
	badInput := server.NewLogLimiter(logger.With("component", "server"), server.BadInputInterval, server.BadInputBurst)
	for _, l := range ls {
		st, err := listenerTLS(settings, l, logger)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("listener %s: %w", l.Name, err), set.close())
		}
		if l.Name == inter {
			set.interTLS = st
		}
		var lsasl *server.SASL
		if isSASL(l.SecurityProtocol) {
			lsasl = sasl
		}
		srv := server.New(server.Config{
			SASL:             lsasl,
			Listen:           l.Bind,
			Name:             l.Name,
			SecurityProtocol: l.SecurityProtocol,
			TLS:              st,
			MaxRequestBytes:  settings.SocketRequestMaxBytes(),
			Logger:           logger.With("component", "server", "listener", l.Name),
			Metrics:          metrics,
			Limits:           limits,
			BadInput:         badInput,
		}, nil)
		if err := srv.Listen(); err != nil {
			return nil, errors.Join(err, set.close())
		}
		set.servers = append(set.servers, srv)
	}
	return set, nil
}

// advertised returns the address clients are told for listener i: its
// advertised.listeners entry, else the address it bound.
func (s *listenerSet) advertised(i int) string {
	if a := s.listeners[i].Advertised; a != "" {
		return a
	}
	return s.servers[i].Addr().String()
}

// interBroker returns the inter-broker listener's advertised address.
func (s *listenerSet) interBroker() string {
	for i, l := range s.listeners {
		if l.Name == s.inter {
			return s.advertised(i)
		}
	}
	return s.advertised(0)
}

// endpoints returns the listeners as the node registers them: nil for a
// node with one, which serves every listener name at its address.
func (s *listenerSet) endpoints() ([]metadata.Endpoint, error) {
	if len(s.listeners) == 1 {
		return nil, nil
	}
	eps := make([]metadata.Endpoint, len(s.listeners))
	for i, l := range s.listeners {
		host, portStr, err := net.SplitHostPort(s.advertised(i))
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portStr, 10, 16)
		if err != nil {
			return nil, err
		}
		eps[i] = metadata.Endpoint{Name: l.Name, Host: host, Port: int32(port)}
	}
	return eps, nil
}

// addrs returns each listener's bound address by name.
func (s *listenerSet) addrs() map[string]net.Addr {
	m := make(map[string]net.Addr, len(s.servers))
	for i, srv := range s.servers {
		m[s.listeners[i].Name] = srv.Addr()
	}
	return m
}

func (s *listenerSet) setDispatcher(d *wire.Dispatcher) {
	for _, srv := range s.servers {
		srv.SetDispatcher(d)
	}
}

// run serves every listener until ctx is done.
func (s *listenerSet) run(ctx context.Context) error {
	errs := make(chan error, len(s.servers))
	for _, srv := range s.servers {
		go func() { errs <- srv.Run(ctx) }()
	}
	var err error
	for range s.servers {
		err = errors.Join(err, <-errs)
	}
	return err
}

// close closes the listeners of servers that will not run.
func (s *listenerSet) close() error {
	var err error
	for _, srv := range s.servers {
		err = errors.Join(err, srv.Close())
	}
	return err
}

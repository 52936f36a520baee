package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/server"
	"github.com/stratalog/strata/internal/tlsconfig"
	"github.com/stratalog/strata/internal/wire"
)

// listenerSet is a node's Kafka listeners: one server each. Listeners are
// added, removed and given new TLS stores at runtime (dynlisteners.go).
type listenerSet struct {
	// What a listener added at runtime is built with.
	opts     ServeOptions
	logger   *slog.Logger
	metrics  *server.Metrics
	creds    auth.CredentialLookup
	limits   *server.ConnLimits
	badInput *server.BadInputLog
	inter    string // the inter-broker listener's name, fixed
	// interTLS is the inter-broker listener's TLS, which this node's
	// connections to other nodes use too; nil without TLS.
	interTLS *tlsconfig.Store

	mu        sync.Mutex
	listeners []config.Listener
	servers   []*server.Server
	stores    []*tlsconfig.Store   // each listener's TLS; nil without
	stops     []context.CancelFunc // each running server's; nil before run
	// named: the listeners come from the listeners setting, not --listen.
	named    bool
	dispatch *wire.Dispatcher
	runCtx   context.Context // run's; nil before run
	running  sync.WaitGroup  // the servers' Run calls
	errs     error           // what the servers' Run calls returned
	lastLim  server.Limits   // the connection limits applied last
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
	set := &listenerSet{opts: opts, logger: logger, metrics: metrics, creds: creds, inter: inter, named: settings.IsSet("listeners"),
		lastLim:  connLimits(settings),
		badInput: server.NewBadInputLog(logger.With("component", "server"))}
	set.limits = server.NewConnLimits(set.lastLim)
	for _, l := range ls {
		if err := set.add(settings, l, sasl); err != nil {
			return nil, errors.Join(err, set.close())
		}
	}
	return set, nil
}

// connLimits are the connection limits of settings.
func connLimits(settings config.Broker) server.Limits {
	return server.Limits{
		MaxConnections: settings.MaxConnections(), MaxPerIP: settings.MaxConnectionsPerIP(),
		PerIPOverrides: settings.MaxConnectionsPerIPOverrides(), Idle: settings.ConnectionsMaxIdle(),
	}
}

// add binds listener l, with sasl for a SASL listener, and starts serving
// it when the set runs. The caller holds mu or owns the set alone.
func (s *listenerSet) add(settings config.Broker, l config.Listener, sasl *server.SASL) error {
	st, err := listenerTLS(settings, l, s.logger)
	if err != nil {
		return fmt.Errorf("listener %s: %w", l.Name, err)
	}
	if !isSASL(l.SecurityProtocol) {
		sasl = nil
	}
	srv := server.New(server.Config{
		SASL:             sasl,
		Listen:           l.Bind,
		Name:             l.Name,
		SecurityProtocol: l.SecurityProtocol,
		TLS:              st,
		MaxRequestBytes:  settings.SocketRequestMaxBytes(),
		Logger:           s.logger.With("component", "server", "listener", l.Name),
		Metrics:          s.metrics,
		Limits:           s.limits,
		BadInput:         s.badInput,
	}, s.dispatch)
	if err := srv.Listen(); err != nil {
		return err
	}
	if l.Name == s.inter {
		s.interTLS = st
	}
	s.listeners = append(s.listeners, l)
	s.servers = append(s.servers, srv)
	s.stores = append(s.stores, st)
	s.stops = append(s.stops, nil)
	if s.runCtx != nil {
		s.start(len(s.servers) - 1)
	}
	return nil
}

// start runs server i until the set stops or the listener is removed.
// The caller holds mu.
func (s *listenerSet) start(i int) {
	ctx, cancel := context.WithCancel(s.runCtx)
	s.stops[i] = cancel
	srv := s.servers[i]
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		if err := srv.Run(ctx); err != nil {
			s.mu.Lock()
			s.errs = errors.Join(s.errs, err)
			s.mu.Unlock()
		}
	}()
}

// advertised returns the address clients are told for listener i: its
// advertised.listeners entry, else the address it bound. The caller holds
// mu.
func (s *listenerSet) advertised(i int) string {
	if a := s.listeners[i].Advertised; a != "" {
		return a
	}
	return s.servers[i].Addr().String()
}

// interBroker returns the inter-broker listener's advertised address.
func (s *listenerSet) interBroker() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, l := range s.listeners {
		if l.Name == s.inter {
			return s.advertised(i)
		}
	}
	return s.advertised(0)
}

// endpoints returns the listeners as the node registers them: nil for a
// node with the one of --listen, which serves every listener name at its
// address. A node whose listeners setting names one lists it, so that
// other nodes leave it out of their answers on other names.
func (s *listenerSet) endpoints() ([]metadata.Endpoint, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.listeners) == 1 && !s.named {
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
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]net.Addr, len(s.servers))
	for i, srv := range s.servers {
		m[s.listeners[i].Name] = srv.Addr()
	}
	return m
}

func (s *listenerSet) setDispatcher(d *wire.Dispatcher) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dispatch = d
	for _, srv := range s.servers {
		srv.SetDispatcher(d)
	}
}

// run serves every listener, and applies the dynamic listener settings of
// b as they change, until ctx is done.
func (s *listenerSet) run(ctx context.Context, b listenerBroker) error {
	s.mu.Lock()
	s.runCtx = ctx
	for i := range s.servers {
		s.start(i)
	}
	s.mu.Unlock()
	s.reconfigure(ctx, b)
	// reconfigure has returned: no server starts after this wait.
	s.running.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errs
}

// close closes the listeners of servers that will not run.
func (s *listenerSet) close() error {
	var err error
	for _, srv := range s.servers {
		err = errors.Join(err, srv.Close())
	}
	return err
}

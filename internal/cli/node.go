package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/httpapi"
	"github.com/stratalog/strata/internal/server"
	"github.com/stratalog/strata/internal/wire"
)

// Node is a running Strata node: the broker behind its Kafka listeners and
// its admin HTTP listener.
type Node struct {
	// KafkaAddr is the address the first Kafka listener bound; Listeners
	// has every one's by name.
	KafkaAddr net.Addr
	Listeners map[string]net.Addr
	AdminAddr net.Addr
	set       *listenerSet
	done      chan error
	started   time.Time
}

// StartNode starts a node and returns once it serves Kafka requests, or
// with the error that kept it from starting. The node runs until ctx is
// done; Wait returns after it has shut down.
func StartNode(ctx context.Context, opts ServeOptions, logger *slog.Logger) (*Node, error) {
	started := time.Now()
	settings, err := config.ParseBroker(opts.Settings)
	if err != nil {
		return nil, err
	}
	dataDir, err := filepath.Abs(opts.DataDir)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// The SASL listeners check credentials in the metadata image of the
	// broker made below, before any connection is accepted.
	var b *broker.Broker
	creds := func(user string, m auth.ScramMechanism) (auth.ScramCredential, bool) {
		return b.ScramCredential(user, m)
	}
	srv, err := listen(settings, opts, logger, server.NewMetrics(reg), creds)
	if err != nil {
		return nil, err
	}
	advertise := srv.interBroker()
	endpoints, err := srv.endpoints()
	if err != nil {
		return nil, errors.Join(err, srv.close())
	}
	dial, err := srv.nodeDial(settings, opts.Dial)
	if err != nil {
		return nil, errors.Join(err, srv.close())
	}
	ctlTLS, err := controllerTLS(settings, logger)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("controller listener: %w", err), srv.close())
	}
	var voters map[int32]string
	if len(opts.ControllerVoters) > 0 {
		voters = make(map[int32]string, len(opts.ControllerVoters))
		for _, v := range opts.ControllerVoters {
			voters[v.ID] = v.Addr
		}
	}
	b, err = broker.New(broker.Config{
		NodeID:              opts.NodeID,
		DataDir:             dataDir,
		Advertise:           advertise,
		InterBrokerListener: srv.inter,
		Listeners:           endpoints,
		ControllerListen:    opts.ControllerListen,
		ControllerTLS:       ctlTLS,
		Voters:              voters,
		Settings:            settings,
		CheckSettings:       srv.checkSettings,
		Logger:              logger,
		Registry:            reg,
		Faults:              opts.Faults,
		Dial:                dial,
	})
	if err != nil {
		return nil, errors.Join(err, srv.close())
	}
	srv.setDispatcher(wire.NewDispatcher(b, logger.With("component", "wire"), server.NewRequests(reg)))
	admin := httpapi.New(opts.Admin, reg, func() bool {
		select {
		case <-b.Ready():
			return true
		default:
			return false
		}
	}, logger.With("component", "admin"))
	if err := admin.Listen(); err != nil {
		return nil, errors.Join(err, srv.close())
	}

	// The node's parts run on their own context, cancelled only after the
	// controlled shutdown that ctx's end starts: the listener keeps
	// answering meanwhile, so clients learn of the new leaders.
	stopping := ctx
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-stopping.Done():
			b.ControlledShutdown(ctx)
		case <-ctx.Done():
		}
		cancel()
	}()
	n := &Node{KafkaAddr: srv.servers[0].Addr(), Listeners: srv.addrs(), set: srv, AdminAddr: admin.Addr(), done: make(chan error, 1), started: started}
	brokerDone := make(chan error, 1)
	go func() { brokerDone <- b.Run(ctx) }()
	adminDone := make(chan error, 1)
	go func() { adminDone <- admin.Run(ctx) }()
	serverDone := make(chan error, 1)

	select {
	case <-b.Ready():
	case err := <-brokerDone:
		cancel()
		<-adminDone
		srv.close()
		if err == nil {
			err = errors.New("broker stopped before it was ready")
		}
		return nil, err
	}
	go func() { serverDone <- srv.run(ctx, b) }()
	go func() {
		// The listener stops first, then the broker closes its logs.
		serr := <-serverDone
		cancel()
		berr := <-brokerDone
		aerr := <-adminDone
		n.done <- errors.Join(serr, berr, aerr)
	}()
	logger.Info("strata ready", "kafka", n.KafkaAddr.String(), "advertised", advertise, "admin", n.AdminAddr.String(),
		"data", dataDir, "node", opts.NodeID, "startup", time.Since(started).Round(time.Microsecond).String())
	return n, nil
}

// ListenerAddrs returns the address each Kafka listener bound, by name,
// as they are now: listeners come and go with the dynamic listeners
// setting.
func (n *Node) ListenerAddrs() map[string]net.Addr { return n.set.addrs() }

// Wait blocks until the node has shut down and returns why it stopped.
func (n *Node) Wait() error { return <-n.done }

// runNode serves until ctx is done (the serve command's body).
func runNode(ctx context.Context, opts ServeOptions, logger *slog.Logger) error {
	n, err := StartNode(ctx, opts, logger)
	if err != nil {
		return fmt.Errorf("start: %w", err)
	}
	err = n.Wait()
	if err == nil {
		logger.Info("strata stopped cleanly")
	}
	return err
}

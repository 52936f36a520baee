// Package broker serves the Kafka APIs of one node. Each API lives in its own
// file, which registers its version range in an init function; handlers check
// their input, then call the subsystems below (partition, controller, txn).
// The broker holds no storage logic of its own.
package broker

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	etcdraft "go.etcd.io/raft/v3"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/controller"
	"github.com/stratalog/strata/internal/group"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/partition"
	"github.com/stratalog/strata/internal/raft"
	"github.com/stratalog/strata/internal/ratelog"
	"github.com/stratalog/strata/internal/txn"
)

// Files in the data directory that belong to the broker itself.
const (
	// cleanShutdownFile exists while the broker is stopped after a clean
	// shutdown; start-up removes it, so a crash leaves none and the next
	// start recovers every log.
	cleanShutdownFile = ".strata_cleanshutdown"
	// metadataDir holds the metadata Raft log, named as Kafka's KRaft names it.
	metadataDir = "__cluster_metadata-0"
	// metaPropertiesFile records which node and cluster the data directory
	// belongs to, as Kafka's meta.properties does.
	metaPropertiesFile = "meta.properties"
)

// Config configures a Broker.
type Config struct {
	NodeID  int32
	DataDir string
	// Advertise is the host:port of the listener other nodes connect to,
	// named InterBrokerListener (PLAINTEXT when empty); Listeners are
	// every listener clients are told of, when there is more than one.
	Advertise           string
	InterBrokerListener string
	Listeners           []metadata.Endpoint
	// ControllerListen is the host:port of this node's Raft listener (""
	// for none) and Voters the controller quorum, node id to Raft address;
	// nil Voters is a one-node cluster of this node alone.
	ControllerListen string
	Voters           map[int32]string
	Settings         config.Broker
	// CheckSettings, when set, checks a change of this node's own dynamic
	// settings from the settings in force cur to next before it is
	// stored: the listeners and their TLS stores (see dynamic_listeners.go).
	CheckSettings func(cur, next config.Broker) error
	Logger        *slog.Logger
	Registry      prometheus.Registerer // nil: metrics are not registered
	// Faults and Dial are for tests: faults between the Raft members, and
	// the dialer of the replica fetchers (nil: the network's own).
	Faults raft.Faults
	Dial   func(ctx context.Context, addr string) (net.Conn, error)
	// ControllerTLS secures the Raft connections (nil: plaintext).
	ControllerTLS *raft.TLS
}

// Broker is one node: the Kafka API handlers over this node's partitions and
// its view of the metadata log.
type Broker struct {
	cfg         Config
	logger      *slog.Logger
	host        string
	port        int32
	clean       bool // the previous shutdown was clean
	incarnation [16]byte
	epoch       atomic.Int64 // the broker epoch of this process's registration, -1 before
	node        *raft.Node
	net         *raft.Network // nil for a one-node cluster
	voters      []int32
	store       *metadata.Store
	ctrl        *controller.Controller
	live        *controller.Liveness
	beat        chan struct{} // asks for a heartbeat now
	pids        *txn.IDAllocator
	groups      *group.Coordinator
	loads       *groupLoads
	txns        *txnDriver
	verifier    *txnVerifier
	parts       *partition.Manager
	sessions    *fetchSessions
	quotas      *clientQuotas
	metrics     *metrics
	ready       chan struct{}
	// imageChanged is notified after every change of the metadata image.
	imageChanged *signal
	// wantShutdown is set by ControlledShutdown: heartbeats ask the
	// controller to fence this node.
	wantShutdown atomic.Bool
	// lastHint is when (Unix nanoseconds) an answer last named a
	// partition's new leader to a client (see leaderHints).
	lastHint atomic.Int64
	// rackAwareReads is replica.selector.class's choice (KIP-392), read
	// once at start: the setting is not dynamic.
	rackAwareReads atomic.Bool
	// authz decides requests under authorizer.class.name; nil allows
	// everything (see authorize.go).
	authz atomic.Pointer[auth.Authorizer]
	// denials logs what the authorizer denies, rate-limited.
	denials *ratelog.Limiter
}

// New opens the data directory and the metadata log, and binds the Raft
// listener. It starts no goroutines; Run does.
func New(cfg Config) (*Broker, error) {
	if cfg.InterBrokerListener == "" {
		cfg.InterBrokerListener = "PLAINTEXT"
	}
	host, portStr, err := net.SplitHostPort(cfg.Advertise)
	if err != nil {
		return nil, fmt.Errorf("advertised address %q: %w", cfg.Advertise, err)
	}
	port, err := strconv.ParseInt(portStr, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("advertised port %q: %w", portStr, err)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if err := checkMetaProperties(cfg.DataDir, cfg.NodeID); err != nil {
		return nil, err
	}
	marker := filepath.Join(cfg.DataDir, cleanShutdownFile)
	clean := fileExists(marker)
	if clean {
		if err := os.Remove(marker); err != nil {
			return nil, fmt.Errorf("remove clean shutdown marker: %w", err)
		}
	}
	b := &Broker{
		cfg:      cfg,
		logger:   cfg.Logger,
		host:     host,
		port:     int32(port),
		clean:    clean,
		store:    metadata.NewStore(),
		live:     controller.NewLiveness(nil),
		beat:     make(chan struct{}, 1),
		sessions: newFetchSessions(1000),
		quotas:   newClientQuotas(cfg.Settings.QuotaWindow(), cfg.Settings.QuotaSamples(), time.Now),
		metrics:  newMetrics(cfg.Registry),
		ready:    make(chan struct{}),

		imageChanged: newSignal(),
	}
	// Denials are logged at info, as Kafka's authorizer logger does, but a
	// client retrying a denied request cannot flood the log.
	b.denials = ratelog.New(ratelog.Config{Logger: b.logger, Level: slog.LevelInfo, Interval: 10 * time.Second, Burst: 20,
		Summary: "requests denied: further denials not logged", KeyName: "principal"})
	_, _ = rand.Read(b.incarnation[:]) // crypto/rand.Read never fails
	b.epoch.Store(-1)
	b.rackAwareReads.Store(cfg.Settings.RackAwareReads())
	s := cfg.Settings
	peers := []uint64{uint64(cfg.NodeID)}
	b.voters = []int32{cfg.NodeID}
	if cfg.Voters != nil {
		peers, b.voters = nil, nil
		addrs := map[uint64]string{}
		for id, addr := range cfg.Voters {
			peers = append(peers, uint64(id))
			b.voters = append(b.voters, id)
			addrs[uint64(id)] = addr
		}
		slices.Sort(b.voters)
		b.net = raft.NewNetwork(raft.NetworkConfig{
			ID:          uint64(cfg.NodeID),
			Incarnation: b.incarnation,
			Listen:      cfg.ControllerListen,
			Voters:      addrs,
			ClusterID:   func() string { return b.store.Current().ClusterID },
			OnMessage:   b.onControllerMessage,
			Faults:      cfg.Faults,
			LiveWindow:  s.BrokerSessionTimeout(),
			TLS:         cfg.ControllerTLS,
			Logger:      cfg.Logger.With("component", "raft-net"),
		})
		if err := b.net.Listen(); err != nil {
			return nil, err
		}
	}
	var transport raft.Transport
	if b.net != nil {
		transport = b.net
	}
	node, err := raft.Open(filepath.Join(cfg.DataDir, metadataDir), raft.Config{
		ID:           uint64(cfg.NodeID),
		Peers:        peers,
		Logger:       cfg.Logger.With("component", "raft"),
		TickInterval: max(s.ElectionTimeout()/10, time.Millisecond),
		Transport:    transport,
	})
	if err != nil {
		b.closeNetwork()
		return nil, fmt.Errorf("open metadata log: %w", err)
	}
	b.node = node
	b.ctrl = controller.New(node, b.store, controller.Config{NodeID: cfg.NodeID, Unclean: b.uncleanElection},
		cfg.Logger.With("component", "controller"))
	b.pids = txn.NewIDAllocator(b.ctrl.AllocateProducerIDs, 1000)
	b.groups = group.New(group.Config{
		NumPartitions:                 s.OffsetsTopicNumPartitions(),
		MinSessionTimeout:             s.GroupMinSessionTimeout(),
		MaxSessionTimeout:             s.GroupMaxSessionTimeout(),
		InitialRebalanceDelay:         s.GroupInitialRebalanceDelay(),
		OffsetsRetention:              s.OffsetsRetention(),
		OffsetsRetentionCheckInterval: s.OffsetsRetentionCheckInterval(),
		MaxMetadataBytes:              s.OffsetMetadataMaxBytes(),
		MaxGroupSize:                  int(s.GroupMaxSize()),
		TopicPartitionExists: func(topic string, partition int32) bool {
			t, ok := b.store.Current().Topic(topic)
			return ok && partition >= 0 && int(partition) < len(t.Partitions)
		},
	}, cfg.Logger.With("component", "group"))
	b.loads = newGroupLoads(b.groups)
	b.txns = b.newTxnCoordinator()
	b.verifier = newTxnVerifier(b.verifyTxn)
	b.parts = partition.NewManager(partition.ManagerConfig{
		NodeID:   cfg.NodeID,
		DataDir:  cfg.DataDir,
		Settings: s,
		Clean:    clean,
		Logger:   cfg.Logger,
		ISR:      b.ctrl,
		Fetch: partition.FetchConfig{
			BrokerEpoch:       b.epoch.Load,
			MaxWait:           s.ReplicaFetchWaitMax(),
			MinBytes:          s.ReplicaFetchMinBytes(),
			MaxBytes:          s.ReplicaFetchResponseMaxBytes(),
			PartitionMaxBytes: s.ReplicaFetchMaxBytes(),
			Backoff:           s.ReplicaFetchBackoff(),
			Dial:              cfg.Dial,
		},
		OnLeadership: func(tp partition.TopicPartition, leader bool) {
			switch tp.Topic {
			case offsetsTopic:
				b.loads.add(tp.Index, leader)
			case txnStateTopic:
				b.txns.leadership(tp.Index, leader)
			}
		},
		SkipDirs: []string{metadataDir},
	})
	b.installAuthorizer(nil, b.store.Current())
	b.store.Subscribe(b.installAuthorizer)
	b.store.Subscribe(b.parts.Update)
	b.store.Subscribe(func(_, _ *metadata.Image) { b.imageChanged.notify() })
	if b.net != nil {
		b.store.Subscribe(b.dialLoggedControllers)
	}
	if cfg.Registry != nil {
		cfg.Registry.MustRegister(newClusterCollector(b))
	}
	return b, nil
}

// uncleanElection reports whether topic t allows unclean leader election.
func (b *Broker) uncleanElection(t *metadata.Topic) bool {
	cfg, err := config.ResolveTopic(b.settings(), t.Configs)
	return err == nil && cfg.UncleanLeaderElection
}

// settings returns this node's broker settings in force: the command
// line's, with the cluster-wide and this node's dynamic settings of the
// metadata over them.
func (b *Broker) settings() config.Broker {
	img := b.store.Current()
	return b.cfg.Settings.WithDynamic(img.BrokerConfigs(metadata.ClusterDefault), img.BrokerConfigs(b.cfg.NodeID))
}

func (b *Broker) closeNetwork() {
	if b.net == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = b.net.Run(ctx, nil)
}

// Ready is closed once the broker serves requests: the metadata log is
// replayed, this node is registered and unfenced, and its partitions are
// open in the roles the metadata gives them.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Run runs the metadata log, the controller, the replicas and the
// background work until ctx is done, then closes every log and leaves the
// clean shutdown marker.
func (b *Broker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raftDone := make(chan error, 1)
	go func() { raftDone <- b.node.Run(ctx, b.applyMetadata, b.snapshotMetadata) }()
	var workers sync.WaitGroup
	if b.net != nil {
		workers.Go(func() { _ = b.net.Run(ctx, b.node) })
		workers.Go(func() { b.runAnnounceControllerAddr(ctx) })
	}
	workers.Go(func() { b.parts.Run(ctx) })
	workers.Go(func() {
		if err := b.groups.Run(ctx); err != nil && ctx.Err() == nil {
			b.logger.Error("group coordinator stopped", "err", err)
		}
	})
	workers.Go(func() { b.runGroupLoads(ctx) })
	workers.Go(func() {
		b.txns.Run(ctx, b.cfg.Settings.TransactionAbortTimedOutInterval(), b.cfg.Settings.TransactionRemoveExpiredInterval())
	})
	workers.Go(func() {
		b.ctrl.RunActive(ctx, b.node, b.live, controller.ActiveConfig{
			SessionTimeout:    b.cfg.Settings.BrokerSessionTimeout(),
			HeartbeatInterval: b.cfg.Settings.BrokerHeartbeatInterval(),
			LeaderRebalance:   b.cfg.Settings.LeaderRebalanceInterval(),
			ImbalancePercent:  b.cfg.Settings.LeaderImbalancePercent(),
		})
	})
	workers.Go(func() { b.runHeartbeats(ctx) })

	err := b.start(ctx, raftDone)
	if err == nil {
		close(b.ready)
		<-ctx.Done()
	}
	cancel()
	workers.Wait()
	b.denials.Flush()
	if rerr := <-raftDone; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
		err = rerr
	}
	if cerr := b.parts.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		if werr := os.WriteFile(filepath.Join(b.cfg.DataDir, cleanShutdownFile), nil, 0o644); werr != nil {
			err = fmt.Errorf("write clean shutdown marker: %w", werr)
		}
	}
	return err
}

// start waits for the metadata log, registers this node, and waits until
// the controller has unfenced it and its replicas are in their roles.
func (b *Broker) start(ctx context.Context, raftDone <-chan error) error {
	select {
	case <-b.node.Ready():
	case err := <-raftDone:
		return fmt.Errorf("metadata log stopped before ready: %w", err)
	case <-ctx.Done():
		return nil
	}
	b.parts.Begin()
	if err := b.retry(ctx, "set the cluster id", func() error { return b.ctrl.EnsureClusterID(ctx) }); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := writeMetaProperties(b.cfg.DataDir, b.cfg.NodeID, b.store.Current().ClusterID); err != nil {
		return err
	}
	var epoch int64
	if err := b.retry(ctx, "register with the controller", func() error {
		var err error
		epoch, err = b.ctrl.RegisterBroker(ctx, metadata.RegisterBroker{
			ID: b.cfg.NodeID, Host: b.host, Port: b.port, Rack: b.cfg.Settings.BrokerRack(), Incarnation: b.incarnation,
			Listeners: b.cfg.Listeners,
		})
		return err
	}); err != nil || ctx.Err() != nil {
		return err
	}
	b.epoch.Store(epoch)
	b.heartbeatNow()
	b.logger.Info("registered with the controller", "broker_epoch", epoch)
	if !b.awaitImage(ctx, func(img *metadata.Image) bool { return img.Unfenced(b.cfg.NodeID) }) {
		return nil
	}
	if err := b.parts.WaitReconciled(ctx, b.store.Current().AppliedIndex); err != nil {
		return nil
	}
	return b.parts.RemoveOrphans()
}

// retry runs fn until it succeeds, ctx ends (nil), or it fails with an
// error no retry can mend: a proposal that timed out or was dropped (the
// quorum lost its leader meanwhile) is made again.
func (b *Broker) retry(ctx context.Context, what string, fn func() error) error {
	for {
		err := fn()
		switch {
		case err == nil, ctx.Err() != nil:
			return nil
		case errors.Is(err, kerr.RequestTimedOut), errors.Is(err, context.DeadlineExceeded), errors.Is(err, etcdraft.ErrProposalDropped):
			b.logger.Warn("retrying", "what", what, "err", err)
		default:
			return fmt.Errorf("%s: %w", what, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runHeartbeats tells every controller voter that this node is alive, each
// broker.heartbeat.interval.ms and whenever heartbeatNow asks, until ctx
// ends.
func (b *Broker) runHeartbeats(ctx context.Context) {
	t := time.NewTicker(b.cfg.Settings.BrokerHeartbeatInterval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.beat:
		}
		hb := controller.Heartbeat{NodeID: b.cfg.NodeID, Incarnation: b.incarnation, Epoch: b.epoch.Load(),
			Applied: b.store.Current().AppliedIndex, WantShutdown: b.wantShutdown.Load()}
		if b.net == nil {
			b.live.Record(hb)
			continue
		}
		data := hb.AppendBinary(nil)
		for _, v := range b.heartbeatTargets() {
			b.net.SendApp(v, data)
		}
	}
}

// heartbeatTargets are the voters of the quorum as this node knows them
// now (voters may be added and removed, KIP-853) and those of its voters
// list: a node that has not joined yet knows only the latter.
func (b *Broker) heartbeatTargets() []uint64 {
	voters, _ := b.node.Members()
	for _, v := range b.voters {
		if !slices.Contains(voters, uint64(v)) {
			voters = append(voters, uint64(v))
		}
	}
	return voters
}

func (b *Broker) heartbeatNow() {
	select {
	case b.beat <- struct{}{}:
	default:
	}
}

// onControllerMessage takes a message another node sent over the Raft
// network: heartbeats.
func (b *Broker) onControllerMessage(from uint64, data []byte) {
	hb, err := controller.DecodeHeartbeat(data)
	if err != nil || uint64(hb.NodeID) != from {
		b.logger.Warn("bad heartbeat", "from", from, "err", err)
		return
	}
	b.live.Record(hb)
}

func (b *Broker) applyMetadata(index uint64, data []byte) error {
	return b.store.ApplyEncoded(index, data)
}

func (b *Broker) snapshotMetadata() ([]byte, error) {
	return b.store.Current().EncodeSnapshot()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// waitLocal waits until this node's replicas are in line with the metadata
// it has applied, so that an admin request's change is in effect here when
// it is answered (as on one node it always is); other nodes follow as they
// apply it.
func (b *Broker) waitLocal(ctx context.Context) {
	_ = b.parts.WaitReconciled(ctx, b.store.Current().AppliedIndex)
}

// topicDefaults are the broker settings a topic created without explicit
// partitions, replication factor or configs gets.
func (b *Broker) topicDefaults() controller.Defaults {
	return controller.Defaults{
		NumPartitions:     b.cfg.Settings.NumPartitions(),
		ReplicationFactor: b.cfg.Settings.DefaultReplicationFactor(),
		ValidateConfigs:   config.ValidateTopicOverrides,
	}
}

// awaitImage waits until cond holds for the current metadata image and
// reports whether it did before ctx ended.
func (b *Broker) awaitImage(ctx context.Context, cond func(*metadata.Image) bool) bool {
	for {
		changed := b.imageChanged.wait()
		if cond(b.store.Current()) {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// signal wakes every waiter at each notify.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed at the next notify.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

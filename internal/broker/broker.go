// Package broker serves the Kafka APIs of one node. Each API lives in its own
// file, which registers its version range in an init function; handlers check
// their input, then call the subsystems below (partition, controller, txn).
// The broker holds no storage logic of its own.
package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/controller"
	"github.com/stratalog/strata/internal/group"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/raft"
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
)

// Config configures a Broker.
type Config struct {
	NodeID    int32
	DataDir   string
	Advertise string // host:port clients are told to connect to
	Settings  config.Broker
	Logger    *slog.Logger
	Registry  prometheus.Registerer // nil: metrics are not registered
}

// Broker is one node: the Kafka API handlers over this node's partitions and
// its view of the metadata log.
type Broker struct {
	cfg      Config
	logger   *slog.Logger
	host     string
	port     int32
	clean    bool // the previous shutdown was clean
	node     *raft.Node
	store    *metadata.Store
	ctrl     *controller.Controller
	pids     *txn.IDAllocator
	groups   *group.Coordinator
	loads    *groupLoads
	parts    *partitions
	sessions *fetchSessions
	metrics  *metrics
	ready    chan struct{}
}

// New opens the data directory and the metadata log. It starts no goroutines;
// Run does.
func New(cfg Config) (*Broker, error) {
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
		sessions: newFetchSessions(1000),
		metrics:  newMetrics(cfg.Registry),
		ready:    make(chan struct{}),
	}
	b.parts = newPartitions(b)
	node, err := raft.Open(filepath.Join(cfg.DataDir, metadataDir), raft.Config{
		ID:     uint64(cfg.NodeID),
		Peers:  []uint64{uint64(cfg.NodeID)},
		Logger: cfg.Logger.With("component", "raft"),
	})
	if err != nil {
		return nil, fmt.Errorf("open metadata log: %w", err)
	}
	b.node = node
	b.ctrl = controller.New(node, b.store, controller.Config{NodeID: cfg.NodeID}, cfg.Logger.With("component", "controller"))
	b.pids = txn.NewIDAllocator(b.ctrl.AllocateProducerIDs, 1000)
	s := cfg.Settings
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
	b.store.Subscribe(b.parts.reconcile)
	return b, nil
}

// Ready is closed once the broker serves requests: the metadata log is
// replayed, this node is registered and its partitions are open.
func (b *Broker) Ready() <-chan struct{} { return b.ready }

// Run runs the metadata log and the background work (retention, time-based
// flushes and rolls) until ctx is done, then closes every log and leaves the
// clean shutdown marker.
func (b *Broker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	raftDone := make(chan error, 1)
	go func() { raftDone <- b.node.Run(ctx, b.applyMetadata, b.snapshotMetadata) }()
	var workers sync.WaitGroup
	workers.Go(func() {
		if err := b.groups.Run(ctx); err != nil && ctx.Err() == nil {
			b.logger.Error("group coordinator stopped", "err", err)
		}
	})
	workers.Go(func() { b.runGroupLoads(ctx) })
	if b.cfg.Settings.LogCleanerEnable() {
		workers.Go(func() { b.runCleaner(ctx) })
	}

	err := b.start(ctx, raftDone)
	if err == nil {
		close(b.ready)
		b.background(ctx)
	}
	cancel()
	workers.Wait()
	if rerr := <-raftDone; rerr != nil && !errors.Is(rerr, context.Canceled) && err == nil {
		err = rerr
	}
	if cerr := b.parts.closeAll(); cerr != nil && err == nil {
		err = cerr
	}
	if err == nil {
		if werr := os.WriteFile(filepath.Join(b.cfg.DataDir, cleanShutdownFile), nil, 0o644); werr != nil {
			err = fmt.Errorf("write clean shutdown marker: %w", werr)
		}
	}
	return err
}

// start waits for the metadata log, then registers this node.
func (b *Broker) start(ctx context.Context, raftDone <-chan error) error {
	select {
	case <-b.node.Ready():
	case err := <-raftDone:
		return fmt.Errorf("metadata log stopped before ready: %w", err)
	case <-ctx.Done():
		return nil
	}
	if err := b.ctrl.EnsureClusterID(ctx); err != nil {
		return fmt.Errorf("cluster id: %w", err)
	}
	self := metadata.Broker{ID: b.cfg.NodeID, Host: b.host, Port: b.port}
	if cur, ok := b.store.Current().Broker(b.cfg.NodeID); !ok || cur != self {
		if err := b.ctrl.RegisterBroker(ctx, self); err != nil {
			return fmt.Errorf("register broker: %w", err)
		}
	}
	if err := b.parts.removeOrphans(); err != nil {
		return err
	}
	return nil
}

// background enforces retention and time-based flush and roll until ctx ends.
func (b *Broker) background(ctx context.Context) {
	retention := time.NewTicker(b.cfg.Settings.RetentionCheckInterval())
	defer retention.Stop()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	expiry := time.NewTicker(b.cfg.Settings.ProducerIDExpirationCheckInterval())
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-retention.C:
			b.parts.enforceRetention(ctx)
		case <-expiry.C:
			b.parts.expireProducers(ctx, time.Now(), b.cfg.Settings.ProducerIDExpiration())
		case <-tick.C:
			b.parts.tick(ctx)
		}
	}
}

// runCleaner compacts due logs, then waits log.cleaner.backoff.ms, until
// ctx ends.
func (b *Broker) runCleaner(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		b.parts.clean(ctx)
		t.Reset(b.cfg.Settings.LogCleanerBackoff())
	}
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

// topicDefaults are the broker settings a topic created without explicit
// partitions, replication factor or configs gets.
func (b *Broker) topicDefaults() controller.Defaults {
	return controller.Defaults{
		NumPartitions:     b.cfg.Settings.NumPartitions(),
		ReplicationFactor: b.cfg.Settings.DefaultReplicationFactor(),
		ValidateConfigs:   config.ValidateTopicOverrides,
	}
}

// Package controller turns admin requests into metadata records: it decides
// (pure functions over the current metadata image, in decide.go), proposes
// the records through the metadata Raft log and returns once they are
// applied, so the caller's next read of the metadata store sees the change.
// Errors are Kafka's, as kerr values wrapped with a message.
package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// Proposer appends data to the metadata log and returns its index once the
// entry is applied to the store, with the store's error for it (a rejected
// record). *raft.Node implements it.
type Proposer interface {
	Propose(ctx context.Context, data []byte) (uint64, error)
}

// Config configures a Controller.
type Config struct {
	// NodeID is this node's broker id; producer id blocks are allocated to
	// it.
	NodeID int32
	// Unclean reports whether a topic allows unclean leader election
	// (unclean.leader.election.enable); nil: none does.
	Unclean func(*metadata.Topic) bool
}

// Defaults are the broker settings for topics created without an explicit
// partition count, replication factor or config.
type Defaults struct {
	NumPartitions     int32
	ReplicationFactor int16
	// ValidateConfigs checks a new topic's configs (nil: no check). An
	// error without a Kafka code is returned as INVALID_CONFIG.
	ValidateConfigs func(map[string]*string) error
}

// TopicSpec is one topic of a CreateTopics request.
type TopicSpec struct {
	Name string
	// NumPartitions and ReplicationFactor are -1 for the default; both
	// must be -1 when Assignments is given.
	NumPartitions     int32
	ReplicationFactor int16
	// Assignments maps every partition 0..n-1 to its replicas, the first
	// being the leader; nil for automatic placement.
	Assignments map[int32][]int32
	Configs     map[string]*string
}

// TopicResult is the outcome for one TopicSpec. On error NumPartitions and
// ReplicationFactor are -1 and ID is zero.
type TopicResult struct {
	Name              string
	ID                [16]byte
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// PartitionSpec is one topic of a CreatePartitions request: grow Topic to
// Count partitions. Assignments, if not nil, gives the replicas of each new
// partition (Count minus the current count of them).
type PartitionSpec struct {
	Topic       string
	Count       int32
	Assignments [][]int32
}

// PartitionsResult is the outcome for one PartitionSpec.
type PartitionsResult struct {
	Topic string
	Err   error
}

// Controller proposes metadata changes. Its methods may be called
// concurrently; each returns after its records are applied (or failed).
type Controller struct {
	node   Proposer
	store  *metadata.Store
	cfg    Config
	logger *slog.Logger
	// elections counts the partitions whose leader this node's decisions
	// changed (to another broker or to none), uncleanElections those
	// elected outside the ISR.
	elections, uncleanElections atomic.Int64
	// mu serializes the decide-propose sequences, so a decision is never
	// made on an image another of this controller's proposals is about to
	// change. Records still carry what they were decided on, so a change
	// from elsewhere makes them fail at apply rather than corrupt the image.
	mu sync.Mutex
}

// New returns a controller proposing through node and reading store, which
// node's log is applied to. It starts no goroutines.
func New(node Proposer, store *metadata.Store, cfg Config, logger *slog.Logger) *Controller {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Controller{node: node, store: store, cfg: cfg, logger: logger}
}

// proposeTimeout bounds a proposal made without a deadline: raft drops a
// proposal forwarded to a leader that loses its leadership meanwhile, and
// nobody would hear of it.
const proposeTimeout = 30 * time.Second

// propose writes rec to the log and waits until it is applied.
func (c *Controller) propose(ctx context.Context, rec metadata.Record) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, proposeTimeout)
		defer cancel()
	}
	if _, err := c.node.Propose(ctx, metadata.EncodeRecord(rec)); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("%w: the metadata quorum did not apply the change in time: %w", kerr.RequestTimedOut, err)
		}
		return fmt.Errorf("%T: %w", rec, err)
	}
	return nil
}

// CreateTopics creates the topics of specs and returns one result per spec,
// in order. With validateOnly it checks and places but proposes nothing (the
// results then carry a zero ID). Errors: INVALID_REQUEST (a name twice in
// specs, or a count and an assignment together), INVALID_TOPIC_EXCEPTION,
// TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
// INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG, or the context's or log's
// error.
func (c *Controller) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool, defaults Defaults) []TopicResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	plans := decideCreateTopics(c.store.Current(), specs, defaults, newTopicID)
	results := make([]TopicResult, len(plans))
	for i, p := range plans {
		results[i] = p.result
		if p.rec == nil {
			continue
		}
		if validateOnly {
			results[i].ID = [16]byte{}
			continue
		}
		if err := c.propose(ctx, *p.rec); err != nil {
			results[i] = TopicResult{Name: p.result.Name, NumPartitions: -1, ReplicationFactor: -1, Err: err}
			continue
		}
		c.logger.Info("created topic", "topic", p.rec.Name, "partitions", len(p.rec.Partitions))
	}
	return results
}

// DeleteTopics deletes the topics with the given ids. It returns the error
// of each id that was not deleted (UNKNOWN_TOPIC_ID, INVALID_REQUEST for an
// id given twice, or the context's or log's error); ids not in the map are
// deleted.
func (c *Controller) DeleteTopics(ctx context.Context, ids [][16]byte) map[[16]byte]error {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := c.store.Current()
	recs, errs := decideDeleteTopics(img, ids)
	for _, id := range ids {
		rec, ok := recs[id]
		if !ok {
			continue
		}
		delete(recs, id) // once per id
		if err := c.propose(ctx, rec); err != nil {
			errs[id] = err
			continue
		}
		if t, ok := img.TopicByID(id); ok {
			c.logger.Info("deleted topic", "topic", t.Name)
		}
	}
	return errs
}

// CreatePartitions grows topics and returns one result per spec, in order.
// Errors: INVALID_REQUEST (a topic twice), UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_PARTITIONS (count not above the current one, or over the limit),
// INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR (the topic's factor
// exceeds the registered brokers), or the context's or log's error.
func (c *Controller) CreatePartitions(ctx context.Context, specs []PartitionSpec, validateOnly bool) []PartitionsResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	recs, errs := decideCreatePartitions(c.store.Current(), specs)
	results := make([]PartitionsResult, len(specs))
	for i, s := range specs {
		results[i] = PartitionsResult{Topic: s.Topic, Err: errs[i]}
		if recs[i] == nil || validateOnly {
			continue
		}
		if err := c.propose(ctx, *recs[i]); err != nil {
			results[i].Err = err
			continue
		}
		c.logger.Info("created partitions", "topic", s.Topic, "count", s.Count)
	}
	return results
}

// AlterTopicConfigs sets the keys of set and removes the keys of del in the
// config overrides of topic. Values are not validated here: the caller
// checks them (and decides replace versus incremental semantics). Errors:
// UNKNOWN_TOPIC_OR_PARTITION, INVALID_CONFIG (a key in both, an empty key),
// or the context's or log's error.
func (c *Controller) AlterTopicConfigs(ctx context.Context, topic string, set map[string]string, del []string, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, err := decideTopicConfigs(c.store.Current(), topic, set, del)
	if err != nil || validateOnly {
		return err
	}
	return c.propose(ctx, rec)
}

// AlterBrokerConfigs sets the keys of set and removes the keys of del in
// the dynamic settings of broker (metadata.ClusterDefault: of the cluster),
// which the caller has validated. A change that changes nothing, or
// validateOnly, proposes nothing.
func (c *Controller) AlterBrokerConfigs(ctx context.Context, broker int32, set map[string]string, del []string, validateOnly bool) error {
	if validateOnly || len(set)+len(del) == 0 {
		return nil
	}
	if err := c.propose(ctx, metadata.SetBrokerConfigs{Broker: broker, Set: set, Delete: del}); err != nil {
		return err
	}
	c.logger.Info("dynamic broker settings changed", "broker", broker, "set", set, "deleted", del)
	return nil
}

// SetControllerAddr records the address of node id's Raft listener in the
// metadata log, for the other nodes to dial it.
func (c *Controller) SetControllerAddr(ctx context.Context, id int32, addr string) error {
	return c.propose(ctx, metadata.SetControllerAddr{ID: id, Addr: addr})
}

// RegisterBroker registers a broker process (see metadata.RegisterBroker)
// and returns its broker epoch. A new process of an id starts fenced, so
// the partitions the previous one led get new leaders, or none, in the same
// record: a process that may have lost its log's tail must not go on
// leading in an epoch its followers already hold records of.
func (c *Controller) RegisterBroker(ctx context.Context, r metadata.RegisterBroker) (int64, error) {
	for attempt := 0; ; attempt++ {
		img := c.store.Current()
		rec, err := c.withRepairs(img, r)
		if err != nil {
			return 0, fmt.Errorf("register broker %d: %w", r.ID, err)
		}
		pctx, cancel := context.WithTimeout(ctx, proposeTimeout)
		index, err := c.node.Propose(pctx, metadata.EncodeRecord(rec))
		cancel()
		if errors.Is(err, kerr.InvalidUpdateVersion) && attempt < 10 {
			continue // a partition changed meanwhile: decide again
		}
		if err != nil {
			return 0, fmt.Errorf("register broker %d: %w", r.ID, err)
		}
		c.countElections(img, rec)
		b, _ := c.store.Current().Broker(r.ID)
		if b.Incarnation != r.Incarnation {
			return 0, fmt.Errorf("register broker %d: %w: another process registered meanwhile", r.ID, kerr.DuplicateBrokerRegistration)
		}
		if b.Epoch != int64(index) {
			return b.Epoch, nil // this process registered before: its epoch stays
		}
		return int64(index), nil
	}
}

// UnregisterBroker removes broker id from the cluster, as Kafka's
// UnregisterBroker does: BROKER_ID_NOT_REGISTERED for an unknown id,
// INVALID_REQUEST while it still holds a replica (move them first), or the
// context's or log's error. A process of that id still running is no longer
// a broker of the cluster: it leads nothing, and registers anew when
// restarted.
func (c *Controller) UnregisterBroker(ctx context.Context, id int32) error {
	b, ok := c.store.Current().Broker(id)
	if !ok {
		return fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, id)
	}
	if err := c.propose(ctx, metadata.UnregisterBroker{ID: id, Epoch: b.Epoch}); err != nil {
		return err
	}
	c.logger.Info("unregistered broker", "broker", id)
	return nil
}

// Elections returns how many partition leaders this node's decisions
// changed, and how many of those were unclean (outside the ISR).
func (c *Controller) Elections() (all, unclean int64) {
	return c.elections.Load(), c.uncleanElections.Load()
}

// countElections counts the leader changes among the partition changes
// of rec, an applied record decided on img.
func (c *Controller) countElections(img *metadata.Image, rec metadata.Record) {
	var changes []metadata.PartitionChange
	var collect func(metadata.Record)
	collect = func(rec metadata.Record) {
		switch r := rec.(type) {
		case metadata.ChangePartitions:
			changes = append(changes, r.Changes...)
		case metadata.ReassignPartitions:
			for _, ch := range r.Changes {
				changes = append(changes, ch.PartitionChange)
			}
		case metadata.Batch:
			for _, sub := range r.Records {
				collect(sub)
			}
		}
	}
	collect(rec)
	for _, ch := range changes {
		t, ok := img.TopicByID(ch.TopicID)
		if !ok || int(ch.Partition) >= len(t.Partitions) {
			continue
		}
		p := t.Partitions[ch.Partition]
		if ch.Leader == p.Leader {
			continue
		}
		c.elections.Add(1)
		if ch.Leader != -1 && !p.InISR(ch.Leader) {
			c.uncleanElections.Add(1)
		}
	}
}

// withRepairs returns rec alone, or a batch of rec and the leader elections
// and ISR changes the image needs once rec is applied.
func (c *Controller) withRepairs(img *metadata.Image, rec metadata.Record) (metadata.Record, error) {
	next, err := img.Apply(img.AppliedIndex+1, rec)
	if err != nil {
		return nil, err
	}
	changes := decideRepairs(next, c.cfg.Unclean)
	if len(changes) == 0 {
		return rec, nil
	}
	c.logChanges(next, changes)
	return metadata.Batch{Records: []metadata.Record{rec, metadata.ChangePartitions{Changes: changes}}}, nil
}

// AlterPartitions changes the leader, leader epoch or ISR of partitions, as
// Kafka's AlterPartition does: all of the changes apply, or none, with
// INVALID_UPDATE_VERSION when one was decided on an older partition epoch,
// INELIGIBLE_REPLICA when it adds a fenced broker.
func (c *Controller) AlterPartitions(ctx context.Context, changes []metadata.PartitionChange) error {
	return c.propose(ctx, metadata.ChangePartitions{Changes: changes})
}

// AllocateProducerIDs reserves count producer ids for this node and returns
// the first; the block is [first, first+count). The node must be
// registered. Nodes allocate concurrently: a block decided on an image
// another node's allocation has overtaken is refused at apply, and decided
// again. A proposal not applied within allocateAttemptTimeout (lost on its
// way to a leader this node was cut off from) is made again rather than
// waited for: a block that lands late is only never used. It does not hold
// mu while it waits, so a lost proposal holds up no other decision: a
// block decided on an old image fails at apply, from here as from another
// node.
func (c *Controller) AllocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	if count <= 0 {
		return 0, fmt.Errorf("allocate producer ids: count %d must be positive", count)
	}
	for attempt := 0; ; attempt++ {
		first := c.store.Current().NextProducerID
		actx, cancel := context.WithTimeout(ctx, allocateAttemptTimeout)
		err := c.propose(actx, metadata.AllocateProducerIDs{Broker: c.cfg.NodeID, First: first, Count: count})
		cancel()
		if err == nil {
			return first, nil
		}
		overtaken := errors.Is(err, metadata.ErrInvalidRecord) && c.store.Current().NextProducerID != first
		lost := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if attempt >= 20 || !overtaken && !lost {
			return 0, err
		}
	}
}

// allocateAttemptTimeout is how long AllocateProducerIDs waits for one
// proposal before it makes another.
var allocateAttemptTimeout = 2 * time.Second

// EnsureClusterID sets a random cluster id (a UUID v4 in URL-safe base64
// without padding, 22 characters, as Kafka's look) unless one is set.
func (c *Controller) EnsureClusterID(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store.Current().ClusterID != "" {
		return nil
	}
	id := newTopicID()
	err := c.propose(ctx, metadata.SetClusterID{ID: base64.RawURLEncoding.EncodeToString(id[:])})
	if err != nil && errors.Is(err, metadata.ErrInvalidRecord) && c.store.Current().ClusterID != "" {
		return nil // set meanwhile by another controller
	}
	if err == nil {
		c.logger.Info("cluster id set", "cluster_id", c.store.Current().ClusterID)
	}
	return err
}

// newTopicID returns a random UUID v4 (never the zero id).
func newTopicID() [16]byte {
	var id [16]byte
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

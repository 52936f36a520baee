// Package controller turns admin requests into metadata records: it decides
// (pure functions over the current metadata image, in decide.go), proposes
// the records through the metadata Raft log and returns once they are
// applied, so the caller's next read of the metadata store sees the change.
// Errors are Kafka's, as kerr values wrapped with a message.
//
// Concurrency is optimistic, and no lock is held while a proposal waits: a
// record carries what it was decided on (a partition epoch, a topic id, the
// partition count it continues, the config overrides it changes, ...), so
// the metadata apply refuses it on every node alike when another change,
// from this node or another, overtook it; the call then decides again on
// the newer image, which yields either a record that fits it or the Kafka
// error the request now deserves.
package controller

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// Proposer appends data to the metadata log and returns its index once the
// entry is applied to the store, with the store's error for it (a rejected
// record). The index is 0 when the entry was not applied (the context
// ended first, no leader took it, the node stopped). *raft.Node implements
// it.
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
// concurrently, and hold no lock: each returns after its records are
// applied (or failed), having decided again on the newer image each time
// another change overtook one of them (see the package comment).
type Controller struct {
	node   Proposer
	store  *metadata.Store
	cfg    Config
	logger *slog.Logger
	// elections counts the partitions whose leader this node's decisions
	// changed (to another broker or to none), uncleanElections those
	// elected outside the ISR.
	elections, uncleanElections atomic.Int64
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

// errOvertaken marks the error of a record the metadata apply refused after
// another entry overtook it: one applied after the image the record was
// decided on. Decided again on the newer image, the request may well
// succeed, or get the error that image gives it.
var errOvertaken = errors.New("decided on metadata another change overtook")

// decideAttempts bounds how often one call decides again after other
// changes overtook its record, so a busy log cannot keep it forever.
const decideAttempts = 5

// propose writes rec, decided on img (nil: not decided on this node's
// image), to the log and waits until it is applied. A rejection wraps
// errOvertaken when an entry came between img and rec; a rejection on img
// itself does not, as deciding again on it would give the same record.
func (c *Controller) propose(ctx context.Context, img *metadata.Image, rec metadata.Record) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, proposeTimeout)
		defer cancel()
	}
	index, err := c.node.Propose(ctx, metadata.EncodeRecord(rec))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("%w: the metadata quorum did not apply the change in time: %w", kerr.RequestTimedOut, err)
	case img != nil && index > img.AppliedIndex+1:
		err = fmt.Errorf("%w: %w", errOvertaken, err)
	}
	return fmt.Errorf("%T: %w", rec, err)
}

// decideAndApply decides a record with decide on the current image and,
// unless validateOnly, proposes it and waits until it is applied; when
// another change overtook it, it decides again on the newer image, up to
// decideAttempts times in all. It returns the image and record of the last
// decision, and that decision's error (errNoChange: nothing to propose) or
// its proposal's.
func decideAndApply[R metadata.Record](ctx context.Context, c *Controller, validateOnly bool,
	decide func(*metadata.Image) (R, error)) (*metadata.Image, R, error) {
	for attempt := 1; ; attempt++ {
		img := c.store.Current()
		rec, err := decide(img)
		if err == nil && !validateOnly {
			err = c.propose(ctx, img, rec)
		}
		if !errors.Is(err, errOvertaken) || attempt == decideAttempts {
			return img, rec, err
		}
	}
}

// repeated returns the keys that more than one item of items has.
func repeated[T any, K comparable](items []T, key func(T) K) map[K]bool {
	seen := make(map[K]bool, len(items))
	dup := make(map[K]bool)
	for _, it := range items {
		k := key(it)
		if seen[k] {
			dup[k] = true
		}
		seen[k] = true
	}
	return dup
}

// CreateTopics creates the topics of specs and returns one result per spec,
// in order. With validateOnly it checks and places but proposes nothing (the
// results then carry a zero ID). Errors: INVALID_REQUEST (a name twice in
// specs, or a count and an assignment together), INVALID_TOPIC_EXCEPTION,
// TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR,
// INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG, or the context's or log's
// error. Each topic is decided on the image its predecessors in specs left.
func (c *Controller) CreateTopics(ctx context.Context, specs []TopicSpec, validateOnly bool, defaults Defaults) []TopicResult {
	dup := repeated(specs, func(s TopicSpec) string { return s.Name })
	results := make([]TopicResult, len(specs))
	for i, s := range specs {
		if dup[s.Name] {
			err := fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, s.Name)
			results[i] = topicResult(s.Name, metadata.CreateTopic{}, err)
			continue
		}
		_, rec, err := decideAndApply(ctx, c, validateOnly, func(img *metadata.Image) (metadata.CreateTopic, error) {
			return decideCreateTopic(img, s, defaults, i, newTopicID)
		})
		results[i] = topicResult(s.Name, rec, err)
		switch {
		case err != nil:
		case validateOnly:
			results[i].ID = [16]byte{}
		default:
			c.logger.Info("created topic", "topic", rec.Name, "partitions", len(rec.Partitions))
		}
	}
	return results
}

// DeleteTopics deletes the topics with the given ids. It returns the error
// of each id that was not deleted (UNKNOWN_TOPIC_ID, INVALID_REQUEST for an
// id given twice, or the context's or log's error); ids not in the map are
// deleted.
func (c *Controller) DeleteTopics(ctx context.Context, ids [][16]byte) map[[16]byte]error {
	dup := repeated(ids, func(id [16]byte) [16]byte { return id })
	errs := make(map[[16]byte]error)
	for _, id := range ids {
		if dup[id] {
			errs[id] = fmt.Errorf("%w: topic id %x appears more than once in the request", kerr.InvalidRequest, id)
			continue
		}
		img, _, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.DeleteTopic, error) {
			return decideDeleteTopic(img, id)
		})
		if err != nil {
			errs[id] = err
			continue
		}
		t, _ := img.TopicByID(id)
		c.logger.Info("deleted topic", "topic", t.Name)
	}
	return errs
}

// CreatePartitions grows topics and returns one result per spec, in order.
// Errors: INVALID_REQUEST (a topic twice), UNKNOWN_TOPIC_OR_PARTITION,
// INVALID_PARTITIONS (count not above the current one, or over the limit),
// INVALID_REPLICA_ASSIGNMENT, INVALID_REPLICATION_FACTOR (the topic's factor
// exceeds the registered brokers), or the context's or log's error.
func (c *Controller) CreatePartitions(ctx context.Context, specs []PartitionSpec, validateOnly bool) []PartitionsResult {
	dup := repeated(specs, func(s PartitionSpec) string { return s.Topic })
	results := make([]PartitionsResult, len(specs))
	for i, s := range specs {
		results[i].Topic = s.Topic
		if dup[s.Topic] {
			results[i].Err = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, s.Topic)
			continue
		}
		_, _, err := decideAndApply(ctx, c, validateOnly, func(img *metadata.Image) (metadata.CreatePartitions, error) {
			return decidePartitions(img, s)
		})
		results[i].Err = err
		if err == nil && !validateOnly {
			c.logger.Info("created partitions", "topic", s.Topic, "count", s.Count)
		}
	}
	return results
}

// ConfigAlter returns the config overrides a change makes of cur, the current
// ones (which it must not modify), having checked them; or the change's
// error. The caller's function decides replace versus incremental
// semantics; the controller calls it again with the newer overrides when
// another change overtook its result.
type ConfigAlter func(cur map[string]string) (map[string]string, error)

// AlterTopicConfigs replaces the config overrides of topic with what alter
// makes of them. Errors: UNKNOWN_TOPIC_OR_PARTITION, alter's, INVALID_CONFIG
// (an empty key), or the context's or log's error. validateOnly, or a
// change that changes nothing, proposes nothing.
func (c *Controller) AlterTopicConfigs(ctx context.Context, topic string, alter ConfigAlter, validateOnly bool) error {
	_, _, err := decideAndApply(ctx, c, validateOnly, func(img *metadata.Image) (metadata.SetTopicConfigs, error) {
		return decideTopicConfigs(img, topic, alter)
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

// AlterBrokerConfigs replaces the dynamic settings of broker
// (metadata.ClusterDefault: of the cluster) with what alter makes of them.
// validateOnly, or a change that changes nothing, proposes nothing.
func (c *Controller) AlterBrokerConfigs(ctx context.Context, broker int32, alter ConfigAlter, validateOnly bool) error {
	_, rec, err := decideAndApply(ctx, c, validateOnly, func(img *metadata.Image) (metadata.SetBrokerConfigs, error) {
		return decideBrokerConfigs(img, broker, alter)
	})
	switch {
	case errors.Is(err, errNoChange):
		return nil
	case err == nil && !validateOnly:
		c.logger.Info("dynamic broker settings changed", "broker", broker, "set", rec.Set, "deleted", rec.Delete)
	}
	return err
}

// SetControllerAddr records the address of node id's Raft listener in the
// metadata log, for the other nodes to dial it.
func (c *Controller) SetControllerAddr(ctx context.Context, id int32, addr string) error {
	return c.propose(ctx, nil, metadata.SetControllerAddr{ID: id, Addr: addr})
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
	_, _, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.UnregisterBroker, error) {
		b, ok := img.Broker(id)
		if !ok {
			return metadata.UnregisterBroker{}, fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, id)
		}
		return metadata.UnregisterBroker{ID: id, Epoch: b.Epoch}, nil
	})
	if err != nil {
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
	return c.propose(ctx, nil, metadata.ChangePartitions{Changes: changes})
}

// AllocateProducerIDs reserves count producer ids for this node and returns
// the first; the block is [first, first+count). The node must be
// registered. Nodes allocate concurrently: a block decided on an image
// another node's allocation has overtaken is refused at apply, and decided
// again. A proposal not applied within allocateAttemptTimeout (lost on its
// way to a leader this node was cut off from) is made again rather than
// waited for: a block that lands late is only never used, as a block
// decided on an old image fails at apply, from here as from another node.
func (c *Controller) AllocateProducerIDs(ctx context.Context, count int64) (int64, error) {
	if count <= 0 {
		return 0, fmt.Errorf("allocate producer ids: count %d must be positive", count)
	}
	for attempt := 0; ; attempt++ {
		img := c.store.Current()
		first := img.NextProducerID
		actx, cancel := context.WithTimeout(ctx, allocateAttemptTimeout)
		err := c.propose(actx, img, metadata.AllocateProducerIDs{Broker: c.cfg.NodeID, First: first, Count: count})
		cancel()
		if err == nil {
			return first, nil
		}
		lost := errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil
		if attempt >= 20 || !errors.Is(err, errOvertaken) && !lost {
			return 0, err
		}
	}
}

// allocateAttemptTimeout is how long AllocateProducerIDs waits for one
// proposal before it makes another.
var allocateAttemptTimeout = 2 * time.Second

// EnsureClusterID sets a random cluster id (a UUID v4 in URL-safe base64
// without padding, 22 characters, as Kafka's look) unless one is set.
// Calls racing each other, here or on other nodes, all end with the id the
// first of them set.
func (c *Controller) EnsureClusterID(ctx context.Context) error {
	_, rec, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.SetClusterID, error) {
		if img.ClusterID != "" {
			return metadata.SetClusterID{}, errNoChange
		}
		id := newTopicID()
		return metadata.SetClusterID{ID: base64.RawURLEncoding.EncodeToString(id[:])}, nil
	})
	switch {
	case errors.Is(err, errNoChange):
		return nil
	case err == nil:
		c.logger.Info("cluster id set", "cluster_id", rec.ID)
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

// AlterScramCredentials writes, as one batch, the SCRAM credential changes
// decide makes of the current image; when another change overtook them it
// decides again on the newer image. decide returning none proposes nothing.
func (c *Controller) AlterScramCredentials(ctx context.Context, decide func(*metadata.Image) ([]metadata.ScramCredential, error)) error {
	_, _, err := decideAndApply(ctx, c, false, func(img *metadata.Image) (metadata.Batch, error) {
		changes, err := decide(img)
		if err != nil || len(changes) == 0 {
			return metadata.Batch{}, cmp.Or(err, errNoChange)
		}
		var b metadata.Batch
		for _, ch := range changes {
			b.Records = append(b.Records, ch)
		}
		return b, nil
	})
	if errors.Is(err, errNoChange) {
		return nil
	}
	return err
}

package controller

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/metadata"
)

// The decision functions below are pure: they read an image and return the
// records to propose, or the Kafka error of each request item. The
// Controller methods propose what they return.

// MaxPartitionsPerTopic bounds the partitions one topic may have, so a
// request cannot make the controller build an unbounded record.
const MaxPartitionsPerTopic = 1 << 16

// decideCreateTopic checks spec s against img and places its partitions.
// start offsets the round-robin placement (the spec's position in its
// request, so that the topics of one request start on different brokers);
// newID returns a fresh random topic id.
func decideCreateTopic(img *metadata.Image, s TopicSpec, defaults Defaults, start int, newID func() [16]byte) (metadata.CreateTopic, error) {
	var none metadata.CreateTopic
	if err := metadata.CheckTopicName(s.Name); err != nil {
		return none, err
	}
	if _, ok := img.Topic(s.Name); ok {
		return none, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, s.Name)
	}
	if other := img.CollidingTopic(s.Name); other != "" {
		return none, fmt.Errorf("%w: topic %q collides with existing topic %q: '.' and '_' may not tell topics apart", kerr.InvalidTopicException, s.Name, other)
	}
	var parts []metadata.Partition
	if len(s.Assignments) > 0 {
		if s.NumPartitions != -1 || s.ReplicationFactor != -1 {
			return none, fmt.Errorf("%w: both a partition count or replication factor and a manual assignment were given", kerr.InvalidRequest)
		}
		assign := make([][]int32, len(s.Assignments))
		for p, replicas := range s.Assignments {
			if p < 0 || int(p) >= len(s.Assignments) {
				return none, fmt.Errorf("%w: manual assignment partitions must be 0 to %d, got %d", kerr.InvalidReplicaAssignment, len(s.Assignments)-1, p)
			}
			assign[p] = replicas
		}
		var err error
		if parts, err = assignedPartitions(img, assign, 0, len(assign[0])); err != nil {
			return none, err
		}
	} else {
		n, rf := s.NumPartitions, int32(s.ReplicationFactor)
		if n == -1 {
			n = defaults.NumPartitions
		}
		if rf == -1 {
			rf = int32(defaults.ReplicationFactor)
		}
		if err := checkCount(n); err != nil {
			return none, err
		}
		brokers := rackAlternated(img)
		if err := checkReplicationFactor(rf, len(brokers)); err != nil {
			return none, err
		}
		parts = placePartitions(img, brokers, 0, int(n), int(rf), start)
	}
	if err := checkConfigs(s.Configs, defaults.ValidateConfigs); err != nil {
		return none, err
	}
	return metadata.CreateTopic{Name: s.Name, ID: newID(), Partitions: parts, Configs: plainConfigs(s.Configs)}, nil
}

// topicResult is the result of creating topic name with rec, or of err.
func topicResult(name string, rec metadata.CreateTopic, err error) TopicResult {
	if err != nil {
		return TopicResult{Name: name, NumPartitions: -1, ReplicationFactor: -1, Err: err}
	}
	return TopicResult{Name: name, ID: rec.ID, NumPartitions: int32(len(rec.Partitions)), ReplicationFactor: int16(len(rec.Partitions[0].Replicas))}
}

func checkCount(n int32) error {
	switch {
	case n <= 0:
		return fmt.Errorf("%w: number of partitions must be larger than 0, got %d", kerr.InvalidPartitions, n)
	case n > MaxPartitionsPerTopic:
		return fmt.Errorf("%w: %d partitions is more than the limit of %d", kerr.InvalidPartitions, n, MaxPartitionsPerTopic)
	}
	return nil
}

func checkReplicationFactor(rf int32, brokers int) error {
	switch {
	case rf <= 0:
		return fmt.Errorf("%w: replication factor must be larger than 0, got %d", kerr.InvalidReplicationFactor, rf)
	case int(rf) > brokers:
		return fmt.Errorf("%w: replication factor %d is larger than the %d available broker(s)", kerr.InvalidReplicationFactor, rf, brokers)
	}
	return nil
}

// checkConfigs rejects null values and runs validate, wrapping an error
// that carries no Kafka code as INVALID_CONFIG.
func checkConfigs(cfg map[string]*string, validate func(map[string]*string) error) error {
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		if cfg[k] == nil {
			return fmt.Errorf("%w: null value not supported for topic configs: %s", kerr.InvalidConfig, k)
		}
	}
	if validate == nil || len(cfg) == 0 {
		return nil
	}
	if err := validate(cfg); err != nil {
		if ke := (*kerr.Error)(nil); errors.As(err, &ke) {
			return err
		}
		return fmt.Errorf("%w: %w", kerr.InvalidConfig, err)
	}
	return nil
}

// plainConfigs drops the pointers of validated configs; nil when empty.
func plainConfigs(cfg map[string]*string) map[string]string {
	if len(cfg) == 0 {
		return nil
	}
	out := make(map[string]string, len(cfg))
	for k, v := range cfg {
		out[k] = *v
	}
	return out
}

// assignedPartitions turns manual replica lists for partitions first,
// first+1, ... into partitions led by their first replica. Every list must
// hold rf distinct registered brokers.
func assignedPartitions(img *metadata.Image, assign [][]int32, first, rf int) ([]metadata.Partition, error) {
	if err := checkCount(int32(first + len(assign))); err != nil {
		return nil, err
	}
	parts := make([]metadata.Partition, len(assign))
	for i, replicas := range assign {
		p := int32(first + i)
		if len(replicas) == 0 {
			return nil, fmt.Errorf("%w: partition %d has an empty replica list", kerr.InvalidReplicaAssignment, p)
		}
		if len(replicas) != rf {
			return nil, fmt.Errorf("%w: partition %d has %d replicas, want the replication factor %d", kerr.InvalidReplicaAssignment, p, len(replicas), rf)
		}
		seen := make(map[int32]bool, len(replicas))
		for _, b := range replicas {
			if seen[b] {
				return nil, fmt.Errorf("%w: partition %d lists broker %d twice", kerr.InvalidReplicaAssignment, p, b)
			}
			seen[b] = true
			if _, ok := img.Broker(b); !ok {
				return nil, fmt.Errorf("%w: partition %d is assigned to broker %d, which is not registered", kerr.InvalidReplicaAssignment, p, b)
			}
		}
		r := slices.Clone(replicas)
		parts[i] = newPartition(img, p, r)
	}
	return parts, nil
}

// decideDeleteTopic returns the record deleting topic id, or
// UNKNOWN_TOPIC_ID.
func decideDeleteTopic(img *metadata.Image, id [16]byte) (metadata.DeleteTopic, error) {
	if _, ok := img.TopicByID(id); !ok {
		return metadata.DeleteTopic{}, fmt.Errorf("%w: no topic with id %x", kerr.UnknownTopicID, id)
	}
	return metadata.DeleteTopic{ID: id}, nil
}

// decidePartitions returns the record growing s.Topic to s.Count
// partitions. Its partition indexes continue the topic's current ones, so
// it applies only while the topic still has the partitions it was decided
// on.
func decidePartitions(img *metadata.Image, s PartitionSpec) (metadata.CreatePartitions, error) {
	var none metadata.CreatePartitions
	t, ok := img.Topic(s.Topic)
	if !ok {
		return none, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, s.Topic)
	}
	cur := int32(len(t.Partitions))
	switch {
	case s.Count < cur:
		return none, fmt.Errorf("%w: topic %q has %d partitions, more than the requested %d", kerr.InvalidPartitions, s.Topic, cur, s.Count)
	case s.Count == cur:
		return none, fmt.Errorf("%w: topic %q already has %d partitions", kerr.InvalidPartitions, s.Topic, cur)
	}
	if err := checkCount(s.Count); err != nil {
		return none, err
	}
	rf := len(t.Partitions[0].Target())
	add := int(s.Count - cur)
	var parts []metadata.Partition
	if s.Assignments != nil {
		if len(s.Assignments) != add {
			return none, fmt.Errorf("%w: %d replica assignments given for %d new partitions", kerr.InvalidReplicaAssignment, len(s.Assignments), add)
		}
		var err error
		if parts, err = assignedPartitions(img, s.Assignments, int(cur), rf); err != nil {
			return none, err
		}
	} else {
		brokers := rackAlternated(img)
		if err := checkReplicationFactor(int32(rf), len(brokers)); err != nil {
			return none, err
		}
		parts = placePartitions(img, brokers, int(cur), add, rf, 0)
	}
	return metadata.CreatePartitions{TopicID: t.ID, Partitions: parts}, nil
}

// decideTopicConfigs returns the record turning the config overrides of
// topic into what alter makes of them, guarded by the current ones;
// errNoChange when they stay as they are.
func decideTopicConfigs(img *metadata.Image, topic string, alter ConfigAlter) (metadata.SetTopicConfigs, error) {
	t, ok := img.Topic(topic)
	if !ok {
		return metadata.SetTopicConfigs{}, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, topic)
	}
	set, del, err := decideConfigs(t.Configs, alter)
	if err != nil {
		return metadata.SetTopicConfigs{}, err
	}
	return metadata.SetTopicConfigs{TopicID: t.ID, Set: set, Delete: del, Guarded: true, Base: t.Configs}, nil
}

// decideBrokerConfigs returns the record turning the dynamic settings of
// broker into what alter makes of them, guarded by the current ones;
// errNoChange when they stay as they are.
func decideBrokerConfigs(img *metadata.Image, broker int32, alter ConfigAlter) (metadata.SetBrokerConfigs, error) {
	cur := img.BrokerConfigs(broker)
	set, del, err := decideConfigs(cur, alter)
	if err != nil {
		return metadata.SetBrokerConfigs{}, err
	}
	return metadata.SetBrokerConfigs{Broker: broker, Set: set, Delete: del, Guarded: true, Base: cur}, nil
}

// decideConfigs returns the keys to set and to delete (sorted) to turn cur
// into what alter makes of it: errNoChange when nothing changes,
// INVALID_CONFIG for an empty key.
func decideConfigs(cur map[string]string, alter ConfigAlter) (set map[string]string, del []string, err error) {
	next, err := alter(cur)
	if err != nil {
		return nil, nil, err
	}
	if _, empty := next[""]; empty {
		return nil, nil, fmt.Errorf("%w: empty config name", kerr.InvalidConfig)
	}
	set = make(map[string]string)
	for k, v := range next {
		if old, ok := cur[k]; !ok || old != v {
			set[k] = v
		}
	}
	for k := range cur {
		if _, ok := next[k]; !ok {
			del = append(del, k)
		}
	}
	if len(set)+len(del) == 0 {
		return nil, nil, errNoChange
	}
	slices.Sort(del)
	return set, del, nil
}

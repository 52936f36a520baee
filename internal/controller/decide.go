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

// createPlan is the decision for one TopicSpec: a result and, if the topic
// can be created, the record that creates it.
type createPlan struct {
	result TopicResult
	rec    *metadata.CreateTopic
}

// decideCreateTopics checks specs against img and places the partitions of
// each valid one. newID returns a fresh random topic id. Names appearing
// more than once in specs are INVALID_REQUEST each.
func decideCreateTopics(img *metadata.Image, specs []TopicSpec, defaults Defaults, newID func() [16]byte) []createPlan {
	count := make(map[string]int, len(specs))
	for _, s := range specs {
		count[s.Name]++
	}
	brokers := rackAlternated(img)
	plans := make([]createPlan, len(specs))
	for i, s := range specs {
		res := TopicResult{Name: s.Name, NumPartitions: -1, ReplicationFactor: -1}
		var parts []metadata.Partition
		var err error
		if count[s.Name] > 1 {
			err = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, s.Name)
		} else {
			parts, err = decideTopic(img, s, defaults, brokers, i)
		}
		if err != nil {
			res.Err = err
			plans[i] = createPlan{result: res}
			continue
		}
		res.NumPartitions, res.ReplicationFactor = int32(len(parts)), int16(len(parts[0].Replicas))
		rec := &metadata.CreateTopic{Name: s.Name, ID: newID(), Partitions: parts, Configs: plainConfigs(s.Configs)}
		res.ID = rec.ID
		plans[i] = createPlan{result: res, rec: rec}
	}
	return plans
}

// decideTopic checks one spec and returns its partitions. start offsets the
// round-robin placement.
func decideTopic(img *metadata.Image, s TopicSpec, defaults Defaults, brokers []int32, start int) ([]metadata.Partition, error) {
	if err := metadata.CheckTopicName(s.Name); err != nil {
		return nil, err
	}
	if _, ok := img.Topic(s.Name); ok {
		return nil, fmt.Errorf("%w: topic %q already exists", kerr.TopicAlreadyExists, s.Name)
	}
	if other := img.CollidingTopic(s.Name); other != "" {
		return nil, fmt.Errorf("%w: topic %q collides with existing topic %q: '.' and '_' may not tell topics apart", kerr.InvalidTopicException, s.Name, other)
	}
	var parts []metadata.Partition
	if len(s.Assignments) > 0 {
		if s.NumPartitions != -1 || s.ReplicationFactor != -1 {
			return nil, fmt.Errorf("%w: both a partition count or replication factor and a manual assignment were given", kerr.InvalidRequest)
		}
		assign := make([][]int32, len(s.Assignments))
		for p, replicas := range s.Assignments {
			if p < 0 || int(p) >= len(s.Assignments) {
				return nil, fmt.Errorf("%w: manual assignment partitions must be 0 to %d, got %d", kerr.InvalidReplicaAssignment, len(s.Assignments)-1, p)
			}
			assign[p] = replicas
		}
		var err error
		if parts, err = assignedPartitions(img, assign, 0, len(assign[0])); err != nil {
			return nil, err
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
			return nil, err
		}
		if err := checkReplicationFactor(rf, len(brokers)); err != nil {
			return nil, err
		}
		parts = placePartitions(img, brokers, 0, int(n), int(rf), start)
	}
	if err := checkConfigs(s.Configs, defaults.ValidateConfigs); err != nil {
		return nil, err
	}
	return parts, nil
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

// decideDeleteTopics returns the records deleting ids, and the error of each
// id that cannot be deleted (UNKNOWN_TOPIC_ID, or INVALID_REQUEST for an id
// listed twice).
func decideDeleteTopics(img *metadata.Image, ids [][16]byte) (map[[16]byte]metadata.DeleteTopic, map[[16]byte]error) {
	recs := make(map[[16]byte]metadata.DeleteTopic, len(ids))
	errs := make(map[[16]byte]error)
	for _, id := range ids {
		if _, dup := recs[id]; dup {
			delete(recs, id)
			errs[id] = fmt.Errorf("%w: topic id %x appears more than once in the request", kerr.InvalidRequest, id)
			continue
		}
		if _, failed := errs[id]; failed {
			continue
		}
		if _, ok := img.TopicByID(id); !ok {
			errs[id] = fmt.Errorf("%w: no topic with id %x", kerr.UnknownTopicID, id)
			continue
		}
		recs[id] = metadata.DeleteTopic{ID: id}
	}
	return recs, errs
}

// decideCreatePartitions returns, for each spec, the record growing the topic
// or the error.
func decideCreatePartitions(img *metadata.Image, specs []PartitionSpec) ([]*metadata.CreatePartitions, []error) {
	count := make(map[string]int, len(specs))
	for _, s := range specs {
		count[s.Topic]++
	}
	brokers := rackAlternated(img)
	recs := make([]*metadata.CreatePartitions, len(specs))
	errs := make([]error, len(specs))
	for i, s := range specs {
		if count[s.Topic] > 1 {
			errs[i] = fmt.Errorf("%w: topic %q appears more than once in the request", kerr.InvalidRequest, s.Topic)
			continue
		}
		recs[i], errs[i] = decidePartitions(img, s, brokers)
	}
	return recs, errs
}

func decidePartitions(img *metadata.Image, s PartitionSpec, brokers []int32) (*metadata.CreatePartitions, error) {
	t, ok := img.Topic(s.Topic)
	if !ok {
		return nil, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, s.Topic)
	}
	cur := int32(len(t.Partitions))
	switch {
	case s.Count < cur:
		return nil, fmt.Errorf("%w: topic %q has %d partitions, more than the requested %d", kerr.InvalidPartitions, s.Topic, cur, s.Count)
	case s.Count == cur:
		return nil, fmt.Errorf("%w: topic %q already has %d partitions", kerr.InvalidPartitions, s.Topic, cur)
	}
	if err := checkCount(s.Count); err != nil {
		return nil, err
	}
	rf := len(t.Partitions[0].Target())
	add := int(s.Count - cur)
	var parts []metadata.Partition
	if s.Assignments != nil {
		if len(s.Assignments) != add {
			return nil, fmt.Errorf("%w: %d replica assignments given for %d new partitions", kerr.InvalidReplicaAssignment, len(s.Assignments), add)
		}
		var err error
		if parts, err = assignedPartitions(img, s.Assignments, int(cur), rf); err != nil {
			return nil, err
		}
	} else {
		if err := checkReplicationFactor(int32(rf), len(brokers)); err != nil {
			return nil, err
		}
		parts = placePartitions(img, brokers, int(cur), add, rf, 0)
	}
	return &metadata.CreatePartitions{TopicID: t.ID, Partitions: parts}, nil
}

// decideTopicConfigs returns the record setting and deleting config keys of
// topic.
func decideTopicConfigs(img *metadata.Image, topic string, set map[string]string, del []string) (metadata.SetTopicConfigs, error) {
	t, ok := img.Topic(topic)
	if !ok {
		return metadata.SetTopicConfigs{}, fmt.Errorf("%w: topic %q does not exist", kerr.UnknownTopicOrPartition, topic)
	}
	for _, k := range del {
		if k == "" {
			return metadata.SetTopicConfigs{}, fmt.Errorf("%w: empty config name", kerr.InvalidConfig)
		}
		if _, both := set[k]; both {
			return metadata.SetTopicConfigs{}, fmt.Errorf("%w: config %q is both set and deleted", kerr.InvalidConfig, k)
		}
	}
	for k := range set {
		if k == "" {
			return metadata.SetTopicConfigs{}, fmt.Errorf("%w: empty config name", kerr.InvalidConfig)
		}
	}
	return metadata.SetTopicConfigs{TopicID: t.ID, Set: maps.Clone(set), Delete: slices.Clone(del)}, nil
}

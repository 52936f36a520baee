package metadata

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors of Apply that have no Kafka error code. Rejections with a Kafka
// meaning wrap the kerr value instead: TopicAlreadyExists, UnknownTopicID,
// InvalidTopicException, InvalidPartitions, InvalidReplicaAssignment,
// InvalidConfig.
var (
	// ErrStaleIndex means the record's index is not above AppliedIndex.
	ErrStaleIndex = errors.New("metadata record index not above applied index")
	// ErrInvalidRecord means the record is self-contradictory or does not
	// fit the image (zero topic id, bad broker, a producer id block not
	// starting at NextProducerID, a second different cluster id).
	ErrInvalidRecord = errors.New("invalid metadata record")
)

// MaxTopicNameLength is Kafka's limit on topic name length.
const MaxTopicNameLength = 249

// CheckTopicName returns nil if name is a legal Kafka topic name: 1 to 249
// characters of [a-zA-Z0-9._-], and neither "." nor "..". Otherwise it
// returns an error wrapping kerr.InvalidTopicException.
func CheckTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: topic name is empty", kerr.InvalidTopicException)
	case name == "." || name == "..":
		return fmt.Errorf("%w: topic name cannot be %q", kerr.InvalidTopicException, name)
	case len(name) > MaxTopicNameLength:
		return fmt.Errorf("%w: topic name is %d characters, longer than %d", kerr.InvalidTopicException, len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: topic name %q contains a character other than ASCII alphanumerics, '.', '_' and '-'", kerr.InvalidTopicException, name)
		}
	}
	return nil
}

// CollidingTopic returns the name of an existing topic that differs from
// name only by '.' versus '_' (Kafka forbids both, as they collide in metric
// names), or "" if there is none. A topic named exactly name is not a
// collision.
func (img *Image) CollidingTopic(name string) string {
	if !strings.ContainsAny(name, "._") {
		return ""
	}
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range img.byName {
		if other != name && len(other) == len(name) && strings.ReplaceAll(other, ".", "_") == norm {
			return other
		}
	}
	return ""
}

// Apply returns the image after applying rec at log index index. On error it
// returns img itself, unchanged, and an error: ErrStaleIndex, ErrInvalidRecord
// or a wrapped kerr value (see the package errors). Apply never modifies img
// or rec; the new image may share rec's slices and maps, so the caller must
// not modify them afterwards.
func (img *Image) Apply(index uint64, rec Record) (*Image, error) {
	if index <= img.AppliedIndex {
		return img, fmt.Errorf("%w: index %d, applied %d", ErrStaleIndex, index, img.AppliedIndex)
	}
	next, err := img.apply(rec)
	if err != nil {
		return img, err
	}
	next.AppliedIndex = index
	return next, nil
}

func (img *Image) apply(rec Record) (*Image, error) {
	switch r := rec.(type) {
	case RegisterBroker:
		return img.registerBroker(r)
	case CreateTopic:
		return img.createTopic(r)
	case DeleteTopic:
		t, ok := img.byID[r.ID]
		if !ok {
			return nil, fmt.Errorf("%w: delete of topic id %x", kerr.UnknownTopicID, r.ID)
		}
		next := img.clone()
		delete(next.byName, t.Name)
		delete(next.byID, t.ID)
		return next, nil
	case CreatePartitions:
		return img.createPartitions(r)
	case SetTopicConfigs:
		return img.setTopicConfigs(r)
	case AllocateProducerIDs:
		return img.allocateProducerIDs(r)
	case SetClusterID:
		switch {
		case r.ID == "":
			return nil, fmt.Errorf("%w: empty cluster id", ErrInvalidRecord)
		case img.ClusterID != "" && img.ClusterID != r.ID:
			return nil, fmt.Errorf("%w: cluster id is %q, cannot change it to %q", ErrInvalidRecord, img.ClusterID, r.ID)
		}
		next := img.clone()
		next.ClusterID = r.ID
		return next, nil
	default:
		return nil, fmt.Errorf("%w: unknown record type %T", ErrInvalidRecord, rec)
	}
}

func (img *Image) registerBroker(r RegisterBroker) (*Image, error) {
	if r.ID < 0 || r.Host == "" || r.Port < 0 || r.Port > math.MaxUint16 {
		return nil, fmt.Errorf("%w: broker %d at %q port %d", ErrInvalidRecord, r.ID, r.Host, r.Port)
	}
	next := img.clone()
	next.brokers[r.ID] = Broker(r)
	return next, nil
}

func (img *Image) createTopic(r CreateTopic) (*Image, error) {
	if err := CheckTopicName(r.Name); err != nil {
		return nil, err
	}
	if r.ID == [16]byte{} {
		return nil, fmt.Errorf("%w: topic %q has the zero id", ErrInvalidRecord, r.Name)
	}
	if _, ok := img.byName[r.Name]; ok {
		return nil, fmt.Errorf("%w: topic %q", kerr.TopicAlreadyExists, r.Name)
	}
	if other, ok := img.byID[r.ID]; ok {
		return nil, fmt.Errorf("%w: topic id %x is used by topic %q", kerr.TopicAlreadyExists, r.ID, other.Name)
	}
	if other := img.CollidingTopic(r.Name); other != "" {
		return nil, fmt.Errorf("%w: topic %q collides with existing topic %q", kerr.InvalidTopicException, r.Name, other)
	}
	if len(r.Partitions) == 0 {
		return nil, fmt.Errorf("%w: topic %q has no partitions", kerr.InvalidPartitions, r.Name)
	}
	if err := img.checkPartitions(r.Partitions, 0); err != nil {
		return nil, fmt.Errorf("topic %q: %w", r.Name, err)
	}
	if err := checkConfigKeys(r.Configs, nil); err != nil {
		return nil, fmt.Errorf("topic %q: %w", r.Name, err)
	}
	next := img.clone()
	next.putTopic(&Topic{Name: r.Name, ID: r.ID, Partitions: r.Partitions, Configs: r.Configs})
	return next, nil
}

func (img *Image) createPartitions(r CreatePartitions) (*Image, error) {
	t, ok := img.byID[r.TopicID]
	if !ok {
		return nil, fmt.Errorf("%w: create partitions in topic id %x", kerr.UnknownTopicID, r.TopicID)
	}
	if len(r.Partitions) == 0 {
		return nil, fmt.Errorf("%w: no partitions to add to topic %q", kerr.InvalidPartitions, t.Name)
	}
	if err := img.checkPartitions(r.Partitions, len(t.Partitions)); err != nil {
		return nil, fmt.Errorf("topic %q: %w", t.Name, err)
	}
	nt := *t
	nt.Partitions = make([]Partition, 0, len(t.Partitions)+len(r.Partitions))
	nt.Partitions = append(append(nt.Partitions, t.Partitions...), r.Partitions...)
	next := img.clone()
	next.putTopic(&nt)
	return next, nil
}

func (img *Image) setTopicConfigs(r SetTopicConfigs) (*Image, error) {
	t, ok := img.byID[r.TopicID]
	if !ok {
		return nil, fmt.Errorf("%w: set configs of topic id %x", kerr.UnknownTopicID, r.TopicID)
	}
	if err := checkConfigKeys(r.Set, r.Delete); err != nil {
		return nil, fmt.Errorf("topic %q: %w", t.Name, err)
	}
	cfg := maps.Clone(t.Configs)
	if cfg == nil {
		cfg = make(map[string]string, len(r.Set))
	}
	maps.Copy(cfg, r.Set)
	for _, k := range r.Delete {
		delete(cfg, k)
	}
	if len(cfg) == 0 {
		cfg = nil
	}
	nt := *t
	nt.Configs = cfg
	next := img.clone()
	next.putTopic(&nt)
	return next, nil
}

func (img *Image) allocateProducerIDs(r AllocateProducerIDs) (*Image, error) {
	switch {
	case r.First != img.NextProducerID:
		return nil, fmt.Errorf("%w: producer id block starts at %d, next free id is %d", ErrInvalidRecord, r.First, img.NextProducerID)
	case r.Count <= 0 || r.First > math.MaxInt64-r.Count:
		return nil, fmt.Errorf("%w: producer id block of %d ids from %d", ErrInvalidRecord, r.Count, r.First)
	}
	if _, ok := img.brokers[r.Broker]; !ok {
		return nil, fmt.Errorf("%w: producer id block for unregistered broker %d", ErrInvalidRecord, r.Broker)
	}
	next := img.clone()
	next.NextProducerID = r.First + r.Count
	return next, nil
}

// checkPartitions checks partitions to be appended after the first start
// ones: consecutive indexes, replicas that are distinct registered brokers, a
// leader among them (or -1 for none) and an ISR within them.
func (img *Image) checkPartitions(ps []Partition, start int) error {
	for i, p := range ps {
		if int64(p.Index) != int64(start)+int64(i) {
			return fmt.Errorf("%w: partition index %d, want %d", kerr.InvalidPartitions, p.Index, start+i)
		}
		if len(p.Replicas) == 0 {
			return fmt.Errorf("%w: partition %d has no replicas", kerr.InvalidReplicaAssignment, p.Index)
		}
		seen := make(map[int32]bool, len(p.Replicas))
		for _, r := range p.Replicas {
			if seen[r] {
				return fmt.Errorf("%w: partition %d lists replica %d twice", kerr.InvalidReplicaAssignment, p.Index, r)
			}
			seen[r] = true
			if _, ok := img.brokers[r]; !ok {
				return fmt.Errorf("%w: partition %d replica %d is not a registered broker", kerr.InvalidReplicaAssignment, p.Index, r)
			}
		}
		if p.Leader != -1 && !seen[p.Leader] {
			return fmt.Errorf("%w: partition %d leader %d is not a replica", kerr.InvalidReplicaAssignment, p.Index, p.Leader)
		}
		if p.LeaderEpoch < 0 {
			return fmt.Errorf("%w: partition %d leader epoch %d", kerr.InvalidReplicaAssignment, p.Index, p.LeaderEpoch)
		}
		inISR := make(map[int32]bool, len(p.ISR))
		for _, r := range p.ISR {
			if !seen[r] || inISR[r] {
				return fmt.Errorf("%w: partition %d ISR %v is not a set of replicas %v", kerr.InvalidReplicaAssignment, p.Index, p.ISR, p.Replicas)
			}
			inISR[r] = true
		}
	}
	return nil
}

// checkConfigKeys rejects empty keys and keys both set and deleted.
func checkConfigKeys(set map[string]string, del []string) error {
	for k := range set {
		if k == "" {
			return fmt.Errorf("%w: empty config name", kerr.InvalidConfig)
		}
	}
	for _, k := range del {
		if k == "" {
			return fmt.Errorf("%w: empty config name", kerr.InvalidConfig)
		}
		if _, ok := set[k]; ok {
			return fmt.Errorf("%w: config %q both set and deleted", kerr.InvalidConfig, k)
		}
	}
	return nil
}

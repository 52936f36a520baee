package metadata

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Errors of Apply that have no Kafka error code. Rejections with a Kafka
// meaning wrap the kerr value instead: TopicAlreadyExists, UnknownTopicID,
// InvalidTopicException, InvalidPartitions, InvalidReplicaAssignment,
// InvalidConfig, StaleBrokerEpoch, InvalidUpdateVersion (a partition change
// decided on an older partition epoch, a guarded config change decided on
// other overrides), IneligibleReplica (a fenced broker made leader or added
// to an ISR), InvalidRequest (a malformed change).
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
	next, err := img.apply(index, rec)
	if err != nil {
		return img, err
	}
	next.AppliedIndex = index
	return next, nil
}

func (img *Image) apply(index uint64, rec Record) (*Image, error) {
	switch r := rec.(type) {
	case RegisterBroker:
		return img.registerBroker(index, r)
	case FenceBroker:
		return img.setFenced(r.ID, r.Epoch, true)
	case UnregisterBroker:
		return img.unregisterBroker(r)
	case UnfenceBroker:
		return img.setFenced(r.ID, r.Epoch, false)
	case ChangePartitions:
		return img.changePartitions(r)
	case ReassignPartitions:
		return img.reassignPartitions(r)
	case Batch:
		if len(r.Records) == 0 {
			return nil, fmt.Errorf("%w: empty batch", ErrInvalidRecord)
		}
		next := img
		for _, sub := range r.Records {
			if _, nested := sub.(Batch); nested {
				return nil, fmt.Errorf("%w: nested batch", ErrInvalidRecord)
			}
			var err error
			if next, err = next.apply(index, sub); err != nil {
				return nil, err
			}
		}
		return next, nil
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
	case SetBrokerConfigs:
		if r.Broker < ClusterDefault {
			return nil, fmt.Errorf("%w: broker id %d", kerr.InvalidRequest, r.Broker)
		}
		if err := checkConfigKeys(r.Set, r.Delete); err != nil {
			return nil, fmt.Errorf("broker %d: %w", r.Broker, err)
		}
		if err := checkBase(r.Guarded, r.Base, img.brokerConfigs[r.Broker]); err != nil {
			return nil, fmt.Errorf("broker %d: %w", r.Broker, err)
		}
		next := img.clone()
		next.setBrokerConfigs(r.Broker, mergeConfigs(img.brokerConfigs[r.Broker], r.Set, r.Delete))
		return next, nil
	case SetControllerAddr:
		if err := checkControllerAddr(r.ID, r.Addr); err != nil {
			return nil, err
		}
		next := img.clone()
		next.controllerAddrs[r.ID] = r.Addr
		return next, nil
	case SetACLs:
		return img.setACLs(r)
	case SetClientQuotas:
		return img.setClientQuotas(r)
	case AllocateProducerIDs:
		return img.allocateProducerIDs(r)
	case ScramCredential:
		return img.changeScram(r)
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

func (img *Image) registerBroker(index uint64, r RegisterBroker) (*Image, error) {
	if r.ID < 0 || r.Host == "" || r.Port < 0 || r.Port > math.MaxUint16 {
		return nil, fmt.Errorf("%w: broker %d at %q port %d", ErrInvalidRecord, r.ID, r.Host, r.Port)
	}
	if err := checkEndpoints(r.ID, r.Listeners); err != nil {
		return nil, err
	}
	b := Broker{ID: r.ID, Host: r.Host, Port: r.Port, Rack: r.Rack, Listeners: r.Listeners, Epoch: int64(index), Incarnation: r.Incarnation}
	if cur, ok := img.brokers[r.ID]; ok && cur.Incarnation == r.Incarnation {
		b.Epoch, b.Fenced = cur.Epoch, cur.Fenced
	} else {
		b.Fenced = r.Incarnation != [16]byte{}
	}
	next := img.clone()
	next.brokers[r.ID] = b
	return next, nil
}

// changeScram upserts or deletes a SCRAM credential.
func (img *Image) changeScram(r ScramCredential) (*Image, error) {
	key := ScramKey{r.User, r.Mechanism}
	_, exists := img.scram[key]
	if r.Delete && !exists {
		return nil, fmt.Errorf("%w: no SCRAM credential of %q for mechanism %d", kerr.ResourceNotFound, r.User, r.Mechanism)
	}
	if !r.Delete {
		if err := checkScram(r); err != nil {
			return nil, err
		}
	}
	next := img.clone()
	next.scram = maps.Clone(img.scram)
	if r.Delete {
		delete(next.scram, key)
	} else {
		if next.scram == nil {
			next.scram = map[ScramKey]ScramCredential{}
		}
		next.scram[key] = r
	}
	return next, nil
}

// checkScram checks a credential upserted: a user, a known mechanism, a
// salt, a positive iteration count and keys of the mechanism's hash size.
func checkScram(c ScramCredential) error {
	size := map[int8]int{1: 32, 2: 64}[c.Mechanism]
	if c.User == "" || size == 0 || c.Delete || len(c.Salt) == 0 || c.Iterations <= 0 ||
		len(c.StoredKey) != size || len(c.ServerKey) != size {
		return fmt.Errorf("%w: SCRAM credential of %q for mechanism %d", ErrInvalidRecord, c.User, c.Mechanism)
	}
	return nil
}

// checkEndpoints checks a broker's listeners: named, each name once, with
// a host and a port.
func checkEndpoints(id int32, eps []Endpoint) error {
	seen := make(map[string]bool, len(eps))
	for _, ep := range eps {
		if ep.Name == "" || seen[ep.Name] || ep.Host == "" || ep.Port < 0 || ep.Port > math.MaxUint16 {
			return fmt.Errorf("%w: broker %d listener %q at %q port %d", ErrInvalidRecord, id, ep.Name, ep.Host, ep.Port)
		}
		seen[ep.Name] = true
	}
	return nil
}

// mergeConfigs returns a copy of cfg with set applied and del removed; nil
// when nothing is left.
func mergeConfigs(cfg, set map[string]string, del []string) map[string]string {
	out := maps.Clone(cfg)
	if out == nil {
		out = make(map[string]string, len(set))
	}
	maps.Copy(out, set)
	for _, k := range del {
		delete(out, k)
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// setBrokerConfigs sets broker id's dynamic settings in an image under
// construction; nil removes them.
func (img *Image) setBrokerConfigs(id int32, cfg map[string]string) {
	if cfg == nil {
		delete(img.brokerConfigs, id)
		return
	}
	img.brokerConfigs[id] = cfg
}

// checkControllerAddr checks a SetControllerAddr's node id and host:port.
func checkControllerAddr(id int32, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || id < 0 || host == "" || port == "" {
		return fmt.Errorf("%w: controller address %q of node %d", ErrInvalidRecord, addr, id)
	}
	return nil
}

// unregisterBroker removes a broker that holds no replica.
func (img *Image) unregisterBroker(r UnregisterBroker) (*Image, error) {
	b, ok := img.brokers[r.ID]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: broker %d", kerr.BrokerIDNotRegistered, r.ID)
	case b.Epoch != r.Epoch:
		return nil, fmt.Errorf("%w: broker %d has epoch %d, not %d", kerr.StaleBrokerEpoch, r.ID, b.Epoch, r.Epoch)
	}
	for _, t := range img.byName {
		for _, p := range t.Partitions {
			if p.HasReplica(r.ID) {
				return nil, fmt.Errorf("%w: broker %d still holds a replica of %s-%d; move its replicas first", kerr.InvalidRequest, r.ID, t.Name, p.Index)
			}
		}
	}
	next := img.clone()
	delete(next.brokers, r.ID)
	delete(next.controllerAddrs, r.ID)
	next.setBrokerConfigs(r.ID, nil)
	return next, nil
}

// setFenced fences or unfences broker id at epoch; a broker already in that
// state is left as it is.
func (img *Image) setFenced(id int32, epoch int64, fenced bool) (*Image, error) {
	b, ok := img.brokers[id]
	switch {
	case !ok:
		return nil, fmt.Errorf("%w: broker %d is not registered", kerr.StaleBrokerEpoch, id)
	case b.Epoch != epoch:
		return nil, fmt.Errorf("%w: broker %d has epoch %d, not %d", kerr.StaleBrokerEpoch, id, b.Epoch, epoch)
	case b.Fenced == fenced:
		return img.clone(), nil
	}
	b.Fenced = fenced
	next := img.clone()
	next.brokers[id] = b
	return next, nil
}

// changePartitions applies every change to copies of the topics they touch.
func (img *Image) changePartitions(r ChangePartitions) (*Image, error) {
	return img.changeEach(len(r.Changes), func(i int) PartitionChange { return r.Changes[i] },
		func(p *Partition, i int) error {
			c := r.Changes[i]
			if err := img.checkChange(p, c, p.Replicas); err != nil {
				return err
			}
			p.Leader, p.LeaderEpoch, p.ISR = c.Leader, c.LeaderEpoch, slices.Clone(c.ISR)
			return nil
		})
}

// reassignPartitions applies every reassignment change to copies of the
// topics they touch.
func (img *Image) reassignPartitions(r ReassignPartitions) (*Image, error) {
	return img.changeEach(len(r.Changes), func(i int) PartitionChange { return r.Changes[i].PartitionChange },
		func(p *Partition, i int) error {
			c := r.Changes[i]
			if err := img.checkReplicas(p, c); err != nil {
				return err
			}
			if err := img.checkChange(p, c.PartitionChange, c.Replicas); err != nil {
				return err
			}
			p.Leader, p.LeaderEpoch, p.ISR = c.Leader, c.LeaderEpoch, slices.Clone(c.ISR)
			p.Replicas, p.Adding, p.Removing = slices.Clone(c.Replicas), slices.Clone(c.Adding), slices.Clone(c.Removing)
			return nil
		})
}

// changeEach applies n partition changes, the i-th naming its partition
// with change(i), through set on a copy of the partition, to copies of the
// topics they touch; every change raises its partition's epoch by one. It
// fails if any change fails, or names an unknown partition or one already
// changed.
func (img *Image) changeEach(n int, change func(i int) PartitionChange, set func(p *Partition, i int) error) (*Image, error) {
	if n == 0 {
		return nil, fmt.Errorf("%w: no partition changes", kerr.InvalidRequest)
	}
	touched := make(map[[16]byte]*Topic)
	type tp struct {
		id [16]byte
		p  int32
	}
	seen := make(map[tp]bool, n)
	for i := range n {
		c := change(i)
		t, ok := touched[c.TopicID]
		if !ok {
			orig, ok := img.byID[c.TopicID]
			if !ok {
				return nil, fmt.Errorf("%w: change of a partition of topic id %x", kerr.UnknownTopicID, c.TopicID)
			}
			nt := *orig
			nt.Partitions = slices.Clone(orig.Partitions)
			t = &nt
			touched[c.TopicID] = t
		}
		if c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
			return nil, fmt.Errorf("%w: topic %q has no partition %d", kerr.UnknownTopicOrPartition, t.Name, c.Partition)
		}
		if seen[tp{c.TopicID, c.Partition}] {
			return nil, fmt.Errorf("%w: %s-%d changed twice in one record", kerr.InvalidRequest, t.Name, c.Partition)
		}
		seen[tp{c.TopicID, c.Partition}] = true
		p := &t.Partitions[c.Partition]
		if err := set(p, i); err != nil {
			return nil, fmt.Errorf("%s-%d: %w", t.Name, c.Partition, err)
		}
		p.Epoch++
	}
	next := img.clone()
	for _, t := range touched {
		next.putTopic(t)
	}
	return next, nil
}

// checkChange checks c against the partition's current state p, with
// replicas the partition's replicas after the change: the same partition
// epoch; a non-empty ISR of distinct replicas holding the leader; a leader
// epoch one up exactly when the leader changes; and no fenced broker made
// leader or added to the ISR.
func (img *Image) checkChange(p *Partition, c PartitionChange, replicas []int32) error {
	if c.Epoch != p.Epoch {
		return fmt.Errorf("%w: decided on partition epoch %d, the partition is at %d", kerr.InvalidUpdateVersion, c.Epoch, p.Epoch)
	}
	if len(c.ISR) == 0 {
		return fmt.Errorf("%w: empty ISR", kerr.InvalidRequest)
	}
	for i, r := range c.ISR {
		if !slices.Contains(replicas, r) || slices.Contains(c.ISR[:i], r) {
			return fmt.Errorf("%w: ISR %v is not a set of replicas %v", kerr.InvalidRequest, c.ISR, replicas)
		}
		if !p.InISR(r) && !img.Unfenced(r) {
			return fmt.Errorf("%w: broker %d is fenced or unregistered and cannot join the ISR", kerr.IneligibleReplica, r)
		}
	}
	if c.Leader != -1 {
		if !slices.Contains(c.ISR, c.Leader) {
			return fmt.Errorf("%w: leader %d is not in the ISR %v", kerr.InvalidRequest, c.Leader, c.ISR)
		}
		if c.Leader != p.Leader && !img.Unfenced(c.Leader) {
			return fmt.Errorf("%w: broker %d is fenced or unregistered and cannot lead", kerr.IneligibleReplica, c.Leader)
		}
	}
	want := p.LeaderEpoch
	if c.Leader != p.Leader {
		want++
	}
	if c.LeaderEpoch != want {
		return fmt.Errorf("%w: leader epoch %d, want %d", kerr.InvalidRequest, c.LeaderEpoch, want)
	}
	return nil
}

// checkReplicas checks the replica lists of a reassignment change: distinct
// replicas, each already one of p's or a registered broker; Adding and
// Removing disjoint sets of them, Removing not all of them.
func (img *Image) checkReplicas(p *Partition, c PartitionReassignment) error {
	if err := distinctSubset("replicas", c.Replicas, nil); err != nil {
		return err
	}
	for _, r := range c.Replicas {
		if _, ok := img.brokers[r]; !ok && !p.HasReplica(r) {
			return fmt.Errorf("%w: replica %d is not a registered broker", kerr.InvalidReplicaAssignment, r)
		}
	}
	return checkReplicaLists(c.Replicas, c.Adding, c.Removing)
}

// checkReplicaLists checks that adding and removing are disjoint sets of
// replicas and that removing is not all of them.
func checkReplicaLists(replicas, adding, removing []int32) error {
	if err := distinctSubset("adding replicas", adding, replicas); err != nil {
		return err
	}
	if err := distinctSubset("removing replicas", removing, replicas); err != nil {
		return err
	}
	for _, r := range adding {
		if slices.Contains(removing, r) {
			return fmt.Errorf("%w: replica %d both added and removed", kerr.InvalidReplicaAssignment, r)
		}
	}
	if len(removing) == len(replicas) {
		return fmt.Errorf("%w: every replica would be removed", kerr.InvalidReplicaAssignment)
	}
	return nil
}

// distinctSubset checks that vs holds no id twice and, when of is not nil,
// only ids of of; an empty vs is an error when of is nil.
func distinctSubset(what string, vs, of []int32) error {
	if of == nil && len(vs) == 0 {
		return fmt.Errorf("%w: no %s", kerr.InvalidReplicaAssignment, what)
	}
	for i, v := range vs {
		if slices.Contains(vs[:i], v) || (of != nil && !slices.Contains(of, v)) {
			return fmt.Errorf("%w: %s %v are not a set of %v", kerr.InvalidReplicaAssignment, what, vs, of)
		}
	}
	return nil
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
	if err := checkBase(r.Guarded, r.Base, t.Configs); err != nil {
		return nil, fmt.Errorf("topic %q: %w", t.Name, err)
	}
	nt := *t
	nt.Configs = mergeConfigs(t.Configs, r.Set, r.Delete)
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
// leader among them (or -1 for none) and an ISR within them, holding the
// leader.
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
		if p.Epoch < 0 {
			return fmt.Errorf("%w: partition %d partition epoch %d", kerr.InvalidReplicaAssignment, p.Index, p.Epoch)
		}
		inISR := make(map[int32]bool, len(p.ISR))
		for _, r := range p.ISR {
			if !seen[r] || inISR[r] {
				return fmt.Errorf("%w: partition %d ISR %v is not a set of replicas %v", kerr.InvalidReplicaAssignment, p.Index, p.ISR, p.Replicas)
			}
			inISR[r] = true
		}
		if p.Leader != -1 && !inISR[p.Leader] {
			return fmt.Errorf("%w: partition %d leader %d is not in the ISR %v", kerr.InvalidReplicaAssignment, p.Index, p.Leader, p.ISR)
		}
		if p.Reassigning() {
			if err := checkReplicaLists(p.Replicas, p.Adding, p.Removing); err != nil {
				return fmt.Errorf("partition %d: %w", p.Index, err)
			}
		}
	}
	return nil
}

// checkBase refuses a guarded config change whose base, the overrides it
// was decided on, are not cur: another change came first, and merging this
// one into it could drop that one's keys or keep keys a replace removes.
func checkBase(guarded bool, base, cur map[string]string) error {
	if guarded && !maps.Equal(base, cur) {
		return fmt.Errorf("%w: the config overrides changed after this change was decided on them", kerr.InvalidUpdateVersion)
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

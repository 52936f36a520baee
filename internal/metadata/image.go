package metadata

import (
	"cmp"
	"maps"
	"slices"
)

// Broker is a registered broker.
type Broker struct {
	ID   int32
	Host string
	Port int32
	Rack string // empty: no rack
	// Listeners are the named listeners of a broker with more than one
	// (see RegisterBroker.Listeners).
	Listeners []Endpoint
	// Epoch is the broker epoch: the metadata log index of the
	// registration. Each start of a broker registers anew, so a restarted
	// broker has a new epoch and records about the old one do not apply
	// to it.
	Epoch int64
	// Incarnation is the random id of the process that registered.
	Incarnation [16]byte
	// Fenced brokers lead no partition and join no ISR. A broker is
	// fenced from its registration until the controller sees it caught up
	// with the metadata log, and again when it misses its heartbeats for
	// broker.session.timeout.ms.
	Fenced bool
}

// Equal reports whether b and o register the same broker alike.
func (b Broker) Equal(o Broker) bool {
	return b.ID == o.ID && b.Host == o.Host && b.Port == o.Port && b.Rack == o.Rack &&
		b.Epoch == o.Epoch && b.Incarnation == o.Incarnation && b.Fenced == o.Fenced &&
		slices.Equal(b.Listeners, o.Listeners)
}

// Topic is one topic of an image. Topics are shared between images: callers
// must not modify a Topic, its partitions or its configs.
type Topic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition // Partitions[i].Index == i
	Configs    map[string]string
}

// Partition is one partition of a topic. Leader is a broker id, or -1 when
// the partition has none; ISR is a non-empty subset of Replicas that holds
// the leader.
type Partition struct {
	Index       int32
	Leader      int32
	LeaderEpoch int32
	// Epoch is the partition epoch (Kafka's): it grows by one with every
	// change of the leader or ISR, so a change decided on an older state
	// is refused.
	Epoch    int32
	Replicas []int32
	ISR      []int32
	// Adding and Removing are, during a reassignment, the replicas being
	// added (not yet caught up) and those to remove once they are; both
	// are subsets of Replicas, and nil when no reassignment runs.
	Adding   []int32
	Removing []int32
}

// InISR reports whether broker id is an in-sync replica of p.
func (p *Partition) InISR(id int32) bool { return slices.Contains(p.ISR, id) }

// Reassigning reports whether a reassignment of p is in progress.
func (p *Partition) Reassigning() bool { return len(p.Adding)+len(p.Removing) > 0 }

// Target returns the replicas p will have once its reassignment completes:
// Replicas without Removing (Replicas when none runs).
func (p *Partition) Target() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Removing, r) })
}

// Original returns the replicas p had before its reassignment: Replicas
// without Adding (Replicas when none runs).
func (p *Partition) Original() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Adding, r) })
}

// HasReplica reports whether broker id holds a replica of p.
func (p *Partition) HasReplica(id int32) bool { return slices.Contains(p.Replicas, id) }

// Image is the metadata state after applying the log up to AppliedIndex. An
// Image is immutable: Apply returns a new one, sharing the unchanged topics.
// The zero Image is the empty image before any record.
type Image struct {
	ClusterID string
	// NextProducerID is the first producer id not yet allocated.
	NextProducerID int64
	// AppliedIndex is the metadata log index of the last record applied.
	AppliedIndex uint64

	brokers map[int32]Broker
	byName  map[string]*Topic
	byID    map[[16]byte]*Topic
	// brokerConfigs are the dynamic broker settings by broker id
	// (ClusterDefault: the cluster-wide ones); the maps are shared
	// between images and never modified.
	brokerConfigs map[int32]map[string]string
	// controllerAddrs are the Raft listener addresses the log recorded
	// (SetControllerAddr), by node id.
	controllerAddrs map[int32]string
	// acls are the ACLs (SetACLs); nil when there are none.
	acls *aclSet
	// clientQuotas are the client quotas by entity; the inner maps are
	// shared between images and never modified.
	clientQuotas map[QuotaEntity]map[string]float64
	// scram are the SCRAM credentials by user and mechanism; the map is
	// shared between images and copied on change.
	scram map[ScramKey]ScramCredential
}

// ScramKey names one SCRAM credential: a user's, for one mechanism.
type ScramKey struct {
	User      string
	Mechanism int8
}

// ScramCredential returns user's SCRAM credential for mechanism. The
// caller must not modify its slices.
func (img *Image) ScramCredential(user string, mechanism int8) (ScramCredential, bool) {
	c, ok := img.scram[ScramKey{user, mechanism}]
	return c, ok
}

// ScramCredentials returns every SCRAM credential sorted by user, then
// mechanism, in a new slice (their byte slices are shared).
func (img *Image) ScramCredentials() []ScramCredential {
	cs := slices.Collect(maps.Values(img.scram))
	slices.SortFunc(cs, func(a, b ScramCredential) int {
		return cmp.Or(cmp.Compare(a.User, b.User), cmp.Compare(a.Mechanism, b.Mechanism))
	})
	return cs
}

// ControllerAddrs returns the Raft listener addresses the metadata log
// recorded, by node id. The caller must not modify the map.
func (img *Image) ControllerAddrs() map[int32]string { return img.controllerAddrs }

// BrokerConfigs returns the dynamic settings of broker id, or the
// cluster-wide ones for ClusterDefault; nil when none. The caller must not
// modify the map.
func (img *Image) BrokerConfigs(id int32) map[string]string { return img.brokerConfigs[id] }

// Topic returns the topic named name.
func (img *Image) Topic(name string) (*Topic, bool) {
	t, ok := img.byName[name]
	return t, ok
}

// TopicByID returns the topic with the given id.
func (img *Image) TopicByID(id [16]byte) (*Topic, bool) {
	t, ok := img.byID[id]
	return t, ok
}

// Topics returns every topic sorted by name, in a new slice the caller owns
// (the topics themselves are shared and must not be modified).
func (img *Image) Topics() []*Topic {
	ts := make([]*Topic, 0, len(img.byName))
	for _, t := range img.byName {
		ts = append(ts, t)
	}
	slices.SortFunc(ts, func(a, b *Topic) int { return cmp.Compare(a.Name, b.Name) })
	return ts
}

// Broker returns the registered broker with the given id.
func (img *Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	return b, ok
}

// Unfenced reports whether broker id is registered and not fenced.
func (img *Image) Unfenced(id int32) bool {
	b, ok := img.brokers[id]
	return ok && !b.Fenced
}

// Brokers returns every registered broker sorted by id, in a new slice.
func (img *Image) Brokers() []Broker {
	bs := make([]Broker, 0, len(img.brokers))
	for _, b := range img.brokers {
		bs = append(bs, b)
	}
	slices.SortFunc(bs, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	return bs
}

// clone returns a shallow copy whose maps may be modified without affecting
// img; the topics are shared.
func (img *Image) clone() *Image {
	c := *img
	c.brokers = make(map[int32]Broker, len(img.brokers)+1)
	for id, b := range img.brokers {
		c.brokers[id] = b
	}
	c.brokerConfigs = make(map[int32]map[string]string, len(img.brokerConfigs))
	for id, m := range img.brokerConfigs {
		c.brokerConfigs[id] = m
	}
	c.controllerAddrs = maps.Clone(img.controllerAddrs)
	if c.controllerAddrs == nil {
		c.controllerAddrs = map[int32]string{}
	}
	c.clientQuotas = maps.Clone(img.clientQuotas)
	if c.clientQuotas == nil {
		c.clientQuotas = map[QuotaEntity]map[string]float64{}
	}
	c.byName = make(map[string]*Topic, len(img.byName)+1)
	c.byID = make(map[[16]byte]*Topic, len(img.byID)+1)
	for name, t := range img.byName {
		c.byName[name] = t
		c.byID[t.ID] = t
	}
	return &c
}

// putTopic adds or replaces t in an image under construction.
func (img *Image) putTopic(t *Topic) {
	img.byName[t.Name] = t
	img.byID[t.ID] = t
}

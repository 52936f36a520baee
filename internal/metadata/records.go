// Package metadata holds the cluster metadata image: brokers, topics,
// partitions, topic configs, the cluster id and the producer id high-water
// mark. The image changes only by applying records from the metadata log in
// log order; each Apply returns a new immutable image. The package is pure:
// no I/O and no goroutines. The byte format of records and snapshots is
// specified in docs/format/metadata-log.md.
package metadata

// Record is one change to the metadata image, as written to the metadata log.
// The concrete types are RegisterBroker, FenceBroker, UnfenceBroker,
// CreateTopic, DeleteTopic, CreatePartitions, ChangePartitions,
// ReassignPartitions, UnregisterBroker, SetTopicConfigs, SetBrokerConfigs,
// SetControllerAddr, SetACLs, SetClientQuotas, AllocateProducerIDs,
// SetClusterID, ScramCredential and Batch; the
// interface is sealed.
type Record interface {
	kind() kind
}

// kind is the byte after the version byte that names what an encoded blob
// holds. The values are part of the on-disk format: never renumber them.
type kind byte

const (
	kindRegisterBroker      kind = 1
	kindCreateTopic         kind = 2
	kindDeleteTopic         kind = 3
	kindCreatePartitions    kind = 4
	kindSetTopicConfigs     kind = 5
	kindAllocateProducerIDs kind = 6
	kindSetClusterID        kind = 7
	kindFenceBroker         kind = 8
	kindUnfenceBroker       kind = 9
	kindChangePartitions    kind = 10
	kindBatch               kind = 11
	kindReassignPartitions  kind = 12
	kindUnregisterBroker    kind = 13
	kindSetBrokerConfigs    kind = 14
	kindSetControllerAddr   kind = 15
	kindScramCredential     kind = 16
	kindSetACLs             kind = 17
	kindSetClientQuotas     kind = 18
	// kindSnapshot marks a whole encoded image (a Raft snapshot), never a
	// log entry; Store.ApplyEncoded tells the two apart by it.
	kindSnapshot kind = 0x80
)

// RegisterBroker registers a broker process. A new Incarnation of the ID
// replaces the earlier registration: the broker gets the record's index as
// its epoch and starts fenced. The same Incarnation again only updates the
// address and rack. A registration without an incarnation (format version
// 1) is a broker of a one-node cluster from before fencing: unfenced.
type RegisterBroker struct {
	ID          int32
	Host        string
	Port        int32
	Rack        string // empty: no rack
	Incarnation [16]byte
	// Listeners are the broker's named listeners (format version 5), for
	// a broker with more than one; Host and Port are then the one other
	// nodes connect to. Empty: Host and Port serve every listener name.
	Listeners []Endpoint
}

// Endpoint is one named listener of a broker, as clients are told it.
type Endpoint struct {
	Name string
	Host string
	Port int32
}

// FenceBroker fences the broker ID if its epoch is still Epoch.
type FenceBroker struct {
	ID    int32
	Epoch int64
}

// UnfenceBroker unfences the broker ID if its epoch is still Epoch.
type UnfenceBroker struct {
	ID    int32
	Epoch int64
}

// UnregisterBroker removes the broker ID, registered with Epoch, from the
// cluster (Kafka's UnregisterBrokerRecord). It must hold no replica.
type UnregisterBroker struct {
	ID    int32
	Epoch int64
}

// PartitionChange sets the leader, leader epoch and ISR of one partition
// (Kafka's PartitionChangeRecord, and what an AlterPartition asks). It
// applies only while the partition's epoch is still Epoch, and raises it by
// one.
type PartitionChange struct {
	TopicID     [16]byte
	Partition   int32
	Epoch       int32 // the partition epoch the change was decided on
	Leader      int32 // -1: no leader
	LeaderEpoch int32 // the current one, or one more when the leader changes
	ISR         []int32
}

// ChangePartitions applies every change, or none if one of them does not
// apply.
type ChangePartitions struct {
	Changes []PartitionChange
}

// PartitionReassignment sets a partition's replicas, the replicas being
// added and those being removed, with its leader, leader epoch and ISR as a
// PartitionChange does (Kafka's PartitionChangeRecord with its replica
// fields). A reassignment starts with Replicas the target replicas followed
// by the current ones not among them, Adding the target replicas not yet
// replicas and Removing the current ones not in the target; it completes
// with Replicas the target and neither list, once the target replicas are
// all in the ISR.
type PartitionReassignment struct {
	PartitionChange
	Replicas []int32
	Adding   []int32
	Removing []int32
}

// ReassignPartitions applies every reassignment change, or none if one of
// them does not apply.
type ReassignPartitions struct {
	Changes []PartitionReassignment
}

// Batch applies its records in order as one change: all of them, or none
// if one is rejected. A broker's registration or fencing and the leader
// elections it makes necessary travel together in one. Batches do not nest.
type Batch struct {
	Records []Record
}

// CreateTopic creates a topic with its initial partitions. ID is a random
// UUID v4 chosen by the controller; it is never reused.
type CreateTopic struct {
	Name       string
	ID         [16]byte
	Partitions []Partition
	Configs    map[string]string // topic config overrides; nil when none
}

// DeleteTopic removes the topic with the given ID and all its partitions.
type DeleteTopic struct {
	ID [16]byte
}

// CreatePartitions appends partitions to an existing topic. The new
// partitions' indexes continue the topic's existing ones without gaps.
type CreatePartitions struct {
	TopicID    [16]byte
	Partitions []Partition
}

// SetTopicConfigs sets the keys in Set and removes the keys in Delete from a
// topic's config overrides. A key may not appear in both. A Guarded change
// (format version 4) applies only while the overrides are still Base, the
// ones it was decided on, so a change decided before another one replaced
// them is refused rather than merged into the result.
type SetTopicConfigs struct {
	TopicID [16]byte
	Set     map[string]string
	Delete  []string
	Guarded bool
	Base    map[string]string
}

// SetBrokerConfigs sets the keys in Set and removes the keys in Delete from
// the dynamic settings of Broker, or of the cluster-wide default when Broker
// is ClusterDefault (Kafka's ConfigRecord of a BROKER resource). A key may
// not appear in both. Guarded and Base are as in SetTopicConfigs.
type SetBrokerConfigs struct {
	Broker  int32
	Set     map[string]string
	Delete  []string
	Guarded bool
	Base    map[string]string
}

// ClusterDefault is the Broker of the cluster-wide dynamic settings.
const ClusterDefault int32 = -1

// AllocateProducerIDs hands the half-open range [First, First+Count) of
// producer ids to Broker. First must equal the image's NextProducerID, so
// two allocations made from the same image cannot both apply.
type AllocateProducerIDs struct {
	Broker int32
	First  int64
	Count  int64
}

// SetControllerAddr records the address of node ID's Raft listener
// (Kafka's VotersRecord endpoints): a voter added while the cluster runs
// (KIP-853) is in no other node's --controller-voters list, so the others
// learn from the log where to reach it.
type SetControllerAddr struct {
	ID   int32
	Addr string // host:port
}

// ScramCredential upserts, or with Delete removes, the SCRAM credential
// of User for Mechanism (Kafka's UserScramCredentialRecord and
// RemoveUserScramCredentialRecord): the salt, iteration count and the
// keys derived from the salted password (RFC 5802), never the password.
// Mechanism is Kafka's type: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512. A deletion
// carries only User and Mechanism and applies only while the credential
// exists. Several changes travel together in a Batch.
type ScramCredential struct {
	User       string
	Mechanism  int8
	Delete     bool
	Salt       []byte
	Iterations int32
	StoredKey  []byte
	ServerKey  []byte
}

// SetClusterID sets the cluster id. It is set once; setting the same id
// again is a no-op, setting a different one is an error.
type SetClusterID struct {
	ID string
}

func (RegisterBroker) kind() kind      { return kindRegisterBroker }
func (CreateTopic) kind() kind         { return kindCreateTopic }
func (DeleteTopic) kind() kind         { return kindDeleteTopic }
func (CreatePartitions) kind() kind    { return kindCreatePartitions }
func (SetTopicConfigs) kind() kind     { return kindSetTopicConfigs }
func (AllocateProducerIDs) kind() kind { return kindAllocateProducerIDs }
func (SetClusterID) kind() kind        { return kindSetClusterID }
func (FenceBroker) kind() kind         { return kindFenceBroker }
func (UnfenceBroker) kind() kind       { return kindUnfenceBroker }
func (ChangePartitions) kind() kind    { return kindChangePartitions }
func (Batch) kind() kind               { return kindBatch }
func (ReassignPartitions) kind() kind  { return kindReassignPartitions }
func (UnregisterBroker) kind() kind    { return kindUnregisterBroker }
func (SetBrokerConfigs) kind() kind    { return kindSetBrokerConfigs }
func (SetControllerAddr) kind() kind   { return kindSetControllerAddr }
func (ScramCredential) kind() kind     { return kindScramCredential }

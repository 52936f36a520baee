package metadata

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// Version is the newest format version byte an encoded record or snapshot
// starts with. Version 2 added broker incarnations, epochs and fencing and
// partition epochs; version 3 the replicas being added and removed of a
// partition under reassignment, dynamic broker settings in snapshots, and
// kinds 12 to 14; version 4 the base of guarded config changes, kind 15
// and controller addresses in snapshots; version 5 broker listeners, the
// security records (kinds 16 to 18: SCRAM credentials, ACLs, client
// quotas) and their snapshot sections. An encoding takes the lowest
// version that holds what it says (see recordVersion; a snapshot takes 3
// only with a reassignment in progress or dynamic broker settings, 4 only
// with controller addresses, 5 only with broker listeners or security
// records), so a node of an earlier release reads
// everything that uses nothing newer; earlier versions still decode.
// Version 5 added broker listeners and the security records: kinds 17
// (ACLs) and 18 (client quotas) and their sections of snapshots.
const Version byte = 5

// The versions below Version that encodings take: baseVersion when they
// need nothing newer, reassignVersion when they need version 3,
// guardVersion when they need version 4, securityVersion (Version) for
// broker listeners and the security records.
const (
	baseVersion     byte = 2
	reassignVersion byte = 3
	guardVersion    byte = 4
	securityVersion byte = 5
)

// Errors returned by the decoders.
var (
	// ErrCorrupt means the bytes are not a well-formed record or snapshot:
	// truncated, an unknown kind, a length beyond the input, trailing bytes.
	ErrCorrupt = errors.New("corrupt metadata encoding")
	// ErrUnsupportedVersion means the version byte is not one this build
	// reads.
	ErrUnsupportedVersion = errors.New("unsupported metadata format version")
)

// EncodeRecord returns the encoding of r: the version byte, the kind byte and
// the record's fields. The returned slice is new and owned by the caller.
func EncodeRecord(r Record) []byte {
	v := recordVersion(r)
	e := &encoder{b: []byte{v, byte(r.kind())}, version: v}
	switch r := r.(type) {
	case RegisterBroker:
		e.int(int64(r.ID))
		e.string(r.Host)
		e.int(int64(r.Port))
		e.string(r.Rack)
		e.uuid(r.Incarnation)
		e.endpoints(r.Listeners)
	case FenceBroker:
		e.int(int64(r.ID))
		e.int(r.Epoch)
	case UnregisterBroker:
		e.int(int64(r.ID))
		e.int(r.Epoch)
	case UnfenceBroker:
		e.int(int64(r.ID))
		e.int(r.Epoch)
	case ChangePartitions:
		e.uvarint(uint64(len(r.Changes)))
		for _, c := range r.Changes {
			e.change(c)
		}
	case ReassignPartitions:
		e.uvarint(uint64(len(r.Changes)))
		for _, c := range r.Changes {
			e.change(c.PartitionChange)
			e.int32s(c.Replicas)
			e.int32s(c.Adding)
			e.int32s(c.Removing)
		}
	case Batch:
		e.uvarint(uint64(len(r.Records)))
		for _, sub := range r.Records {
			e.bytes(EncodeRecord(sub))
		}
	case CreateTopic:
		e.string(r.Name)
		e.uuid(r.ID)
		e.partitions(r.Partitions)
		e.stringMap(r.Configs)
	case DeleteTopic:
		e.uuid(r.ID)
	case CreatePartitions:
		e.uuid(r.TopicID)
		e.partitions(r.Partitions)
	case SetTopicConfigs:
		e.uuid(r.TopicID)
		e.stringMap(r.Set)
		e.strings(r.Delete)
		e.base(r.Base)
	case SetBrokerConfigs:
		e.int(int64(r.Broker))
		e.stringMap(r.Set)
		e.strings(r.Delete)
		e.base(r.Base)
	case SetControllerAddr:
		e.int(int64(r.ID))
		e.string(r.Addr)
	case SetACLs:
		e.acls(r.Create)
		e.uuids(r.Delete)
	case SetClientQuotas:
		e.quotaEntity(r.Entity)
		e.quotaValues(r.Set)
		e.strings(r.Delete)
	case AllocateProducerIDs:
		e.int(int64(r.Broker))
		e.int(r.First)
		e.int(r.Count)
	case SetClusterID:
		e.string(r.ID)
	case ScramCredential:
		e.scram(r)
	}
	return e.b
}

// DecodeRecord decodes a record encoded by EncodeRecord. It returns
// ErrUnsupportedVersion or ErrCorrupt (wrapped) for bad input and never
// panics. The returned record shares no memory with b. Empty slices and maps
// decode as nil.
func DecodeRecord(b []byte) (Record, error) {
	d, k, err := newDecoder(b)
	if err != nil {
		return nil, err
	}
	var r Record
	switch k {
	case kindRegisterBroker:
		rec := RegisterBroker{ID: d.int32(), Host: d.string(), Port: d.int32(), Rack: d.string()}
		if d.version >= 2 {
			rec.Incarnation = d.uuid()
		}
		rec.Listeners = d.endpoints()
		r = rec
	case kindFenceBroker:
		r = FenceBroker{ID: d.int32(), Epoch: d.int64()}
	case kindUnregisterBroker:
		r = UnregisterBroker{ID: d.int32(), Epoch: d.int64()}
	case kindUnfenceBroker:
		r = UnfenceBroker{ID: d.int32(), Epoch: d.int64()}
	case kindChangePartitions:
		n := d.count(21)
		rec := ChangePartitions{Changes: make([]PartitionChange, 0, n)}
		for range n {
			rec.Changes = append(rec.Changes, d.change())
		}
		r = rec
	case kindReassignPartitions:
		n := d.count(24)
		rec := ReassignPartitions{Changes: make([]PartitionReassignment, 0, n)}
		for range n {
			rec.Changes = append(rec.Changes, PartitionReassignment{PartitionChange: d.change(),
				Replicas: d.int32s(), Adding: d.int32s(), Removing: d.int32s()})
		}
		r = rec
	case kindBatch:
		n := d.count(3)
		rec := Batch{Records: make([]Record, 0, n)}
		for range n {
			b := d.bytes()
			if d.err != nil {
				break
			}
			if len(b) >= 2 && kind(b[1]) == kindBatch {
				return nil, fmt.Errorf("%w: nested batch", ErrCorrupt)
			}
			sub, err := DecodeRecord(b)
			if err != nil {
				return nil, err
			}
			rec.Records = append(rec.Records, sub)
		}
		r = rec
	case kindCreateTopic:
		r = CreateTopic{Name: d.string(), ID: d.uuid(), Partitions: d.partitions(), Configs: d.stringMap()}
	case kindDeleteTopic:
		r = DeleteTopic{ID: d.uuid()}
	case kindCreatePartitions:
		r = CreatePartitions{TopicID: d.uuid(), Partitions: d.partitions()}
	case kindSetTopicConfigs:
		rec := SetTopicConfigs{TopicID: d.uuid(), Set: d.stringMap(), Delete: d.strings()}
		rec.Guarded, rec.Base = d.base()
		r = rec
	case kindSetBrokerConfigs:
		rec := SetBrokerConfigs{Broker: d.int32(), Set: d.stringMap(), Delete: d.strings()}
		rec.Guarded, rec.Base = d.base()
		r = rec
	case kindSetControllerAddr:
		r = SetControllerAddr{ID: d.int32(), Addr: d.string()}
	case kindSetACLs:
		if d.version < securityVersion {
			return nil, fmt.Errorf("%w: kind %d before version %d", ErrCorrupt, k, securityVersion)
		}
		r = SetACLs{Create: d.acls(), Delete: d.uuids()}
	case kindSetClientQuotas:
		if d.version < securityVersion {
			return nil, fmt.Errorf("%w: kind %d in version %d", ErrCorrupt, k, d.version)
		}
		r = SetClientQuotas{Entity: d.quotaEntity(), Set: d.quotaValues(), Delete: d.strings()}
	case kindAllocateProducerIDs:
		r = AllocateProducerIDs{Broker: d.int32(), First: d.int64(), Count: d.int64()}
	case kindSetClusterID:
		r = SetClusterID{ID: d.string()}
	case kindScramCredential:
		if d.version < securityVersion {
			return nil, fmt.Errorf("%w: kind %d before version %d", ErrCorrupt, k, securityVersion)
		}
		r = d.scram()
	default:
		return nil, fmt.Errorf("%w: unknown record kind %d", ErrCorrupt, k)
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	return r, nil
}

// recordVersion returns the lowest version that encodes r: 5 for kinds 17
// and 18 and a registration with listeners, 4 for a guarded config change
// and kind 15, 3 for kinds 12 to 14 and partitions under reassignment,
// else 2; a batch takes the highest of its records'.
func recordVersion(r Record) byte {
	switch r := r.(type) {
	case RegisterBroker:
		if len(r.Listeners) > 0 {
			return securityVersion
		}
	case SetACLs:
		return securityVersion
	case SetControllerAddr:
		return guardVersion
	case SetClientQuotas, ScramCredential:
		return securityVersion
	case SetTopicConfigs:
		if r.Guarded {
			return guardVersion
		}
	case SetBrokerConfigs:
		if r.Guarded {
			return guardVersion
		}
		return reassignVersion
	case ReassignPartitions, UnregisterBroker:
		return reassignVersion
	case Batch:
		v := baseVersion
		for _, sub := range r.Records {
			v = max(v, recordVersion(sub))
		}
		return v
	case CreateTopic:
		if slices.ContainsFunc(r.Partitions, Partition.reassigning) {
			return reassignVersion
		}
	case CreatePartitions:
		if slices.ContainsFunc(r.Partitions, Partition.reassigning) {
			return reassignVersion
		}
	}
	return baseVersion
}

// reassigning is Reassigning for slices.ContainsFunc over values.
func (p Partition) reassigning() bool { return p.Reassigning() }

// encoder appends the primitives of format version to b.
type encoder struct {
	b       []byte
	version byte
}

func (e *encoder) change(c PartitionChange) {
	e.uuid(c.TopicID)
	e.int(int64(c.Partition))
	e.int(int64(c.Epoch))
	e.int(int64(c.Leader))
	e.int(int64(c.LeaderEpoch))
	e.int32s(c.ISR)
}

// base writes the base of a config change: version 4, which guarded
// changes take, holds one; earlier versions do not.
func (e *encoder) base(base map[string]string) {
	if e.version >= 4 {
		e.stringMap(base)
	}
}

// endpoints writes a broker's listeners: version 5 holds them, earlier
// versions do not.
func (e *encoder) endpoints(eps []Endpoint) {
	if e.version < securityVersion {
		return
	}
	e.uvarint(uint64(len(eps)))
	for _, ep := range eps {
		e.string(ep.Name)
		e.string(ep.Host)
		e.int(int64(ep.Port))
	}
}

// scram writes a credential change: a deletion holds only its user and
// mechanism.
func (e *encoder) scram(c ScramCredential) {
	e.bool(c.Delete)
	e.string(c.User)
	e.int(int64(c.Mechanism))
	if !c.Delete {
		e.bytes(c.Salt)
		e.int(int64(c.Iterations))
		e.bytes(c.StoredKey)
		e.bytes(c.ServerKey)
	}
}

func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)      { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) uuid(id [16]byte) { e.b = append(e.b, id[:]...) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) string(s string) {
	e.uvarint(uint64(len(s)))
	e.b = append(e.b, s...)
}

func (e *encoder) bytes(b []byte) {
	e.uvarint(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) strings(vs []string) {
	e.uvarint(uint64(len(vs)))
	for _, v := range vs {
		e.string(v)
	}
}

func (e *encoder) int32s(vs []int32) {
	e.uvarint(uint64(len(vs)))
	for _, v := range vs {
		e.int(int64(v))
	}
}

// stringMap writes the entries sorted by key, so equal maps encode equally.
func (e *encoder) stringMap(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	e.uvarint(uint64(len(keys)))
	for _, k := range keys {
		e.string(k)
		e.string(m[k])
	}
}

func (e *encoder) partitions(ps []Partition) {
	e.uvarint(uint64(len(ps)))
	for _, p := range ps {
		e.int(int64(p.Index))
		e.int(int64(p.Leader))
		e.int(int64(p.LeaderEpoch))
		e.int(int64(p.Epoch))
		e.int32s(p.Replicas)
		e.int32s(p.ISR)
		if e.version >= 3 {
			e.int32s(p.Adding)
			e.int32s(p.Removing)
		}
	}
}

// decoder reads the primitives with a sticky error: after the first failure
// every read returns a zero value, and finish reports the failure.
type decoder struct {
	b       []byte
	err     error
	version byte
}

// newDecoder checks the version byte and returns a decoder positioned after
// the kind byte.
func newDecoder(b []byte) (*decoder, kind, error) {
	if len(b) < 2 {
		return nil, 0, fmt.Errorf("%w: %d bytes, need at least 2", ErrCorrupt, len(b))
	}
	if b[0] < 1 || b[0] > Version {
		return nil, 0, fmt.Errorf("%w: %d", ErrUnsupportedVersion, b[0])
	}
	return &decoder{b: b[2:], version: b[0]}, kind(b[1]), nil
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", ErrCorrupt, what)
	}
	d.b = nil
}

// finish returns the sticky error, or ErrCorrupt if bytes are left over.
func (d *decoder) finish() error {
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	return nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int64() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32() int32 {
	v := d.int64()
	if int64(int32(v)) != v {
		d.fail("int32")
		return 0
	}
	return int32(v)
}

// count reads a collection length whose items take at least minSize bytes
// each, rejecting lengths the remaining input cannot hold so a corrupt
// length never causes a large allocation.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if n > uint64(len(d.b)/minSize) {
		d.fail("length")
		return 0
	}
	return int(n)
}

func (d *decoder) bytes() []byte {
	n := d.count(1)
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	if len(d.b) < 1 || d.b[0] > 1 {
		d.fail("bool")
		return false
	}
	v := d.b[0] == 1
	d.b = d.b[1:]
	return v
}

func (d *decoder) uuid() [16]byte {
	var id [16]byte
	if len(d.b) < 16 {
		d.fail("uuid")
		return id
	}
	copy(id[:], d.b)
	d.b = d.b[16:]
	return id
}

func (d *decoder) int32s() []int32 {
	n := d.count(1)
	if n == 0 {
		return nil
	}
	vs := make([]int32, n)
	for i := range vs {
		vs[i] = d.int32()
	}
	return vs
}

func (d *decoder) strings() []string {
	n := d.count(1)
	var vs []string
	for range n {
		vs = append(vs, d.string())
	}
	return vs
}

// scram reads what encoder.scram wrote.
func (d *decoder) scram() ScramCredential {
	c := ScramCredential{Delete: d.bool(), User: d.string()}
	m := d.int64()
	if int64(int8(m)) != m {
		d.fail("mechanism")
	}
	c.Mechanism = int8(m)
	if !c.Delete {
		c.Salt = slices.Clone(d.bytes())
		c.Iterations = d.int32()
		c.StoredKey = slices.Clone(d.bytes())
		c.ServerKey = slices.Clone(d.bytes())
	}
	return c
}

// endpoints reads what encoder.endpoints wrote.
func (d *decoder) endpoints() []Endpoint {
	if d.version < securityVersion {
		return nil
	}
	var eps []Endpoint
	for range d.count(3) {
		ep := Endpoint{Name: d.string(), Host: d.string(), Port: d.int32()}
		if d.err != nil {
			return nil
		}
		eps = append(eps, ep)
	}
	return eps
}

func (d *decoder) stringMap() map[string]string {
	n := d.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.string()
		m[k] = d.string()
	}
	return m
}

// base reads what encoder.base writes: a version 4 config change is
// guarded.
func (d *decoder) base() (guarded bool, base map[string]string) {
	if d.version < 4 {
		return false, nil
	}
	return true, d.stringMap()
}

func (d *decoder) change() PartitionChange {
	return PartitionChange{TopicID: d.uuid(), Partition: d.int32(), Epoch: d.int32(), Leader: d.int32(), LeaderEpoch: d.int32(), ISR: d.int32s()}
}

func (d *decoder) partitions() []Partition {
	n := d.count(5)
	if n == 0 {
		return nil
	}
	ps := make([]Partition, n)
	for i := range ps {
		p := Partition{Index: d.int32(), Leader: d.int32(), LeaderEpoch: d.int32()}
		if d.version >= 2 {
			p.Epoch = d.int32()
		}
		p.Replicas, p.ISR = d.int32s(), d.int32s()
		if d.version >= 3 {
			p.Adding, p.Removing = d.int32s(), d.int32s()
		}
		ps[i] = p
	}
	return ps
}

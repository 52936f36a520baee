package metadata

import (
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/stratalog/strata/internal/auth"
)

// EncodeSnapshot returns the encoding of the whole image, for a Raft
// snapshot: the version byte, the snapshot kind byte, then AppliedIndex,
// ClusterID, NextProducerID, the brokers by id (with their epochs,
// incarnations and fencing), the topics by name, (version 3) the dynamic
// broker settings by broker id, (version 4) the controller addresses by
// node id and (version 5) the SCRAM credentials by user and mechanism, the
// ACLs by id and the client quotas by entity; version 5 adds the brokers'
// listeners. Equal
// images encode to equal bytes. The error is always nil today; it is there
// for encodings that can fail.
func (img *Image) EncodeSnapshot() ([]byte, error) {
	topics := img.Topics()
	v := baseVersion
	if len(img.brokerConfigs) > 0 {
		v = reassignVersion
	}
	for _, t := range topics {
		if slices.ContainsFunc(t.Partitions, Partition.reassigning) {
			v = reassignVersion
		}
	}
	if len(img.controllerAddrs) > 0 {
		v = guardVersion
	}
	brokers := img.Brokers()
	acls := img.ACLs()
	if len(acls) > 0 || len(img.clientQuotas) > 0 || len(img.scram) > 0 ||
		slices.ContainsFunc(brokers, func(b Broker) bool { return len(b.Listeners) > 0 }) {
		v = securityVersion
	}
	e := &encoder{b: []byte{v, byte(kindSnapshot)}, version: v}
	e.uvarint(img.AppliedIndex)
	e.string(img.ClusterID)
	e.int(img.NextProducerID)
	e.uvarint(uint64(len(brokers)))
	for _, b := range brokers {
		e.int(int64(b.ID))
		e.string(b.Host)
		e.int(int64(b.Port))
		e.string(b.Rack)
		e.int(b.Epoch)
		e.uuid(b.Incarnation)
		e.bool(b.Fenced)
		e.endpoints(b.Listeners)
	}
	e.uvarint(uint64(len(topics)))
	for _, t := range topics {
		e.string(t.Name)
		e.uuid(t.ID)
		e.partitions(t.Partitions)
		e.stringMap(t.Configs)
	}
	if v >= 3 {
		ids := slices.Sorted(maps.Keys(img.brokerConfigs))
		e.uvarint(uint64(len(ids)))
		for _, id := range ids {
			e.int(int64(id))
			e.stringMap(img.brokerConfigs[id])
		}
	}
	if v >= 4 {
		ids := slices.Sorted(maps.Keys(img.controllerAddrs))
		e.uvarint(uint64(len(ids)))
		for _, id := range ids {
			e.int(int64(id))
			e.string(img.controllerAddrs[id])
		}
	}
	if v >= securityVersion {
		creds := img.ScramCredentials()
		e.uvarint(uint64(len(creds)))
		for _, c := range creds {
			e.scram(c)
		}
		e.acls(acls)
		e.clientQuotas(img.clientQuotas)
	}
	return e.b, nil
}

// DecodeSnapshot decodes an image encoded by EncodeSnapshot. It checks what
// Apply would have checked of each broker and topic except the '.'/'_' name
// collision, and returns ErrUnsupportedVersion, ErrCorrupt or
// ErrInvalidRecord (wrapped) for bad input; it never panics.
func DecodeSnapshot(b []byte) (*Image, error) {
	d, k, err := newDecoder(b)
	if err != nil {
		return nil, err
	}
	if k != kindSnapshot {
		return nil, fmt.Errorf("%w: kind %d is not a snapshot", ErrCorrupt, k)
	}
	img := (&Image{}).clone()
	img.AppliedIndex = d.uvarint()
	img.ClusterID = d.string()
	img.NextProducerID = d.int64()
	nb := d.count(4)
	for range nb {
		b := Broker{ID: d.int32(), Host: d.string(), Port: d.int32(), Rack: d.string()}
		if d.version >= 2 {
			b.Epoch, b.Incarnation, b.Fenced = d.int64(), d.uuid(), d.bool()
		}
		b.Listeners = d.endpoints()
		if d.err != nil {
			break
		}
		if _, dup := img.brokers[b.ID]; dup {
			return nil, fmt.Errorf("%w: broker %d listed twice", ErrInvalidRecord, b.ID)
		}
		if b.ID < 0 || b.Host == "" || b.Port < 0 || b.Port > math.MaxUint16 || b.Epoch < 0 {
			return nil, fmt.Errorf("%w: broker %d at %q port %d epoch %d", ErrInvalidRecord, b.ID, b.Host, b.Port, b.Epoch)
		}
		if err := checkEndpoints(b.ID, b.Listeners); err != nil {
			return nil, err
		}
		img.brokers[b.ID] = b
	}
	nt := d.count(20)
	for range nt {
		t := &Topic{Name: d.string(), ID: d.uuid(), Partitions: d.partitions(), Configs: d.stringMap()}
		if d.err != nil {
			break
		}
		if err := img.checkTopic(t); err != nil {
			return nil, err
		}
		img.putTopic(t)
	}
	if d.version >= 3 {
		for range d.count(2) {
			id, cfg := d.int32(), d.stringMap()
			if d.err != nil {
				break
			}
			if _, dup := img.brokerConfigs[id]; dup || id < ClusterDefault || len(cfg) == 0 {
				return nil, fmt.Errorf("%w: dynamic settings of broker %d twice, empty, or of a bad id", ErrInvalidRecord, id)
			}
			if err := checkConfigKeys(cfg, nil); err != nil {
				return nil, err
			}
			img.brokerConfigs[id] = cfg
		}
	}
	if d.version >= 4 {
		for range d.count(2) {
			id, addr := d.int32(), d.string()
			if d.err != nil {
				break
			}
			if _, dup := img.controllerAddrs[id]; dup {
				return nil, fmt.Errorf("%w: controller address of node %d twice", ErrInvalidRecord, id)
			}
			if err := checkControllerAddr(id, addr); err != nil {
				return nil, err
			}
			img.controllerAddrs[id] = addr
		}
	}
	if d.version >= securityVersion {
		for range d.count(6) {
			c := d.scram()
			if d.err != nil {
				break
			}
			key := ScramKey{c.User, c.Mechanism}
			if _, dup := img.scram[key]; dup {
				return nil, fmt.Errorf("%w: SCRAM credential of %q for mechanism %d twice", ErrInvalidRecord, c.User, c.Mechanism)
			}
			if err := checkScram(c); err != nil {
				return nil, err
			}
			if img.scram == nil {
				img.scram = map[ScramKey]ScramCredential{}
			}
			img.scram[key] = c
		}
		byID := map[[16]byte]auth.Binding{}
		for _, a := range d.acls() {
			if err := putACL(byID, a); err != nil {
				return nil, err
			}
		}
		if len(byID) > 0 {
			img.acls = &aclSet{byID: byID}
		}
		if err := d.clientQuotas(img); err != nil {
			return nil, err
		}
	}
	if err := d.finish(); err != nil {
		return nil, err
	}
	if img.NextProducerID < 0 {
		return nil, fmt.Errorf("%w: next producer id %d", ErrInvalidRecord, img.NextProducerID)
	}
	return img, nil
}

// checkTopic checks a snapshot topic against the image decoded so far.
func (img *Image) checkTopic(t *Topic) error {
	if err := CheckTopicName(t.Name); err != nil {
		return err
	}
	if _, dup := img.byName[t.Name]; dup || t.ID == [16]byte{} {
		return fmt.Errorf("%w: topic %q listed twice or with the zero id", ErrInvalidRecord, t.Name)
	}
	if _, dup := img.byID[t.ID]; dup {
		return fmt.Errorf("%w: topic id %x listed twice", ErrInvalidRecord, t.ID)
	}
	if len(t.Partitions) == 0 {
		return fmt.Errorf("%w: topic %q has no partitions", ErrInvalidRecord, t.Name)
	}
	if err := img.checkPartitions(t.Partitions, 0); err != nil {
		return fmt.Errorf("topic %q: %w", t.Name, err)
	}
	return checkConfigKeys(t.Configs, nil)
}

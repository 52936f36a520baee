package group

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record is one __consumer_offsets record. A nil Value is a tombstone.
//
// Keys and values use Kafka's own formats, so Kafka's tools can read them:
// offset commits as OffsetCommitKey version 1 / OffsetCommitValue version 3,
// group metadata as GroupMetadataKey version 2 / GroupMetadataValue version 3.
type Record struct{ Key, Value []byte }

// Key versions of __consumer_offsets records.
const (
	offsetKeyVersion      = 1 // 0 and 1 share the layout
	groupKeyVersion       = 2
	offsetValueVersion    = 3
	groupValueVersion     = 3
	maxGroupValueVersion  = 4
	maxOffsetValueVersion = 4
)

// errUnknownRecord is returned by decodeRecord for a key version that is
// neither an offset commit nor group metadata.
var errUnknownRecord = errors.New("unknown __consumer_offsets key version")

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

// offsetRecord is the record committing o, or a tombstone if o is nil.
func offsetRecord(group string, tp TopicPartition, o *Offset) Record {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: tp.Topic, Partition: tp.Partition}
	r := Record{Key: k.AppendTo(nil)}
	if o != nil {
		v := kmsg.OffsetCommitValue{
			Version:         offsetValueVersion,
			Offset:          o.Offset,
			LeaderEpoch:     o.LeaderEpoch,
			Metadata:        o.Metadata,
			CommitTimestamp: o.CommitTime.UnixMilli(),
			ExpireTimestamp: -1,
		}
		r.Value = v.AppendTo(nil)
	}
	return r
}

// metadataRecord is the group's GroupMetadata record: its generation,
// protocol, leader and members with their current subscription and
// assignment.
func (g *Group) metadataRecord(now time.Time) Record {
	v := kmsg.GroupMetadataValue{
		Version:               groupValueVersion,
		ProtocolType:          g.protocolType,
		Generation:            g.generation,
		CurrentStateTimestamp: now.UnixMilli(),
	}
	if g.protocol != "" {
		v.Protocol = &g.protocol
	}
	if g.leader != "" {
		v.Leader = &g.leader
	}
	for _, m := range g.Members() {
		v.Members = append(v.Members, kmsg.GroupMetadataValueMember{
			MemberID:               m.ID,
			InstanceID:             m.InstanceID,
			ClientID:               m.ClientID,
			ClientHost:             m.ClientHost,
			RebalanceTimeoutMillis: int32(m.RebalanceTimeout.Milliseconds()),
			SessionTimeoutMillis:   int32(m.SessionTimeout.Milliseconds()),
			Subscription:           m.metadataFor(g.protocol),
			Assignment:             m.Assignment,
		})
	}
	return Record{Key: groupKey(g.ID), Value: v.AppendTo(nil)}
}

// LogRecord is one record of a __consumer_offsets partition as Store.Replay
// reads it, with what the replay needs of its batch.
type LogRecord struct {
	Key, Value    []byte
	ProducerID    int64 // the batch's producer id, -1 for none
	Transactional bool
	// Control marks a transaction marker of ProducerID (Key and Value are
	// not set); Commit tells a COMMIT from an ABORT.
	Control, Commit bool
}

// replay rebuilds groups from __consumer_offsets records applied in log
// order; the last record for a key wins and a tombstone removes it.
// Offsets in transactional batches count once their transaction's COMMIT
// marker is replayed and are dropped at its ABORT, as Kafka loads them;
// those still open at the end stay pending in their groups.
type replay struct {
	metas   map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[TopicPartition]Offset
	txn     map[int64]map[string]map[TopicPartition]Offset // producer id, group
	seq     uint64                                         // stamps offsets in log order
}

func newReplay() *replay {
	return &replay{
		metas:   map[string]*kmsg.GroupMetadataValue{},
		offsets: map[string]map[TopicPartition]Offset{},
		txn:     map[int64]map[string]map[TopicPartition]Offset{},
	}
}

// applyRecord applies one record of the log, as apply, applyTxn or endTxn.
func (r *replay) applyRecord(rec LogRecord) error {
	switch {
	case rec.Control:
		r.endTxn(rec.ProducerID, rec.Commit)
		return nil
	case rec.Transactional:
		return r.applyTxn(rec.ProducerID, rec.Key, rec.Value)
	default:
		return r.apply(rec.Key, rec.Value)
	}
}

// applyTxn holds an offset commit of producer id's open transaction until
// its marker. Only offset commits are written in transactions.
func (r *replay) applyTxn(producerID int64, key, value []byte) error {
	group, tp, o, err := decodeOffset(key, value)
	if err != nil {
		return err
	}
	byGroup := r.txn[producerID]
	if byGroup == nil {
		byGroup = map[string]map[TopicPartition]Offset{}
		r.txn[producerID] = byGroup
	}
	if o == nil {
		delete(byGroup[group], tp)
		return nil
	}
	if byGroup[group] == nil {
		byGroup[group] = map[TopicPartition]Offset{}
	}
	r.seq++
	o.seq = r.seq
	byGroup[group][tp] = *o
	return nil
}

// endTxn applies producer id's transaction marker: a commit installs its
// offsets where nothing later is committed, an abort drops them.
func (r *replay) endTxn(producerID int64, commit bool) {
	byGroup := r.txn[producerID]
	delete(r.txn, producerID)
	if !commit {
		return
	}
	for group, offs := range byGroup {
		if r.offsets[group] == nil {
			r.offsets[group] = map[TopicPartition]Offset{}
		}
		installNewer(r.offsets[group], offs)
	}
}

// installNewer copies the offsets of from into to, except where to holds
// one stamped later (a commit appended after the transaction's).
func installNewer(to, from map[TopicPartition]Offset) {
	for tp, o := range from {
		if cur, ok := to[tp]; !ok || cur.seq < o.seq {
			to[tp] = o
		}
	}
}

// decodeOffset decodes an offset commit record: its group, partition and
// offset (nil for a tombstone).
func decodeOffset(key, value []byte) (string, TopicPartition, *Offset, error) {
	if len(key) < 2 {
		return "", TopicPartition{}, nil, fmt.Errorf("record key of %d bytes: %w", len(key), errUnknownRecord)
	}
	if version := int16(binary.BigEndian.Uint16(key)); version > offsetKeyVersion {
		return "", TopicPartition{}, nil, fmt.Errorf("offset commit key version %d: %w", version, errUnknownRecord)
	}
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil {
		return "", TopicPartition{}, nil, fmt.Errorf("decode offset commit key: %w", err)
	}
	tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
	if value == nil {
		return k.Group, tp, nil, nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return "", tp, nil, fmt.Errorf("decode offset commit value of group %q: %w", k.Group, err)
	}
	if v.Version < 0 || v.Version > maxOffsetValueVersion {
		return "", tp, nil, fmt.Errorf("offset commit value version %d: %w", v.Version, errUnknownRecord)
	}
	epoch := v.LeaderEpoch
	if v.Version < 3 {
		epoch = -1
	}
	return k.Group, tp, &Offset{Offset: v.Offset, LeaderEpoch: epoch, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp)}, nil
}

// apply decodes one record. It returns errUnknownRecord (wrapped) for a key
// it does not know, and a decoding error for malformed bytes; in both cases
// the replay state is unchanged.
func (r *replay) apply(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("record key of %d bytes: %w", len(key), errUnknownRecord)
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		group, tp, o, err := decodeOffset(key, value)
		if err != nil {
			return err
		}
		if o == nil {
			delete(r.offsets[group], tp)
			return nil
		}
		if r.offsets[group] == nil {
			r.offsets[group] = map[TopicPartition]Offset{}
		}
		r.seq++
		o.seq = r.seq
		r.offsets[group][tp] = *o
		return nil
	case groupKeyVersion:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("decode group metadata key: %w", err)
		}
		if value == nil {
			delete(r.metas, k.Group)
			return nil
		}
		v := new(kmsg.GroupMetadataValue)
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("decode group metadata of %q: %w", k.Group, err)
		}
		if v.Version < 0 || v.Version > maxGroupValueVersion {
			return fmt.Errorf("group metadata value version %d: %w", v.Version, errUnknownRecord)
		}
		r.metas[k.Group] = v
		return nil
	default:
		return fmt.Errorf("key version %d: %w", version, errUnknownRecord)
	}
}

// groups builds the replayed groups. Members' sessions restart at now.
func (r *replay) groups(now time.Time) map[string]*Group {
	out := map[string]*Group{}
	get := func(id string) *Group {
		if out[id] == nil {
			out[id] = NewGroup(id, now)
		}
		return out[id]
	}
	for id, v := range r.metas {
		g := get(id)
		g.protocolType = v.ProtocolType
		g.generation = v.Generation
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		if v.CurrentStateTimestamp > 0 {
			g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
		}
		for _, vm := range v.Members {
			if vm.MemberID == "" || g.members[vm.MemberID] != nil {
				continue
			}
			m := &Member{
				ID:               vm.MemberID,
				InstanceID:       vm.InstanceID,
				ClientID:         vm.ClientID,
				ClientHost:       vm.ClientHost,
				SessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				RebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
				ProtocolType:     v.ProtocolType,
				Protocols:        []Protocol{{Name: g.protocol, Metadata: vm.Subscription}},
				Assignment:       vm.Assignment,
			}
			if m.RebalanceTimeout < 0 {
				m.RebalanceTimeout = m.SessionTimeout
			}
			m.deadline = now.Add(m.SessionTimeout)
			g.addMember(m)
		}
		if v.Leader != nil && g.members[*v.Leader] != nil {
			g.leader = *v.Leader
		}
		if len(g.members) > 0 {
			g.state = Stable
		}
	}
	for id, offs := range r.offsets {
		if len(offs) == 0 {
			continue
		}
		get(id).offsets = offs
	}
	for producerID, byGroup := range r.txn {
		for id, offs := range byGroup {
			if len(offs) > 0 {
				get(id).txnOffsets[producerID] = offs
			}
		}
	}
	for _, g := range out {
		g.seq = r.seq
	}
	return out
}

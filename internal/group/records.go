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

// replay rebuilds groups from __consumer_offsets records applied in log
// order; the last record for a key wins and a tombstone removes it.
type replay struct {
	metas   map[string]*kmsg.GroupMetadataValue
	offsets map[string]map[TopicPartition]Offset
}

func newReplay() *replay {
	return &replay{metas: map[string]*kmsg.GroupMetadataValue{}, offsets: map[string]map[TopicPartition]Offset{}}
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
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return fmt.Errorf("decode offset commit key: %w", err)
		}
		tp := TopicPartition{Topic: k.Topic, Partition: k.Partition}
		if value == nil {
			delete(r.offsets[k.Group], tp)
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("decode offset commit value of group %q: %w", k.Group, err)
		}
		if v.Version < 0 || v.Version > maxOffsetValueVersion {
			return fmt.Errorf("offset commit value version %d: %w", v.Version, errUnknownRecord)
		}
		epoch := v.LeaderEpoch
		if v.Version < 3 {
			epoch = -1
		}
		if r.offsets[k.Group] == nil {
			r.offsets[k.Group] = map[TopicPartition]Offset{}
		}
		r.offsets[k.Group][tp] = Offset{Offset: v.Offset, LeaderEpoch: epoch, Metadata: v.Metadata, CommitTime: time.UnixMilli(v.CommitTimestamp)}
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
	return out
}

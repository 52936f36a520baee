package txn

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// State is the state of a transactional id, with Kafka's names and the ids
// Kafka stores in __transaction_state (TransactionLogValue.TransactionStatus).
type State int8

// The states, numbered as Kafka numbers them. Dead and PrepareEpochFence
// are never written to the log: Dead is a tombstone, and an epoch fence is
// written as PrepareAbort with the bumped epoch.
const (
	Empty State = iota
	Ongoing
	PrepareCommit
	PrepareAbort
	CompleteCommit
	CompleteAbort
	Dead
	PrepareEpochFence
)

var stateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String returns Kafka's name of the state, as DescribeTransactions and
// ListTransactions report it.
func (s State) String() string {
	if s < 0 || int(s) >= len(stateNames) {
		return fmt.Sprintf("State(%d)", int8(s))
	}
	return stateNames[s]
}

// ParseState returns the state named name (Kafka's spelling), and false for
// an unknown name.
func ParseState(name string) (State, bool) {
	i := slices.Index(stateNames[:], name)
	return State(i), i >= 0
}

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func compareTP(a, b TopicPartition) int {
	return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Partition, b.Partition))
}

// Metadata is the state of one transactional id: what a __transaction_state
// record holds, plus LastProducerEpoch, which Kafka keeps in memory only.
// Times are Unix milliseconds; -1 means unset.
type Metadata struct {
	TransactionalID string
	ProducerID      int64
	// PrevProducerID is the producer id before the last rotation (epoch
	// exhaustion), -1 if none; a KIP-360 retry may still name it.
	PrevProducerID int64
	// NextProducerID is the id a transaction version 2 EndTxn allocated
	// because the epoch is exhausted; it takes over at CompleteX. -1 if none.
	NextProducerID int64
	ProducerEpoch  int16
	// LastProducerEpoch is the epoch before the last bump, so that a
	// retried InitProducerId (KIP-360) or EndTxn (KIP-890) is recognised.
	// Not in the log: -1 after a load, as in Kafka.
	LastProducerEpoch int16
	TimeoutMs         int32
	State             State
	// Partitions are in the transaction, sorted by topic then partition.
	Partitions   []TopicPartition
	StartMs      int64 // when the first partition was added; -1 in Empty
	LastUpdateMs int64
	// ClientTxnVersion is the transaction version of the last EndTxn: 2
	// when the client bumps the epoch at every EndTxn (KIP-890 part 2),
	// else 0.
	ClientTxnVersion int16
}

// Record is one __transaction_state record. A nil Value is a tombstone.
type Record struct{ Key, Value []byte }

// Record versions of __transaction_state.
const (
	txnKeyVersion      = 0
	maxTxnValueVersion = 1
)

// Sentinel errors of DecodeRecord.
var (
	// ErrUnknownRecord is returned (wrapped) for a key or value version
	// this broker does not know; Kafka skips unknown keys on load.
	ErrUnknownRecord = errors.New("unknown __transaction_state record version")
	// ErrBadRecord is returned (wrapped) for bytes that do not decode or
	// hold values Kafka never writes.
	ErrBadRecord = errors.New("malformed __transaction_state record")
)

// txnKey is the key of a transactional id's record.
func txnKey(id string) []byte {
	k := kmsg.TxnMetadataKey{Version: txnKeyVersion, TransactionalID: id}
	return k.AppendTo(nil)
}

// TombstoneRecord is the record that removes an expired transactional id.
func TombstoneRecord(id string) Record { return Record{Key: txnKey(id)} }

// EncodeRecord returns m as Kafka writes it: key version 0, value version 0
// unless m holds something only version 1 carries (a previous or next
// producer id, or transaction version 2), as Kafka writes version 0 until
// transaction version 1 is enabled. Empty writes a null partition list.
func EncodeRecord(m *Metadata) Record {
	v := kmsg.NewTxnMetadataValue()
	if m.PrevProducerID >= 0 || m.NextProducerID >= 0 || m.ClientTxnVersion != 0 {
		v.Version = 1
	}
	v.ProducerID, v.ProducerEpoch = m.ProducerID, m.ProducerEpoch
	v.TimeoutMillis = m.TimeoutMs
	v.State = kmsg.TransactionState(m.State)
	v.LastUpdateTimestamp, v.StartTimestamp = m.LastUpdateMs, m.StartMs
	v.PreviousProducerID, v.NextProducerID = m.PrevProducerID, m.NextProducerID
	v.ClientTransactionVersion = m.ClientTxnVersion
	if m.State != Empty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		for _, tp := range m.Partitions {
			if n := len(v.Topics); n == 0 || v.Topics[n-1].Topic != tp.Topic {
				v.Topics = append(v.Topics, kmsg.TxnMetadataValueTopic{Topic: tp.Topic})
			}
			last := &v.Topics[len(v.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		}
	}
	return Record{Key: txnKey(m.TransactionalID), Value: v.AppendTo(nil)}
}

// DecodeRecord decodes a __transaction_state record. It returns the
// transactional id and its metadata, or a nil Metadata for a tombstone.
// Errors wrap ErrUnknownRecord or ErrBadRecord. Partitions come out sorted
// and without duplicates; an Empty record has none (Kafka ignores them).
func DecodeRecord(key, value []byte) (string, *Metadata, error) {
	if len(key) < 2 {
		return "", nil, fmt.Errorf("key of %d bytes: %w", len(key), ErrBadRecord)
	}
	if version := int16(binary.BigEndian.Uint16(key)); version != txnKeyVersion {
		return "", nil, fmt.Errorf("key version %d: %w", version, ErrUnknownRecord)
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return "", nil, fmt.Errorf("decode key: %v: %w", err, ErrBadRecord)
	}
	if value == nil {
		return k.TransactionalID, nil, nil
	}
	if len(value) < 2 {
		return "", nil, fmt.Errorf("value of %d bytes for %q: %w", len(value), k.TransactionalID, ErrBadRecord)
	}
	if version := int16(binary.BigEndian.Uint16(value)); version < 0 || version > maxTxnValueVersion {
		return "", nil, fmt.Errorf("value version %d for %q: %w", version, k.TransactionalID, ErrUnknownRecord)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(value); err != nil {
		return "", nil, fmt.Errorf("decode value for %q: %v: %w", k.TransactionalID, err, ErrBadRecord)
	}
	m := &Metadata{
		TransactionalID:   k.TransactionalID,
		ProducerID:        v.ProducerID,
		PrevProducerID:    v.PreviousProducerID,
		NextProducerID:    v.NextProducerID,
		ProducerEpoch:     v.ProducerEpoch,
		LastProducerEpoch: noProducerEpoch,
		TimeoutMs:         v.TimeoutMillis,
		State:             State(v.State),
		StartMs:           v.StartTimestamp,
		LastUpdateMs:      v.LastUpdateTimestamp,
		ClientTxnVersion:  v.ClientTransactionVersion,
	}
	switch {
	case m.State < Empty || m.State > CompleteAbort:
		// Dead and PrepareEpochFence are never written, as in Kafka.
		return "", nil, fmt.Errorf("state %d for %q: %w", v.State, k.TransactionalID, ErrBadRecord)
	case m.ProducerID < 0 || m.ProducerEpoch < 0:
		return "", nil, fmt.Errorf("producer id %d epoch %d for %q: %w", m.ProducerID, m.ProducerEpoch, k.TransactionalID, ErrBadRecord)
	}
	if m.State != Empty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.Partitions = append(m.Partitions, TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
		slices.SortFunc(m.Partitions, compareTP)
		m.Partitions = slices.Compact(m.Partitions)
	}
	return k.TransactionalID, m, nil
}

// Replay rebuilds transactional ids from __transaction_state records applied
// in log order: the last record of an id wins and a tombstone removes it.
type Replay struct {
	txns map[string]*Metadata
}

// NewReplay returns an empty replay.
func NewReplay() *Replay { return &Replay{txns: map[string]*Metadata{}} }

// Apply decodes one record. On error (see DecodeRecord) the replay is
// unchanged; the loader logs the record and goes on, as Kafka skips
// unknown keys.
func (r *Replay) Apply(key, value []byte) error {
	id, m, err := DecodeRecord(key, value)
	if err != nil {
		return err
	}
	if m == nil {
		delete(r.txns, id)
		return nil
	}
	r.txns[id] = m
	return nil
}

// Len returns how many transactional ids the replay holds.
func (r *Replay) Len() int { return len(r.txns) }

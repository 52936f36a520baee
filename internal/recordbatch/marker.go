package recordbatch

import (
	"encoding/binary"
	"fmt"
)

// Control record types, the second field of a control record's key
// (Kafka's ControlRecordType).
const (
	ControlAbort  int16 = 0
	ControlCommit int16 = 1
)

// EndTxnMarker is the one record of a transaction marker batch (Kafka's
// EndTransactionMarker): a control batch with the transactional bit set,
// whose record has the key {version int16 = 0, type int16} and the value
// {version int16 = 0, coordinatorEpoch int32}.
type EndTxnMarker struct {
	Commit           bool
	CoordinatorEpoch int32
}

// markerKeySize and markerValueSize are the sizes of version 0 of the key
// and value; Kafka reads longer ones (later versions) by their prefix.
const (
	markerKeySize   = 4
	markerValueSize = 6
)

// BuildEndTxnMarker returns the marker batch of a producer's transaction,
// with base offset 0 (Append assigns it) and timestamp ms.
func BuildEndTxnMarker(producerID int64, epoch int16, m EndTxnMarker, ms int64) []byte {
	typ := ControlAbort
	if m.Commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(make([]byte, 2, markerKeySize), uint16(typ))
	value := binary.BigEndian.AppendUint32(make([]byte, 2, markerValueSize), uint32(m.CoordinatorEpoch))
	b, err := Build(BuildOptions{
		BaseTimestamp: ms, ProducerID: producerID, ProducerEpoch: epoch, BaseSequence: -1,
		Transactional: true, Control: true,
	}, []Record{{Key: key, Value: value}})
	if err != nil {
		panic(err) // one small uncompressed record cannot fail
	}
	return b
}

// ReadEndTxnMarker decodes the marker of a control batch. A control batch
// that is not a transaction marker (another control type, or no
// transactional bit) is an error wrapping ErrInvalidRecord, as are short or
// unknown-version keys and values.
func ReadEndTxnMarker(batch []byte) (EndTxnMarker, error) {
	h, err := readFrame(batch)
	if err != nil {
		return EndTxnMarker{}, err
	}
	if !h.Control() || !h.Transactional() || h.NumRecords != 1 {
		return EndTxnMarker{}, fmt.Errorf("%w: not a transaction marker batch", ErrInvalidRecord)
	}
	var m EndTxnMarker
	err = iterate(h, batch, nil, ErrInvalidRecord, func(r *Record) error {
		if len(r.Key) < markerKeySize || binary.BigEndian.Uint16(r.Key) != 0 {
			return fmt.Errorf("%w: control record key %x", ErrInvalidRecord, r.Key)
		}
		switch typ := int16(binary.BigEndian.Uint16(r.Key[2:])); typ {
		case ControlAbort, ControlCommit:
			m.Commit = typ == ControlCommit
		default:
			return fmt.Errorf("%w: control record type %d is not a transaction marker", ErrInvalidRecord, typ)
		}
		if len(r.Value) < markerValueSize || int16(binary.BigEndian.Uint16(r.Value)) < 0 {
			return fmt.Errorf("%w: transaction marker value %x", ErrInvalidRecord, r.Value)
		}
		m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
		return nil
	})
	return m, err
}

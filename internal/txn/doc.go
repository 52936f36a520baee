// Package txn holds producer ids, the idempotent-producer and transaction
// state of each partition and the transaction coordinator's core.
//
// Idempotence, as Apache Kafka implements it (KIP-98, with the KIP-360
// changes of Kafka 2.5 and the KIP-588 error split of 2.7):
//
//   - IDAllocator hands out producer ids from blocks reserved through the
//     metadata log; InitProducer answers InitProducerId for producers
//     without a transactional id.
//   - ProducerState is one partition's memory of which producers appended
//     which sequence numbers, used to drop retried batches and to refuse
//     batches that would leave a gap. It is a pure state machine: no I/O, no
//     goroutines, no clock; times come in as arguments.
//
// ProducerState also follows each producer's transaction on the partition
// (from its first transactional batch to the commit or abort marker), which
// gives the last stable offset and the aborted transactions.
//
// Transactions (docs/transactions.md):
//
//   - Coordinator is the transaction coordinator of the __transaction_state
//     partitions this node leads, as a pure state machine in the manner of
//     internal/group: requests go in with the time, and Effects come out
//     (records to append, markers to write, replies). A state changes only
//     when the driver reports its record appended (WriteDone).
//   - EncodeRecord, DecodeRecord and Replay are the __transaction_state
//     records in Kafka's format (docs/format/transaction-state.md).
//
// The broker drives the coordinator (internal/broker, txn_driver.go).
package txn

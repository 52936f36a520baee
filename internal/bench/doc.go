// Package bench is the load generator behind `strata bench`: producer,
// consumer and end-to-end workloads in the style of Kafka's
// kafka-producer-perf-test / kafka-consumer-perf-test and the OpenMessaging
// Benchmark. It talks to a cluster only through franz-go, so it measures any
// Kafka-compatible broker.
//
// The workloads (Produce, Consume, EndToEnd) are thin drivers around pure
// parts that are tested on their own: Stats (counts and an HDR latency
// histogram), Pacer (absolute send schedule for rate limiting), Budget (a
// shared record quota), Values (record payloads) and Stamp/StampTime (the
// send time carried in an end-to-end record's value).
//
// # Summary JSON
//
// Summary.WriteJSON prints one object with these fields; names are stable:
//
//	mode             "produce", "consume" or "e2e"
//	topic            topic name
//	records          records produced (acknowledged) or consumed
//	bytes            key plus value bytes of those records
//	seconds          wall time of the measured run
//	records_per_sec  records / seconds
//	mb_per_sec       bytes / 2^20 / seconds (MiB/s, as Kafka's perf tools)
//	latency_us       absent for consume; otherwise microseconds:
//	    count, min, mean, p50, p95, p99, p99_9, max
//	transactions     only for a transactional produce run:
//	    committed, aborted            transactions ended
//	    committed_records, aborted_records
//	    commit_latency_us             as latency_us, one value per commit:
//	                                  its EndTxn round trip
//
// For produce the latency of a record is its acknowledgement time minus its
// send time; for e2e it is the consumer's receipt time minus the send time.
// When a rate is set, "send time" is the record's intended send time on the
// schedule, not the time it actually left, so a stalled sender does not hide
// the queueing it caused (coordinated omission).
package bench

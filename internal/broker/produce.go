package broker

// Produce (key 0), versions 3-12, advertised as 0-12.
//
// Behavior:
//   - Versions 0-2 carry the old message formats and are answered
//     UNSUPPORTED_VERSION per partition. They are still listed in
//     ApiVersions because librdkafka 2.0 compresses with gzip, snappy and lz4
//     only when the broker lists Produce v0 (librdkafka#4956); Apache Kafka
//     4.0 does the same (KAFKA-18659).
//   - Each partition's records must be exactly one magic-2 batch (as Kafka
//     requires from v3); it is validated (framing, CRC, record count and
//     offsets, keys on compacted topics, size against max.message.bytes,
//     timestamps against message.timestamp.before/after.max.ms) and appended
//     as it was sent, unless the topic's compression.type names another
//     codec: then its records are re-encoded with that codec. Only the base offset and leader epoch (outside the CRC),
//     and for LogAppendTime topics the timestamps, are rewritten.
//   - acks must be -1, 0 or 1 (INVALID_REQUIRED_ACKS); acks=0 gets no
//     response. acks=1 is answered once the leader appended; acks=-1 once
//     every in-sync replica has the records (the high watermark passed
//     them), waiting without a lock up to the request's timeout
//     (REQUEST_TIMED_OUT). acks=-1 fails with NOT_ENOUGH_REPLICAS when the
//     ISR is smaller than min.insync.replicas before the append, and with
//     NOT_ENOUGH_REPLICAS_AFTER_APPEND when it shrank below it meanwhile.
//   - An acks=-1 request is appended at once and its wait for the ISR
//     (and, with flush.messages, for the leader's fsync) is left to
//     Request.Await: the connection serves the producer's next Produce
//     meanwhile, where Kafka reads nothing more from the connection until
//     it answered. Responses still go in request order; a producer with
//     several requests in flight (idempotent clients send up to five) gets
//     them replicated, and fsynced, together instead of one after another.
//   - A partition this node does not lead is NOT_LEADER_OR_FOLLOWER; one
//     whose leadership moved before its records were replicated too.
//   - Idempotent producers: sequence and epoch checks in internal/txn; a
//     retried batch gets its original offset back.
//   - Produce does not create topics; a missing topic is UNKNOWN_TOPIC_OR_PARTITION.
//   - Under an authorizer: WRITE on the transactional id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) and on each topic
//     (TOPIC_AUTHORIZATION_FAILED), checked before the topic's existence.
//   - Clients cannot write to internal topics (INVALID_TOPIC_EXCEPTION).
//   - Transactional batches (KIP-98) are appended like idempotent ones, and
//     start the producer's transaction on the partition, which a marker
//     (WriteTxnMarkers) ends; a non-transactional batch from a producer in a
//     transaction is INVALID_TXN_STATE. As in Kafka, a request with
//     transactional batches but no transactional id is answered
//     TRANSACTIONAL_ID_AUTHORIZATION_FAILED for every partition.
//   - KIP-890 part 1 (transaction.partition.verification.enable, default
//     true, dynamic): a transactional batch that would start its
//     producer's transaction on a partition is first verified with the
//     transactional id's coordinator (AddPartitionsToTxn v4 VerifyOnly,
//     batched per coordinator node, without a partition lock held). A
//     partition not in the ongoing transaction is INVALID_TXN_STATE, or
//     TRANSACTION_ABORTABLE from v11; a fenced producer
//     INVALID_PRODUCER_EPOCH; a coordinator that cannot answer
//     (CONCURRENT_TRANSACTIONS, NOT_COORDINATOR, loading, unreachable)
//     NOT_ENOUGH_REPLICAS, which clients retry; transactional batches of
//     more than one producer INVALID_PRODUCER_ID_MAPPING. Later batches of
//     the transaction pay no round trip; non-transactional requests are
//     not touched.
//   - KIP-890 part 2 (transaction version 2, v12): the partitions are
//     added to the transaction (AddPartitionsToTxn without VerifyOnly)
//     instead of verified, whatever the setting; CONCURRENT_TRANSACTIONS
//     (the last transaction's markers in flight) is retried for up to
//     100 ms before the client gets NOT_ENOUGH_REPLICAS. A batch of a
//     newer epoch than the producer's open transaction on the partition
//     starts a new one rather than joining it.
//   - A request to 64 partitions or more is appended by one goroutine per
//     core (at most 4), each taking the partitions with one remainder of
//     the partition number, so a partition named twice keeps its order.
//
// KIPs: KIP-74, KIP-98 (v3 transactional id, magic 2), KIP-467 (v8 record
// errors), KIP-482 (v9 flexible), KIP-890 (verification; v11
// TRANSACTION_ABORTABLE; v12 implicit add).

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/partition"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

func init() { register(0, 0, 12, (*Broker).handleProduce) }

func (b *Broker) handleProduce(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.ProduceRequest)
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	img := b.store.Current()
	var stack [2]produceTopic
	tops := stack[:0]
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(r.Topics))
	parts := 0
	txnRecords := r.TransactionID == nil && hasTransactionalRecords(r)
	// Kafka checks WRITE on the transactional id first, then on each topic,
	// both before the topic's existence.
	txnDenied := r.TransactionID != nil && !b.allowed(req, auth.OpWrite, auth.ResourceTransactionalID, *r.TransactionID)
	writable := b.topicsAllowed(req, auth.OpWrite)
	for i, rt := range r.Topics {
		st := &resp.Topics[i]
		*st = kmsg.NewProduceResponseTopic()
		st.Topic = rt.Topic
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			sp := &st.Partitions[j]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
		}
		parts += len(rt.Partitions)
		pt := produceTopic{}
		t, known := img.Topic(rt.Topic)
		switch {
		case req.Version < 3:
			pt.err = kerr.UnsupportedVersion
		case txnRecords:
			pt.err = fmt.Errorf("%w: transactional records without a transactional id", kerr.TransactionalIDAuthorizationFailed)
		case r.Acks != -1 && r.Acks != 0 && r.Acks != 1:
			pt.err = kerr.InvalidRequiredAcks
		case txnDenied:
			pt.err = kerr.TransactionalIDAuthorizationFailed
		case !writable(rt.Topic):
			pt.err = kerr.TopicAuthorizationFailed
		case !known:
			pt.err = kerr.UnknownTopicOrPartition
		case isInternalTopic(rt.Topic):
			pt.err = fmt.Errorf("%w: cannot append to internal topic %s", kerr.InvalidTopicException, rt.Topic)
		default:
			pt.t = t
			pt.cfg, pt.err = b.parts.TopicConfig(t)
		}
		tops = append(tops, pt)
	}
	var checks [][]txnCheck
	if r.TransactionID != nil && req.Version >= 3 {
		checks = b.verifyProduce(r, tops, req.Version)
	}
	var waits, unsynced []commitWait
	if n := uint32(min(runtime.GOMAXPROCS(0), maxProduceWorkers)); parts >= parallelProduceMin && n > 1 {
		shared := slices.Clone(tops) // tops may live on this stack
		shares := make([]appended, n)
		var wg sync.WaitGroup
		for w := uint32(1); w < n; w++ {
			wg.Go(func() { shares[w] = b.produceShare(r, resp, shared, checks, w, n) })
		}
		shares[0] = b.produceShare(r, resp, shared, checks, 0, n)
		wg.Wait()
		for _, sh := range shares {
			waits, unsynced = append(waits, sh.waits...), append(unsynced, sh.unsynced...)
		}
	} else {
		sh := b.produceShare(r, resp, tops, checks, 0, 1)
		waits, unsynced = sh.waits, sh.unsynced
	}
	listener := b.listenerOf(req)
	switch r.Acks {
	case 0:
		b.syncAppended(unsynced)
		return nil, nil
	case -1:
		deadline := time.Now().Add(time.Duration(r.TimeoutMillis) * time.Millisecond)
		req.Await = func(ctx context.Context) {
			b.syncAppended(unsynced)
			b.waitCommitted(ctx, resp, waits, deadline)
			b.addProduceLeaderHints(resp, listener)
		}
		return resp, nil
	}
	b.syncAppended(unsynced)
	b.addProduceLeaderHints(resp, listener)
	return resp, nil
}

// hasTransactionalRecords reports whether any partition of r holds a
// batch with the transactional attribute; Kafka reads every batch, but
// Produce v3+ carries one per partition.
func hasTransactionalRecords(r *kmsg.ProduceRequest) bool {
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			if h, err := recordbatch.ReadHeader(rp.Records); err == nil && h.Transactional() {
				return true
			}
		}
	}
	return false
}

// commitWait is an acks=all partition appended and waiting for its ISR.
type commitWait struct {
	p      *partition.Partition
	end    int64 // the offset after its records
	epoch  int32 // the leader epoch it was appended in
	minISR int
	sp     *kmsg.ProduceResponseTopicPartition
}

// waitCommitted waits until every appended partition's records are
// replicated to its ISR, or the request's deadline passes, and sets their
// errors.
func (b *Broker) waitCommitted(ctx context.Context, resp *kmsg.ProduceResponse, waits []commitWait, deadline time.Time) {
	if len(waits) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	for _, w := range waits {
		if w.sp.ErrorCode != 0 {
			continue // its fsync failed
		}
		err := w.p.WaitCommitted(ctx, w.end, w.epoch, w.minISR)
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w: the in-sync replicas did not all have the records within the request's timeout", kerr.RequestTimedOut)
		}
		if err != nil {
			b.failPartition(w.sp, err)
		}
	}
}

// appended is what one produceShare appended: the partitions that wait
// for their ISR (acks=all), and those whose records still need an fsync
// before they count (flush.messages).
type appended struct {
	waits, unsynced []commitWait
}

// produceShare appends the partitions of r whose number is w modulo of,
// filling in their parts of resp: a partition named twice keeps its order.
// tops[i] is r.Topics[i]'s topic; checks[i][j], if checks is not nil,
// r.Topics[i].Partitions[j]'s transaction verification.
func (b *Broker) produceShare(r *kmsg.ProduceRequest, resp *kmsg.ProduceResponse, tops []produceTopic, checks [][]txnCheck, w, of uint32) appended {
	var scratch []byte
	var waits, unsynced []commitWait
	for i, rt := range r.Topics {
		pt := &tops[i]
		for j, rp := range rt.Partitions {
			if uint32(rp.Partition)%of != w {
				continue
			}
			sp := &resp.Topics[i].Partitions[j]
			err := pt.err
			guard := txn.Unverified
			if checks != nil && err == nil {
				guard, err = checks[i][j].guard, checks[i][j].err
			}
			if err == nil {
				var wait commitWait
				var needSync bool
				if wait, needSync, err = b.producePartition(pt.t, pt.cfg, rp, r.Acks, guard, sp, &scratch); needSync {
					unsynced = append(unsynced, wait)
				}
				if wait.p != nil && r.Acks == -1 {
					waits = append(waits, wait)
				}
			}
			if err != nil {
				b.failPartition(sp, err)
			}
		}
	}
	return appended{waits: waits, unsynced: unsynced}
}

// failPartition answers one partition of a produce request with err.
func (b *Broker) failPartition(sp *kmsg.ProduceResponseTopicPartition, err error) {
	sp.ErrorCode = b.errorCode(err)
	sp.ErrorMessage = errorMessage(err)
	sp.BaseOffset, sp.LogAppendTime = -1, -1
	b.metrics.produceErrors.Inc()
}

// syncAppended fsyncs the partitions whose flush policy wants their records
// on disk before they count (flush.messages), all at once: concurrent
// fsyncs share the file system's journal commits. A failed fsync fails its
// partition's answer.
func (b *Broker) syncAppended(ws []commitWait) {
	switch len(ws) {
	case 0:
		return
	case 1:
		if err := ws[0].p.Sync(ws[0].end); err != nil {
			b.failPartition(ws[0].sp, err)
		}
		return
	}
	errs := make([]error, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() { errs[i] = w.p.Sync(w.end) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			b.failPartition(ws[i].sp, err)
		}
	}
}

// A request to at least parallelProduceMin partitions is appended by up to
// maxProduceWorkers goroutines (one per core): one connection's requests
// are served one at a time, and a producer writing to thousands of
// partitions otherwise keeps one core busy with per-partition work (lookups,
// locks, a write each) while the others wait.
const (
	parallelProduceMin = 64
	maxProduceWorkers  = 4
)

// produceTopic is what every partition of one topic of a Produce request
// shares: the topic and its config, or the error all its partitions get.
type produceTopic struct {
	t   *metadata.Topic
	cfg config.Topic
	err error
}

// producePartition validates and appends one partition's batch and fills in
// the response's offsets; guard is its transaction verification
// (txn.Unverified: none). It returns what an acks=all answer waits for,
// and whether the records still need an fsync (commitWait.p nil: nothing
// was appended).
func (b *Broker) producePartition(t *metadata.Topic, cfg config.Topic, rp kmsg.ProduceRequestTopicPartition,
	acks int16, guard txn.Guard, sp *kmsg.ProduceResponseTopicPartition, scratch *[]byte) (commitWait, bool, error) {
	var w commitWait
	p, err := b.leaderReplica(t, rp.Partition)
	if err != nil {
		return w, false, err
	}
	if acks == -1 {
		if err := p.CheckMinISR(int(cfg.MinInsyncReplicas)); err != nil {
			return w, false, err
		}
	}
	batch := rp.Records
	if len(batch) == 0 {
		return w, false, fmt.Errorf("%w: produce request without records", kerr.InvalidRecord)
	}
	h, err := recordbatch.ReadHeader(batch)
	if err != nil {
		return w, false, err
	}
	if h.Size() < int64(len(batch)) {
		return w, false, fmt.Errorf("%w: produce requests carry exactly one record batch per partition", kerr.InvalidRecord)
	}
	if int64(len(batch)) > int64(cfg.MaxMessageBytes) {
		return w, false, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", kerr.MessageTooLarge, len(batch), cfg.MaxMessageBytes)
	}
	info, err := recordbatch.Validate(batch, recordbatch.ValidateOptions{RequireKeys: cfg.CleanupCompact}, scratch)
	if err != nil {
		return w, false, err
	}
	now := time.Now().UnixMilli()
	appendTime := int64(-1)
	if cfg.LogAppendTime {
		appendTime = now
	} else if err := checkTimestamps(info, now, cfg); err != nil {
		return w, false, err
	}
	if c, ok := topicCodec(cfg.CompressionType); ok && c != info.Header.Codec() && !info.Header.Control() {
		if batch, err = recordbatch.Recompress(batch, c, scratch); err != nil {
			return w, false, err
		}
		if info.Header, err = recordbatch.ReadHeader(batch); err != nil {
			return w, false, err
		}
	}
	res, err := p.AppendVerified(batch, info.Header, appendTime, guard)
	if err != nil {
		return w, false, err
	}
	b.metrics.producedBytes.Add(float64(len(batch)))
	b.metrics.producedRecords.Add(float64(info.Header.NumRecords))
	sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = res.BaseOffset, res.LogAppendTime, res.LogStartOffset
	w = commitWait{p: p, end: res.LastOffset + 1, epoch: res.LeaderEpoch, minISR: int(cfg.MinInsyncReplicas), sp: sp}
	return w, res.Unsynced, nil
}

// leaderReplica returns this node's replica of partition index of t if it
// leads it: UNKNOWN_TOPIC_OR_PARTITION for a partition t does not have,
// NOT_LEADER_OR_FOLLOWER for one another node leads or none does,
// KAFKA_STORAGE_ERROR for a replica here that failed to open.
func (b *Broker) leaderReplica(t *metadata.Topic, index int32) (*partition.Partition, error) {
	if index < 0 || int(index) >= len(t.Partitions) {
		return nil, kerr.UnknownTopicOrPartition
	}
	p, err := b.parts.Get(t.Name, index)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, fmt.Errorf("%w: broker %d holds no replica of %s-%d", kerr.NotLeaderForPartition, b.cfg.NodeID, t.Name, index)
	}
	return p, err
}

// checkTimestamps enforces message.timestamp.before.max.ms and
// message.timestamp.after.max.ms on CreateTime topics (KIP-937) for every
// record of the batch, through its smallest and largest timestamps.
func checkTimestamps(info recordbatch.Info, now int64, cfg config.Topic) error {
	if info.MinTimestamp >= 0 && now-info.MinTimestamp > cfg.TimestampBeforeMaxMs {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.before.max.ms=%d before the broker's time",
			kerr.InvalidTimestamp, info.MinTimestamp, cfg.TimestampBeforeMaxMs)
	}
	if info.MaxTimestamp >= 0 && info.MaxTimestamp-now > cfg.TimestampAfterMaxMs {
		return fmt.Errorf("%w: timestamp %d is more than message.timestamp.after.max.ms=%d after the broker's time",
			kerr.InvalidTimestamp, info.MaxTimestamp, cfg.TimestampAfterMaxMs)
	}
	return nil
}

// topicCodec is the codec a topic's compression.type imposes, if any
// ("producer" keeps the producer's).
func topicCodec(compressionType string) (recordbatch.Codec, bool) {
	switch compressionType {
	case "uncompressed":
		return recordbatch.CodecNone, true
	case "gzip":
		return recordbatch.CodecGzip, true
	case "snappy":
		return recordbatch.CodecSnappy, true
	case "lz4":
		return recordbatch.CodecLZ4, true
	case "zstd":
		return recordbatch.CodecZstd, true
	}
	return 0, false
}

// txnCheck is one partition's transaction verification: the guard its
// batch is appended with, or the error it is answered.
type txnCheck struct {
	guard txn.Guard
	err   error
}

// verifyProduce verifies, when transaction.partition.verification.enable
// is on, that the partitions of r whose transactional batch would start
// its producer's transaction here are in the producer's ongoing
// transaction (KIP-890 part 1): it asks the coordinator of r's
// transactional id for those partitions at once, without holding a
// partition lock, and returns each partition's check (nil: verification
// is off). A batch that continues an ongoing transaction pays no round
// trip. Transactional batches of more than one producer id or epoch are
// INVALID_PRODUCER_ID_MAPPING, as in Kafka.
//
// From v12 (transaction version 2, KIP-890 part 2) the partitions are
// added to the transaction instead of verified, whatever the setting:
// the client sent no AddPartitionsToTxn, so without the add no marker
// would end the transaction here.
func (b *Broker) verifyProduce(r *kmsg.ProduceRequest, tops []produceTopic, version int16) [][]txnCheck {
	add := version >= 12
	if !add && !b.settings().TransactionPartitionVerification() {
		return nil
	}
	checks := make([][]txnCheck, len(r.Topics))
	var heads []recordbatch.Header
	var at [][2]int
	for i, rt := range r.Topics {
		checks[i] = make([]txnCheck, len(rt.Partitions))
		for j, rp := range rt.Partitions {
			// A partition that loses its check below (leadership moved
			// in) appends only into an ongoing transaction.
			checks[i][j].guard = txn.OngoingGuard
			if tops[i].err != nil {
				continue
			}
			if h, err := recordbatch.ReadHeader(rp.Records); err == nil && h.Transactional() && h.ProducerID >= 0 {
				heads, at = append(heads, h), append(at, [2]int{i, j})
			}
		}
	}
	for _, h := range heads {
		if h.ProducerID != heads[0].ProducerID || h.ProducerEpoch != heads[0].ProducerEpoch {
			for _, ij := range at {
				checks[ij[0]][ij[1]].err = fmt.Errorf("%w: transactional records of more than one producer id", kerr.InvalidProducerIDMapping)
			}
			return checks
		}
	}
	now := time.Now().UnixMilli()
	var tps []txn.TopicPartition
	var ask [][2]int
	for k, ij := range at {
		rt := r.Topics[ij[0]]
		p, err := b.leaderReplica(tops[ij[0]].t, rt.Partitions[ij[1]].Partition)
		if err != nil {
			continue // producePartition answers it
		}
		g, need, err := p.StartVerification(heads[k].ProducerID, heads[k].ProducerEpoch, now)
		if err != nil {
			continue
		}
		checks[ij[0]][ij[1]].guard = g
		if need {
			tps, ask = append(tps, txn.TopicPartition{Topic: rt.Topic, Partition: rt.Partitions[ij[1]].Partition}), append(ask, ij)
		}
	}
	if len(tps) == 0 {
		return checks
	}
	var errs map[txn.TopicPartition]error
	if node := b.txnCoordinator(*r.TransactionID); node < 0 {
		errs = allErr(tps, kerr.CoordinatorNotAvailable)
	} else {
		errs = b.verifier.verify(node, *r.TransactionID, heads[0].ProducerID, heads[0].ProducerEpoch, add, tps)
	}
	for k, tp := range tps {
		if err := errs[tp]; err != nil {
			checks[ask[k][0]][ask[k][1]].err = produceVerifyError(err, version)
		}
	}
	return checks
}

package txn

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// maxEpoch is the largest producer epoch. Clients never get an epoch at
// or above maxEpoch-1 (exhausted), so that the coordinator can always fence.
const maxEpoch = math.MaxInt16

func epochExhausted(e int16) bool { return e >= maxEpoch-1 }

// InitTxnRequest is the part of an InitProducerId request with a
// transactional id that the coordinator reads.
type InitTxnRequest struct {
	TransactionalID string
	TimeoutMs       int32
	// ProducerID and ProducerEpoch are -1, or what a KIP-360 client (v3+)
	// already has when it reinitialises after an error.
	ProducerID    int64
	ProducerEpoch int16
}

// InitProducerID answers InitProducerId for a transactional id, under token
// (Kafka's TransactionCoordinator.handleInitProducerId):
//   - a producer id without an epoch or the reverse: INVALID_REQUEST;
//   - a timeout outside (0, transaction.max.timeout.ms]: INVALID_TRANSACTION_TIMEOUT;
//   - a new id: a new producer id with epoch 0;
//   - Empty or CompleteX: the epoch is bumped (the previous producer is
//     fenced), or a new producer id with epoch 0 once the epoch is exhausted;
//   - Ongoing: the transaction is aborted with a bumped epoch and the call
//     gets CONCURRENT_TRANSACTIONS; the client retries;
//   - PrepareX or a write pending: CONCURRENT_TRANSACTIONS;
//   - KIP-360: a given producer id must be the current one (or the previous
//     one with an exhausted epoch), else PRODUCER_FENCED; a given epoch equal
//     to the current one is bumped, one equal to the last epoch is a retry
//     answered with the current epoch, any other is PRODUCER_FENCED.
func (c *Coordinator) InitProducerID(token uint64, req InitTxnRequest, nowMs int64) {
	id := req.TransactionalID
	switch {
	case id == "":
		c.reply(token, fmt.Errorf("empty transactional id: %w", kerr.InvalidRequest))
		return
	case (req.ProducerID < 0) != (req.ProducerEpoch < 0):
		// KafkaApis refuses a producer id without an epoch and vice versa.
		c.reply(token, fmt.Errorf("producer id %d with epoch %d: %w", req.ProducerID, req.ProducerEpoch, kerr.InvalidRequest))
		return
	case req.TimeoutMs <= 0 || req.TimeoutMs > c.cfg.MaxTimeoutMs:
		c.reply(token, fmt.Errorf("transaction timeout %d ms outside (0, %d]: %w", req.TimeoutMs, c.cfg.MaxTimeoutMs, kerr.InvalidTransactionTimeout))
		return
	}
	e, epoch, err := c.lookup(id)
	if err != nil {
		c.reply(token, err)
		return
	}
	if e == nil {
		pid, err := c.allocate()
		if err != nil {
			c.reply(token, err)
			return
		}
		e = &entry{m: Metadata{
			TransactionalID: id, ProducerID: pid, PrevProducerID: -1, NextProducerID: -1,
			ProducerEpoch: noProducerEpoch, LastProducerEpoch: noProducerEpoch,
			TimeoutMs: req.TimeoutMs, State: Empty, StartMs: -1, LastUpdateMs: nowMs,
		}}
		c.txns[id] = e
	}
	expected := req.ProducerID >= 0 || req.ProducerEpoch >= 0
	m := &e.m
	switch {
	case e.pending != nil:
		c.reply(token, concurrent(id))
		return
	case expected && m.ProducerEpoch != noProducerEpoch && req.ProducerID != m.ProducerID &&
		(req.ProducerID != m.PrevProducerID || !epochExhausted(req.ProducerEpoch)):
		c.reply(token, fmt.Errorf("transactional id %q has producer id %d, not %d: %w", id, m.ProducerID, req.ProducerID, kerr.ProducerFenced))
		return
	}
	switch m.State {
	case PrepareCommit, PrepareAbort:
		c.reply(token, concurrent(id))
		return
	case Ongoing:
		c.fence(e, epoch, token, true, nowMs)
		return
	}
	t := *m
	t.TimeoutMs, t.State, t.Partitions, t.StartMs, t.LastUpdateMs = req.TimeoutMs, Empty, nil, -1, nowMs
	t.PrevProducerID, t.NextProducerID, t.ClientTxnVersion = -1, -1, 0
	switch {
	case epochExhausted(m.ProducerEpoch) && (!expected || req.ProducerEpoch == m.ProducerEpoch):
		pid, err := c.allocate()
		if err != nil {
			c.reply(token, err)
			return
		}
		t.PrevProducerID, t.ProducerID, t.ProducerEpoch = m.ProducerID, pid, 0
		t.LastProducerEpoch = noProducerEpoch
		if expected {
			t.LastProducerEpoch = m.ProducerEpoch
		}
	case !expected:
		t.ProducerEpoch, t.LastProducerEpoch = m.ProducerEpoch+1, noProducerEpoch
	case m.ProducerEpoch == noProducerEpoch || req.ProducerEpoch == m.ProducerEpoch:
		t.ProducerEpoch, t.LastProducerEpoch = m.ProducerEpoch+1, m.ProducerEpoch
	case req.ProducerEpoch == m.LastProducerEpoch:
		// A retry of a bump that succeeded: answer the current epoch. A new
		// producer in between would have cleared LastProducerEpoch.
	default:
		c.reply(token, fmt.Errorf("transactional id %q: epoch %d is neither the current %d nor the last %d: %w",
			id, req.ProducerEpoch, m.ProducerEpoch, m.LastProducerEpoch, kerr.ProducerFenced))
		return
	}
	c.prepare(e, epoch, opInit, token, true, t)
}

func (c *Coordinator) allocate() (int64, error) {
	if c.cfg.NextProducerID == nil {
		return -1, fmt.Errorf("no producer id allocator: %w", kerr.CoordinatorLoadInProgress)
	}
	pid, err := c.cfg.NextProducerID()
	if err != nil {
		return -1, fmt.Errorf("allocate producer id: %v: %w", err, kerr.CoordinatorLoadInProgress)
	}
	return pid, nil
}

func concurrent(id string) error {
	return fmt.Errorf("transactional id %q has a state change in progress: %w", id, kerr.ConcurrentTransactions)
}

// producerOf returns id's entry and coordinator epoch if the request's
// producer id and epoch are current, or the error Kafka answers:
// INVALID_REQUEST, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
// INVALID_PRODUCER_ID_MAPPING (unknown id or another producer id) or
// PRODUCER_FENCED (another epoch).
func (c *Coordinator) producerOf(id string, pid int64, pepoch int16) (*entry, int32, error) {
	if id == "" {
		return nil, 0, fmt.Errorf("empty transactional id: %w", kerr.InvalidRequest)
	}
	e, epoch, err := c.lookup(id)
	switch {
	case err != nil:
		return nil, 0, err
	case e == nil || e.m.ProducerID != pid:
		return nil, 0, fmt.Errorf("transactional id %q does not have producer id %d: %w", id, pid, kerr.InvalidProducerIDMapping)
	case e.m.ProducerEpoch != pepoch:
		return nil, 0, fmt.Errorf("transactional id %q has epoch %d, not %d: %w", id, e.m.ProducerEpoch, pepoch, kerr.ProducerFenced)
	}
	return e, epoch, nil
}

// AddPartitions answers AddPartitionsToTxn (up to v3, and each transaction
// of v4+ that is not verify-only) under token: the partitions join the
// transaction, which becomes Ongoing (starting now if it was not). Errors
// are producerOf's, and CONCURRENT_TRANSACTIONS in PrepareX or while a
// write is pending. Partitions already in an Ongoing transaction are
// answered at once, without a write.
func (c *Coordinator) AddPartitions(token uint64, id string, pid int64, pepoch int16, parts []TopicPartition, nowMs int64) {
	e, epoch, err := c.producerOf(id, pid, pepoch)
	if err != nil {
		c.reply(token, err)
		return
	}
	m := &e.m
	switch {
	case e.pending != nil, m.State == PrepareCommit, m.State == PrepareAbort:
		c.reply(token, concurrent(id))
		return
	case m.State == Ongoing && subset(parts, m.Partitions):
		c.reply(token, nil)
		return
	}
	t := *m
	t.Partitions = slices.Concat(m.Partitions, parts)
	slices.SortFunc(t.Partitions, compareTP)
	t.Partitions = slices.Compact(t.Partitions)
	if m.State != Ongoing {
		t.StartMs = nowMs
	}
	t.State, t.LastUpdateMs, t.ClientTxnVersion = Ongoing, nowMs, 0
	c.prepare(e, epoch, opAdd, token, true, t)
}

// subset reports whether every partition of parts is in sorted.
func subset(parts, sorted []TopicPartition) bool {
	for _, tp := range parts {
		if _, ok := slices.BinarySearchFunc(sorted, tp, compareTP); !ok {
			return false
		}
	}
	return true
}

// AddOffsets answers AddOffsetsToTxn: the group's __consumer_offsets
// partition joins the transaction, as AddPartitions.
func (c *Coordinator) AddOffsets(token uint64, id string, pid int64, pepoch int16, group string, nowMs int64) {
	if c.cfg.OffsetsPartition == nil {
		c.reply(token, fmt.Errorf("no group coordinator: %w", kerr.CoordinatorNotAvailable))
		return
	}
	tp := TopicPartition{Topic: OffsetsTopic, Partition: c.cfg.OffsetsPartition(group)}
	c.AddPartitions(token, id, pid, pepoch, []TopicPartition{tp}, nowMs)
}

// VerifyPartitions answers the verify-only form of AddPartitionsToTxn v4+
// (KIP-890 part 1, sent by partition leaders before a transactional
// produce): it changes nothing. It returns one error for all partitions
// (producerOf's, or CONCURRENT_TRANSACTIONS in PrepareX), or per partition
// nil when it is in the transaction and TRANSACTION_ABORTABLE when not.
func (c *Coordinator) VerifyPartitions(id string, pid int64, pepoch int16, parts []TopicPartition) (map[TopicPartition]error, error) {
	e, _, err := c.producerOf(id, pid, pepoch)
	if err != nil {
		return nil, err
	}
	if e.m.State == PrepareCommit || e.m.State == PrepareAbort {
		return nil, concurrent(id)
	}
	out := make(map[TopicPartition]error, len(parts))
	for _, tp := range parts {
		out[tp] = nil
		if !subset([]TopicPartition{tp}, e.m.Partitions) {
			out[tp] = fmt.Errorf("%s-%d is not in the transaction of %q: %w", tp.Topic, tp.Partition, id, kerr.TransactionAbortable)
		}
	}
	return out, nil
}

// EndTxnRequest is the part of an EndTxn request the coordinator reads.
type EndTxnRequest struct {
	TransactionalID string
	ProducerID      int64
	ProducerEpoch   int16
	Commit          bool
	// BumpEpoch is set for transaction version 2 clients (EndTxn v5+,
	// KIP-890 part 2): the epoch is bumped at every EndTxn, and the answer
	// carries the new producer id and epoch.
	BumpEpoch bool
}

// EndTxn answers EndTxn under token (Kafka's endTransaction with
// isFromClient). From Ongoing it writes PrepareCommit or PrepareAbort,
// answers, then queues the markers; MarkersWritten completes it. Errors:
//   - INVALID_REQUEST, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS;
//   - INVALID_PRODUCER_ID_MAPPING: unknown id or another producer id;
//   - PRODUCER_FENCED: another epoch (with version 2, the epoch just below
//     the current one is a retry in PrepareX or CompleteX);
//   - CONCURRENT_TRANSACTIONS: a write pending, or the same end in PrepareX;
//   - INVALID_TXN_STATE: Empty, or the other end in PrepareX or CompleteX.
//
// The same end in CompleteX is a retry answered at once.
func (c *Coordinator) EndTxn(token uint64, req EndTxnRequest, nowMs int64) {
	id := req.TransactionalID
	if id == "" {
		c.reply(token, fmt.Errorf("empty transactional id: %w", kerr.InvalidRequest))
		return
	}
	e, epoch, err := c.lookup(id)
	if err == nil && e == nil {
		err = fmt.Errorf("unknown transactional id %q: %w", id, kerr.InvalidProducerIDMapping)
	}
	if err != nil {
		c.reply(token, err)
		return
	}
	m := &e.m
	v2 := m.ClientTxnVersion >= 2
	retryOnBump := v2 && m.ProducerEpoch == req.ProducerEpoch+1
	retryOnOverflow := v2 && m.PrevProducerID == req.ProducerID && req.ProducerEpoch == maxEpoch-1 && m.ProducerEpoch == 0
	validEpoch := req.ProducerEpoch == m.ProducerEpoch
	if v2 {
		switch m.State {
		case PrepareCommit, PrepareAbort:
			validEpoch = retryOnBump
		case CompleteCommit, CompleteAbort:
			validEpoch = retryOnBump || retryOnOverflow
		}
	}
	// Version 2: an abort at the current epoch with no transaction running
	// is a client whose produces all failed clearing what they may have
	// added; it ends like any transaction, bumping the epoch.
	emptyAbort := req.BumpEpoch && !req.Commit && req.ProducerEpoch == m.ProducerEpoch &&
		(m.State == Empty || m.State == CompleteCommit || m.State == CompleteAbort)
	prepared, completed, verb := PrepareAbort, CompleteAbort, "abort"
	if req.Commit {
		prepared, completed, verb = PrepareCommit, CompleteCommit, "commit"
	}
	switch {
	case m.ProducerID != req.ProducerID && !retryOnOverflow:
		c.reply(token, fmt.Errorf("transactional id %q does not have producer id %d: %w", id, req.ProducerID, kerr.InvalidProducerIDMapping))
	case !validEpoch && !emptyAbort:
		c.reply(token, fmt.Errorf("transactional id %q has epoch %d, not %d: %w", id, m.ProducerEpoch, req.ProducerEpoch, kerr.ProducerFenced))
	case e.pending != nil:
		c.reply(token, concurrent(id))
	case m.State == Ongoing, emptyAbort:
		c.prepareEnd(e, epoch, token, req, prepared, nowMs)
	case m.State == completed: // a retry
		c.replyIDs(token, m.ProducerID, m.ProducerEpoch)
	case m.State == prepared:
		c.reply(token, concurrent(id))
	default:
		c.reply(token, fmt.Errorf("transactional id %q is %v, cannot %s: %w", id, m.State, verb, kerr.InvalidTxnState))
	}
}

// prepareEnd writes PrepareCommit or PrepareAbort (prepareAbortOrCommit).
// With BumpEpoch the epoch goes up by one, and an exhausted epoch gets a
// next producer id that takes over at CompleteX.
func (c *Coordinator) prepareEnd(e *entry, epoch int32, token uint64, req EndTxnRequest, to State, nowMs int64) {
	t := e.m
	t.State, t.LastUpdateMs, t.NextProducerID, t.ClientTxnVersion = to, nowMs, -1, 0
	if req.BumpEpoch {
		if epochExhausted(e.m.ProducerEpoch) {
			pid, err := c.allocate()
			if err != nil {
				c.reply(token, err)
				return
			}
			t.NextProducerID = pid
		}
		t.ProducerEpoch, t.LastProducerEpoch, t.ClientTxnVersion = e.m.ProducerEpoch+1, e.m.ProducerEpoch, 2
	}
	c.prepare(e, epoch, opEnd, token, true, t)
}

// Description is one transactional id as DescribeTransactions reports it.
type Description struct {
	State         State
	ProducerID    int64
	ProducerEpoch int16
	TimeoutMs     int32
	StartMs       int64 // -1 when no transaction has started
	Partitions    []TopicPartition
}

// Describe answers DescribeTransactions for one id: INVALID_REQUEST for an
// empty id, NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, or
// TRANSACTIONAL_ID_NOT_FOUND for an id this coordinator does not know.
func (c *Coordinator) Describe(id string) (Description, error) {
	if id == "" {
		return Description{}, fmt.Errorf("empty transactional id: %w", kerr.InvalidRequest)
	}
	e, _, err := c.lookup(id)
	if err == nil && e == nil {
		err = fmt.Errorf("transactional id %q: %w", id, kerr.TransactionalIDNotFound)
	}
	if err != nil {
		return Description{}, err
	}
	m := &e.m
	return Description{
		State: m.State, ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch,
		TimeoutMs: m.TimeoutMs, StartMs: m.StartMs, Partitions: slices.Clone(m.Partitions),
	}, nil
}

// ListFilter selects transactions for ListTransactions; empty fields match
// everything.
type ListFilter struct {
	States      []string // Kafka's state names
	ProducerIDs []int64
	// MinDurationMs, when >= 0, keeps transactions running for longer
	// (KIP-994, ListTransactions v1).
	MinDurationMs int64
}

// Listing is one transactional id in a ListTransactions answer.
type Listing struct {
	TransactionalID string
	ProducerID      int64
	State           State
}

// List answers ListTransactions over the loaded partitions, sorted by id.
// State names it does not know are returned in unknown, as Kafka reports
// them; it fails with COORDINATOR_LOAD_IN_PROGRESS while a partition loads.
func (c *Coordinator) List(f ListFilter, nowMs int64) (out []Listing, unknown []string, err error) {
	for p, tp := range c.partitions {
		if tp.loading {
			return nil, nil, fmt.Errorf("__transaction_state partition %d: %w", p, kerr.CoordinatorLoadInProgress)
		}
	}
	var states []State
	for _, name := range f.States {
		if s, ok := ParseState(name); ok {
			states = append(states, s)
		} else {
			unknown = append(unknown, name)
		}
	}
	for _, id := range c.sortedIDs() {
		m := &c.txns[id].m
		switch { // no Dead case: Dead is only ever a pending state here
		case len(f.ProducerIDs) > 0 && !slices.Contains(f.ProducerIDs, m.ProducerID):
		case len(f.States) > 0 && !slices.Contains(states, m.State):
		case f.MinDurationMs >= 0 && nowMs-m.StartMs <= f.MinDurationMs:
		default:
			out = append(out, Listing{TransactionalID: id, ProducerID: m.ProducerID, State: m.State})
		}
	}
	return out, unknown, nil
}

// API keys whose PRODUCER_FENCED depends on the request version.
const (
	apiInitProducerID   = 22
	apiAddPartitions    = 24
	apiAddOffsets       = 25
	apiEndTxn           = 26
	apiTxnOffsetCommit  = 28
	firstFencedVersion  = 2 // AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, TxnOffsetCommit
	firstFencedInitPIDv = 4
)

// ForVersion returns err as a request of apiKey at version must carry it:
// clients older than KIP-588 (InitProducerId < v4; AddPartitionsToTxn,
// AddOffsetsToTxn, EndTxn and TxnOffsetCommit < v2) do not know
// PRODUCER_FENCED, so Kafka answers INVALID_PRODUCER_EPOCH to them.
func ForVersion(err error, apiKey, version int16) error {
	if !errors.Is(err, kerr.ProducerFenced) {
		return err
	}
	first := int16(firstFencedVersion)
	switch apiKey {
	case apiInitProducerID:
		first = firstFencedInitPIDv
	case apiAddPartitions, apiAddOffsets, apiEndTxn, apiTxnOffsetCommit:
	default:
		return err
	}
	if version >= first {
		return err
	}
	return fmt.Errorf("%v: %w", err, kerr.InvalidProducerEpoch)
}

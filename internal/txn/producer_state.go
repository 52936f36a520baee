package txn

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"sync/atomic"

	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kerr"
)

// RetainedBatches is how many of a producer's most recent batches a
// partition remembers to recognise retries. It equals Kafka's
// ProducerStateEntry.NUM_BATCHES_TO_RETAIN and the largest
// max.in.flight.requests.per.connection an idempotent client may use.
const RetainedBatches = 5

// Values Kafka uses for "none" in batch headers.
const (
	noProducerEpoch int16 = -1
	noSequence      int32 = -1
)

// BatchMeta describes one batch a producer appended: its sequence range
// [FirstSeq, LastSeq] (inclusive; LastSeq < FirstSeq when the range wraps
// past math.MaxInt32 to 0) and its offset range [BaseOffset, LastOffset]
// (inclusive).
type BatchMeta struct {
	FirstSeq, LastSeq      int32
	BaseOffset, LastOffset int64
	// Timestamp is the timestamp given to Update: the batch's max
	// timestamp as stored, which is the log append time when the broker
	// assigned the timestamps. A produce response answering a duplicate
	// carries it as log_append_time_ms for LogAppendTime topics.
	Timestamp int64
}

// producer is what a partition remembers of one producer id.
//
// Invariant: batches[:n] holds the producer's last n data batches appended
// with epoch, oldest first; all were appended with that epoch.
type producer struct {
	epoch      int16
	n          int
	batches    [RetainedBatches]BatchMeta
	lastOffset int64 // last offset of the producer's latest batch, data or control
	lastSeenMs int64 // timestamp of the producer's latest batch
	// coordinatorEpoch is the coordinator epoch of the producer's latest
	// transaction marker, -1 before its first: a marker from an older
	// coordinator is fenced.
	coordinatorEpoch int32
}

// lastSeq is the last sequence appended in the current epoch, or
// noSequence when the epoch has no data batch yet (for example after a
// transaction marker bumped it).
func (p *producer) lastSeq() int32 {
	if p.n == 0 {
		return noSequence
	}
	return p.batches[p.n-1].LastSeq
}

// ProducerState is one partition's idempotence state: for each producer id,
// its current epoch and its last RetainedBatches batches. It is not safe
// for concurrent use; the partition serialises appends.
//
// The partition calls Check before appending a batch from a client and
// Update after the batch is in the log. On open, it rebuilds the state by
// calling Update(h, h.MaxTimestamp) for every batch in the log in offset
// order, which yields the same state as the original sequence of Updates
// (the stored max timestamp is the timestamp Update was given).
//
// Produce v3 and later carry exactly one batch per partition, and Kafka
// rejects more (INVALID_RECORD); the broker must enforce that, because Check
// judges each batch against the state before it, not against other batches
// of the same request.
//
// It also tracks transactions (KIP-98): a producer's transactional batches
// from the first one to its marker (EndTxn) form its ongoing transaction.
// The first offset of the earliest ongoing transaction bounds the last
// stable offset (FirstUnstableOffset).
type ProducerState struct {
	producers map[int64]*producer
	// txns maps each producer with an ongoing transaction to the
	// transaction's first offset. Invariant: every key is in producers.
	txns map[int64]int64
	// unreplicated are the transactions ended by markers at or above the
	// high watermark last given to FirstUnstableOffset, in marker order:
	// until the marker is committed a new leader may not have it, so the
	// transaction still bounds the last stable offset.
	unreplicated []CompletedTxn
	// verifying maps each producer without an ongoing transaction whose
	// first transactional batch is being verified with its coordinator
	// (KIP-890) to its guard.
	verifying map[int64]verification
}

// lastGuard makes guards unique in the process, so that none outlives a
// rebuild of the state and matches a later verification.
var lastGuard atomic.Uint64

// Guard identifies one verification of a producer's first transactional
// batch on a partition with its transaction coordinator (Kafka's
// VerificationGuard): the append passes the guard it was verified with,
// and succeeds only if the partition still holds that guard. A marker or
// another transaction's first batch in between clears it, so that a
// verification answered for one transaction cannot admit a batch into the
// next one.
type Guard uint64

const (
	// Unverified appends without verification
	// (transaction.partition.verification.enable=false).
	Unverified Guard = 0
	// OngoingGuard is what StartVerification returns when the producer's
	// transaction is already ongoing: no round trip, and the append fails
	// if a marker ended the transaction meanwhile.
	OngoingGuard Guard = 1
)

type verification struct {
	guard     Guard
	epoch     int16 // the producer epoch verified
	createdMs int64
}

// CompletedTxn is a transaction a marker ended: the producer's records in
// [FirstOffset, LastOffset] belong to it; LastOffset is the marker's.
type CompletedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
	Aborted     bool
	// LastStableOffset is the first offset of the earliest transaction
	// still ongoing after this one ended, or LastOffset+1 when none is:
	// what Kafka's aborted transaction index stores with each abort.
	LastStableOffset int64
}

// NewProducerState returns an empty state.
func NewProducerState() *ProducerState {
	return &ProducerState{producers: make(map[int64]*producer), txns: make(map[int64]int64),
		verifying: make(map[int64]verification)}
}

// Len is the number of producers the state remembers.
func (s *ProducerState) Len() int { return len(s.producers) }

// Check decides what to do with a batch a client asks to append; it does
// not change the state. Checks run in Kafka's order, first failure wins:
//
//  1. A control batch (clients may not write markers), a negative
//     lastOffsetDelta, or a transactional batch without a producer id:
//     INVALID_RECORD.
//  2. No producer id (producerId < 0): (nil, nil); nothing else is checked.
//  3. A negative baseSequence: INVALID_RECORD.
//  4. The same epoch and sequence range [first, last] as one of the
//     producer's last RetainedBatches batches: (dup, nil). The caller must
//     not append and answers success with dup.BaseOffset (and
//     dup.Timestamp for LogAppendTime topics). The returned BatchMeta is a
//     copy the caller owns.
//  5. An epoch below the producer's current one: INVALID_PRODUCER_EPOCH
//     (Kafka answers this rather than PRODUCER_FENCED since 2.7).
//  6. An epoch above the current one with a baseSequence other than 0:
//     OUT_OF_ORDER_SEQUENCE_NUMBER.
//  7. The current epoch with a baseSequence other than the last sequence
//     plus one (0 after math.MaxInt32, and 0 when the epoch has no data
//     batch yet): OUT_OF_ORDER_SEQUENCE_NUMBER. This covers gaps and
//     retries older than the retained window.
//  8. A non-transactional batch from a producer whose transaction is
//     ongoing: INVALID_TXN_STATE.
//
// A producer the state does not know is accepted with any epoch and
// sequence. That is Kafka's behaviour since KIP-360 (2.5): the broker no
// longer answers UNKNOWN_PRODUCER_ID on produce, because state also vanishes
// for producers whose records were removed by retention, DeleteRecords or
// producer expiration, and their next batch must not fail (see
// ProducerAppendInfo.checkSequence in Apache Kafka's storage module:
// "accept writes with any sequence number" when there is no current epoch).
// Check therefore never returns UNKNOWN_PRODUCER_ID.
//
// Kafka has no "sequence that wraps wrongly" error: a batch whose range
// passes math.MaxInt32 continues at 0 and is valid.
func (s *ProducerState) Check(h recordbatch.Header) (*BatchMeta, error) {
	if h.Control() {
		return nil, fmt.Errorf("clients may not write control batches: %w", kerr.InvalidRecord)
	}
	if h.LastOffsetDelta < 0 {
		return nil, fmt.Errorf("last offset delta %d is negative: %w", h.LastOffsetDelta, kerr.InvalidRecord)
	}
	if h.ProducerID < 0 {
		if h.Transactional() {
			return nil, fmt.Errorf("transactional batch without a producer id: %w", kerr.InvalidRecord)
		}
		return nil, nil
	}
	if h.BaseSequence < 0 {
		return nil, fmt.Errorf("producer %d: invalid base sequence %d: %w", h.ProducerID, h.BaseSequence, kerr.InvalidRecord)
	}
	first, last := h.BaseSequence, lastSequence(h.BaseSequence, h.LastOffsetDelta)
	p := s.producers[h.ProducerID]
	current := noProducerEpoch
	if p != nil {
		current = p.epoch
		if h.ProducerEpoch == p.epoch {
			for _, b := range p.batches[:p.n] {
				if b.FirstSeq == first && b.LastSeq == last {
					return &b, nil
				}
			}
		}
	}
	if h.ProducerEpoch < current {
		return nil, fmt.Errorf("producer %d: epoch %d is older than current epoch %d: %w",
			h.ProducerID, h.ProducerEpoch, current, kerr.InvalidProducerEpoch)
	}
	if h.ProducerEpoch != current {
		if first != 0 && current != noProducerEpoch {
			return nil, fmt.Errorf("producer %d: new epoch %d must start at sequence 0, got %d: %w",
				h.ProducerID, h.ProducerEpoch, first, kerr.OutOfOrderSequenceNumber)
		}
	} else if current != noProducerEpoch {
		if want := nextSequence(p.lastSeq()); first != want {
			return nil, fmt.Errorf("producer %d epoch %d: sequence %d, expected %d: %w",
				h.ProducerID, h.ProducerEpoch, first, want, kerr.OutOfOrderSequenceNumber)
		}
	}
	if start, ongoing := s.txns[h.ProducerID]; ongoing && !h.Transactional() {
		return nil, fmt.Errorf("producer %d: non-transactional batch during its transaction from offset %d: %w",
			h.ProducerID, start, kerr.InvalidTxnState)
	}
	return nil, nil
}

// StartVerification returns the guard producerID's next transactional
// batch of epoch must be appended with: OngoingGuard if its transaction is
// ongoing here at that epoch, else the guard of its verification in
// progress, created now if there is none (Kafka's
// maybeStartTransactionVerification). need says the coordinator must be
// asked.
func (s *ProducerState) StartVerification(producerID int64, epoch int16, nowMs int64) (g Guard, need bool) {
	if s.ongoingAt(producerID, epoch) {
		return OngoingGuard, false
	}
	v, ok := s.verifying[producerID]
	if !ok || v.epoch != epoch {
		v = verification{guard: Guard(lastGuard.Add(1) + uint64(OngoingGuard)), epoch: epoch, createdMs: nowMs}
		s.verifying[producerID] = v
	}
	return v.guard, true
}

// CheckVerified refuses, with INVALID_TXN_STATE, a transactional data
// batch appended with guard g that neither continues its producer's
// ongoing transaction nor carries the producer's current verification
// guard. Unverified passes everything.
func (s *ProducerState) CheckVerified(h recordbatch.Header, g Guard) error {
	if g == Unverified || !h.Transactional() || h.Control() {
		return nil
	}
	if s.ongoingAt(h.ProducerID, h.ProducerEpoch) {
		return nil
	}
	if v, ok := s.verifying[h.ProducerID]; ok && v.guard == g && g != OngoingGuard {
		return nil
	}
	return fmt.Errorf("producer %d: the partition was not verified to be in an ongoing transaction: %w", h.ProducerID, kerr.InvalidTxnState)
}

// ongoingAt reports whether producerID's transaction is ongoing here at
// epoch. With transaction version 2 the epoch bumps at every end, so a
// batch of a newer epoch belongs to the next transaction even while the
// last one's marker has not arrived: it must be added to it, not joined
// to the open one.
func (s *ProducerState) ongoingAt(producerID int64, epoch int16) bool {
	_, ongoing := s.txns[producerID]
	return ongoing && s.producers[producerID].epoch == epoch
}

// CheckCoordinator decides whether a coordinator may append its own
// transactional batch for the producer (a transactional offset commit to
// __consumer_offsets). As Kafka does for appends of origin COORDINATOR, only
// the epoch is checked: an epoch below the producer's current one is
// INVALID_PRODUCER_EPOCH; sequences are not the coordinator's to keep.
func (s *ProducerState) CheckCoordinator(h recordbatch.Header) error {
	if p := s.producers[h.ProducerID]; p != nil && h.ProducerEpoch < p.epoch {
		return fmt.Errorf("producer %d: epoch %d is older than current epoch %d: %w",
			h.ProducerID, h.ProducerEpoch, p.epoch, kerr.InvalidProducerEpoch)
	}
	return nil
}

// CheckMarker decides whether the coordinator may end producerID's
// transaction with a marker of producer epoch epoch written by coordinator
// epoch coordinatorEpoch (WriteTxnMarkers), as Kafka's
// ProducerAppendInfo.appendEndTxnMarker does: an epoch below the
// producer's is INVALID_PRODUCER_EPOCH, a coordinator epoch below the one
// of its last marker TRANSACTION_COORDINATOR_FENCED. A producer the state
// does not know, or one without an ongoing transaction, may be sent a
// marker: the coordinator retries markers, and each ends nothing twice.
func (s *ProducerState) CheckMarker(producerID int64, epoch int16, coordinatorEpoch int32) error {
	p := s.producers[producerID]
	if p == nil {
		return nil
	}
	if epoch < p.epoch {
		return fmt.Errorf("producer %d: marker epoch %d is older than current epoch %d: %w",
			producerID, epoch, p.epoch, kerr.InvalidProducerEpoch)
	}
	if coordinatorEpoch < p.coordinatorEpoch {
		return fmt.Errorf("producer %d: coordinator epoch %d is older than %d: %w",
			producerID, coordinatorEpoch, p.coordinatorEpoch, kerr.TransactionCoordinatorFenced)
	}
	return nil
}

// Update records a batch that is now in the log; h.BaseOffset must hold the
// offset it was appended at. timestampMs is the batch's max timestamp as
// stored: the log append time when the broker assigned the timestamps, else
// the producer's max timestamp. Like Kafka, the state uses it both for
// duplicate answers and to measure idleness for Expire.
//
// Update does not validate: it records what the log holds, so a lower epoch
// replaces a higher one. A batch without a producer id changes nothing. A
// new epoch forgets the previous epoch's batches. A control batch
// (transaction marker) moves the epoch and the producer's last offset and
// time but records no sequence; EndTxn also ends its transaction. A
// transactional data batch starts the producer's transaction unless one is
// ongoing.
func (s *ProducerState) Update(h recordbatch.Header, timestampMs int64) {
	if h.ProducerID < 0 {
		return
	}
	p := s.producers[h.ProducerID]
	if p == nil {
		p = &producer{epoch: noProducerEpoch, coordinatorEpoch: -1}
		s.producers[h.ProducerID] = p
	}
	_, ongoing := s.txns[h.ProducerID]
	// The transaction started or ended: its verification is spent. Only
	// a verification of a newer epoch than the ongoing transaction's
	// survives its marker: with transaction version 2 that marker carries
	// the bumped epoch the next transaction, verified meanwhile, uses.
	if v, ok := s.verifying[h.ProducerID]; ok && h.Transactional() && !(h.Control() && ongoing && v.epoch > p.epoch) {
		delete(s.verifying, h.ProducerID)
	}
	if h.Transactional() && !h.Control() && !ongoing {
		s.txns[h.ProducerID] = h.BaseOffset
	}
	if h.ProducerEpoch != p.epoch {
		p.epoch = h.ProducerEpoch
		p.batches, p.n = [RetainedBatches]BatchMeta{}, 0
	}
	p.lastOffset = h.LastOffset()
	p.lastSeenMs = timestampMs
	if h.Control() {
		return
	}
	if p.n == RetainedBatches {
		copy(p.batches[:], p.batches[1:])
		p.n--
	}
	p.batches[p.n] = BatchMeta{
		FirstSeq:   h.BaseSequence,
		LastSeq:    lastSequence(h.BaseSequence, h.LastOffsetDelta),
		BaseOffset: h.BaseOffset,
		LastOffset: h.LastOffset(),
		Timestamp:  timestampMs,
	}
	p.n++
}

// EndTxn records a transaction marker batch now in the log (h.BaseOffset
// holds its offset; m is its record) as Update records other batches, and
// ends the producer's transaction. It returns the transaction it ended; a
// producer without an ongoing transaction ends an empty one at the marker,
// as in Kafka. Like Update it does not validate (see CheckMarker).
func (s *ProducerState) EndTxn(h recordbatch.Header, m recordbatch.EndTxnMarker, timestampMs int64) CompletedTxn {
	s.Update(h, timestampMs)
	s.producers[h.ProducerID].coordinatorEpoch = m.CoordinatorEpoch
	first, ongoing := s.txns[h.ProducerID]
	if !ongoing {
		first = h.BaseOffset
	}
	delete(s.txns, h.ProducerID)
	c := CompletedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.LastOffset(), Aborted: !m.Commit,
		LastStableOffset: h.LastOffset() + 1}
	for _, f := range s.txns {
		c.LastStableOffset = min(c.LastStableOffset, f)
	}
	s.unreplicated = append(s.unreplicated, c)
	return c
}

// FirstUnstableOffset returns the last stable offset for high watermark hw:
// the smallest of hw, the first offset of every ongoing transaction, and
// that of every transaction whose marker is at or above hw (which it then
// stops tracking once hw passes the marker). hw must not decrease between
// calls, except after a rebuild of the state.
func (s *ProducerState) FirstUnstableOffset(hw int64) int64 {
	n := 0
	for n < len(s.unreplicated) && s.unreplicated[n].LastOffset < hw {
		n++
	}
	s.unreplicated = s.unreplicated[n:]
	if len(s.unreplicated) == 0 {
		s.unreplicated = nil
	}
	lso := hw
	for _, c := range s.unreplicated {
		lso = min(lso, c.FirstOffset)
	}
	for _, f := range s.txns {
		lso = min(lso, f)
	}
	return lso
}

// ProducerInfo is what DescribeProducers tells of one producer.
type ProducerInfo struct {
	ProducerID       int64
	Epoch            int16
	LastSequence     int32 // -1 when its epoch has no data batch yet
	LastTimestamp    int64
	CoordinatorEpoch int32 // -1 before its first marker
	TxnStartOffset   int64 // -1 without an ongoing transaction
}

// Producers returns every producer the state remembers, by increasing id.
func (s *ProducerState) Producers() []ProducerInfo {
	out := make([]ProducerInfo, 0, len(s.producers))
	for id, p := range s.producers {
		first, ongoing := s.txns[id]
		if !ongoing {
			first = -1
		}
		out = append(out, ProducerInfo{ProducerID: id, Epoch: p.epoch, LastSequence: p.lastSeq(), LastTimestamp: p.lastSeenMs,
			CoordinatorEpoch: p.coordinatorEpoch, TxnStartOffset: first})
	}
	slices.SortFunc(out, func(a, b ProducerInfo) int { return cmp.Compare(a.ProducerID, b.ProducerID) })
	return out
}

// LastBatch is where a producer's latest batches are: LastDataOffset is
// the last offset of its latest data batch in its current epoch Epoch, -1
// when the epoch has none.
type LastBatch struct {
	LastDataOffset int64
	Epoch          int16
}

// LastBatches returns every producer's LastBatch, by id: the batches a
// compaction pass must keep (at least their headers) so that the state
// rebuilt from the log still knows each producer's last sequence and
// epoch.
func (s *ProducerState) LastBatches() map[int64]LastBatch {
	out := make(map[int64]LastBatch, len(s.producers))
	for id, p := range s.producers {
		last := int64(-1)
		if p.n > 0 {
			last = p.batches[p.n-1].LastOffset
		}
		out[id] = LastBatch{LastDataOffset: last, Epoch: p.epoch}
	}
	return out
}

// Expire forgets producers whose latest batch timestamp is maxIdleMs or more
// before nowMs (Kafka's producer.id.expiration.ms, default 86400000; its
// transactional.id.expiration.ms applies to the coordinator, not here). A
// forgotten producer is treated as unknown by Check. A producer with an
// ongoing transaction is kept, as in Kafka: only its marker ends it.
// Verifications started maxIdleMs or more ago are forgotten too.
func (s *ProducerState) Expire(nowMs, maxIdleMs int64) {
	for id, p := range s.producers {
		if _, ongoing := s.txns[id]; !ongoing && nowMs-p.lastSeenMs >= maxIdleMs {
			delete(s.producers, id)
		}
	}
	for id, v := range s.verifying {
		if nowMs-v.createdMs >= maxIdleMs {
			delete(s.verifying, id)
		}
	}
}

// TruncateBelow forgets producers whose latest batch ends below
// logStartOffset, that is, producers none of whose batches remain in the
// log [logStartOffset, end).
//
// Kafka since 2.5 (KIP-360) does not do this when retention or
// DeleteRecords moves the log start offset: it keeps producer state until
// Expire removes it, so that a retry of a batch deleted meanwhile is still
// recognised as a duplicate. Calling TruncateBelow on those events trades
// that for memory and for a state that equals a rebuild from the log.
// Producers with an ongoing transaction are kept, as Expire keeps them.
func (s *ProducerState) TruncateBelow(logStartOffset int64) {
	for id, p := range s.producers {
		if _, ongoing := s.txns[id]; !ongoing && p.lastOffset < logStartOffset {
			delete(s.producers, id)
		}
	}
}

// lastSequence is the sequence of a batch's last record: base plus
// lastOffsetDelta, continuing at 0 after math.MaxInt32 as Kafka's
// DefaultRecordBatch.incrementSequence does. base and delta must not be
// negative.
func lastSequence(base, delta int32) int32 {
	if base > math.MaxInt32-delta {
		return delta - (math.MaxInt32 - base) - 1
	}
	return base + delta
}

// nextSequence is the sequence that must follow last: last+1, 0 after
// math.MaxInt32, and 0 when last is noSequence.
func nextSequence(last int32) int32 {
	if last == math.MaxInt32 {
		return 0
	}
	return last + 1
}

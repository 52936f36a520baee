package txn

import (
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// CoordinatorConfig holds the transaction coordinator's settings, named
// after Kafka's. Zero values take Kafka's defaults.
type CoordinatorConfig struct {
	NumPartitions  int32 // transaction.state.log.num.partitions (50)
	MaxTimeoutMs   int32 // transaction.max.timeout.ms (900000)
	IDExpirationMs int64 // transactional.id.expiration.ms (604800000)
	// NextProducerID allocates a producer id (IDAllocator.Next in the
	// broker). It is called only from InitProducerID and EndTxn. An error
	// answers COORDINATOR_LOAD_IN_PROGRESS, which clients retry.
	NextProducerID func() (int64, error)
	// OffsetsPartition maps a group to its __consumer_offsets partition
	// (the group coordinator's PartitionFor), for AddOffsetsToTxn.
	OffsetsPartition func(group string) int32
}

func (c *CoordinatorConfig) setDefaults() {
	if c.NumPartitions <= 0 {
		c.NumPartitions = 50
	}
	if c.MaxTimeoutMs <= 0 {
		c.MaxTimeoutMs = 900000
	}
	if c.IDExpirationMs <= 0 {
		c.IDExpirationMs = 7 * 24 * 3600 * 1000
	}
}

// OffsetsTopic is the topic AddOffsetsToTxn adds a partition of.
const OffsetsTopic = "__consumer_offsets"

// Write asks the driver to append Record to partition Partition of
// __transaction_state (with acks=all, as Kafka does), then to call
// Coordinator.WriteDone with the outcome. The state changes only then.
type Write struct {
	Partition        int32
	CoordinatorEpoch int32
	Record           Record
	TransactionalID  string
	// Complete marks the write of CompleteCommit or CompleteAbort after
	// the markers. No client request waits on it to try again, so when it
	// fails the driver calls MarkersWritten again after a backoff, which
	// writes it anew while the transaction is still prepared here (Kafka's
	// TransactionMarkerChannelManager retries that append).
	Complete bool

	seq uint64
}

// Markers asks the driver to write transaction markers (WriteTxnMarkers to
// each partition's leader, possibly another node) and, once every
// partition has its marker, to call Coordinator.MarkersWritten.
type Markers struct {
	TransactionalID  string
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool // false: abort
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// Reply answers the request the driver registered under Token. Err is nil
// or wraps a *kerr.Error; ProducerID and ProducerEpoch are set for
// InitProducerId and EndTxn (-1 on error).
type Reply struct {
	Token         uint64
	Err           error
	ProducerID    int64
	ProducerEpoch int16
}

// Effects is what the coordinator asks its driver to do: perform Writes
// and Markers, and deliver Replies. Replies never wait on Markers.
type Effects struct {
	Writes  []Write
	Markers []Markers
	Replies []Reply
}

// op is what completes when a pending write is acknowledged.
type op int8

const (
	opInit      op = iota // InitProducerId: reply with the new id and epoch
	opFence               // abort by the coordinator; InitProducerId gets CONCURRENT_TRANSACTIONS
	opAdd                 // AddPartitionsToTxn / AddOffsetsToTxn
	opEnd                 // EndTxn: reply, then markers
	opComplete            // markers written
	opTombstone           // expiry
)

// pending is a write in flight for a transactional id. While it is, every
// other change to the id gets CONCURRENT_TRANSACTIONS (Kafka's pendingState).
type pending struct {
	seq      uint64
	op       op
	token    uint64
	hasToken bool
	target   Metadata
}

type entry struct {
	m         Metadata
	persisted bool // false until the first write is acknowledged
	pending   *pending
}

type txnPartition struct {
	epoch   int32
	loading bool
}

// Coordinator is the transaction coordinator's pure core: the
// transactional ids of the __transaction_state partitions this node leads.
// Every method takes the time as an argument, starts no goroutine and does
// no I/O; it is not safe for concurrent use (the driver serialises calls).
//
// Driver contract: after each call, TakeEffects. Append each Write's
// Record, then call WriteDone(w, err) exactly once. For each Markers, write
// the markers, then call MarkersWritten. Deliver each Reply to the request
// registered under its token. Call AbortTimedOut and ExpireIDs
// periodically (Kafka: every 10s and every hour).
//
// Invariant: an entry's Metadata is what the log holds for it (apart from
// LastProducerEpoch and an entry whose first write is pending).
type Coordinator struct {
	cfg        CoordinatorConfig
	partitions map[int32]*txnPartition
	txns       map[string]*entry
	seq        uint64
	out        Effects
}

// NewCoordinator returns a coordinator that leads no partition.
func NewCoordinator(cfg CoordinatorConfig) *Coordinator {
	cfg.setDefaults()
	return &Coordinator{cfg: cfg, partitions: map[int32]*txnPartition{}, txns: map[string]*entry{}}
}

// PartitionFor returns the __transaction_state partition of a transactional
// id, as Kafka computes it: Utils.abs(id.hashCode()) % NumPartitions, with
// Java's String.hashCode over UTF-16 code units and abs(MinInt32) = 0. The
// node leading that partition is the id's coordinator.
func (c *Coordinator) PartitionFor(id string) int32 {
	var h int32
	for _, r := range id {
		if r >= 0x10000 { // a surrogate pair in UTF-16
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	switch {
	case h == -1<<31:
		h = 0
	case h < 0:
		h = -h
	}
	return h % c.cfg.NumPartitions
}

// TakeEffects returns and clears what the coordinator wants done.
func (c *Coordinator) TakeEffects() Effects {
	e := c.out
	c.out = Effects{}
	return e
}

// BeginLoad marks a partition this node now leads as loading: its ids get
// COORDINATOR_LOAD_IN_PROGRESS until Load. The broker calls it at once on
// gaining the leadership, then replays the partition off the request path.
func (c *Coordinator) BeginLoad(partition int32) {
	c.Unload(partition)
	c.partitions[partition] = &txnPartition{loading: true}
}

// Load installs what r replayed from a partition led at coordinatorEpoch
// (the partition's leader epoch). Ids that hash to another partition are
// skipped and returned. Transactions found in PrepareCommit or PrepareAbort
// get their markers sent again (Effects.Markers), as Kafka does on load;
// Ongoing ones are left to their timeout.
func (c *Coordinator) Load(partition, coordinatorEpoch int32, r *Replay) (misplaced []string) {
	c.Unload(partition)
	c.partitions[partition] = &txnPartition{epoch: coordinatorEpoch}
	ids := make([]string, 0, len(r.txns))
	for id := range r.txns {
		ids = append(ids, id)
	}
	slices.Sort(ids) // deterministic order of effects
	for _, id := range ids {
		if c.PartitionFor(id) != partition {
			misplaced = append(misplaced, id)
			continue
		}
		e := &entry{m: *r.txns[id], persisted: true}
		e.m.Partitions = slices.Clone(e.m.Partitions)
		c.txns[id] = e
		if e.m.State == PrepareCommit || e.m.State == PrepareAbort {
			c.sendMarkers(e, coordinatorEpoch)
		}
	}
	return misplaced
}

// Unload stops coordinating a partition (leadership lost): its ids are
// dropped, and requests waiting on their writes get NOT_COORDINATOR.
// WriteDone and MarkersWritten for them are ignored from now on.
func (c *Coordinator) Unload(partition int32) {
	delete(c.partitions, partition)
	ids := make([]string, 0)
	for id := range c.txns {
		if c.PartitionFor(id) == partition {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		if p := c.txns[id].pending; p != nil && p.hasToken {
			c.reply(p.token, fmt.Errorf("transactional id %q: %w", id, kerr.NotCoordinator))
		}
		delete(c.txns, id)
	}
}

// lookup returns the id's entry (nil if unknown) and its partition's
// coordinator epoch, or NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) lookup(id string) (*entry, int32, error) {
	p := c.partitions[c.PartitionFor(id)]
	switch {
	case p == nil:
		return nil, 0, fmt.Errorf("transactional id %q: %w", id, kerr.NotCoordinator)
	case p.loading:
		return nil, 0, fmt.Errorf("transactional id %q: %w", id, kerr.CoordinatorLoadInProgress)
	}
	return c.txns[id], p.epoch, nil
}

// prepare records target as e's pending state and queues its write.
func (c *Coordinator) prepare(e *entry, epoch int32, o op, token uint64, hasToken bool, target Metadata) {
	c.seq++
	e.pending = &pending{seq: c.seq, op: o, token: token, hasToken: hasToken, target: target}
	rec := EncodeRecord(&target)
	if o == opTombstone {
		rec = TombstoneRecord(target.TransactionalID)
	}
	c.out.Writes = append(c.out.Writes, Write{
		Partition:        c.PartitionFor(target.TransactionalID),
		CoordinatorEpoch: epoch,
		Record:           rec,
		TransactionalID:  target.TransactionalID,
		Complete:         o == opComplete,
		seq:              c.seq,
	})
}

func (c *Coordinator) reply(token uint64, err error) {
	c.out.Replies = append(c.out.Replies, Reply{Token: token, Err: err, ProducerID: -1, ProducerEpoch: noProducerEpoch})
}

func (c *Coordinator) replyIDs(token uint64, id int64, epoch int16) {
	c.out.Replies = append(c.out.Replies, Reply{Token: token, ProducerID: id, ProducerEpoch: epoch})
}

// WriteDone reports the outcome of a Write: err nil means the record is
// appended and replicated. On success the state changes and the waiting
// request is answered (an EndTxn's markers are queued); on failure the
// state stays as it was and the request gets Kafka's coordinator error for
// the append error (see appendError). A Write of an unloaded partition, or
// reported twice, is ignored.
func (c *Coordinator) WriteDone(w Write, err error) {
	e := c.txns[w.TransactionalID]
	p := c.partitions[w.Partition]
	if e == nil || e.pending == nil || e.pending.seq != w.seq || p == nil || p.epoch != w.CoordinatorEpoch {
		return
	}
	pd := e.pending
	e.pending = nil
	if err != nil {
		if !e.persisted {
			delete(c.txns, w.TransactionalID) // never reached the log: forget it, as a reload would
		}
		if pd.hasToken {
			c.reply(pd.token, appendError(err))
		}
		return
	}
	if pd.op == opTombstone {
		delete(c.txns, w.TransactionalID)
		return
	}
	e.m, e.persisted = pd.target, true
	switch pd.op {
	case opInit:
		c.replyIDs(pd.token, e.m.ProducerID, e.m.ProducerEpoch)
	case opAdd:
		c.reply(pd.token, nil)
	case opFence, opEnd:
		if pd.hasToken && pd.op == opEnd {
			c.replyIDs(pd.token, e.m.ProducerID, e.m.ProducerEpoch)
		} else if pd.hasToken {
			// InitProducerId fenced an ongoing transaction: the client
			// retries until the abort completes, as with Kafka.
			c.reply(pd.token, fmt.Errorf("transactional id %q: aborting the ongoing transaction: %w", w.TransactionalID, kerr.ConcurrentTransactions))
		}
		c.sendMarkers(e, w.CoordinatorEpoch)
	}
}

// appendError maps an append error to the code Kafka's coordinator answers
// (TransactionStateManager.appendTransactionToLog).
func appendError(err error) error {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return fmt.Errorf("append to __transaction_state: %v: %w", err, kerr.CoordinatorNotAvailable)
	}
	switch ke {
	case kerr.UnknownTopicOrPartition, kerr.NotEnoughReplicas, kerr.NotEnoughReplicasAfterAppend, kerr.RequestTimedOut:
		ke = kerr.CoordinatorNotAvailable
	case kerr.NotLeaderForPartition, kerr.KafkaStorageError:
		ke = kerr.NotCoordinator
	case kerr.MessageTooLarge, kerr.RecordListTooLarge:
		ke = kerr.UnknownServerError
	}
	return fmt.Errorf("append to __transaction_state: %v: %w", err, ke)
}

// sendMarkers queues the markers of e's PrepareCommit or PrepareAbort, or
// completes at once when the transaction has no partitions.
func (c *Coordinator) sendMarkers(e *entry, epoch int32) {
	if len(e.m.Partitions) == 0 {
		c.complete(e, epoch, e.m.LastUpdateMs)
		return
	}
	c.out.Markers = append(c.out.Markers, Markers{
		TransactionalID:  e.m.TransactionalID,
		ProducerID:       e.m.ProducerID,
		ProducerEpoch:    e.m.ProducerEpoch,
		Commit:           e.m.State == PrepareCommit,
		CoordinatorEpoch: epoch,
		Partitions:       slices.Clone(e.m.Partitions),
	})
}

// MarkersWritten reports that every marker of id's prepared transaction is
// written (markers for partitions deleted meanwhile count as written). The
// coordinator then writes CompleteCommit or CompleteAbort. It is ignored
// unless id is in PrepareCommit or PrepareAbort at coordinatorEpoch with no
// write pending; after a failed Complete write the driver calls it again
// (see Write.Complete).
func (c *Coordinator) MarkersWritten(id string, coordinatorEpoch int32, nowMs int64) {
	e, epoch, err := c.lookup(id)
	if err != nil || e == nil || epoch != coordinatorEpoch || e.pending != nil ||
		(e.m.State != PrepareCommit && e.m.State != PrepareAbort) {
		return
	}
	c.complete(e, epoch, nowMs)
}

// complete prepares CompleteCommit or CompleteAbort (prepareComplete in
// Kafka). With transaction version 2 and a next producer id, that id takes
// over with epoch 0.
func (c *Coordinator) complete(e *entry, epoch int32, nowMs int64) {
	t := e.m
	t.State = CompleteAbort
	if e.m.State == PrepareCommit {
		t.State = CompleteCommit
	}
	t.Partitions = nil
	t.LastUpdateMs = nowMs
	if t.ClientTxnVersion >= 2 {
		t.LastProducerEpoch = e.m.ProducerEpoch
		if t.NextProducerID >= 0 {
			t.PrevProducerID, t.ProducerID, t.ProducerEpoch = e.m.ProducerID, t.NextProducerID, 0
		}
	}
	t.NextProducerID = -1
	c.prepare(e, epoch, opComplete, 0, false, t)
}

// fence prepares the abort of e's ongoing transaction with the epoch
// bumped, so that the producer is fenced. Kafka 4 does it in two steps,
// both here one PrepareAbort write: prepareFenceProducerEpoch
// (PrepareEpochFence, the epoch + 1), then the abort at the server's
// transaction version, 2, which bumps once more and keeps the fenced epoch
// as the last one (prepareAbortOrCommit). So the markers carry the epoch
// + 2, and the fenced producer's epoch is not the one just below the
// current, which version 2 would take for a retry of its own EndTxn. A
// producer at maxEpoch-1 (version 2 hands it out before it rotates ids)
// gets the first bump only: the second would overflow, where Kafka fails.
// The epochs follow from the entry's logged epoch, so a failed write
// retried later bumps to the same values: Kafka's hasFailedEpochFence is
// not needed.
func (c *Coordinator) fence(e *entry, epoch int32, token uint64, hasToken bool, nowMs int64) {
	t := e.m
	t.State = PrepareAbort
	fenced := e.m.ProducerEpoch + 1
	t.ProducerEpoch, t.LastProducerEpoch, t.ClientTxnVersion = fenced, noProducerEpoch, 0
	if fenced < maxEpoch {
		t.ProducerEpoch, t.LastProducerEpoch, t.ClientTxnVersion = fenced+1, fenced, 2
	}
	t.LastUpdateMs = nowMs
	c.prepare(e, epoch, opFence, token, hasToken, t)
}

// AbortTimedOut aborts, with an epoch bump that fences the producer, every
// Ongoing transaction older than its timeout (start + timeout < now) with
// no write pending, as Kafka's abortTimedOutTransactions.
func (c *Coordinator) AbortTimedOut(nowMs int64) {
	for _, id := range c.sortedIDs() {
		e := c.txns[id]
		if e.pending != nil || e.m.State != Ongoing || e.m.StartMs+int64(e.m.TimeoutMs) >= nowMs {
			continue
		}
		if e.m.ProducerEpoch == maxEpoch {
			continue // cannot happen: clients never get an exhausted epoch
		}
		_, epoch, _ := c.lookup(id)
		c.fence(e, epoch, 0, false, nowMs)
	}
}

// ExpireIDs writes a tombstone for every transactional id idle for
// transactional.id.expiration.ms in Empty, CompleteCommit or CompleteAbort
// with no write pending; the id is forgotten once the tombstone is written.
func (c *Coordinator) ExpireIDs(nowMs int64) {
	for _, id := range c.sortedIDs() {
		e := c.txns[id]
		switch {
		case e.pending != nil, !e.persisted:
		case e.m.State != Empty && e.m.State != CompleteCommit && e.m.State != CompleteAbort:
		case e.m.LastUpdateMs > nowMs-c.cfg.IDExpirationMs:
		default:
			_, epoch, _ := c.lookup(id)
			t := e.m
			t.State = Dead
			c.prepare(e, epoch, opTombstone, 0, false, t)
		}
	}
}

// sortedIDs returns the ids of loaded partitions in order, so that effects
// come out deterministically.
func (c *Coordinator) sortedIDs() []string {
	ids := make([]string, 0, len(c.txns))
	for id := range c.txns {
		if p := c.partitions[c.PartitionFor(id)]; p != nil && !p.loading {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}

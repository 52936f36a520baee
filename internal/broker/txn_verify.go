package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

// txnVerifier asks transaction coordinators, with AddPartitionsToTxn v4
// VerifyOnly, whether partitions are in their producers' ongoing
// transactions before a partition leader appends a transaction's first
// batch (KIP-890 part 1, Kafka's AddPartitionsToTxnManager); for clients
// of transaction version 2 (Produce v12, TxnOffsetCommit v5) it adds them
// instead (KIP-890 part 2). Requests for one coordinator node are batched:
// one request per node is in flight, and those that arrive meanwhile go
// together in the next.
//
// No goroutine of its own: the caller that finds a node idle sends its
// request, and hands the next one to a caller waiting for it. Every round
// trip is bounded by txnRequestTimeout, so every caller is answered.
type txnVerifier struct {
	send func(ctx context.Context, node int32, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error)

	mu      sync.Mutex
	pending map[int32]map[string]*verifyTxn // by node, then transactional id
	busy    map[int32]bool                  // a request to the node is in flight
}

// verifyTxn is one transaction's partitions to verify and who waits.
type verifyTxn struct {
	producerID int64
	epoch      int16
	// add: at least one waiter wants its partitions added, not only
	// verified. A request carries an id once, so an add takes the
	// verifications of the same producer and epoch with it; one producer
	// epoch speaks one transaction version, so they do not mix in practice.
	add     bool
	waiters []*verifyWaiter
}

type verifyWaiter struct {
	tps []txn.TopicPartition
	// done gets the waiter's result and at most one turn before it: a
	// turn can reach a waiter that a newer epoch then evicts, which still
	// sends the batch before it reads its own result.
	done chan verifyResult
}

// verifyResult answers a waiter, or (send) gives it the node's next turn.
type verifyResult struct {
	errs map[txn.TopicPartition]error
	send bool
}

func newTxnVerifier(send func(context.Context, int32, *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error)) *txnVerifier {
	return &txnVerifier{send: send, pending: make(map[int32]map[string]*verifyTxn), busy: make(map[int32]bool)}
}

// An add answered CONCURRENT_TRANSACTIONS (the last transaction's markers
// are still being written, which with transaction version 2 is the normal
// case right after EndTxn) is retried here before the client hears of it:
// a client retry costs a metadata refresh. Kafka's
// add.partitions.to.txn.retry.backoff.ms and
// add.partitions.to.txn.retry.backoff.max.ms.
const (
	addRetryBackoff = 20 * time.Millisecond
	addRetryMax     = 100 * time.Millisecond
)

// verify asks coordinator node whether tps are in transaction id of
// producerID at epoch, or with add adds them to it (retrying
// CONCURRENT_TRANSACTIONS for up to addRetryMax), and returns the
// coordinator's error per partition
// (absent: verified), as Kafka's AddPartitionsToTxnManager maps them:
// PRODUCER_FENCED is INVALID_PRODUCER_EPOCH, a failed round trip
// NETWORK_EXCEPTION. A newer epoch of the same id waiting for the same
// node fails the older one with INVALID_PRODUCER_EPOCH; another producer
// id of the same epoch fails the older with NETWORK_EXCEPTION.
func (v *txnVerifier) verify(node int32, id string, producerID int64, epoch int16, add bool, tps []txn.TopicPartition) map[txn.TopicPartition]error {
	errs := v.ask(node, id, producerID, epoch, add, tps)
	if !add {
		return errs
	}
	deadline := time.Now().Add(addRetryMax)
	for backoff := addRetryBackoff; ; backoff *= 2 {
		var again []txn.TopicPartition
		for _, tp := range tps {
			if errors.Is(errs[tp], kerr.ConcurrentTransactions) {
				again = append(again, tp)
			}
		}
		if len(again) == 0 || time.Now().Add(backoff).After(deadline) {
			return errs
		}
		time.Sleep(backoff)
		res := v.ask(node, id, producerID, epoch, add, again)
		for _, tp := range again {
			if err := res[tp]; err != nil {
				errs[tp] = err
			} else {
				delete(errs, tp)
			}
		}
	}
}

// ask is one round of verify: it joins the node's next request.
func (v *txnVerifier) ask(node int32, id string, producerID int64, epoch int16, add bool, tps []txn.TopicPartition) map[txn.TopicPartition]error {
	w := &verifyWaiter{tps: tps, done: make(chan verifyResult, 2)}
	v.mu.Lock()
	batch := v.pending[node]
	if batch == nil {
		batch = make(map[string]*verifyTxn)
		v.pending[node] = batch
	}
	t := batch[id]
	switch {
	case t == nil:
	case t.epoch > epoch:
		v.mu.Unlock()
		return allErr(tps, kerr.InvalidProducerEpoch)
	case t.epoch < epoch || t.producerID != producerID:
		err := kerr.NetworkException
		if t.epoch < epoch {
			err = kerr.InvalidProducerEpoch
		}
		for _, o := range t.waiters {
			o.done <- verifyResult{errs: allErr(o.tps, err)}
		}
		t = nil
	}
	if t == nil {
		t = &verifyTxn{producerID: producerID, epoch: epoch}
		batch[id] = t
	}
	t.waiters, t.add = append(t.waiters, w), t.add || add
	if !v.busy[node] {
		v.busy[node] = true
		w.done <- verifyResult{send: true}
	}
	v.mu.Unlock()
	for {
		res := <-w.done
		if !res.send {
			return res.errs
		}
		v.flush(node)
	}
}

// flush sends node's pending verifications as one request, answers their
// waiters, and passes the turn to a waiter of the next batch, if any.
func (v *txnVerifier) flush(node int32) {
	v.mu.Lock()
	batch := v.pending[node]
	delete(v.pending, node)
	v.mu.Unlock()
	if len(batch) > 0 {
		v.sendBatch(node, batch)
	}

	v.mu.Lock()
	defer v.mu.Unlock()
	for _, t := range v.pending[node] {
		t.waiters[0].done <- verifyResult{send: true}
		return
	}
	delete(v.busy, node)
}

// sendBatch sends one request for batch and answers its waiters.
func (v *txnVerifier) sendBatch(node int32, batch map[string]*verifyTxn) {
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.Version = 4
	for id, t := range batch {
		rt := kmsg.NewAddPartitionsToTxnRequestTransaction()
		rt.TransactionalID, rt.ProducerID, rt.ProducerEpoch, rt.VerifyOnly = id, t.producerID, t.epoch, !t.add
		var tps []txn.TopicPartition
		for _, w := range t.waiters {
			tps = append(tps, w.tps...)
		}
		byTopic(tps, func(topic string, partitions []int32) {
			rt.Topics = append(rt.Topics, kmsg.AddPartitionsToTxnRequestTransactionTopic{Topic: topic, Partitions: partitions})
		})
		req.Transactions = append(req.Transactions, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), txnRequestTimeout)
	resp, err := v.send(ctx, node, req)
	cancel()
	results := verifyResults(resp, err)
	for id, t := range batch {
		res, ok := results[id]
		for _, w := range t.waiters {
			errs := make(map[txn.TopicPartition]error)
			for _, tp := range w.tps {
				if !ok {
					errs[tp] = kerr.NetworkException // the coordinator left it out
				} else if e := res[tp]; e != nil {
					errs[tp] = e
				}
			}
			w.done <- verifyResult{errs: errs}
		}
	}
}

// verifyResults reads a verify-only answer into each transaction's
// per-partition errors (nil: in the transaction).
func verifyResults(resp *kmsg.AddPartitionsToTxnResponse, err error) map[string]map[txn.TopicPartition]error {
	out := make(map[string]map[txn.TopicPartition]error)
	if err != nil || resp == nil {
		return out
	}
	top := kerr.ErrorForCode(resp.ErrorCode)
	if errors.Is(top, kerr.ClusterAuthorizationFailed) {
		top = kerr.InvalidTxnState // not the client's business
	}
	for _, rt := range resp.Transactions {
		m := make(map[txn.TopicPartition]error)
		for _, t := range rt.Topics {
			for _, p := range t.Partitions {
				e := top
				if e == nil {
					e = kerr.ErrorForCode(p.ErrorCode)
				}
				if errors.Is(e, kerr.ProducerFenced) {
					e = kerr.InvalidProducerEpoch // what producers expect here
				}
				m[txn.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = e
			}
		}
		out[rt.TransactionalID] = m
	}
	return out
}

// allErr answers every partition of tps with err.
func allErr(tps []txn.TopicPartition, err error) map[txn.TopicPartition]error {
	m := make(map[txn.TopicPartition]error, len(tps))
	for _, tp := range tps {
		m[tp] = err
	}
	return m
}

// produceVerifyError is the Produce answer for a verification that failed
// with err, as Kafka's ReplicaManager gives it: coordinator errors old
// clients would not retry become NOT_ENOUGH_REPLICAS (retriable, no
// metadata refresh), and TRANSACTION_ABORTABLE only reaches clients of
// Produce v11+, which know it; older ones get INVALID_TXN_STATE.
func produceVerifyError(err error, version int16) error {
	switch {
	case errors.Is(err, kerr.TransactionAbortable) && version < 11:
		return fmt.Errorf("%w: the partition was not added to the transaction", kerr.InvalidTxnState)
	case errors.Is(err, kerr.TransactionAbortable), errors.Is(err, kerr.InvalidTxnState):
		return fmt.Errorf("%w: the partition was not added to the transaction", err)
	case errors.Is(err, kerr.ConcurrentTransactions), errors.Is(err, kerr.NetworkException),
		errors.Is(err, kerr.CoordinatorLoadInProgress), errors.Is(err, kerr.CoordinatorNotAvailable),
		errors.Is(err, kerr.NotCoordinator):
		return fmt.Errorf("%w: unable to verify the partition has been added to the transaction: %v", kerr.NotEnoughReplicas, err)
	}
	return err
}

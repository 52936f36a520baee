package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TxnSpec makes a producing workload transactional, as Kafka's producer
// perf tool does with --transaction-duration-ms: every producer has its own
// transactional id and ends its open transaction every Interval.
type TxnSpec struct {
	// Interval is how long a transaction stays open; 0 means the workload
	// is not transactional.
	Interval time.Duration
	// AbortEvery > 0 aborts every AbortEvery-th transaction of each
	// producer instead of committing it, to leave aborted data in the
	// topic (for the read_committed catch-up).
	AbortEvery int
	// IDPrefix names the producers' transactional ids: IDPrefix-0,
	// IDPrefix-1, ... Two runs with the same ids at once fence each other.
	IDPrefix string
}

func (t *TxnSpec) validate() error {
	switch {
	case t.Interval < 0 || t.AbortEvery < 0:
		return fmt.Errorf("%w: transaction interval and abort-every must not be negative", ErrConfig)
	case t.Interval == 0 && t.AbortEvery > 0:
		return fmt.Errorf("%w: abort-every needs a transaction interval", ErrConfig)
	case t.Interval > 0 && t.IDPrefix == "":
		return fmt.Errorf("%w: no transactional id prefix", ErrConfig)
	}
	return nil
}

// TxnSummary is what a transactional run adds to its Summary: the
// transactions ended, the records in them, and the commit latency.
type TxnSummary struct {
	Committed        int64 `json:"committed"`
	Aborted          int64 `json:"aborted"`
	CommittedRecords int64 `json:"committed_records"`
	AbortedRecords   int64 `json:"aborted_records"`
	// CommitLatency is the EndTxn round trip of each commit, after the
	// transaction's records were acknowledged: Kafka's commitTransaction()
	// without the flush it starts with. Nil when nothing was committed.
	CommitLatency *Latency `json:"commit_latency_us,omitempty"`
}

// txnTally adds up the transactions of all producers of a run. It is safe
// for concurrent use.
type txnTally struct {
	commits *Stats // one latency per commit; its records are not used
	mu      sync.Mutex
	sum     TxnSummary
}

func newTxnTally() *txnTally { return &txnTally{commits: NewStats()} }

// add counts one transaction of records records, committed (its EndTxn
// took d) or aborted.
func (t *txnTally) add(commit bool, records int64, d time.Duration) {
	if commit {
		t.commits.AddLatency(0, d)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if commit {
		t.sum.Committed++
		t.sum.CommittedRecords += records
	} else {
		t.sum.Aborted++
		t.sum.AbortedRecords += records
	}
}

func (t *txnTally) summary() *TxnSummary {
	t.mu.Lock()
	s := t.sum
	t.mu.Unlock()
	s.CommitLatency = t.commits.Snapshot().Latency
	return &s
}

// txnSender is the transactional part of one sender: it ends the open
// transaction every interval and begins the next.
type txnSender struct {
	spec    TxnSpec
	tally   *txnTally
	started time.Time // when the open transaction began
	records int64     // records produced in the open transaction
	ended   int       // non-empty transactions ended by this sender
}

// begin starts a transaction on cl.
func (t *txnSender) begin(cl *kgo.Client) error {
	if err := cl.BeginTransaction(); err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	t.started, t.records = time.Now(), 0
	return nil
}

// due reports whether the open transaction has run its interval.
func (t *txnSender) due() bool { return time.Since(t.started) >= t.spec.Interval }

// end flushes cl and ends the open transaction: a commit, or an abort if it
// is the AbortEvery-th non-empty one. ctx bounds the wait (see graceful).
func (t *txnSender) end(ctx context.Context, cl *kgo.Client) error {
	if err := cl.Flush(ctx); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	commit := true
	if t.records > 0 {
		t.ended++
		commit = t.spec.AbortEvery == 0 || t.ended%t.spec.AbortEvery != 0
	}
	how := kgo.TryCommit
	if !commit {
		how = kgo.TryAbort
	}
	start := time.Now()
	if err := cl.EndTransaction(ctx, how); err != nil {
		return fmt.Errorf("end transaction: %w", err)
	}
	if t.records > 0 {
		t.tally.add(commit, t.records, time.Since(start))
	}
	return nil
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnStates are the transaction states a coordinator reports, as Kafka
// spells them; `txn list --state` accepts them in any case.
var txnStates = []string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

func newTxnCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "txn",
		Short: "List and describe transactions, abort hanging ones",
		Long: `Inspect the transactions of a cluster through the Kafka admin APIs, as
kafka-transactions.sh does.

A transactional producer (one with a transactional id) writes to many
partitions and commits or aborts atomically; its transaction coordinator (the
leader of the id's __transaction_state partition) keeps its state. "list" and
"describe" ask the coordinators; "strata producers describe TOPIC" asks the
partition leaders. "find-hanging" looks for hanging transactions: ones left
open on a partition that no coordinator will end, which hold back
read_committed consumers there; "abort" ends one.`,
		Example: `  strata txn list
  strata txn list --state Ongoing --duration-ms 60000
  strata txn describe payments-1
  strata txn find-hanging --topic orders
  strata txn abort --topic orders --partition 0 --start-offset 1234`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newTxnListCommand(opts), newTxnDescribeCommand(opts), newTxnFindHangingCommand(opts), newTxnAbortCommand(opts))
	return cmd
}

func newTxnListCommand(opts *clientOptions) *cobra.Command {
	var (
		states      []string
		producerIDs []int64
		durationMs  int64
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List transactional ids with their coordinator, state and producer id",
		Long: `List the transactional ids every broker coordinates (ListTransactions),
sorted by id, with the coordinating broker, the state (` + strings.Join(txnStates, ", ") + `)
and the producer id.

--state keeps only ids in the given states (any case), --producer-id only
those of the given producer ids (both repeatable or comma-separated), and
--duration-ms only transactions that have been running at least that long
(KIP-994; brokers before Kafka 3.8 do not support it).`,
		Example: `  strata txn list
  strata txn list --state ongoing,prepareabort
  strata txn list --producer-id 1000 --duration-ms 60000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseStates(txnStates, states)
			if err != nil {
				return err
			}
			if durationMs < 0 {
				return fmt.Errorf("--duration-ms must not be negative, got %d", durationMs)
			}
			cl, ctx, done, err := opts.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			req := kmsg.NewPtrListTransactionsRequest()
			req.StateFilters, req.ProducerIDFilters = filter, producerIDs
			if durationMs > 0 {
				req.DurationFilterMillis = durationMs
			}
			// kadm.ListTransactions cannot filter by duration: send the
			// request to every broker ourselves.
			var listed []kadm.ListedTransaction
			for _, sh := range cl.RequestSharded(ctx, req) {
				what := fmt.Sprintf("list transactions on broker %d", sh.Meta.NodeID)
				if sh.Err != nil {
					return opts.requestErr(what, sh.Err)
				}
				if durationMs > 0 && sh.Req.GetVersion() < 1 {
					return fmt.Errorf("%s: the broker does not support --duration-ms (ListTransactions v1)", what)
				}
				resp := sh.Resp.(*kmsg.ListTransactionsResponse)
				if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
					return fmt.Errorf("%s: %w", what, err)
				}
				for _, t := range resp.TransactionStates {
					listed = append(listed, kadm.ListedTransaction{Coordinator: sh.Meta.NodeID, TxnID: t.TransactionalID,
						ProducerID: t.ProducerID, State: t.TransactionState})
				}
			}
			slices.SortFunc(listed, func(a, b kadm.ListedTransaction) int { return strings.Compare(a.TxnID, b.TxnID) })
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "TRANSACTIONAL-ID\tCOORDINATOR\tSTATE\tPRODUCER-ID")
			for _, t := range listed {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", t.TxnID, t.Coordinator, t.State, t.ProducerID)
			}
			return tw.Flush()
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&states, "state", nil, "list only transactions in these states: "+strings.Join(txnStates, ", "))
	f.Int64SliceVar(&producerIDs, "producer-id", nil, "list only the transactions of these producer ids")
	f.Int64Var(&durationMs, "duration-ms", 0, "list only transactions running for at least this many milliseconds (0: all)")
	return cmd
}

func newTxnDescribeCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe ID",
		Short: "Show a transactional id's state, producer, timeout and partitions",
		Long: `Ask the coordinator of transactional id ID (DescribeTransactions) for its
state, producer id and epoch, transaction timeout, and, while a transaction
runs, when it started, how long it has run and the partitions in it (while
the transaction commits or aborts, those still waiting for their marker).`,
		Example: `  strata txn describe payments-1`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			id := args[0]
			described, err := adm.DescribeTransactions(ctx, id)
			if err != nil {
				return opts.requestErr("describe transaction", err)
			}
			t, err := described.On(id, nil)
			if err == nil {
				err = t.Err
			}
			switch {
			case errors.Is(err, kerr.TransactionalIDNotFound):
				return fmt.Errorf("transactional id %q does not exist", id)
			case err != nil:
				return opts.requestErr(fmt.Sprintf("describe transactional id %q", id), err)
			}
			writeTxn(cmd.OutOrStdout(), t, time.Now())
			return nil
		},
	}
}

// writeTxn prints one described transaction to w; the duration is counted
// up to now.
func writeTxn(w io.Writer, t kadm.DescribedTransaction, now time.Time) {
	start, duration := "-", "-"
	if t.StartTimestamp >= 0 {
		st := time.UnixMilli(t.StartTimestamp)
		start, duration = st.UTC().Format(timestampLayout), now.Sub(st).Truncate(time.Millisecond).String()
	}
	fmt.Fprintf(w, "Transactional ID:  %s\n", t.TxnID)
	fmt.Fprintf(w, "Coordinator:       %d\n", t.Coordinator)
	fmt.Fprintf(w, "State:             %s\n", t.State)
	fmt.Fprintf(w, "Producer ID:       %d\n", t.ProducerID)
	fmt.Fprintf(w, "Producer epoch:    %d\n", t.ProducerEpoch)
	fmt.Fprintf(w, "Timeout:           %d ms\n", t.TimeoutMillis)
	fmt.Fprintf(w, "Start time:        %s\n", start)
	fmt.Fprintf(w, "Duration:          %s\n", duration)
	fmt.Fprintf(w, "Partitions:        %s\n", formatPartitions(t.Topics))
}

func newTxnAbortCommand(opts *clientOptions) *cobra.Command {
	var (
		topic            string
		partition        int32
		startOffset      int64
		producerID       int64
		producerEpoch    int16
		coordinatorEpoch int32
	)
	cmd := &cobra.Command{
		Use:   "abort --topic T --partition P (--start-offset O | --producer-id N --producer-epoch E --coordinator-epoch C)",
		Short: "Abort a hanging transaction on one partition",
		Long: `Write an abort marker (WriteTxnMarkers, KIP-664) to the leader of one
partition, ending a producer's open transaction there, as
kafka-transactions.sh abort does. Use it for a hanging transaction ("strata
txn find-hanging" lists them): one that "strata producers describe" shows open (a transaction start offset) long past
any transaction timeout while its coordinator no longer knows it, so that
read_committed consumers of the partition are stuck at its start offset.

With --start-offset, the producer whose open transaction starts at that offset
is looked up with DescribeProducers, and its producer epoch and the coordinator
epoch of its last marker are used. Otherwise give all three of --producer-id,
--producer-epoch and --coordinator-epoch.

Aborting a transaction that its coordinator still runs breaks its atomicity:
the rest of it may commit elsewhere.`,
		Example: `  strata txn abort --topic orders --partition 0 --start-offset 1234
  strata txn abort --topic orders --partition 0 --producer-id 1000 --producer-epoch 0 --coordinator-epoch 0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			if cmd.Flags().Changed("start-offset") {
				ps, err := describeProducers(ctx, opts, adm, topic, []int32{partition})
				if err != nil {
					return err
				}
				pr, ok := producerAt(ps[0], startOffset)
				if !ok {
					return fmt.Errorf("no open transaction starts at offset %d of %s/%d (see strata producers describe %s --partition %d)",
						startOffset, topic, partition, topic, partition)
				}
				// Kafka's tool takes 0 when the partition has no marker yet.
				producerID, producerEpoch, coordinatorEpoch = pr.ProducerID, pr.ProducerEpoch, max(pr.CoordinatorEpoch, 0)
			}
			var set kadm.TopicsSet
			set.Add(topic, partition)
			res, err := adm.WriteTxnMarkers(ctx, kadm.TxnMarkers{ProducerID: producerID, ProducerEpoch: producerEpoch,
				CoordinatorEpoch: coordinatorEpoch, Topics: set})
			if err != nil {
				return opts.requestErr("write abort marker", err)
			}
			r, ok := res[producerID].Topics[topic].Partitions[partition]
			switch {
			case !ok:
				return fmt.Errorf("write abort marker to %s/%d: no answer for the partition", topic, partition)
			case r.Err != nil:
				return fmt.Errorf("write abort marker to %s/%d: %w", topic, partition, r.Err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Aborted the transaction of producer %d (epoch %d, coordinator epoch %d) on %s/%d.\n",
				producerID, producerEpoch, coordinatorEpoch, topic, partition)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic of the partition")
	f.Int32Var(&partition, "partition", 0, "partition of the topic")
	f.Int64Var(&startOffset, "start-offset", 0, "first offset of the open transaction to abort")
	f.Int64Var(&producerID, "producer-id", 0, "producer id of the transaction")
	f.Int16Var(&producerEpoch, "producer-epoch", 0, "producer epoch of the transaction")
	f.Int32Var(&coordinatorEpoch, "coordinator-epoch", 0, "coordinator epoch of the producer's last marker on the partition (0 if none)")
	for _, name := range []string{"topic", "partition"} {
		_ = cmd.MarkFlagRequired(name) // cannot fail: the flags exist
	}
	cmd.MarkFlagsOneRequired("start-offset", "producer-id")
	cmd.MarkFlagsMutuallyExclusive("start-offset", "producer-id")
	cmd.MarkFlagsRequiredTogether("producer-id", "producer-epoch", "coordinator-epoch")
	return cmd
}

// producerAt returns the producer of p whose open transaction starts at
// offset.
func producerAt(p kadm.DescribedProducersPartition, offset int64) (kadm.DescribedProducer, bool) {
	for _, pr := range p.ActiveProducers {
		if pr.CurrentTxnStartOffset == offset {
			return pr, true
		}
	}
	return kadm.DescribedProducer{}, false
}

func newTxnFindHangingCommand(opts *clientOptions) *cobra.Command {
	var (
		topic      string
		partitions []int32
		maxTimeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "find-hanging --topic T [--partition P]",
		Short: "List the open transactions of a topic that no coordinator will end",
		Long: `Find hanging transactions on the partitions of a topic, as kafka-transactions.sh
find-hanging does: the producers that DescribeProducers shows with an open
transaction and no write for at least --max-transaction-timeout (the brokers'
transaction.max.timeout.ms, 15 minutes by default: a coordinator aborts any
transaction it knows by then), whose coordinator does not run that transaction
on that partition: ListTransactions knows no transactional id of the producer,
or DescribeTransactions shows another producer epoch or the partition not in
the transaction. Each is printed as "strata producers describe" prints
producers; "strata txn abort --start-offset" ends it.`,
		Example: `  strata txn find-hanging --topic orders
  strata txn find-hanging --topic orders --partition 0 --max-transaction-timeout 5m`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if maxTimeout < 0 {
				return fmt.Errorf("--max-transaction-timeout must not be negative, got %s", maxTimeout)
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			ps, err := describeProducers(ctx, opts, adm, topic, partitions)
			if err != nil {
				return err
			}
			now := time.Now()
			var pids []int64
			for _, p := range ps {
				for id, pr := range p.ActiveProducers {
					if pr.CurrentTxnStartOffset < 0 || now.Sub(time.UnixMilli(pr.LastTimestamp)) < maxTimeout {
						delete(p.ActiveProducers, id)
						continue
					}
					pids = append(pids, id)
				}
			}
			if len(pids) > 0 {
				if err := dropRunning(ctx, opts, adm, ps, pids); err != nil {
					return err
				}
			}
			return writeProducers(cmd.OutOrStdout(), ps)
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "", "topic to search")
	f.Int32SliceVar(&partitions, "partition", nil, "search only these partitions (repeatable or comma-separated)")
	f.DurationVar(&maxTimeout, "max-transaction-timeout", 15*time.Minute, "the brokers' transaction.max.timeout.ms: younger transactions are not hanging")
	_ = cmd.MarkFlagRequired("topic") // cannot fail: the flag exists
	return cmd
}

// dropRunning removes from ps the producers (all among pids) whose
// transaction on their partition a coordinator runs: a transactional id of
// the producer is in a transaction at the producer's epoch that includes
// the partition.
func dropRunning(ctx context.Context, opts *clientOptions, adm *kadm.Client, ps []kadm.DescribedProducersPartition, pids []int64) error {
	listed, err := adm.ListTransactions(ctx, pids, nil)
	if err != nil {
		return opts.requestErr("list transactions", err)
	}
	if len(listed) == 0 {
		return nil
	}
	described, err := adm.DescribeTransactions(ctx, listed.TransactionalIDs()...)
	if err != nil {
		return opts.requestErr("describe transactions", err)
	}
	for _, p := range ps {
		for id, pr := range p.ActiveProducers {
			for _, t := range described {
				if t.Err == nil && t.ProducerID == id && t.ProducerEpoch == pr.ProducerEpoch && t.Topics.Lookup(p.Topic, p.Partition) {
					delete(p.ActiveProducers, id)
				}
			}
		}
	}
	return nil
}

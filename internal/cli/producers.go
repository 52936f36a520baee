package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newProducersCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "producers",
		Short: "Describe the idempotent and transactional producers of partitions",
		Long: `Show what partition leaders remember of the producers that wrote to them
(DescribeProducers, KIP-664), as kafka-transactions.sh describe-producers does.`,
		Example: `  strata producers describe orders
  strata producers describe orders --partition 0`,
		RunE: groupRunE,
	}
	var partitions []int32
	describe := &cobra.Command{
		Use:   "describe TOPIC",
		Short: "Show each partition's active producers and their open transactions",
		Long: `For each partition of TOPIC (or only those given with --partition), ask its
leader for the producers it remembers: producer id and epoch, the last
sequence number written (-1 when the epoch wrote no data yet), the time of the
last write, the coordinator epoch of the last transaction marker (-1 before
one) and the first offset of the producer's open transaction ("-" for none).

A producer with a transaction start offset holds the partition's last stable
offset there: read_committed consumers stop at it until the transaction ends.
A transaction that stays open although no coordinator will end it is hanging;
"strata txn abort" ends it.`,
		Example: `  strata producers describe orders
  strata producers describe orders --partition 0 --partition 3`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			ps, err := describeProducers(ctx, opts, adm, args[0], partitions)
			if err != nil {
				return err
			}
			return writeProducers(cmd.OutOrStdout(), ps)
		},
	}
	describe.Flags().Int32SliceVar(&partitions, "partition", nil, "describe only these partitions (repeatable or comma-separated)")
	cmd.AddCommand(describe)
	return cmd
}

// describeProducers returns the producers of the given partitions of topic
// (all when none are given), by partition, or an error naming a topic or
// partition that does not exist or that its leader could not describe.
func describeProducers(ctx context.Context, opts *clientOptions, adm *kadm.Client, topic string, partitions []int32) ([]kadm.DescribedProducersPartition, error) {
	topics, err := existingTopics(ctx, opts, adm, []string{topic})
	if err != nil {
		return nil, err
	}
	all := topics[topic].Partitions.Numbers()
	for _, p := range partitions {
		if !slices.Contains(all, p) {
			return nil, fmt.Errorf("topic %q has no partition %d", topic, p)
		}
	}
	if len(partitions) == 0 {
		partitions = all
	}
	set := make(kadm.TopicsSet)
	set.Add(topic, partitions...)
	res, err := adm.DescribeProducers(ctx, set)
	if err != nil {
		return nil, opts.requestErr("describe producers", err)
	}
	out := res[topic].Partitions.Sorted()
	for _, p := range out {
		if p.Err != nil {
			return nil, fmt.Errorf("describe producers of %s/%d: %w", topic, p.Partition, withMessage(p.Err, p.ErrMessage))
		}
	}
	if len(out) != len(partitions) {
		return nil, fmt.Errorf("describe producers of %q: %d of %d partitions answered", topic, len(out), len(partitions))
	}
	return out, nil
}

// writeProducers prints one row per producer of ps, partitions in order.
func writeProducers(w io.Writer, ps []kadm.DescribedProducersPartition) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tPRODUCER-ID\tEPOCH\tLAST-SEQUENCE\tLAST-TIMESTAMP\tCOORDINATOR-EPOCH\tTXN-START-OFFSET")
	for _, p := range ps {
		for _, pr := range p.ActiveProducers.Sorted() {
			ts, start := "-", "-"
			if pr.LastTimestamp >= 0 {
				ts = time.UnixMilli(pr.LastTimestamp).UTC().Format(timestampLayout)
			}
			if pr.CurrentTxnStartOffset >= 0 {
				start = strconv.FormatInt(pr.CurrentTxnStartOffset, 10)
			}
			fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%d\t%s\t%d\t%s\n", p.Partition, p.Leader, pr.ProducerID, pr.ProducerEpoch,
				pr.LastSequence, ts, pr.CoordinatorEpoch, start)
		}
	}
	return tw.Flush()
}

package cli

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newClusterElectLeadersCommand(opts *clientOptions) *cobra.Command {
	var (
		electionType string
		topic        string
		partitions   []int32
		all          bool
	)
	cmd := &cobra.Command{
		Use:   "elect-leaders",
		Short: "Move leadership back to preferred replicas, or elect leaders for leaderless partitions",
		Long: `Run leader elections through the ElectLeaders API, as kafka-leader-election.sh does.

--type preferred (the default) makes each partition's preferred replica (the
first of its replicas) its leader again, if that replica is alive and in sync:
after a node has restarted, the leaderships it gave up stay with the other
replicas until this runs or the controller's own rebalance does
(auto.leader.rebalance.enable, every leader.imbalance.check.interval.seconds).

--type unclean gives a partition without a live leader one: a live in-sync
replica if there is one, else any live replica, which loses what only the
dead in-sync replicas held. Use it only when those are gone for good.

Choose the partitions with --all-topic-partitions, or --topic with
--partition (repeatable; all of the topic's partitions without it). Each
partition is reported: elected, already had its leader (not needed, listed
only when named), or why it was not elected. The command fails if any
partition named could not be elected.`,
		Example: `  strata cluster elect-leaders --all-topic-partitions
  strata cluster elect-leaders --topic orders --partition 0 --partition 3
  strata cluster elect-leaders --type unclean --topic orders --partition 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			how, err := parseElectionType(electionType)
			if err != nil {
				return err
			}
			if all == (topic != "") {
				return errors.New("give either --all-topic-partitions or --topic")
			}
			if len(partitions) > 0 && topic == "" {
				return errors.New("--partition needs --topic")
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			set := kadm.TopicsSet{}
			if topic != "" {
				if len(partitions) == 0 {
					topics, err := existingTopics(ctx, opts, adm, []string{topic})
					if err != nil {
						return err
					}
					partitions = topics[topic].Partitions.Numbers()
				}
				set.Add(topic, partitions...)
			}
			res, err := adm.ElectLeaders(ctx, how, set)
			if err != nil {
				return opts.requestErr("elect leaders", err)
			}
			return writeElectResults(cmd.OutOrStdout(), res)
		},
	}
	f := cmd.Flags()
	f.StringVar(&electionType, "type", "preferred", "election type: preferred or unclean")
	f.StringVar(&topic, "topic", "", "topic whose partitions to elect leaders for")
	f.Int32SliceVar(&partitions, "partition", nil, "partition of --topic; repeatable (default: all of them)")
	f.BoolVar(&all, "all-topic-partitions", false, "every partition of the cluster")
	return cmd
}

func parseElectionType(s string) (kadm.ElectLeadersHow, error) {
	switch strings.ToLower(s) {
	case "preferred":
		return kadm.ElectPreferredReplica, nil
	case "unclean":
		return kadm.ElectLiveReplica, nil
	}
	return 0, fmt.Errorf("--type %q: want preferred or unclean", s)
}

// writeElectResults prints one line per partition and a summary, and
// returns an error if an election failed.
func writeElectResults(out io.Writer, res kadm.ElectLeadersResults) error {
	type row struct {
		topic     string
		partition int32
		result    string
	}
	var rows []row
	elected, failed := 0, 0
	for t, ps := range res {
		for p, r := range ps {
			result := "elected"
			switch {
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				result = "not needed: it has that leader"
			case r.Err != nil:
				failed++
				result = "failed: " + withMessage(r.Err, r.ErrMessage).Error()
			default:
				elected++
			}
			rows = append(rows, row{t, p, result})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	if len(rows) > 0 {
		tw := newTable(out)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tRESULT")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", r.topic, r.partition, r.result)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d partitions got a new leader, %d failed\n", elected, failed)
	if failed > 0 {
		return fmt.Errorf("%d of the elections failed", failed)
	}
	return nil
}

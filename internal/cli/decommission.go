package cli

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterDecommissionCommand(opts *clientOptions) *cobra.Command {
	var throttle int64
	cmd := &cobra.Command{
		Use:   "decommission NODE",
		Short: "Move every replica off a node, then unregister it from the cluster",
		Long: `Take a node out of the cluster for good: every replica it holds moves to the
other live brokers (a reassignment, as "strata partitions reassign" runs one,
moving nothing else and keeping replicas in different racks where it can),
with progress shown until done (--throttle limits their bytes per second, as
"strata partitions reassign --execute --throttle" does); then the node is
unregistered (Kafka's
UnregisterBroker). Producers and consumers carry on throughout. Stop the
node's process afterwards; the metadata quorum then drops it from its
learners. A node that is a controller voter must leave the voters first
("strata cluster voters remove").

It fails if a partition has as many replicas as there are other live brokers
(its replicas would have nowhere to go), and a node that is down can be
decommissioned too: its replicas are copied from their leaders.`,
		Example: `  strata cluster decommission 4`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id64, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id64 < 0 {
				return fmt.Errorf("%q is not a node id", args[0])
			}
			node := int32(id64)
			cl, err := opts.newClient()
			if err != nil {
				return err
			}
			adm := opts.admin(cl)
			defer adm.Close()
			out := cmd.OutOrStdout()
			ctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()
			in, err := clusterPlanInput(ctx, opts, adm, nil)
			if err != nil {
				return err
			}
			for b := range in.racks {
				if b != node {
					in.brokers = append(in.brokers, b)
				}
			}
			slices.Sort(in.brokers)
			if len(in.brokers) == 0 {
				return fmt.Errorf("no other live broker to move node %d's replicas to", node)
			}
			in.evacuateOnly = true
			plan, sum := generatePlan(in)
			for _, p := range in.partitions {
				moved := slices.ContainsFunc(plan.Partitions, func(rp reassignPartition) bool { return rp.Topic == p.topic && rp.Partition == p.partition })
				if slices.Contains(p.replicas, node) && !moved {
					return fmt.Errorf("%s-%d has %d replicas and there are only %d other live brokers: lower its replication factor first",
						p.topic, p.partition, len(p.replicas), len(in.brokers))
				}
			}
			if len(plan.Partitions) > 0 {
				if err := writePlanSummary(out, plan, sum, len(in.partitions)); err != nil {
					return err
				}
				if err := executeReassignment(cmd.Context(), opts, adm, brokerAt(cl), plan, true, throttle, out); err != nil {
					return err
				}
				if cmd.Context().Err() != nil {
					return fmt.Errorf("stopped before the moves were done; node %d is still registered", node)
				}
			} else {
				fmt.Fprintf(out, "Node %d holds no replica.\n", node)
			}
			uctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()
			req := kmsg.NewPtrUnregisterBrokerRequest()
			req.BrokerID = node
			resp, err := req.RequestWith(uctx, cl)
			if err != nil {
				return opts.requestErr("unregister broker", err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				return fmt.Errorf("unregister node %d: %w", node, withMessage(err, ptrOr(resp.ErrorMessage, "")))
			}
			fmt.Fprintf(out, "Node %d is unregistered; stop its process now.\n", node)
			if q, err := describeQuorumOnce(uctx, cl); err == nil && slices.ContainsFunc(q.CurrentVoters,
				func(v kmsg.DescribeQuorumResponseTopicPartitionReplicaState) bool { return v.ReplicaID == node }) {
				fmt.Fprintf(out, "Node %d is still a controller voter: remove it from the voters before you stop it.\n", node)
			}
			return nil
		},
	}
	cmd.Flags().Int64Var(&throttle, "throttle", 0, "limit the moves' replication to this many bytes per second (0: no limit)")
	return cmd
}

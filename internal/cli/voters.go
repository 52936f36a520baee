package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterVotersCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "voters",
		Short: "Describe, add and remove the controller voters of the metadata quorum",
		Long: `Manage the metadata quorum's voters while the cluster runs (KIP-853), as
kafka-metadata-quorum.sh does.

"add NODE" makes a node that receives the metadata log as a learner (a
broker-only node: started with the voters list but not in it) a voter.
"remove NODE" makes a voter a learner again; it goes on as a broker. To
replace a voter, add the new one, then remove the old one. Nodes restarted
afterwards keep their command line: the voters in a node's metadata log win
over its --controller-voters list, which still gives the addresses to dial.
"describe" lists the voters and the learners with how far each lags.`,
		Example: `  strata cluster voters describe
  strata cluster voters add 4
  strata cluster voters remove 1`,
		RunE: groupRunE,
	}
	describe := &cobra.Command{
		Use:   "describe",
		Short: "List the voters and learners of the metadata quorum",
		Long: `List the metadata quorum's leader and epoch, and each voter and learner
with the end of its copy of the metadata log and how far it lags the
quorum's high watermark (DescribeQuorum).`,
		Example: `  strata cluster voters describe`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := opts.newClient(kgo.RequestTimeoutOverhead(statusRequestTimeout))
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()
			q, err := describeQuorum(ctx, []kmsg.Requestor{cl})
			if err != nil {
				return opts.requestErr("describe quorum", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Leader:  %d (epoch %d, high watermark %d)\n", q.LeaderID, q.LeaderEpoch, q.HighWatermark)
			tw := newTable(out)
			fmt.Fprintln(tw, "NODE\tROLE\tLOG END\tLAG")
			row := func(r kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
				end, lag := "-", "-"
				if r.LogEndOffset >= 0 {
					end, lag = strconv.FormatInt(r.LogEndOffset, 10), strconv.FormatInt(max(0, q.HighWatermark-r.LogEndOffset), 10)
				}
				if r.ReplicaID == q.LeaderID {
					role = "leader"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.ReplicaID, role, end, lag)
			}
			for _, v := range q.CurrentVoters {
				row(v, "voter")
			}
			for _, o := range q.Observers {
				row(o, "learner")
			}
			return tw.Flush()
		},
	}
	change := func(add bool) *cobra.Command {
		use, short := "remove NODE", "Make a voter a learner (it goes on as a broker)"
		long := `Make voter NODE a learner of the metadata quorum (RemoveRaftVoter, KIP-853):
it goes on receiving the metadata log and serving as a broker. If it leads the
quorum, it hands the leadership over first. The last voter cannot be removed.`
		example := "  strata cluster voters remove 1"
		if add {
			use, short = "add NODE", "Make a learner (a broker-only node) a voter"
			long = `Make NODE, which receives the metadata log as a learner (a broker-only node:
started with the voters list but not in it), a voter of the metadata quorum
(AddRaftVoter, KIP-853). It fails with DUPLICATE_VOTER if it votes already.`
			example = "  strata cluster voters add 4"
		}
		return &cobra.Command{
			Use:     use,
			Short:   short,
			Long:    long,
			Example: example,
			Args:    cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				id, err := strconv.ParseInt(args[0], 10, 32)
				if err != nil || id < 0 {
					return fmt.Errorf("%q is not a node id", args[0])
				}
				cl, ctx, done, err := opts.openClient(cmd.Context())
				if err != nil {
					return err
				}
				defer done()
				var code int16
				var msg *string
				if add {
					req := kmsg.NewPtrAddRaftVoterRequest()
					req.VoterID, req.TimeoutMillis = int32(id), int32(opts.timeout.Milliseconds())
					resp, err := req.RequestWith(ctx, cl)
					if err != nil {
						return opts.requestErr("add voter", err)
					}
					code, msg = resp.ErrorCode, resp.ErrorMessage
				} else {
					req := kmsg.NewPtrRemoveRaftVoterRequest()
					req.VoterID = int32(id)
					resp, err := req.RequestWith(ctx, cl)
					if err != nil {
						return opts.requestErr("remove voter", err)
					}
					code, msg = resp.ErrorCode, resp.ErrorMessage
				}
				if err := kerr.ErrorForCode(code); err != nil {
					return withMessage(err, ptrOr(msg, ""))
				}
				verb := "is no longer a voter"
				if add {
					verb = "is a voter"
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Node %d %s of the metadata quorum.\n", id, verb)
				return nil
			},
		}
	}
	cmd.AddCommand(describe, change(true), change(false))
	return cmd
}

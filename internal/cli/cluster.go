package cli

import (
	"cmp"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect the cluster",
		Long:  `Inspect the cluster as a whole.`,
		Example: `  strata cluster status
  strata cluster status --brokers kafka1:9092,kafka2:9092`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newClusterStatusCommand(opts))
	return cmd
}

func newClusterStatusCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show cluster ID, controller, brokers and topic counts",
		Long: `Show the cluster ID, the active controller, every broker with its advertised
address and rack, and how many topics and partitions the cluster has (internal
topics counted separately). Brokers come from DescribeCluster when the cluster
supports it, else from Metadata.`,
		Example: `  strata cluster status`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := opts.newClient()
			if err != nil {
				return err
			}
			adm := opts.admin(cl)
			defer adm.Close()
			ctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()

			meta, err := adm.Metadata(ctx)
			if err != nil {
				return opts.requestErr("metadata", err)
			}
			status := clusterStatus{clusterID: meta.Cluster, controller: meta.Controller}
			for _, b := range meta.Brokers {
				status.brokers = append(status.brokers, brokerRow{b.NodeID, b.Host, b.Port, b.Rack})
			}
			for _, t := range meta.Topics {
				if t.IsInternal {
					status.internalTopics++
					status.internalPartitions += len(t.Partitions)
					continue
				}
				status.topics++
				status.partitions += len(t.Partitions)
			}
			// DescribeCluster (KIP-700) names the active controller even
			// where Metadata gives a random broker; prefer it if supported.
			if dc, err := kmsg.NewPtrDescribeClusterRequest().RequestWith(ctx, cl); err == nil && dc.ErrorCode == 0 {
				status.clusterID, status.controller = dc.ClusterID, dc.ControllerID
				status.brokers = status.brokers[:0]
				for _, b := range dc.Brokers {
					status.brokers = append(status.brokers, brokerRow{b.NodeID, b.Host, b.Port, b.Rack})
				}
				slices.SortFunc(status.brokers, func(a, b brokerRow) int { return cmp.Compare(a.id, b.id) })
			}
			return status.write(cmd)
		},
	}
}

type brokerRow struct {
	id   int32
	host string
	port int32
	rack *string
}

type clusterStatus struct {
	clusterID                          string
	controller                         int32
	brokers                            []brokerRow
	topics, partitions                 int
	internalTopics, internalPartitions int
}

func (s *clusterStatus) write(cmd *cobra.Command) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "Cluster ID:  %s\n", s.clusterID)
	fmt.Fprintf(out, "Controller:  %d\n", s.controller)
	fmt.Fprintf(out, "Topics:      %d (%d partitions)\n", s.topics, s.partitions)
	fmt.Fprintf(out, "Internal:    %d (%d partitions)\n", s.internalTopics, s.internalPartitions)
	fmt.Fprintf(out, "Brokers:     %d\n", len(s.brokers))
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK")
	for _, b := range s.brokers {
		rack := "-"
		if b.rack != nil && *b.rack != "" {
			rack = *b.rack
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", b.id, net.JoinHostPort(b.host, strconv.Itoa(int(b.port))), rack)
	}
	return tw.Flush()
}

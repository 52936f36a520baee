package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newClusterCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and operate the cluster",
		Long:  `Inspect the cluster as a whole, and run cluster-wide operations.`,
		Example: `  strata cluster status
  strata cluster status --brokers kafka1:9092,kafka2:9092
  strata cluster elect-leaders --all-topic-partitions
  strata cluster decommission 4
  strata cluster voters describe`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newClusterStatusCommand(opts), newClusterElectLeadersCommand(opts), newClusterDecommissionCommand(opts),
		newClusterVotersCommand(opts))
	return cmd
}

func newClusterStatusCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "status",
		Short: "Show the cluster's nodes, controller, metadata quorum and partition health",
		Long: `Show the cluster ID, the active controller, the metadata quorum (its leader,
epoch and high watermark), how many topics and partitions the cluster has
(internal topics counted separately), how many partitions are under-replicated
(fewer in-sync replicas than replicas) or offline (no leader), how many are
led by a replica other than their preferred one (the first replica: see
"strata cluster elect-leaders"), how many are being moved, and every node:

  ID          the node id
  ADDRESS     its advertised Kafka address
  RACK        its rack, or -
  STATUS      alive, or fenced (registered, but the controller has not heard
              from it in time, so it leads no partition and is in no ISR)
  CONTROLLER  yes for the active controller (the metadata quorum's leader)
  RAFT        its part in the metadata quorum: leader, follower (a voter) or
              learner (receives the log without voting); - for none
  LAG         how many metadata log entries it lacks: the quorum's high
              watermark minus the end of its log; - when unknown

Then, while partitions are being moved (reassigned), the first 20 of them
by topic and partition ("strata partitions reassign --list" shows them all):

  LEADER      the partition's leader, or -
  REPLICAS    its replicas: the target first, then those being removed
  ADDING      the replicas being added, which copy the log from the leader
  REMOVING    the replicas to remove once those are in sync
  PROGRESS    for each replica being added, its log's size against the
              leader's, and the share copied ("3: 1.0 MiB of 4.0 MiB (25%)");
              ? for a size that a broker, down or slow, did not tell

Sizes come from DescribeLogDirs sent to each broker involved, as Kafka's
reassignment tools get them. A move completes once every replica being
added has joined the ISR; one that has caught up shows 100% until then.

Nodes come from DescribeCluster (with fenced brokers, KIP-1073) when the
cluster supports it, else from Metadata (which lists live brokers only);
the quorum from DescribeQuorum (KIP-595), asked of the controller and, if it
does not answer (a stale or hung controller), of each other node in turn, which
passes it on to the quorum leader. Against a cluster that does not serve
DescribeQuorum the Raft columns show -.`,
		Example: `  strata cluster status`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := opts.newClient(kgo.RequestTimeoutOverhead(statusRequestTimeout))
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := opts.withTimeout(cmd.Context())
			defer cancel()
			status, err := collectClusterStatus(ctx, cl, brokerAt(cl))
			if err != nil {
				return opts.requestErr("metadata", err)
			}
			return status.write(cmd.OutOrStdout())
		},
	}
}

// Raft roles of a node in `strata cluster status`.
const (
	raftLeader   = "leader"
	raftFollower = "follower"
	raftLearner  = "learner"
)

// nodeRow is one node of `strata cluster status`.
type nodeRow struct {
	id         int32
	host       string // "" for a quorum member with no broker registration
	port       int32
	rack       *string
	fenced     bool
	controller bool
	role       string // raftLeader, raftFollower, raftLearner; "" for none or unknown
	lag        int64  // -1: unknown
}

// quorumRow is the metadata quorum as DescribeQuorum describes it.
type quorumRow struct {
	leader        int32
	epoch         int32
	highWatermark int64
}

type clusterStatus struct {
	clusterID  string
	controller int32
	// quorum is nil when the quorum could not be described; quorumErr
	// says why.
	quorum                             *quorumRow
	quorumErr                          string
	nodes                              []nodeRow
	topics, partitions                 int
	internalTopics, internalPartitions int
	underReplicated, offline           int
	// notPreferred counts the partitions led by a replica other than
	// their preferred one (the first replica).
	notPreferred int
	// reassigning counts the partitions being moved (-1: unknown, the
	// cluster does not serve ListPartitionReassignments); moves are the
	// first maxMoveRows of them.
	reassigning int
	moves       []moveRow
}

// statusRequestTimeout bounds each request of `strata cluster status`
// (franz-go's default is 10s): the command is for when nodes are in
// trouble, and a node that accepts connections but does not answer (paused,
// overloaded) should cost a few seconds before the client asks another, not
// most of --timeout.
const statusRequestTimeout = 3 * time.Second

// describeQuorumRounds bounds how often describeQuorum asks every node in
// turn, waiting describeQuorumBackoff between rounds, while the answers are
// retriable errors (as during an election).
const (
	describeQuorumRounds  = 2
	describeQuorumBackoff = 250 * time.Millisecond
)

// collectClusterStatus asks the cluster behind cl for Metadata,
// DescribeCluster, ListPartitionReassignments and DescribeQuorum (each if
// served), and the brokers involved in moves for their sizes
// (DescribeLogDirs). at returns a requestor that sends to node id alone
// (nil: cl is the only one, and move sizes are unknown). Only a failed
// Metadata request is an error.
func collectClusterStatus(ctx context.Context, cl kmsg.Requestor, at func(id int32) kmsg.Requestor) (*clusterStatus, error) {
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	s := &clusterStatus{clusterID: ptrOr(meta.ClusterID, ""), controller: meta.ControllerID}
	var brokers []nodeRow
	for _, b := range meta.Brokers {
		brokers = append(brokers, nodeRow{id: b.NodeID, host: b.Host, port: b.Port, rack: b.Rack})
	}
	leaders := map[planKey]int32{}
	for _, t := range meta.Topics {
		if t.IsInternal {
			s.internalTopics++
			s.internalPartitions += len(t.Partitions)
		} else {
			s.topics++
			s.partitions += len(t.Partitions)
		}
		for _, p := range t.Partitions {
			leaders[planKey{ptrOr(t.Topic, ""), p.Partition}] = p.Leader
			if p.Leader < 0 {
				s.offline++
			}
			if len(p.ISR) < len(p.Replicas) {
				s.underReplicated++
			}
			if len(p.Replicas) > 0 && p.Leader >= 0 && p.Leader != p.Replicas[0] {
				s.notPreferred++
			}
		}
	}
	// DescribeCluster (KIP-700) names the active controller where Metadata
	// may give a random broker, and lists fenced brokers (v2).
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dreq.IncludeFencedBrokers = true
	if dc, err := dreq.RequestWith(ctx, cl); err == nil && dc.ErrorCode == 0 {
		s.clusterID, s.controller = dc.ClusterID, dc.ControllerID
		brokers = brokers[:0]
		for _, b := range dc.Brokers {
			brokers = append(brokers, nodeRow{id: b.NodeID, host: b.Host, port: b.Port, rack: b.Rack, fenced: b.IsFenced})
		}
	}
	s.reassigning = -1
	if lr, err := kmsg.NewPtrListPartitionReassignmentsRequest().RequestWith(ctx, cl); err == nil && lr.ErrorCode == 0 {
		s.reassigning = 0
		for _, t := range lr.Topics {
			s.reassigning += len(t.Partitions)
		}
		s.moves = listMoves(lr, leaders)
		measureMoves(ctx, at, s.moves)
	}
	askers := []kmsg.Requestor{cl}
	if at != nil {
		// Unfenced brokers first: a fenced one is likely down.
		others := slices.Clone(brokers)
		slices.SortStableFunc(others, func(a, b nodeRow) int { return cmp.Compare(btoi(a.fenced), btoi(b.fenced)) })
		for _, b := range others {
			if b.id != s.controller {
				askers = append(askers, at(b.id))
			}
		}
	}
	quorum, err := describeQuorum(ctx, askers)
	if err != nil {
		s.quorumErr = err.Error()
	}
	s.nodes = clusterNodes(brokers, s.controller, quorum)
	if quorum != nil {
		s.quorum = &quorumRow{leader: quorum.LeaderID, epoch: quorum.LeaderEpoch, highWatermark: quorum.HighWatermark}
	}
	return s, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// describeQuorum describes the metadata quorum, asking each of askers in
// turn (each within statusRequestTimeout) until one answers: the first is
// the client, which sends it to the controller, the others single nodes.
// Where the controller is stale or hangs, another node answers: Strata's
// nodes, like Kafka's brokers, pass the request on to the quorum leader. It
// returns the first error if none answers.
func describeQuorum(ctx context.Context, askers []kmsg.Requestor) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	var first error
	for round := 1; ; round++ {
		retriable := false
		for _, a := range askers {
			actx, cancel := context.WithTimeout(ctx, statusRequestTimeout)
			p, err := describeQuorumOnce(actx, a)
			cancel()
			if err == nil {
				return p, nil
			}
			first = cmp.Or(first, err)
			retriable = retriable || kerr.IsRetriable(err)
			if ctx.Err() != nil {
				return nil, first
			}
		}
		if !retriable || round == describeQuorumRounds {
			return nil, first
		}
		t := time.NewTimer(describeQuorumBackoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, first
		case <-t.C:
		}
	}
}

func describeQuorumOnce(ctx context.Context, cl kmsg.Requestor) (*kmsg.DescribeQuorumResponseTopicPartition, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, fmt.Errorf("got %d topics in the answer, want one with one partition", len(resp.Topics))
	}
	p := &resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return nil, err
	}
	return p, nil
}

// clusterNodes merges the brokers with the quorum's members (q nil: the
// quorum is unknown) into one row per node, sorted by id.
func clusterNodes(brokers []nodeRow, controller int32, q *kmsg.DescribeQuorumResponseTopicPartition) []nodeRow {
	nodes := slices.Clone(brokers)
	for i := range nodes {
		nodes[i].controller = nodes[i].id == controller
		nodes[i].role, nodes[i].lag = "", -1
	}
	if q != nil {
		row := func(id int32) *nodeRow {
			for i := range nodes {
				if nodes[i].id == id {
					return &nodes[i]
				}
			}
			// A member that is no registered broker: down since
			// before it could register, or not a broker.
			nodes = append(nodes, nodeRow{id: id, controller: id == controller, lag: -1})
			return &nodes[len(nodes)-1]
		}
		member := func(rs kmsg.DescribeQuorumResponseTopicPartitionReplicaState, role string) {
			n := row(rs.ReplicaID)
			n.role = role
			if rs.ReplicaID == q.LeaderID {
				n.role = raftLeader
			}
			if rs.LogEndOffset >= 0 && q.HighWatermark >= 0 {
				n.lag = max(0, q.HighWatermark-rs.LogEndOffset)
			}
		}
		for _, rs := range q.CurrentVoters {
			member(rs, raftFollower)
		}
		for _, rs := range q.Observers {
			member(rs, raftLearner)
		}
	}
	slices.SortFunc(nodes, func(a, b nodeRow) int { return cmp.Compare(a.id, b.id) })
	return nodes
}

func (s *clusterStatus) write(out io.Writer) error {
	fmt.Fprintf(out, "Cluster ID:  %s\n", s.clusterID)
	fmt.Fprintf(out, "Controller:  %d\n", s.controller)
	if q := s.quorum; q != nil {
		fmt.Fprintf(out, "Quorum:      leader %d, epoch %d, high watermark %d\n", q.leader, q.epoch, q.highWatermark)
	} else {
		fmt.Fprintf(out, "Quorum:      unknown (%s)\n", cmp.Or(s.quorumErr, "not described"))
	}
	fmt.Fprintf(out, "Topics:      %d (%d partitions)\n", s.topics, s.partitions)
	fmt.Fprintf(out, "Internal:    %d (%d partitions)\n", s.internalTopics, s.internalPartitions)
	fmt.Fprintf(out, "Partitions:  %d under-replicated, %d offline\n", s.underReplicated, s.offline)
	fmt.Fprintf(out, "Leaders:     %d partitions led by other than their preferred replica\n", s.notPreferred)
	if s.reassigning >= 0 {
		fmt.Fprintf(out, "Moving:      %d partitions being reassigned\n", s.reassigning)
	}
	fenced := 0
	for _, n := range s.nodes {
		if n.fenced {
			fenced++
		}
	}
	fmt.Fprintf(out, "Nodes:       %d (%d fenced)\n", len(s.nodes), fenced)
	tw := newTable(out)
	fmt.Fprintln(tw, "ID\tADDRESS\tRACK\tSTATUS\tCONTROLLER\tRAFT\tLAG")
	for _, n := range s.nodes {
		addr, status := "-", "unregistered"
		if n.host != "" {
			addr, status = net.JoinHostPort(n.host, strconv.Itoa(int(n.port))), "alive"
			if n.fenced {
				status = "fenced"
			}
		}
		controller := "no"
		if n.controller {
			controller = "yes"
		}
		lag := "-"
		if n.lag >= 0 {
			lag = strconv.FormatInt(n.lag, 10)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", n.id, addr, orDash(ptrOr(n.rack, "")), status, controller,
			orDash(n.role), lag)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return writeMoves(out, s.moves, s.reassigning)
}

func ptrOr(s *string, or string) string {
	if s == nil {
		return or
	}
	return *s
}

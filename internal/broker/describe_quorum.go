package broker

// DescribeQuorum (key 55), versions 0-2.
//
// Behavior:
//   - The metadata quorum is the Raft group of the controller voters; its
//     log is, in Kafka's naming, partition 0 of __cluster_metadata, the only
//     partition described. A request that is not exactly that one partition
//     gets UNKNOWN_TOPIC_OR_PARTITION for every partition it names, as
//     Kafka's controller answers.
//   - The quorum leader answers from its Raft state: LeaderID and
//     LeaderEpoch are the Raft leader and term. Raft index i holds what
//     Kafka would put at offset i-1, so an index is also an exclusive end
//     offset: HighWatermark is the commit index, and each member's
//     LogEndOffset is its Match index as the leader tracks it (the leader's
//     own is its last index; -1 for a member it has no progress of yet, as
//     after an election until the member answers).
//     CurrentVoters are the voters; Observers are the learners (nodes that
//     receive the log without voting).
//   - Timestamps: for the leader itself both are now, as in Kafka
//     (KIP-836). For another member, LastFetchTimestamp is when the leader
//     last received that node's broker heartbeat over the Raft network (its
//     closest analogue of a KRaft follower's fetch), and
//     LastCaughtUpTimestamp is now when its log ends where the leader's
//     does, else -1: Strata keeps no history of when a member was last
//     caught up. -1 also stands for a node never heard from.
//   - Any other node forwards the request to the leader's Kafka listener
//     and relays its answer, as a Kafka broker forwards DescribeQuorum to
//     the active controller. So every way clients send it gets the leader's
//     view: franz-go sends it to the controller that Metadata names (the
//     Raft leader), the Java Admin and kafka-metadata-quorum.sh to any
//     broker, which may be one that is not the leader. A node that cannot
//     forward (no leader known, the leader not a registered broker, or no
//     answer within forwardTimeout) answers NOT_LEADER_OR_FOLLOWER for the
//     partition, as a Kafka controller that is not the leader does; the
//     error is retriable. A forwarded request is never forwarded again.
//   - v2: ReplicaDirectoryID is zero (Strata has no directory ids); Nodes
//     lists each voter with its Raft listener, named CONTROLLER as Kafka's
//     controller listener usually is (no listener for a one-node cluster
//     started without one).
//
// KIPs: KIP-595 (v0), KIP-836 (v1 LastFetchTimestamp and
// LastCaughtUpTimestamp), KIP-853 (v2 directory ids, error message, nodes).

import (
	"cmp"
	"context"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/raft"
)

func init() { register(55, 0, 2, (*Broker).handleDescribeQuorum) }

const (
	// metadataTopic and metadataPartition name the metadata log in
	// DescribeQuorum, as Kafka names it.
	metadataTopic     = "__cluster_metadata"
	metadataPartition = 0
	// controllerListener is the listener name Nodes gives the voters'
	// Raft listeners.
	controllerListener = "CONTROLLER"
	// forwardedClientID marks a DescribeQuorum one node forwards to
	// another, which answers it itself or not at all.
	forwardedClientID = "strata-forwarded"
	// forwardTimeout bounds a forwarded DescribeQuorum: a leader that is
	// alive answers in milliseconds, and the client's own timeout should
	// not pass first on a leader that hangs.
	forwardTimeout = 2 * time.Second
)

func (b *Broker) handleDescribeQuorum(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeQuorumRequest)
	if !b.allowedCluster(req, auth.OpDescribe) {
		resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if !quorumRequestValid(r) {
		return quorumPartitionErrors(r, kerr.UnknownTopicOrPartition), nil
	}
	st := b.node.Status()
	if st.Leader != 0 && st.Leader == st.ID {
		voters, learners := b.node.Members()
		resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
		part := describeQuorumPartition(st, voters, learners, b.lastHeard, time.Now())
		resp.Topics = []kmsg.DescribeQuorumResponseTopic{{Topic: metadataTopic, Partitions: []kmsg.DescribeQuorumResponseTopicPartition{part}}}
		if req.Version >= 2 {
			resp.Nodes = b.quorumNodes(voters)
		}
		return resp, nil
	}
	why := "no leader of the metadata quorum is known"
	if st.Leader != 0 {
		why = "this node is not the leader of the metadata quorum, node " + strconv.FormatUint(st.Leader, 10) + " is"
		if ptrString(req.ClientID) != forwardedClientID {
			resp, err := b.forwardDescribeQuorum(ctx, int32(st.Leader), r)
			if err == nil {
				return resp, nil
			}
			b.logger.Info("forward DescribeQuorum to the quorum leader", "leader", st.Leader, "err", err)
			why += ", and it did not answer: " + err.Error()
		}
	}
	resp := quorumNotLeader(r, st)
	if req.Version >= 2 {
		resp.Topics[0].Partitions[0].ErrorMessage = &why
	}
	return resp, nil
}

// quorumRequestValid reports whether r asks about exactly the metadata
// log's partition.
func quorumRequestValid(r *kmsg.DescribeQuorumRequest) bool {
	return len(r.Topics) == 1 && r.Topics[0].Topic == metadataTopic &&
		len(r.Topics[0].Partitions) == 1 && r.Topics[0].Partitions[0].Partition == metadataPartition
}

// quorumPartitionErrors answers every partition r names with err.
func quorumPartitionErrors(r *kmsg.DescribeQuorumRequest, err *kerr.Error) *kmsg.DescribeQuorumResponse {
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	for _, rt := range r.Topics {
		t := kmsg.NewDescribeQuorumResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewDescribeQuorumResponseTopicPartition()
			p.Partition, p.ErrorCode, p.LeaderID, p.HighWatermark = rp.Partition, err.Code, -1, -1
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// quorumNotLeader is the answer of a node that is not the quorum leader:
// NOT_LEADER_OR_FOLLOWER, with the leader and term it knows.
func quorumNotLeader(r *kmsg.DescribeQuorumRequest, st *raft.Status) *kmsg.DescribeQuorumResponse {
	resp := quorumPartitionErrors(r, kerr.NotLeaderForPartition)
	p := &resp.Topics[0].Partitions[0]
	p.LeaderID, p.LeaderEpoch = -1, int32(st.Term)
	if st.Leader != 0 {
		p.LeaderID = int32(st.Leader)
	}
	return resp
}

// describeQuorumPartition describes the quorum from the leader's status st,
// the members, when each node's latest heartbeat came (heard) and the time
// now.
func describeQuorumPartition(st *raft.Status, voters, learners []uint64, heard func(id uint64) (time.Time, bool), now time.Time) kmsg.DescribeQuorumResponseTopicPartition {
	p := kmsg.NewDescribeQuorumResponseTopicPartition()
	p.Partition = metadataPartition
	p.LeaderID, p.LeaderEpoch, p.HighWatermark = int32(st.Leader), int32(st.Term), int64(st.Commit)
	match := make(map[uint64]uint64, len(st.Progress))
	for _, pr := range st.Progress {
		match[pr.ID] = pr.Match
	}
	replica := func(id uint64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
		rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
		rs.ReplicaID, rs.LogEndOffset = int32(id), -1
		if id == st.ID {
			rs.LogEndOffset = int64(st.Last)
			rs.LastFetchTimestamp, rs.LastCaughtUpTimestamp = now.UnixMilli(), now.UnixMilli()
			return rs
		}
		// A new leader knows nothing of a member until it answers: etcd
		// raft starts every Match at 0, no index, so 0 is unknown.
		if m := match[id]; m > 0 {
			rs.LogEndOffset = int64(m)
			if m >= st.Last {
				rs.LastCaughtUpTimestamp = now.UnixMilli()
			}
		}
		if at, ok := heard(id); ok {
			rs.LastFetchTimestamp = at.UnixMilli()
		}
		return rs
	}
	for _, id := range sortedMembers(voters) {
		p.CurrentVoters = append(p.CurrentVoters, replica(id))
	}
	for _, id := range sortedMembers(learners) {
		p.Observers = append(p.Observers, replica(id))
	}
	return p
}

func sortedMembers(ids []uint64) []uint64 {
	out := slices.Clone(ids)
	slices.SortFunc(out, cmp.Compare)
	return out
}

// lastHeard returns when node id's latest heartbeat came.
func (b *Broker) lastHeard(id uint64) (time.Time, bool) { return b.live.LastHeard(int32(id)) }

// quorumNodes lists the voters with their Raft listeners: from the voters
// list, else as the metadata log recorded them (voters added while the
// cluster runs).
func (b *Broker) quorumNodes(voters []uint64) []kmsg.DescribeQuorumResponseNode {
	var nodes []kmsg.DescribeQuorumResponseNode
	for _, id := range sortedMembers(voters) {
		n := kmsg.NewDescribeQuorumResponseNode()
		n.NodeID = int32(id)
		addr, ok := b.cfg.Voters[int32(id)]
		if !ok {
			addr, ok = b.store.Current().ControllerAddrs()[int32(id)]
		}
		if !ok && int32(id) == b.cfg.NodeID {
			addr = b.cfg.ControllerListen
		}
		if l, ok := controllerEndpoint(addr); ok {
			n.Listeners = append(n.Listeners, l)
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// controllerEndpoint parses a Raft listener's host:port.
func controllerEndpoint(addr string) (kmsg.DescribeQuorumResponseNodeListener, bool) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return kmsg.DescribeQuorumResponseNodeListener{}, false
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return kmsg.DescribeQuorumResponseNodeListener{}, false
	}
	l := kmsg.NewDescribeQuorumResponseNodeListener()
	l.Name, l.Host, l.Port = controllerListener, host, uint16(port)
	return l, true
}

// forwardDescribeQuorum asks node leader's Kafka listener the same
// question r asks, at the same version.
func (b *Broker) forwardDescribeQuorum(ctx context.Context, leader int32, r *kmsg.DescribeQuorumRequest) (*kmsg.DescribeQuorumResponse, error) {
	br, ok := b.store.Current().Broker(leader)
	if !ok {
		return nil, errNotRegistered
	}
	ctx, cancel := context.WithTimeout(ctx, forwardTimeout)
	defer cancel()
	resp := r.ResponseKind().(*kmsg.DescribeQuorumResponse)
	addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	if err := roundTrip(ctx, b.cfg.Dial, addr, forwardedClientID, r, resp); err != nil {
		return nil, err
	}
	return resp, nil
}

package raft

import pb "go.etcd.io/raft/v3/raftpb"

// Transport delivers raft messages to other voters. Send must not block for
// long (queue and return); the node calls it from its Run goroutine after the
// entries and hard state the messages depend on are durable. Messages to
// unreachable peers may be dropped: raft retries. The messages and their
// contents must not be modified; Send may keep them.
//
// A one-voter group sends no messages; no network transport exists yet.
type Transport interface {
	Send(msgs []*pb.Message)
}

// discardTransport is the transport of a node without one: it drops
// everything, which is correct only when there are no other voters.
type discardTransport struct{}

func (discardTransport) Send([]*pb.Message) {}

package raft

import pb "go.etcd.io/raft/v3/raftpb"

// Transport delivers raft messages to other voters. Send must not block for
// long (queue and return); the node calls it from its Run goroutine after the
// entries and hard state the messages depend on are durable. Messages to
// unreachable peers may be dropped: raft retries. The messages and their
// contents must not be modified; Send may keep them.
//
// A one-voter group sends no messages.
type Transport interface {
	Send(msgs []*pb.Message)
}

// voterSetter is a transport that checks the voters of those it talks to
// (Network): the node tells it the voters of its log, at start and after
// each membership change.
type voterSetter interface {
	SetVoters(ids []uint64)
}

// setVoters passes voters to t if it wants them.
func setVoters(t Transport, voters []uint64) {
	if vs, ok := t.(voterSetter); ok {
		vs.SetVoters(voters)
	}
}

// discardTransport is the transport of a node without one: it drops
// everything, which is correct only when there are no other voters.
type discardTransport struct{}

func (discardTransport) Send([]*pb.Message) {}

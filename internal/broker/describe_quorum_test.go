package broker

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/raft"
)

func quorumRequest(topics map[string][]int32) *kmsg.DescribeQuorumRequest {
	r := kmsg.NewPtrDescribeQuorumRequest()
	for name, parts := range topics {
		t := kmsg.NewDescribeQuorumRequestTopic()
		t.Topic = name
		for _, p := range parts {
			rp := kmsg.NewDescribeQuorumRequestTopicPartition()
			rp.Partition = p
			t.Partitions = append(t.Partitions, rp)
		}
		r.Topics = append(r.Topics, t)
	}
	return r
}

func TestQuorumRequestValid(t *testing.T) {
	tests := []struct {
		name   string
		topics map[string][]int32
		want   bool
	}{
		{"the metadata partition", map[string][]int32{metadataTopic: {0}}, true},
		{"no topic", nil, false},
		{"another partition", map[string][]int32{metadataTopic: {1}}, false},
		{"two partitions", map[string][]int32{metadataTopic: {0, 1}}, false},
		{"no partition", map[string][]int32{metadataTopic: {}}, false},
		{"another topic", map[string][]int32{"orders": {0}}, false},
		{"two topics", map[string][]int32{metadataTopic: {0}, "orders": {0}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := quorumRequest(tt.topics)
			if got := quorumRequestValid(r); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			if tt.want {
				return
			}
			// Kafka answers every partition named with the error.
			resp := quorumPartitionErrors(r, kerr.UnknownTopicOrPartition)
			if len(resp.Topics) != len(r.Topics) {
				t.Fatalf("got %d topics, want %d", len(resp.Topics), len(r.Topics))
			}
			for i, rt := range resp.Topics {
				if rt.Topic != r.Topics[i].Topic || len(rt.Partitions) != len(r.Topics[i].Partitions) {
					t.Fatalf("topic %d: got %s with %d partitions, want %s with %d", i, rt.Topic, len(rt.Partitions),
						r.Topics[i].Topic, len(r.Topics[i].Partitions))
				}
				for j, p := range rt.Partitions {
					if p.Partition != r.Topics[i].Partitions[j].Partition || p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
						t.Errorf("%s/%d: got partition %d, error %d", rt.Topic, j, p.Partition, p.ErrorCode)
					}
				}
			}
		})
	}
}

func TestDescribeQuorumPartition(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	heardAt := now.Add(-1500 * time.Millisecond)
	heard := func(id uint64) (time.Time, bool) { return heardAt, id == 2 || id == 4 }
	type replica struct {
		id                 int32
		leo, fetch, caught int64
	}
	nowMs, heardMs := now.UnixMilli(), heardAt.UnixMilli()
	tests := []struct {
		name             string
		st               raft.Status
		voters, learners []uint64
		wantVoters       []replica
		wantObservers    []replica
	}{
		{
			name:       "one node",
			st:         raft.Status{ID: 1, Term: 2, Leader: 1, Commit: 7, Last: 7, Progress: []raft.Progress{{ID: 1, Match: 7}}},
			voters:     []uint64{1},
			wantVoters: []replica{{1, 7, nowMs, nowMs}},
		},
		{
			name: "a caught-up and a lagging follower",
			st: raft.Status{ID: 2, Term: 5, Leader: 2, Commit: 40, Last: 42,
				Progress: []raft.Progress{{ID: 1, Match: 30}, {ID: 2, Match: 42}, {ID: 3, Match: 42}}},
			voters:     []uint64{3, 1, 2},
			wantVoters: []replica{{1, 30, -1, -1}, {2, 42, nowMs, nowMs}, {3, 42, -1, nowMs}},
		},
		{
			name: "a learner, a voter without progress, one not heard since the election",
			st: raft.Status{ID: 1, Term: 3, Leader: 1, Commit: 10, Last: 10,
				Progress: []raft.Progress{{ID: 1, Match: 10}, {ID: 2, Match: 9}, {ID: 4, Match: 10, Learner: true}, {ID: 5, Match: 0}}},
			voters:        []uint64{1, 2, 3, 5},
			learners:      []uint64{4},
			wantVoters:    []replica{{1, 10, nowMs, nowMs}, {2, 9, heardMs, -1}, {3, -1, -1, -1}, {5, -1, -1, -1}},
			wantObservers: []replica{{4, 10, heardMs, nowMs}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := describeQuorumPartition(&tt.st, tt.voters, tt.learners, heard, now)
			if p.Partition != 0 || p.ErrorCode != 0 || p.LeaderID != int32(tt.st.Leader) ||
				p.LeaderEpoch != int32(tt.st.Term) || p.HighWatermark != int64(tt.st.Commit) {
				t.Errorf("got partition %d error %d leader %d epoch %d hw %d, want 0, 0, %d, %d, %d", p.Partition, p.ErrorCode,
					p.LeaderID, p.LeaderEpoch, p.HighWatermark, tt.st.Leader, tt.st.Term, tt.st.Commit)
			}
			got := func(rs []kmsg.DescribeQuorumResponseTopicPartitionReplicaState) []replica {
				var out []replica
				for _, r := range rs {
					out = append(out, replica{r.ReplicaID, r.LogEndOffset, r.LastFetchTimestamp, r.LastCaughtUpTimestamp})
				}
				return out
			}
			if g := got(p.CurrentVoters); !reflect.DeepEqual(g, tt.wantVoters) {
				t.Errorf("voters: got %+v, want %+v", g, tt.wantVoters)
			}
			if g := got(p.Observers); !reflect.DeepEqual(g, tt.wantObservers) {
				t.Errorf("observers: got %+v, want %+v", g, tt.wantObservers)
			}
		})
	}
}

func TestQuorumNotLeader(t *testing.T) {
	r := quorumRequest(map[string][]int32{metadataTopic: {0}})
	for _, tt := range []struct {
		leader     uint64
		wantLeader int32
	}{{3, 3}, {0, -1}} {
		resp := quorumNotLeader(r, &raft.Status{ID: 1, Term: 9, Leader: tt.leader})
		p := resp.Topics[0].Partitions[0]
		if resp.Topics[0].Topic != metadataTopic || p.ErrorCode != kerr.NotLeaderForPartition.Code ||
			p.LeaderID != tt.wantLeader || p.LeaderEpoch != 9 {
			t.Errorf("leader %d: got %s error %d leader %d epoch %d, want NOT_LEADER_OR_FOLLOWER, leader %d, epoch 9",
				tt.leader, resp.Topics[0].Topic, p.ErrorCode, p.LeaderID, p.LeaderEpoch, tt.wantLeader)
		}
	}
}

func TestControllerEndpoint(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
		host string
		port uint16
	}{
		{"127.0.0.1:9193", true, "127.0.0.1", 9193},
		{"[::1]:9193", true, "::1", 9193},
		{"", false, "", 0},
		{"127.0.0.1", false, "", 0},
		{"127.0.0.1:70000", false, "", 0},
	}
	for _, tt := range tests {
		l, ok := controllerEndpoint(tt.addr)
		if ok != tt.ok || (ok && (l.Name != controllerListener || l.Host != tt.host || l.Port != tt.port)) {
			t.Errorf("%q: got %+v, %v; want %s:%d, %v", tt.addr, l, ok, tt.host, tt.port, tt.ok)
		}
	}
}

// TestRoundTrip checks the forwarding client against a listener that
// answers one request with a canned response, or with bad bytes.
func TestRoundTrip(t *testing.T) {
	want := kmsg.NewPtrDescribeQuorumResponse()
	want.Version = 2
	want.Topics = []kmsg.DescribeQuorumResponseTopic{{Topic: metadataTopic,
		Partitions: []kmsg.DescribeQuorumResponseTopicPartition{{LeaderID: 2, LeaderEpoch: 4, HighWatermark: 17}}}}
	good := func(corr int32) []byte {
		body := binary.BigEndian.AppendUint32(nil, uint32(corr))
		body = append(body, 0) // no tagged fields in the flexible header
		body = want.AppendTo(body)
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	tests := []struct {
		name    string
		answer  func(corr int32) []byte
		wantErr bool
	}{
		{"good", good, false},
		{"wrong correlation id", func(corr int32) []byte { return good(corr + 1) }, true},
		{"oversized", func(int32) []byte { return binary.BigEndian.AppendUint32(nil, maxForwardedResponse+1) }, true},
		{"truncated", func(corr int32) []byte { b := good(corr); return b[:len(b)-3] }, true},
		{"bad header tags", func(corr int32) []byte {
			body := binary.BigEndian.AppendUint32(nil, uint32(corr))
			body = append(body, 0xff, 0xff, 0xff, 0xff, 0x0f) // 2^32-1 tags, then nothing
			return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			served := make(chan string, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					served <- err.Error()
					return
				}
				defer c.Close()
				var size [4]byte
				if _, err := io.ReadFull(c, size[:]); err != nil {
					served <- err.Error()
					return
				}
				req := make([]byte, binary.BigEndian.Uint32(size[:]))
				if _, err := io.ReadFull(c, req); err != nil {
					served <- err.Error()
					return
				}
				// key, version, correlation id, client id
				corr := int32(binary.BigEndian.Uint32(req[4:]))
				idLen := int(binary.BigEndian.Uint16(req[8:]))
				served <- string(req[10 : 10+idLen])
				c.Write(tt.answer(corr))
			}()
			req := quorumRequest(map[string][]int32{metadataTopic: {0}})
			req.Version = 2
			resp := kmsg.NewPtrDescribeQuorumResponse()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err = roundTrip(ctx, nil, l.Addr().String(), forwardedClientID, req, resp)
			if got := <-served; got != forwardedClientID {
				t.Errorf("server saw client id %q, want %q", got, forwardedClientID)
			}
			if tt.wantErr {
				if err == nil {
					t.Fatal("got no error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(resp, want) {
				t.Errorf("got %+v, want %+v", resp, want)
			}
		})
	}
}

// TestRoundTripGivesUp checks that a silent peer costs no more than the
// context allows.
func TestRoundTripGivesUp(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = roundTrip(ctx, nil, l.Addr().String(), forwardedClientID, quorumRequest(nil), kmsg.NewPtrDescribeQuorumResponse())
	if err == nil {
		t.Fatal("got no error from a peer that never answers")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %s, want about 200ms", took)
	}
	if c, ok := <-accepted; ok {
		c.Close()
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerID returns the node ID of the only broker of the cluster at addr.
func brokerID(t *testing.T, addr string) int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	brokers, err := kadm.NewClient(newTestClient(t, addr)).ListBrokers(ctx)
	if err != nil || len(brokers) != 1 {
		t.Fatalf("list brokers: got %v, %v; want one broker", brokers, err)
	}
	return brokers[0].NodeID
}

func rackOf(s string) *string { return &s }

func TestClusterStatusWrite(t *testing.T) {
	tests := []struct {
		name   string
		status clusterStatus
		want   string
	}{
		{
			name: "three nodes, one fenced and lagging",
			status: clusterStatus{
				clusterID: "c1", controller: 2,
				quorum: &quorumRow{leader: 2, epoch: 4, highWatermark: 120},
				nodes: []nodeRow{
					{id: 1, host: "127.0.0.1", port: 9092, rack: rackOf("a"), role: raftFollower, lag: 0},
					{id: 2, host: "127.0.0.1", port: 9093, rack: rackOf("b"), controller: true, role: raftLeader, lag: 0},
					{id: 3, host: "127.0.0.1", port: 9094, fenced: true, role: raftFollower, lag: 17},
				},
				topics: 2, partitions: 4, internalTopics: 1, internalPartitions: 3, underReplicated: 7, offline: 1, notPreferred: 2, reassigning: 3,
			},
			want: `Cluster ID:  c1
Controller:  2
Quorum:      leader 2, epoch 4, high watermark 120
Topics:      2 (4 partitions)
Internal:    1 (3 partitions)
Partitions:  7 under-replicated, 1 offline
Leaders:     2 partitions led by other than their preferred replica
Moving:      3 partitions being reassigned
Nodes:       3 (1 fenced)
ID  ADDRESS         RACK  STATUS  CONTROLLER  RAFT      LAG
1   127.0.0.1:9092  a     alive   no          follower  0
2   127.0.0.1:9093  b     alive   yes         leader    0
3   127.0.0.1:9094  -     fenced  no          follower  17
`,
		},
		{
			name: "moves, some sizes unknown, more than listed",
			status: clusterStatus{
				clusterID: "c4", controller: 1,
				quorum:      &quorumRow{leader: 1, epoch: 1, highWatermark: 9},
				nodes:       []nodeRow{{id: 1, host: "h1", port: 1, controller: true, role: raftLeader, lag: 0}},
				reassigning: 25,
				moves: []moveRow{
					{topic: "orders", partition: 0, leader: 1, replicas: []int32{3, 2, 1}, adding: []int32{3}, removing: []int32{1},
						leaderSize: 4 << 20, addingSizes: []int64{1 << 20}},
					{topic: "orders", partition: 1, leader: 2, replicas: []int32{3, 4, 1, 2}, adding: []int32{3, 4}, removing: []int32{1, 2},
						leaderSize: 3 << 10, addingSizes: []int64{-1, 4 << 10}},
					{topic: "orders", partition: 2, leader: -1, replicas: []int32{2, 1}, adding: []int32{2}, removing: []int32{1},
						leaderSize: -1, addingSizes: []int64{0}},
					{topic: "pay", partition: 0, leader: 1, replicas: []int32{1, 2}, removing: []int32{2}, leaderSize: 10},
				},
			},
			want: `Cluster ID:  c4
Controller:  1
Quorum:      leader 1, epoch 1, high watermark 9
Topics:      0 (0 partitions)
Internal:    0 (0 partitions)
Partitions:  0 under-replicated, 0 offline
Leaders:     0 partitions led by other than their preferred replica
Moving:      25 partitions being reassigned
Nodes:       1 (0 fenced)
ID  ADDRESS  RACK  STATUS  CONTROLLER  RAFT    LAG
1   h1:1     -     alive   yes         leader  0

TOPIC   PARTITION  LEADER  REPLICAS  ADDING  REMOVING  PROGRESS
orders  0          1       3,2,1     3       1         3: 1.0 MiB of 4.0 MiB (25%)
orders  1          2       3,4,1,2   3,4     1,2       3: ? of 3.0 KiB, 4: 4.0 KiB of 3.0 KiB (100%)
orders  2          -       2,1       2       1         2: 0 B of ?
pay     0          1       1,2       -       2         -
... and 21 more (strata partitions reassign --list shows them all)
`,
		},
		{
			name: "no DescribeQuorum: Raft columns unknown",
			status: clusterStatus{
				clusterID: "c2", controller: 1, quorumErr: "not served", reassigning: -1,
				nodes: []nodeRow{{id: 1, host: "::1", port: 9092, rack: rackOf(""), controller: true, lag: -1}},
			},
			want: `Cluster ID:  c2
Controller:  1
Quorum:      unknown (not served)
Topics:      0 (0 partitions)
Internal:    0 (0 partitions)
Partitions:  0 under-replicated, 0 offline
Leaders:     0 partitions led by other than their preferred replica
Nodes:       1 (0 fenced)
ID  ADDRESS     RACK  STATUS  CONTROLLER  RAFT  LAG
1   [::1]:9092  -     alive   yes         -     -
`,
		},
		{
			name: "a learner, and a voter that never registered",
			status: clusterStatus{
				clusterID: "c3", controller: 1,
				quorum: &quorumRow{leader: 1, epoch: 1, highWatermark: 5},
				nodes: []nodeRow{
					{id: 1, host: "h1", port: 1, controller: true, role: raftLeader, lag: 0},
					{id: 2, role: raftFollower, lag: -1},
					{id: 4, host: "h4", port: 4, role: raftLearner, lag: 2},
				},
			},
			want: `Cluster ID:  c3
Controller:  1
Quorum:      leader 1, epoch 1, high watermark 5
Topics:      0 (0 partitions)
Internal:    0 (0 partitions)
Partitions:  0 under-replicated, 0 offline
Leaders:     0 partitions led by other than their preferred replica
Moving:      0 partitions being reassigned
Nodes:       3 (0 fenced)
ID  ADDRESS  RACK  STATUS        CONTROLLER  RAFT      LAG
1   h1:1     -     alive         yes         leader    0
2   -        -     unregistered  no          follower  -
4   h4:4     -     alive         no          learner   2
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.status.write(&b); err != nil {
				t.Fatal(err)
			}
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func replicaState(id int32, leo int64) kmsg.DescribeQuorumResponseTopicPartitionReplicaState {
	rs := kmsg.NewDescribeQuorumResponseTopicPartitionReplicaState()
	rs.ReplicaID, rs.LogEndOffset = id, leo
	return rs
}

func TestClusterNodes(t *testing.T) {
	brokers := []nodeRow{
		{id: 3, host: "h3", port: 3, fenced: true},
		{id: 1, host: "h1", port: 1},
		{id: 5, host: "h5", port: 5},
	}
	quorum := &kmsg.DescribeQuorumResponseTopicPartition{
		LeaderID: 1, HighWatermark: 50,
		CurrentVoters: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{
			replicaState(1, 52), replicaState(2, -1), replicaState(3, 41),
		},
		Observers: []kmsg.DescribeQuorumResponseTopicPartitionReplicaState{replicaState(5, 50)},
	}
	tests := []struct {
		name       string
		controller int32
		quorum     *kmsg.DescribeQuorumResponseTopicPartition
		want       []nodeRow
	}{
		{
			name: "no quorum", controller: 1,
			want: []nodeRow{
				{id: 1, host: "h1", port: 1, controller: true, lag: -1},
				{id: 3, host: "h3", port: 3, fenced: true, lag: -1},
				{id: 5, host: "h5", port: 5, lag: -1},
			},
		},
		{
			name: "quorum", controller: 1, quorum: quorum,
			want: []nodeRow{
				// A log end past the high watermark is no lag.
				{id: 1, host: "h1", port: 1, controller: true, role: raftLeader, lag: 0},
				{id: 2, role: raftFollower, lag: -1},
				{id: 3, host: "h3", port: 3, fenced: true, role: raftFollower, lag: 9},
				{id: 5, host: "h5", port: 5, role: raftLearner, lag: 0},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clusterNodes(brokers, tt.controller, tt.quorum)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if brokers[0].id != 3 || brokers[0].lag != 0 {
		t.Errorf("the input was changed: %+v", brokers)
	}
}

// statusTable is the parsed output of `strata cluster status`.
type statusTable struct {
	header map[string]string   // "Controller" to "1", ...
	rows   []map[string]string // column name to value, one per node
	moves  []map[string]string // column name to value, one per partition moving
	more   string              // the line after the moves, if any
}

func parseStatus(t *testing.T, out string) statusTable {
	t.Helper()
	st := statusTable{header: map[string]string{}}
	var cols, moveCols []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		switch {
		case line == "" && cols != nil && moveCols == nil:
			moveCols = []string{}
			continue
		case moveCols != nil:
			if len(moveCols) == 0 {
				moveCols = strings.Fields(line)
				continue
			}
			if strings.HasPrefix(line, "... ") {
				st.more = line
				continue
			}
			// The last column, PROGRESS, holds spaces.
			f := strings.Fields(line)
			if len(f) < len(moveCols) {
				t.Fatalf("move %q: got %d fields, want at least %d (%v)", line, len(f), len(moveCols), moveCols)
			}
			row := map[string]string{}
			last := len(moveCols) - 1
			for i, c := range moveCols[:last] {
				row[c] = f[i]
			}
			row[moveCols[last]] = strings.Join(f[last:], " ")
			st.moves = append(st.moves, row)
			continue
		}
		if cols == nil {
			if strings.HasPrefix(line, "ID ") {
				cols = strings.Fields(line)
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				t.Fatalf("unexpected line %q in\n%s", line, out)
			}
			st.header[k] = strings.TrimSpace(v)
			continue
		}
		f := strings.Fields(line)
		if len(f) != len(cols) {
			t.Fatalf("row %q: got %d fields, want %d (%v)", line, len(f), len(cols), cols)
		}
		row := map[string]string{}
		for i, c := range cols {
			row[c] = f[i]
		}
		st.rows = append(st.rows, row)
	}
	return st
}

func TestClusterStatus(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "a", 3)
	createTopic(t, addr, "b", 1)
	id := brokerID(t, addr)

	got := parseStatus(t, mustRun(t, cli, "", "cluster", "status"))
	want := map[string]string{
		"Controller": fmt.Sprint(id),
		"Topics":     "2 (4 partitions)",
		"Internal":   "0 (0 partitions)",
		"Partitions": "0 under-replicated, 0 offline",
		"Leaders":    "0 partitions led by other than their preferred replica",
		"Nodes":      "1 (0 fenced)",
	}
	for k, v := range want {
		if got.header[k] != v {
			t.Errorf("%s: got %q, want %q", k, got.header[k], v)
		}
	}
	if q := got.header["Quorum"]; !strings.HasPrefix(q, fmt.Sprintf("leader %d, epoch ", id)) {
		t.Errorf("Quorum: got %q, want this node as leader", q)
	}
	wantRow := map[string]string{"ID": fmt.Sprint(id), "ADDRESS": addr, "RACK": "-", "STATUS": "alive",
		"CONTROLLER": "yes", "RAFT": "leader", "LAG": "0"}
	if len(got.rows) != 1 || !reflect.DeepEqual(got.rows[0], wantRow) {
		t.Errorf("got rows %v, want %v", got.rows, wantRow)
	}
}

// refusing passes requests on, except those whose keys it refuses, as a
// client does for APIs the broker does not list.
type refusing struct {
	kmsg.Requestor
	keys []int16
}

var errTooOld = errors.New("broker is too old")

func (r refusing) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	for _, k := range r.keys {
		if req.Key() == k {
			return nil, errTooOld
		}
	}
	return r.Requestor.Request(ctx, req)
}

// TestClusterStatusDegrades checks the status of a broker that serves
// neither DescribeQuorum nor DescribeCluster: Raft columns unknown, brokers
// from Metadata.
func TestClusterStatusDegrades(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "a", 2)
	cl := newTestClient(t, addr)
	id := brokerID(t, addr)
	for _, keys := range [][]int16{{55}, {55, 60}} {
		t.Run(fmt.Sprint(keys), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := collectClusterStatus(ctx, refusing{cl, keys}, func(int32) kmsg.Requestor { return refusing{cl, keys} })
			if err != nil {
				t.Fatal(err)
			}
			if s.quorum != nil || !strings.Contains(s.quorumErr, errTooOld.Error()) {
				t.Errorf("got quorum %+v, error %q; want none, and %q", s.quorum, s.quorumErr, errTooOld)
			}
			var b strings.Builder
			if err := s.write(&b); err != nil {
				t.Fatal(err)
			}
			got := parseStatus(t, b.String())
			wantRow := map[string]string{"ID": fmt.Sprint(id), "ADDRESS": addr, "RACK": "-", "STATUS": "alive",
				"CONTROLLER": "yes", "RAFT": "-", "LAG": "-"}
			if len(got.rows) != 1 || !reflect.DeepEqual(got.rows[0], wantRow) {
				t.Errorf("got rows %v, want %v", got.rows, wantRow)
			}
			if got.header["Topics"] != "1 (2 partitions)" {
				t.Errorf("Topics: got %q", got.header["Topics"])
			}
		})
	}
}

// askerFunc is a kmsg.Requestor from a function.
type askerFunc func(ctx context.Context, req kmsg.Request) (kmsg.Response, error)

func (f askerFunc) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	return f(ctx, req)
}

// quorumAnswer answers DescribeQuorum with partition error code and leader,
// counting its calls.
func quorumAnswer(calls *int, code int16, leader int32) askerFunc {
	return func(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
		*calls++
		resp := req.ResponseKind().(*kmsg.DescribeQuorumResponse)
		p := kmsg.NewDescribeQuorumResponseTopicPartition()
		p.ErrorCode, p.LeaderID = code, leader
		resp.Topics = []kmsg.DescribeQuorumResponseTopic{{Topic: "__cluster_metadata", Partitions: []kmsg.DescribeQuorumResponseTopicPartition{p}}}
		return resp, nil
	}
}

func TestDescribeQuorumAsksEachNode(t *testing.T) {
	errDial := errors.New("dial tcp: i/o timeout")
	notLeader := kerr.NotLeaderForPartition.Code
	tests := []struct {
		name       string
		answers    []func(calls *int) askerFunc
		wantLeader int32 // -1: an error
		wantErr    error
		wantCalls  []int
	}{
		{
			name:       "the controller answers",
			answers:    []func(*int) askerFunc{ok(2), ok(2)},
			wantLeader: 2, wantCalls: []int{1, 0},
		},
		{
			name:       "a stale controller, then a node that forwards",
			answers:    []func(*int) askerFunc{fails(errDial), notLeaderAnswer(notLeader), ok(3)},
			wantLeader: 3, wantCalls: []int{1, 1, 1},
		},
		{
			name:       "only retriable errors: two rounds, the first error",
			answers:    []func(*int) askerFunc{notLeaderAnswer(notLeader), fails(errDial)},
			wantLeader: -1, wantErr: kerr.NotLeaderForPartition, wantCalls: []int{2, 2},
		},
		{
			name:       "not served anywhere: one round",
			answers:    []func(*int) askerFunc{fails(errTooOld), fails(errTooOld)},
			wantLeader: -1, wantErr: errTooOld, wantCalls: []int{1, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := make([]int, len(tt.answers))
			var askers []kmsg.Requestor
			for i, a := range tt.answers {
				askers = append(askers, a(&calls[i]))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			p, err := describeQuorum(ctx, askers)
			if tt.wantLeader < 0 {
				if p != nil || !errors.Is(err, tt.wantErr) {
					t.Errorf("got %+v, %v; want error %v", p, err, tt.wantErr)
				}
			} else if err != nil || p.LeaderID != tt.wantLeader {
				t.Errorf("got %+v, %v; want leader %d", p, err, tt.wantLeader)
			}
			if !reflect.DeepEqual(calls, tt.wantCalls) {
				t.Errorf("got calls %v, want %v", calls, tt.wantCalls)
			}
		})
	}
}

func ok(leader int32) func(*int) askerFunc {
	return func(calls *int) askerFunc { return quorumAnswer(calls, 0, leader) }
}

func notLeaderAnswer(code int16) func(*int) askerFunc {
	return func(calls *int) askerFunc { return quorumAnswer(calls, code, -1) }
}

func fails(err error) func(*int) askerFunc {
	return func(calls *int) askerFunc {
		return func(context.Context, kmsg.Request) (kmsg.Response, error) {
			*calls++
			return nil, err
		}
	}
}

// logDirsAnswer answers DescribeLogDirs with one directory holding sizes,
// and records the request.
func logDirsAnswer(got **kmsg.DescribeLogDirsRequest, code int16, sizes map[planKey]int64) askerFunc {
	return func(_ context.Context, req kmsg.Request) (kmsg.Response, error) {
		*got = req.(*kmsg.DescribeLogDirsRequest)
		resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
		resp.ErrorCode = code
		d := kmsg.NewDescribeLogDirsResponseDir()
		for k, n := range sizes {
			rt := kmsg.NewDescribeLogDirsResponseDirTopic()
			rt.Topic = k.topic
			rp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			rp.Partition, rp.Size = k.partition, n
			rt.Partitions = append(rt.Partitions, rp)
			d.Topics = append(d.Topics, rt)
		}
		resp.Dirs = append(resp.Dirs, d)
		return resp, nil
	}
}

// TestDescribeLogSizes asks four brokers, one listed twice, for the sizes
// of three partitions: a broker that fails or answers with an error is
// unknown (-1), one without a replica holds 0.
func TestDescribeLogSizes(t *testing.T) {
	a0, a1, b0 := planKey{"a", 0}, planKey{"a", 1}, planKey{"b", 0}
	reqs := make([]*kmsg.DescribeLogDirsRequest, 5)
	calls := make([]int, 5)
	askers := map[int32]askerFunc{
		1: logDirsAnswer(&reqs[1], 0, map[planKey]int64{a0: 100, b0: 7}),
		2: func(context.Context, kmsg.Request) (kmsg.Response, error) { return nil, errTooOld },
		3: logDirsAnswer(&reqs[3], 0, nil),
		4: logDirsAnswer(&reqs[4], kerr.ClusterAuthorizationFailed.Code, map[planKey]int64{a0: 100}),
	}
	at := func(id int32) kmsg.Requestor {
		return askerFunc(func(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
			calls[id]++ // each broker is asked from one goroutine
			return askers[id](ctx, req)
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := describeLogSizes(ctx, at, []int32{3, 1, 2, 4, 1}, []planKey{a0, b0, a1})
	if want := []int{0, 1, 1, 1, 1}; !reflect.DeepEqual(calls, want) {
		t.Errorf("got calls %v, want %v", calls, want)
	}
	for _, tt := range []struct {
		k      planKey
		broker int32
		want   int64
	}{{a0, 1, 100}, {b0, 1, 7}, {a1, 1, 0}, {a0, 2, -1}, {a0, 3, 0}, {a0, 4, -1}, {a0, 5, -1}} {
		if got := s.of(tt.k, tt.broker); got != tt.want {
			t.Errorf("%v on broker %d: got %d, want %d", tt.k, tt.broker, got, tt.want)
		}
	}
	var asked []string
	for _, rt := range reqs[1].Topics {
		asked = append(asked, fmt.Sprint(rt.Topic, rt.Partitions))
	}
	if want := []string{"a[0 1]", "b[0]"}; !reflect.DeepEqual(asked, want) {
		t.Errorf("asked for %v, want %v", asked, want)
	}
	// No partitions: nobody is asked (an empty request means all of them).
	calls = make([]int, 5)
	describeLogSizes(ctx, at, []int32{1}, nil)
	if calls[1] != 0 {
		t.Errorf("asked broker 1 about no partitions")
	}
}

package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// groupSettings make group tests quick: no initial rebalance delay, short
// minimum session timeout.
var groupSettings = map[string]string{
	"group.initial.rebalance.delay.ms": "0",
	"group.min.session.timeout.ms":     "500",
	"offsets.topic.num.partitions":     "5",
}

// produceN writes n records with values "0".."n-1" spread over the topic's
// partitions.
func produceN(t *testing.T, addr, topic string, from, n int) {
	t.Helper()
	cl := franzClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := from; i < from+n; i++ {
		cl.Produce(ctx, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))}, nil)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// seenSet counts how often each record value was consumed, across members.
type seenSet struct {
	mu    sync.Mutex
	count map[string]int
	total int
}

func newSeenSet() *seenSet { return &seenSet{count: map[string]int{}} }

func (s *seenSet) add(v string) {
	s.mu.Lock()
	s.count[v]++
	s.total++
	s.mu.Unlock()
}

func (s *seenSet) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.count)
}

// check fails the test unless values 0..n-1 were each consumed exactly once.
func (s *seenSet) check(t *testing.T, n int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	dups, missing := 0, 0
	for i := range n {
		switch c := s.count[fmt.Sprint(i)]; {
		case c == 0:
			missing++
		case c > 1:
			dups++
		}
	}
	if dups > 0 || missing > 0 || len(s.count) != n {
		t.Fatalf("consumed %d records (%d distinct) of %d: %d duplicated, %d missing", s.total, len(s.count), n, dups, missing)
	}
}

// groupMember is a franz-go group consumer that processes a poll, marks it,
// and commits marked offsets before its partitions are revoked, so that
// nothing is consumed twice across a rebalance.
type groupMember struct {
	cl   *kgo.Client
	done chan struct{}
}

func startMember(t *testing.T, addr, group, topic string, seen *seenSet, opts ...kgo.Opt) *groupMember {
	t.Helper()
	m := &groupMember{done: make(chan struct{})}
	base := []kgo.Opt{
		kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.BlockRebalanceOnPoll(), kgo.AutoCommitMarks(),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				t.Errorf("commit on revoke: %v", err)
			}
		}),
	}
	cl, err := kgo.NewClient(append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(context.Background())
			if fs.IsClientClosed() {
				return
			}
			fs.EachRecord(func(r *kgo.Record) {
				seen.add(string(r.Value))
				cl.MarkCommitRecords(r)
			})
			cl.AllowRebalance()
		}
	}()
	return m
}

// stop leaves the group cleanly (committing through OnPartitionsRevoked).
func (m *groupMember) stop() {
	m.cl.Close()
	<-m.done
}

// TestGroupMembersComeAndGo runs a group over a 12-partition topic while
// members join and leave mid-stream; every record is consumed exactly once
// overall. Eager (range) and cooperative-sticky assignors.
func TestGroupMembersComeAndGo(t *testing.T) {
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"eager-range", kgo.RangeBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "", groupSettings)
			topic := topicName(t)
			createTopic(t, n.addr, topic, 12, nil)
			const total = 30_000
			produceN(t, n.addr, topic, 0, total/3)
			seen := newSeenSet()
			group := "g-" + tc.name
			a := startMember(t, n.addr, group, topic, seen, kgo.Balancers(tc.balancer))
			eventually(t, 30*time.Second, "first member consuming", func() bool { return seen.distinct() > 0 })
			b := startMember(t, n.addr, group, topic, seen, kgo.Balancers(tc.balancer))
			produceN(t, n.addr, topic, total/3, total/3)
			c := startMember(t, n.addr, group, topic, seen, kgo.Balancers(tc.balancer))
			eventually(t, 30*time.Second, "two thirds consumed", func() bool { return seen.distinct() >= 2*total/3 })
			adm := kadm.NewClient(franzClient(t, n.addr))
			stable := func(members int) func() bool {
				return func() bool {
					d, err := adm.DescribeGroups(context.Background(), group)
					return err == nil && d[group].State == "Stable" && len(d[group].Members) == members
				}
			}
			eventually(t, 30*time.Second, "a stable group of three", stable(3))
			left := time.Now()
			a.stop() // leaves mid-stream
			eventually(t, 30*time.Second, "a stable group of the two left", stable(2))
			t.Logf("rebalance after a member left: %v", time.Since(left).Round(time.Millisecond))
			produceN(t, n.addr, topic, 2*total/3, total-2*total/3)
			eventually(t, 60*time.Second, "all records consumed", func() bool { return seen.distinct() == total })
			b.stop()
			c.stop()
			seen.check(t, total)
		})
	}
}

// TestGroupMemberDies checks that a member that stops heartbeating without
// leaving loses its partitions to the others after the session timeout, and
// measures how long that takes.
func TestGroupMemberDies(t *testing.T) {
	n := startNode(t, "", groupSettings)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 6, nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx := context.Background()
	seen := newSeenSet()
	a := startMember(t, n.addr, "g", topic, seen)
	// The dying member: its connections are cut and it cannot dial again,
	// so it stops heartbeating without a LeaveGroup.
	var cut cutter
	dying := startMember(t, n.addr, "g", topic, newSeenSet(), kgo.SessionTimeout(time.Second), kgo.Dialer(cut.dial))
	t.Cleanup(dying.stop)
	members := func() int {
		d, err := adm.DescribeGroups(ctx, "g")
		if err != nil {
			return -1
		}
		return len(d["g"].Members)
	}
	eventually(t, 30*time.Second, "two members", func() bool { return members() == 2 })
	killed := time.Now()
	cut.cut()
	eventually(t, 30*time.Second, "the dead member removed", func() bool { return members() == 1 })
	t.Logf("rebalance after a member died: %v (session timeout 1s)", time.Since(killed).Round(time.Millisecond))
	produceN(t, n.addr, topic, 0, 600)
	eventually(t, 30*time.Second, "survivor consumes every partition", func() bool { return seen.distinct() == 600 })
	a.stop()
	seen.check(t, 600)
}

// cutter dials connections and can cut them all at once and refuse new
// ones: a client process dying, as far as the broker can tell.
type cutter struct {
	mu    sync.Mutex
	conns []net.Conn
	dead  bool
}

func (c *cutter) dial(ctx context.Context, network, host string) (net.Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil, errors.New("connection cut")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, host)
	if err == nil {
		c.conns = append(c.conns, conn)
	}
	return conn, err
}

func (c *cutter) cut() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dead = true
	for _, conn := range c.conns {
		conn.Close()
	}
}

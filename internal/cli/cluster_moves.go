package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxMoveRows bounds the moves `strata cluster status` lists, so that a
// large rebalance or decommission (thousands of moves) keeps the output
// readable and asks the brokers about a few partitions only.
const maxMoveRows = 20

// moveRow is one partition being reassigned, as `strata cluster status`
// shows it.
type moveRow struct {
	topic     string
	partition int32
	leader    int32 // -1: none
	// replicas are the target first, then those being removed (as
	// ListPartitionReassignments gives them).
	replicas, adding, removing []int32
	// leaderSize is the leader's log size and addingSizes that of each
	// replica being added, in bytes; -1 where the broker did not answer.
	leaderSize  int64
	addingSizes []int64
}

// brokerAt returns a function giving, for a node id, a requestor that sends
// to that node alone.
func brokerAt(cl *kgo.Client) func(int32) kmsg.Requestor {
	return func(id int32) kmsg.Requestor { return cl.Broker(int(id)) }
}

// listMoves turns a ListPartitionReassignments answer into rows sorted by
// topic and partition, the first maxMoveRows of them, with their leaders
// from leaders (missing: none).
func listMoves(lr *kmsg.ListPartitionReassignmentsResponse, leaders map[planKey]int32) []moveRow {
	var rows []moveRow
	for _, t := range lr.Topics {
		for _, p := range t.Partitions {
			leader, ok := leaders[planKey{t.Topic, p.Partition}]
			if !ok {
				leader = -1
			}
			rows = append(rows, moveRow{topic: t.Topic, partition: p.Partition, leader: leader,
				replicas: p.Replicas, adding: p.AddingReplicas, removing: p.RemovingReplicas})
		}
	}
	slices.SortFunc(rows, func(a, b moveRow) int {
		return cmp.Or(cmp.Compare(a.topic, b.topic), cmp.Compare(a.partition, b.partition))
	})
	return rows[:min(len(rows), maxMoveRows)]
}

// measureMoves fills in the sizes of rows' leaders and replicas being
// added, asking those brokers through at (nil: sizes unknown).
func measureMoves(ctx context.Context, at func(int32) kmsg.Requestor, rows []moveRow) {
	var keys []planKey
	var brokers []int32
	for _, r := range rows {
		keys = append(keys, planKey{r.topic, r.partition})
		brokers = append(brokers, r.adding...)
		if r.leader >= 0 {
			brokers = append(brokers, r.leader)
		}
	}
	var sizes logSizes
	if at != nil {
		sizes = describeLogSizes(ctx, at, brokers, keys)
	}
	for i := range rows {
		r := &rows[i]
		k := planKey{r.topic, r.partition}
		r.leaderSize = sizes.of(k, r.leader)
		r.addingSizes = make([]int64, len(r.adding))
		for j, b := range r.adding {
			r.addingSizes[j] = sizes.of(k, b)
		}
	}
}

// logSizes are partitions' log sizes on the brokers that answered
// DescribeLogDirs.
type logSizes struct {
	answered map[int32]bool
	size     map[planKey]map[int32]int64
}

// of returns the size of partition k on broker: 0 when the broker answered
// without it (a replica not created yet), -1 when it did not answer.
func (s logSizes) of(k planKey, broker int32) int64 {
	if !s.answered[broker] {
		return -1
	}
	return s.size[k][broker]
}

// describeLogSizes asks each of brokers (duplicates are asked once), all at
// once and each within statusRequestTimeout, for the sizes of parts, as
// Kafka's reassignment tools do: DescribeLogDirs, which a broker answers
// for its own replicas only. A broker that fails to answer is left out, so
// one that is down costs its sizes, not the caller's answer.
func describeLogSizes(ctx context.Context, at func(int32) kmsg.Requestor, brokers []int32, parts []planKey) logSizes {
	s := logSizes{answered: map[int32]bool{}, size: map[planKey]map[int32]int64{}}
	if len(parts) == 0 {
		return s // no topics in the request would ask for every partition
	}
	req := kmsg.NewDescribeLogDirsRequest()
	topic := map[string]int{} // index in req.Topics
	for _, k := range parts {
		i, ok := topic[k.topic]
		if !ok {
			t := kmsg.NewDescribeLogDirsRequestTopic()
			t.Topic = k.topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			topic[k.topic] = i
		}
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, k.partition)
	}
	brokers = slices.Compact(slices.Sorted(slices.Values(brokers)))
	resps := make([]*kmsg.DescribeLogDirsResponse, len(brokers))
	var wg sync.WaitGroup
	for i, b := range brokers {
		wg.Go(func() {
			bctx, cancel := context.WithTimeout(ctx, statusRequestTimeout)
			defer cancel()
			r := req // each its own: the client sets the version it sends
			resp, err := r.RequestWith(bctx, at(b))
			if err == nil && resp.ErrorCode == 0 {
				resps[i] = resp
			}
		})
	}
	wg.Wait()
	for i, resp := range resps {
		if resp == nil {
			continue
		}
		b := brokers[i]
		s.answered[b] = true
		for _, d := range resp.Dirs {
			if d.ErrorCode != 0 {
				// A failed directory's replicas are unreadable.
				s.answered[b] = false
				continue
			}
			for _, t := range d.Topics {
				for _, p := range t.Partitions {
					if p.IsFuture {
						continue // a copy moving between directories, not the replica
					}
					k := planKey{t.Topic, p.Partition}
					if s.size[k] == nil {
						s.size[k] = map[int32]int64{}
					}
					s.size[k][b] += p.Size
				}
			}
		}
	}
	return s
}

// writeMoves lists rows under a blank line, then how many of total moves
// were left out.
func writeMoves(out io.Writer, rows []moveRow, total int) error {
	if len(rows) == 0 {
		return nil
	}
	fmt.Fprintln(out)
	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tREPLICAS\tADDING\tREMOVING\tPROGRESS")
	for _, r := range rows {
		leader := "-"
		if r.leader >= 0 {
			leader = strconv.Itoa(int(r.leader))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", r.topic, r.partition, leader, joinIDs(r.replicas),
			joinIDs(r.adding), joinIDs(r.removing), r.progress())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if more := total - len(rows); more > 0 {
		fmt.Fprintf(out, "... and %d more (strata partitions reassign --list shows them all)\n", more)
	}
	return nil
}

// progress says how much of the leader's log each replica being added
// holds: "3: 1.0 MiB of 4.0 MiB (25%)", "?" for a size not known; "-" when
// the move only removes replicas.
func (r moveRow) progress() string {
	if len(r.adding) == 0 {
		return "-"
	}
	size := func(n int64) string {
		if n < 0 {
			return "?"
		}
		return humanBytes(n)
	}
	parts := make([]string, len(r.adding))
	for i, b := range r.adding {
		n := r.addingSizes[i]
		parts[i] = fmt.Sprintf("%d: %s of %s", b, size(n), size(r.leaderSize))
		if n >= 0 && r.leaderSize >= 0 {
			parts[i] += fmt.Sprintf(" (%d%%)", copiedPercent(n, r.leaderSize))
		}
	}
	return strings.Join(parts, ", ")
}

// copiedPercent is how much of the leader's size bytes are, rounded down
// (so 100% means all of it) and capped at 100: a new replica may hold more
// than the leader until both have applied retention.
func copiedPercent(n, leader int64) int64 {
	if n >= leader {
		return 100
	}
	return n * 100 / leader
}

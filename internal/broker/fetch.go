package broker

// Fetch (key 1), versions 4-17.
//
// Behavior:
//   - Records are served as stored: whole batches from the one holding the
//     fetch offset (the client skips records before its offset), up to the
//     partition's and the response's max bytes, the first batch always whole
//     (KIP-74).
//   - Long polling: with fewer than MinBytes available the request waits up
//     to MaxWaitMillis for appends to any requested partition.
//   - Fetch sessions (KIP-227) from v7: epoch 0 opens a session, later epochs
//     send only changed partitions and answer only partitions with news;
//     epoch -1 is a sessionless full fetch. Unknown sessions are
//     FETCH_SESSION_ID_NOT_FOUND, wrong epochs INVALID_FETCH_SESSION_EPOCH.
//   - Consumers read up to the high watermark: offsets outside [log start,
//     log end] are OFFSET_OUT_OF_RANGE, and one between the high watermark
//     and the log end reads nothing yet. Before v11 they read from the leader
//     only (NOT_LEADER_OR_FOLLOWER elsewhere); from v11 (KIP-392) a follower
//     serves them too, up to the high watermark it learned from its leader
//     (an offset beyond that reads nothing yet). With replica.selector.class
//     set to Kafka's RackAwareReplicaSelector, a leader answers a consumer
//     naming a rack it is not in with no records and PreferredReadReplica
//     set to the first in-sync, unfenced replica in that rack, if there is
//     one; the consumer then reads from it.
//   - A follower's fetch (a replica id >= 0: ReplicaID, or ReplicaState from
//     v15) reads up to the log end, records the follower's position (which
//     advances the high watermark and may grow the ISR), and long-polls for
//     appends. When its LastFetchedEpoch and fetch offset do not fit the
//     leader's epochs, the answer is a DivergingEpoch to truncate to.
//   - CurrentLeaderEpoch is checked (KIP-320): newer than ours is
//     UNKNOWN_LEADER_EPOCH, older is FENCED_LEADER_EPOCH.
//   - Isolation level read_committed (KIP-98) reads up to the last stable
//     offset (the first offset of the earliest transaction not yet ended by
//     a committed marker, or the high watermark) instead of the high
//     watermark, and the answer lists the aborted transactions (producer
//     id, first offset) whose records may be among those returned, from the
//     partition's aborted-transaction index; the consumer drops their
//     records and the control batches. read_uncommitted reads up to the
//     high watermark, markers and aborted records included. Every answer
//     carries the last stable offset (-1 with an error).
//   - v13+ name topics by id (KIP-516); an unknown id is UNKNOWN_TOPIC_ID.
//   - Under an authorizer a consumer needs READ on each topic, a follower
//     CLUSTER_ACTION on the cluster; a partition without is
//     TOPIC_AUTHORIZATION_FAILED, unread.
//
// KIPs: KIP-74 (v3), KIP-98 (v4), KIP-107 (v5), KIP-227 (v7), KIP-320 (v9),
// KIP-392 (v11 rack), KIP-482 (v12), KIP-516 (v13), KIP-405 (v14), KIP-903 (v15).

import (
	"context"
	"errors"
	"reflect"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/metadata"
	"github.com/stratalog/strata/internal/partition"
)

func init() { register(1, 4, 17, (*Broker).handleFetch) }

// fetchWant is one partition a fetch asks for.
type fetchWant struct {
	tp          topicPartition
	topicID     [16]byte
	offset      int64
	maxBytes    int32
	leaderEpoch int32
	lastEpoch   int32             // the epoch of the follower's last batch (LastFetchedEpoch)
	session     *sessionPartition // nil outside a session
	// denied is the authorization error the partition is answered with,
	// unread; it does not end the fetch's wait, as Kafka's does not.
	denied error
}

// fetchGot is what the broker read for one wanted partition.
type fetchGot struct {
	err       error
	records   commitlog.Slice
	hw        int64
	lso       int64
	start     int64
	aborted   []commitlog.AbortedTxn // read_committed
	diverging *kmsg.FetchResponseTopicPartitionDivergingEpoch
	// preferred is the replica the consumer should read from instead
	// (KIP-392), -1 for none.
	preferred int32
}

// FetchResponse is a Fetch response whose record sets are still in the
// log, so that the connection can send them from the files: Records[i][j]
// belongs to Topics[i].Partitions[j], whose RecordBatches is left empty.
// Whoever writes or drops the response calls Release.
type FetchResponse struct {
	*kmsg.FetchResponse
	Records [][]commitlog.Slice
}

// Release lets go of every record set.
func (r *FetchResponse) Release() {
	for _, t := range r.Records {
		for i := range t {
			t[i].Release()
		}
	}
}

func (b *Broker) handleFetch(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.FetchRequest)
	resp := &FetchResponse{FetchResponse: r.ResponseKind().(*kmsg.FetchResponse)}
	img := b.store.Current()
	byID := req.Version >= 13
	name := func(rt *kmsg.FetchRequestTopic) (string, bool) {
		if !byID {
			return rt.Topic, true
		}
		t, ok := img.TopicByID(rt.TopicID)
		if !ok {
			return "", false
		}
		return t.Name, true
	}

	sess, full, serr := b.sessions.acquire(r.SessionID, r.SessionEpoch)
	if serr != nil {
		resp.ErrorCode = serr.Code
		return resp, nil
	}
	defer b.sessions.release(sess)

	var wants []fetchWant
	var unknownIDs []kmsg.FetchRequestTopic
	for i := range r.Topics {
		if _, ok := name(&r.Topics[i]); !ok {
			unknownIDs = append(unknownIDs, r.Topics[i])
		}
	}
	if sess != nil {
		sess.update(r, name)
		resp.SessionID = sess.id
		for _, tp := range sess.order {
			sp := sess.parts[tp]
			wants = append(wants, fetchWant{tp, sp.topicID, sp.fetchOffset, sp.maxBytes, sp.leaderEpoch, -1, sp, nil})
		}
	} else {
		for i := range r.Topics {
			rt := &r.Topics[i]
			n, ok := name(rt)
			if !ok {
				continue
			}
			for _, rp := range rt.Partitions {
				wants = append(wants, fetchWant{topicPartition{Topic: n, Index: rp.Partition}, rt.TopicID, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LastFetchedEpoch, nil, nil})
			}
		}
	}

	maxBytes := r.MaxBytes
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 1<<31 - 1
	}
	replica := r.ReplicaID
	if req.Version >= 15 {
		replica = r.ReplicaState.ID
	}
	quota, limited := b.fetchQuota(req, replica)
	if limited {
		maxBytes = min(maxBytes, quota.maxBytes)
	}
	minBytes := min(r.MinBytes, maxBytes)
	b.authorizeFetch(req, replica, wants)
	got := make([]fetchGot, len(wants))
	deadline := time.Now().Add(time.Duration(r.MaxWaitMillis) * time.Millisecond)
	var size int
	for {
		changed := b.changedChans(wants, replica >= 0)
		var anyErr bool
		size, anyErr = b.readWants(wants, got, maxBytes, replica, consumerRack(req.Version, r), r.IsolationLevel == 1)
		if size >= int(minBytes) || anyErr || r.MaxWaitMillis <= 0 || !time.Now().Before(deadline) {
			break
		}
		waitStart := time.Now()
		more := waitAny(ctx, changed, deadline)
		req.waited += time.Since(waitStart)
		if !more {
			break
		}
	}
	if limited {
		if throttle := quota.take(size); throttle > 0 {
			for i := range got {
				got[i].records.Release()
			}
			return b.throttledFetch(resp, sess, full, throttle), nil
		}
	}

	topics := map[string]int{}
	hints := leaderHints{store: b.store, listener: b.listenerOf(req), last: &b.lastHint}
	for i, w := range wants {
		g := got[i]
		code := b.errorCode(g.err)
		if !full && w.session != nil && w.session.everSentAnswer && g.records.Len() == 0 && code == 0 &&
			g.hw == w.session.sentHW && g.start == w.session.sentLogStart {
			continue // incremental: nothing new for this partition
		}
		if w.session != nil {
			w.session.sentHW, w.session.sentLogStart, w.session.sentErrorCode = g.hw, g.start, code
			w.session.everSentAnswer = true
		}
		ti, ok := topics[w.tp.Topic]
		if !ok {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic, rt.TopicID = w.tp.Topic, w.topicID
			resp.Topics = append(resp.Topics, rt)
			resp.Records = append(resp.Records, nil)
			ti = len(resp.Topics) - 1
			topics[w.tp.Topic] = ti
		}
		rp := kmsg.NewFetchResponseTopicPartition()
		rp.Partition, rp.ErrorCode = w.tp.Index, code
		rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = g.hw, g.lso, g.start
		rp.PreferredReadReplica = g.preferred
		if (code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code) && req.Version >= 16 {
			rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = hints.leader(w.tp.Topic, w.tp.Index)
		}
		if g.diverging != nil {
			rp.DivergingEpoch = *g.diverging
		}
		if r.IsolationLevel == 1 {
			rp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, len(g.aborted))
			for j, a := range g.aborted {
				rp.AbortedTransactions[j] = kmsg.FetchResponseTopicPartitionAbortedTransaction{ProducerID: a.ProducerID, FirstOffset: a.FirstOffset}
			}
		}
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, rp)
		resp.Records[ti] = append(resp.Records[ti], g.records)
		b.metrics.fetchedBytes.Add(float64(g.records.Len()))
	}
	hints.endpoints(func(id int32, host string, port int32, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.FetchResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
	})
	for _, rt := range unknownIDs {
		t := kmsg.NewFetchResponseTopic()
		t.TopicID = rt.TopicID
		for _, p := range rt.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicID.Code
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			t.Partitions = append(t.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, t)
		resp.Records = append(resp.Records, make([]commitlog.Slice, len(t.Partitions)))
	}
	return resp, nil
}

// throttledFetch is the answer to a consumer's fetch over its
// consumer_byte_rate, as Kafka gives it: no partitions and the throttle
// time. A new session is not kept (session id 0, as Kafka opens one only
// with a real answer); an incremental one keeps what it last told the
// client, so the next answer brings whatever changed.
func (b *Broker) throttledFetch(resp *FetchResponse, sess *fetchSession, full bool, throttle time.Duration) *FetchResponse {
	if sess != nil && full {
		b.sessions.drop(sess)
		resp.SessionID = 0
	}
	resp.ThrottleMillis = int32(min(throttle.Milliseconds(), 1<<31-1))
	return resp
}

// authorizeFetch marks the wants req's sender may not read, as Kafka
// checks them: a follower's fetch needs CLUSTER_ACTION on the cluster, a
// consumer's READ on each topic; either is TOPIC_AUTHORIZATION_FAILED.
func (b *Broker) authorizeFetch(req *Request, replica int32, wants []fetchWant) {
	if !b.authorizationOn() {
		return
	}
	var readable func(string) bool
	if replica >= 0 {
		ok := b.allowedCluster(req, auth.OpClusterAction)
		readable = func(string) bool { return ok }
	} else {
		readable = b.topicsAllowed(req, auth.OpRead)
	}
	for i := range wants {
		if !readable(wants[i].tp.Topic) {
			wants[i].denied = kerr.TopicAuthorizationFailed
		}
	}
}

// consumerRack returns, for a consumer fetch that may read from followers
// (v11+, KIP-392), the rack the consumer names (possibly ""); nil for a
// fetch that reads from leaders only.
func consumerRack(version int16, r *kmsg.FetchRequest) *string {
	if version < 11 || r.ReplicaID >= 0 || version >= 15 && r.ReplicaState.ID >= 0 {
		return nil
	}
	return &r.Rack
}

// readWants reads every wanted partition into got, in order, within the
// response's byte budget, releasing what got held before; for the follower
// replica (>= 0) it serves a replica fetch. A consumer that may read from
// followers (rack not nil) reads from this node's replica whether it leads
// or follows, and a leader may send it to an in-sync replica in its rack
// instead. A consumer with committed (read_committed) reads up to the last
// stable offset. It returns the bytes read and whether any partition has an
// error or a divergence (which answers the fetch at once).
func (b *Broker) readWants(wants []fetchWant, got []fetchGot, maxBytes int32, replica int32, rack *string, committed bool) (int, bool) {
	size, anyErr := 0, false
	now := time.Now()
	var img *metadata.Image
	for i, w := range wants {
		got[i].records.Release()
		got[i] = fetchGot{hw: -1, lso: -1, start: -1, preferred: -1}
		if w.denied != nil {
			got[i].err = w.denied
			continue
		}
		p, err := b.fetchReplica(w.tp)
		if err == nil && replica < 0 {
			err = partition.CheckLeaderEpoch(w.leaderEpoch, p.LeaderEpoch())
		}
		if err != nil {
			got[i].err, anyErr = err, true
			continue
		}
		if rack != nil && *rack != "" && p.IsLeader() && b.rackAwareReads.Load() {
			if img == nil {
				img = b.store.Current()
			}
			if id := preferredReadReplica(img, w.tp, *rack, b.cfg.NodeID); id >= 0 {
				got[i].preferred, got[i].hw, got[i].lso, got[i].start = id, p.HighWatermark(), p.LastStableOffset(), p.LogStartOffset()
				continue
			}
		}
		budget := min(w.maxBytes, maxBytes-int32(min(size, int(maxBytes))))
		if size > 0 && budget <= 0 {
			got[i].hw, got[i].lso, got[i].start = p.HighWatermark(), p.LastStableOffset(), p.LogStartOffset()
			continue
		}
		var res partition.ReadResult
		if replica >= 0 {
			var rr partition.ReplicaRead
			rr, err = p.ReadReplica(replica, w.offset, w.lastEpoch, w.leaderEpoch, max(budget, 1), b.parts.LeaderQuota(), now)
			res = rr.ReadResult
			res.LastStableOffset = p.LastStableOffset()
			if rr.Diverging {
				got[i].diverging = &kmsg.FetchResponseTopicPartitionDivergingEpoch{Epoch: rr.DivergingEpoch, EndOffset: rr.DivergingEndOffset}
				anyErr = true
			}
		} else if rack != nil {
			res, err = p.ReadAsFollower(w.offset, max(budget, 1), committed)
		} else {
			res, err = p.Read(w.offset, max(budget, 1), committed)
		}
		got[i].hw, got[i].lso, got[i].start, got[i].aborted = res.HighWatermark, res.LastStableOffset, res.LogStartOffset, res.Aborted
		if err != nil {
			got[i].err, anyErr = err, true
			continue
		}
		got[i].records = res.Records
		size += int(res.Records.Len())
	}
	return size, anyErr
}

// preferredReadReplica returns the replica a consumer in rack should read
// tp from, as Kafka's RackAwareReplicaSelector picks it: -1 (the leader,
// self) when the leader is in that rack or no in-sync replica is, else the
// first in-sync, unfenced replica in it.
func preferredReadReplica(img *metadata.Image, tp topicPartition, rack string, self int32) int32 {
	if b, ok := img.Broker(self); ok && b.Rack == rack {
		return -1
	}
	t, ok := img.Topic(tp.Topic)
	if !ok || int(tp.Index) >= len(t.Partitions) {
		return -1
	}
	p := t.Partitions[tp.Index]
	for _, r := range p.Replicas {
		if b, ok := img.Broker(r); ok && r != self && b.Rack == rack && !b.Fenced && p.InISR(r) {
			return r
		}
	}
	return -1
}

// fetchReplica returns this node's replica of tp for a fetch: a partition
// of a known topic this node holds no replica of is NOT_LEADER_OR_FOLLOWER.
func (b *Broker) fetchReplica(tp topicPartition) (*partition.Partition, error) {
	p, err := b.parts.Get(tp.Topic, tp.Index)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		if t, ok := b.store.Current().Topic(tp.Topic); ok && tp.Index >= 0 && int(tp.Index) < len(t.Partitions) {
			return nil, kerr.NotLeaderForPartition
		}
	}
	return p, err
}

// changedChans returns the channels that signal news for wants: a new high
// watermark for consumers, new records for followers.
func (b *Broker) changedChans(wants []fetchWant, replica bool) []<-chan struct{} {
	chans := make([]<-chan struct{}, 0, len(wants))
	for _, w := range wants {
		if p, err := b.parts.Get(w.tp.Topic, w.tp.Index); err == nil {
			if replica {
				chans = append(chans, p.Appended())
			} else {
				chans = append(chans, p.Changed())
			}
		}
	}
	return chans
}

// waitAny waits until one of chans is closed (true), or the deadline or ctx
// passes (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-timer.C:
		case <-ctx.Done():
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timer.C)},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())})
	for _, c := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(c)})
	}
	chosen, _, _ := reflect.Select(cases)
	return chosen >= 2
}

package broker

import (
	"slices"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/metadata"
)

// leaderHints names, in a NOT_LEADER_OR_FOLLOWER answer, the partition's
// current leader and that broker's address (KIP-951: Produce v10+, Fetch
// v16+), so a client moves to the new leader at once instead of waiting
// for its next metadata refresh, which clients space out (franz-go by 5 s).
// This is what keeps a leader move, as a controlled shutdown makes them,
// from pausing producers and consumers.
type leaderHints struct {
	store    *metadata.Store
	listener string          // the listener the request came in on
	last     *atomic.Int64   // set to now when a hint is given
	img      *metadata.Image // read at the first hint
	leaders  []int32         // the brokers named, once each
}

// leader returns the current leader and leader epoch of topic's partition,
// or -1, -1 when it has none or the image does not know it.
func (h *leaderHints) leader(topic string, partition int32) (int32, int32) {
	if h.img == nil {
		h.img = h.store.Current()
	}
	t, ok := h.img.Topic(topic)
	if !ok || partition < 0 || int(partition) >= len(t.Partitions) {
		return -1, -1
	}
	p := t.Partitions[partition]
	if p.Leader < 0 || !h.img.Unfenced(p.Leader) {
		return -1, -1
	}
	if !slices.Contains(h.leaders, p.Leader) {
		h.leaders = append(h.leaders, p.Leader)
	}
	return p.Leader, p.LeaderEpoch
}

// endpoints calls add with each broker named, as the responses' node
// endpoints list them.
func (h *leaderHints) endpoints(add func(id int32, host string, port int32, rack *string)) {
	if len(h.leaders) == 0 {
		return
	}
	h.last.Store(time.Now().UnixNano())
	slices.Sort(h.leaders)
	for _, id := range h.leaders {
		br, _ := h.img.Broker(id)
		var rack *string
		if br.Rack != "" {
			rack = &br.Rack
		}
		if host, port, ok := endpoint(br, h.listener); ok {
			add(id, host, port, rack)
		}
	}
}

// addProduceLeaderHints fills in the current leader of every partition of
// resp that failed with NOT_LEADER_OR_FOLLOWER, and the leaders' endpoints.
func (b *Broker) addProduceLeaderHints(resp *kmsg.ProduceResponse, listener string) {
	if resp.Version < 10 {
		return
	}
	h := leaderHints{store: b.store, listener: listener, last: &b.lastHint}
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			if rp := &rt.Partitions[j]; rp.ErrorCode == kerr.NotLeaderForPartition.Code {
				rp.CurrentLeader.LeaderID, rp.CurrentLeader.LeaderEpoch = h.leader(rt.Topic, rp.Partition)
			}
		}
	}
	h.endpoints(func(id int32, host string, port int32, rack *string) {
		resp.Brokers = append(resp.Brokers, kmsg.ProduceResponseBroker{NodeID: id, Host: host, Port: port, Rack: rack})
	})
}

package broker

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stratalog/strata/internal/metadata"
)

// clusterCollector reports the node's view of the cluster at each scrape:
// replication of its replicas, the metadata image, the controller's
// elections and the metadata quorum. Gauges are computed when scraped, so
// nothing on the produce or fetch path counts them.
type clusterCollector struct {
	b *Broker

	underReplicated, offline, imbalance, reassigning, reassignBytes, leaders, replicas, followerLag,
	brokers, fenced, raftTerm, raftCommit, raftApplied, raftLeader *prometheus.Desc
	isrShrinks, isrExpands, elections, unclean *prometheus.Desc
}

func newClusterCollector(b *Broker) *clusterCollector {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return &clusterCollector{
		b:               b,
		underReplicated: d("strata_under_replicated_partitions", "Partitions this node leads whose ISR is smaller than their replicas."),
		offline:         d("strata_offline_partitions", "Partitions of the cluster without a leader, in this node's metadata."),
		reassigning:     d("strata_reassigning_partitions", "Partitions of the cluster under reassignment, in this node's metadata."),
		reassignBytes:   d("strata_reassignment_remaining_bytes", "Bytes the replicas being added to partitions this node leads still lack, from each one's last fetch to the log end."),
		imbalance:       d("strata_preferred_replica_imbalance", "Partitions of the cluster not led by their preferred replica (the first), in this node's metadata."),
		leaders:         d("strata_partition_leaders", "Partitions this node leads."),
		replicas:        d("strata_partition_replicas", "Partition replicas on this node."),
		followerLag:     d("strata_follower_max_lag_records", "The largest lag, in records behind its leader's high watermark, of a replica this node follows with."),
		brokers:         d("strata_brokers", "Brokers registered in the cluster."),
		fenced:          d("strata_fenced_brokers", "Registered brokers that are fenced."),
		raftTerm:        d("strata_raft_term", "The metadata quorum's Raft term as this node knows it."),
		raftCommit:      d("strata_raft_commit_index", "The metadata log's commit index as this node knows it."),
		raftApplied:     d("strata_raft_applied_index", "The metadata log index this node has applied."),
		raftLeader:      d("strata_raft_leader", "The node id of the metadata quorum's leader (0: none known)."),
		isrShrinks:      d("strata_isr_shrinks_total", "ISR changes this node's leaders made that removed a replica."),
		isrExpands:      d("strata_isr_expands_total", "ISR changes this node's leaders made that added a replica."),
		elections:       d("strata_leader_elections_total", "Partition leader changes this node decided as controller."),
		unclean:         d("strata_unclean_leader_elections_total", "Leaders this node elected from outside the ISR (unclean.leader.election.enable)."),
	}
}

func (c *clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.underReplicated, c.offline, c.imbalance, c.reassigning, c.reassignBytes, c.leaders, c.replicas, c.followerLag, c.brokers, c.fenced,
		c.raftTerm, c.raftCommit, c.raftApplied, c.raftLeader, c.isrShrinks, c.isrExpands, c.elections, c.unclean} {
		ch <- d
	}
}

func (c *clusterCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	st := c.b.parts.Stats()
	gauge(c.underReplicated, float64(st.UnderReplicated))
	gauge(c.leaders, float64(st.Leaders))
	gauge(c.replicas, float64(st.Replicas))
	gauge(c.followerLag, float64(st.MaxFollowerLag))
	counter(c.isrShrinks, float64(st.ISRShrinks))
	counter(c.isrExpands, float64(st.ISRExpands))
	img := c.b.store.Current()
	offline, imbalance, reassigning := 0, 0, 0
	var reassignBytes int64
	for _, t := range img.Topics() {
		for _, p := range t.Partitions {
			if p.Leader == -1 {
				offline++
			}
			if p.Leader != p.Replicas[0] {
				imbalance++
			}
			if p.Reassigning() {
				reassigning++
				if p.Leader == c.b.cfg.NodeID {
					reassignBytes += c.bytesToCopy(t.Name, p)
				}
			}
		}
	}
	gauge(c.offline, float64(offline))
	gauge(c.imbalance, float64(imbalance))
	gauge(c.reassigning, float64(reassigning))
	gauge(c.reassignBytes, float64(reassignBytes))
	fenced := 0
	bs := img.Brokers()
	for _, br := range bs {
		if br.Fenced {
			fenced++
		}
	}
	gauge(c.brokers, float64(len(bs)))
	gauge(c.fenced, float64(fenced))
	rs := c.b.node.Status()
	gauge(c.raftTerm, float64(rs.Term))
	gauge(c.raftCommit, float64(rs.Commit))
	gauge(c.raftApplied, float64(rs.Applied))
	gauge(c.raftLeader, float64(rs.Leader))
	all, unclean := c.b.ctrl.Elections()
	counter(c.elections, float64(all))
	counter(c.unclean, float64(unclean))
}

// bytesToCopy sums what the replicas being added to p, which this node
// leads, still lack of its log. Only the leader knows where each follower
// is; summed over the nodes, it is what every move still has to copy.
func (c *clusterCollector) bytesToCopy(topic string, p metadata.Partition) int64 {
	part, err := c.b.parts.Get(topic, p.Index)
	if err != nil {
		return 0
	}
	var n int64
	for _, id := range p.Adding {
		if b, ok := part.BytesBehind(id); ok {
			n += b
		}
	}
	return n
}

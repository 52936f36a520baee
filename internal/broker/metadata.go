package broker

// Metadata (key 3), versions 0-12.
//
// Behavior:
//   - A null topic list (v1+) or an empty one (v0) asks for every topic.
//   - Topics may be named or, from v10, given by id; an unknown id is
//     UNKNOWN_TOPIC_ID.
//   - A missing topic is created when the request allows it (always before
//     v4; AllowAutoTopicCreation from v4) and auto.create.topics.enable is on,
//     with num.partitions and default.replication.factor. Creation completes
//     before the answer, so the client sees the new topic's partitions at once.
//   - Internal topics (__consumer_offsets, __transaction_state) are flagged.
//   - A partition without a leader is LEADER_NOT_AVAILABLE, leader -1. One
//     whose replica on this node failed to open (a damaged log) and that
//     this node leads is answered so too, with this node among the offline
//     replicas and out of the ISR.
//   - Brokers lists the unfenced brokers; the controller is the node that
//     leads the metadata quorum (any node takes admin requests).
//
// KIPs: KIP-204 (v4 AllowAutoTopicCreation), KIP-320 (v7 leader epoch),
// KIP-430 (v8 authorized operations), KIP-516 (v10 topic ids), KIP-700 (v11
// drops cluster authorized operations).

import (
	"context"
	"errors"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/controller"
	"github.com/stratalog/strata/internal/metadata"
)

func init() { register(3, 0, 12, (*Broker).handleMetadata) }

// unauthorizedOps is Kafka's "not requested" value for authorized operations.
const unauthorizedOps = -2147483648

func (b *Broker) handleMetadata(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.MetadataRequest)
	resp := r.ResponseKind().(*kmsg.MetadataResponse)
	img := b.store.Current()

	all := r.Topics == nil || (req.Version == 0 && len(r.Topics) == 0)
	if !all {
		autoCreate := (req.Version < 4 || r.AllowAutoTopicCreation) && b.cfg.Settings.AutoCreateTopics()
		var missing []string
		for _, t := range r.Topics {
			if t.Topic != nil {
				if _, ok := img.Topic(*t.Topic); !ok && autoCreate {
					missing = append(missing, *t.Topic)
				}
			}
		}
		created := map[string]error{}
		if len(missing) > 0 {
			created = b.autoCreate(ctx, missing)
			img = b.store.Current()
		}
		for _, rt := range r.Topics {
			var t *metadata.Topic
			var ok bool
			if rt.Topic != nil {
				t, ok = img.Topic(*rt.Topic)
			} else if rt.TopicID != [16]byte{} {
				t, ok = img.TopicByID(rt.TopicID)
			}
			if ok {
				resp.Topics = append(resp.Topics, b.topicMetadata(t))
				continue
			}
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.AuthorizedOperations = unauthorizedOps
			switch err := created[ptrString(rt.Topic)]; {
			case rt.Topic == nil:
				mt.ErrorCode = kerr.UnknownTopicID.Code
			case err != nil:
				mt.ErrorCode = b.errorCode(err)
			default:
				mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			}
			resp.Topics = append(resp.Topics, mt)
		}
	} else {
		for _, t := range img.Topics() {
			resp.Topics = append(resp.Topics, b.topicMetadata(t))
		}
	}

	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		host, port, ok := endpoint(br, b.listenerOf(req))
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, host, port
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := img.ClusterID
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID()
	resp.AuthorizedOperations = unauthorizedOps
	return resp, nil
}

// controllerID is the id clients are given as the controller: the node
// that leads the metadata quorum when it is a live broker, else this node.
func (b *Broker) controllerID() int32 {
	if lead, _ := b.node.Leader(); lead != 0 && b.store.Current().Unfenced(int32(lead)) {
		return int32(lead)
	}
	return b.cfg.NodeID
}

// autoCreate creates missing topics with the broker defaults and returns the
// error per topic name (nil for created, or created meanwhile by another).
func (b *Broker) autoCreate(ctx context.Context, names []string) map[string]error {
	specs := make([]controller.TopicSpec, len(names))
	for i, n := range names {
		specs[i] = controller.TopicSpec{Name: n, NumPartitions: -1, ReplicationFactor: -1}
	}
	out := make(map[string]error, len(names))
	defer b.waitLocal(ctx)
	for _, res := range b.ctrl.CreateTopics(ctx, specs, false, b.topicDefaults()) {
		if res.Err != nil && !errors.Is(res.Err, kerr.TopicAlreadyExists) {
			b.logger.Info("auto-create topic failed", "topic", res.Name, "err", res.Err)
			out[res.Name] = res.Err
			continue
		}
		if res.Err == nil {
			b.logger.Info("auto-created topic", "topic", res.Name, "partitions", res.NumPartitions)
		}
	}
	return out
}

func (b *Broker) topicMetadata(t *metadata.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic, mt.TopicID = &name, t.ID
	mt.IsInternal = isInternalTopic(t.Name)
	mt.AuthorizedOperations = unauthorizedOps
	for _, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition, mp.Leader, mp.LeaderEpoch = p.Index, p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		mp.OfflineReplicas = []int32{}
		if p.Leader == -1 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		if p.Leader == b.cfg.NodeID && b.parts.Offline(t.Name, p.Index) {
			// Its replica here did not open: no leader, as Kafka answers
			// once a failed log directory takes a partition's only replica.
			mp.ErrorCode, mp.Leader = kerr.LeaderNotAvailable.Code, -1
			mp.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == b.cfg.NodeID })
			mp.OfflineReplicas = []int32{b.cfg.NodeID}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func isInternalTopic(name string) bool {
	return name == "__consumer_offsets" || name == "__transaction_state"
}

func ptrString(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

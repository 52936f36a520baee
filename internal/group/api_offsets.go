package group

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit serves OffsetCommit (key 8). A commit with generation -1 and
// no member id from a group that does not exist creates a group that only
// stores offsets. Each partition is checked on its own: an unknown topic or
// partition is UNKNOWN_TOPIC_OR_PARTITION, metadata over MaxMetadataBytes is
// OFFSET_METADATA_TOO_LARGE. Null metadata is stored as "" (Kafka does the
// same). Offsets take effect once their records are appended; a failed
// append answers COORDINATOR_NOT_AVAILABLE.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	codes := make([][]int16, len(req.Topics))
	for i, t := range req.Topics {
		codes[i] = make([]int16, len(t.Partitions))
	}
	generation := req.Generation
	if req.Version == 0 {
		generation = -1
	}
	// An empty group id is valid here, as in Kafka (old clients use it).
	code := c.withGroup(ctx, req.Group, generation < 0, func(g *Group, now time.Time, s Store) {
		if code := g.ValidateCommit(now, req.MemberID, req.InstanceID, generation); code != 0 {
			setCodes(codes, code)
			return
		}
		c.commit(ctx, g, now, s, req, codes)
	})
	if code == kerr.GroupIDNotFound.Code && req.Version < 9 {
		code = kerr.IllegalGeneration.Code
	}
	if code != 0 {
		setCodes(codes, code)
	}
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i][j]
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// commit checks each partition, appends the valid ones and applies them.
func (c *Coordinator) commit(ctx context.Context, g *Group, now time.Time, s Store, req *kmsg.OffsetCommitRequest, codes [][]int16) {
	offsets := map[TopicPartition]Offset{}
	var recs []Record
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			epoch := int32(-1)
			if req.Version >= 6 {
				epoch = p.LeaderEpoch
			}
			tp := TopicPartition{Topic: t.Topic, Partition: p.Partition}
			o, code := c.checkOffset(tp, p.Offset, epoch, p.Metadata, now)
			if codes[i][j] = code; code == 0 {
				offsets[tp] = o
				recs = append(recs, g.CommitRecord(tp, o))
			}
		}
	}
	if len(recs) == 0 {
		return
	}
	if err := s.Append(context.WithoutCancel(ctx), recs); err != nil {
		c.logger.Error("append offset commit to __consumer_offsets", "group", g.ID, "err", err)
		failCodes(codes, kerr.CoordinatorNotAvailable.Code)
		return
	}
	g.ApplyCommit(offsets)
}

// checkOffset returns the offset to store for one partition of a commit,
// or the partition's error: UNKNOWN_TOPIC_OR_PARTITION, or
// OFFSET_METADATA_TOO_LARGE. Null metadata is stored as "".
func (c *Coordinator) checkOffset(tp TopicPartition, offset int64, leaderEpoch int32, metadata *string, now time.Time) (Offset, int16) {
	switch {
	case c.cfg.TopicPartitionExists != nil && !c.cfg.TopicPartitionExists(tp.Topic, tp.Partition):
		return Offset{}, kerr.UnknownTopicOrPartition.Code
	case metadata != nil && len(*metadata) > c.cfg.MaxMetadataBytes:
		return Offset{}, kerr.OffsetMetadataTooLarge.Code
	}
	o := Offset{Offset: offset, LeaderEpoch: leaderEpoch, CommitTime: now}
	if metadata != nil {
		o.Metadata = *metadata
	}
	return o, 0
}

// setCodes sets every partition's code.
func setCodes(codes [][]int16, code int16) {
	for i := range codes {
		for j := range codes[i] {
			codes[i][j] = code
		}
	}
}

// failCodes sets the code of every partition that had none: the ones whose
// append failed.
func failCodes(codes [][]int16, code int16) {
	for i := range codes {
		for j := range codes[i] {
			if codes[i][j] == 0 {
				codes[i][j] = code
			}
		}
	}
}

// fetchTopic is one topic of an OffsetFetch: Partitions nil in the answer
// to "all topics".
type fetchTopic struct {
	Topic      string
	Partitions []int32
}

type fetchedPartition struct {
	Partition int32
	Offset
	Known bool
	Code  int16 // UNSTABLE_OFFSET_COMMIT or 0
}

// fetchOffsets returns the group's committed offsets of topics, or of every
// committed partition when topics is nil. A partition with no commit, or a
// group that does not exist, gives Known false and no error. With
// requireStable, a partition an open transaction committed an offset for
// gives Known false and UNSTABLE_OFFSET_COMMIT.
func (c *Coordinator) fetchOffsets(ctx context.Context, group string, topics []fetchTopic, requireStable bool) (int16, []fetchTopic, [][]fetchedPartition) {
	var outTopics []fetchTopic
	var out [][]fetchedPartition
	code := c.withGroup(ctx, group, false, func(g *Group, _ time.Time, _ Store) {
		if topics == nil {
			for _, tp := range g.Offsets() {
				if len(outTopics) == 0 || outTopics[len(outTopics)-1].Topic != tp.Topic {
					outTopics = append(outTopics, fetchTopic{Topic: tp.Topic})
				}
				last := &outTopics[len(outTopics)-1]
				last.Partitions = append(last.Partitions, tp.Partition)
			}
		} else {
			outTopics = topics
		}
		for _, t := range outTopics {
			ps := make([]fetchedPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				tp := TopicPartition{Topic: t.Topic, Partition: p}
				if requireStable && g.HasPendingTxnOffset(tp) {
					ps[i] = fetchedPartition{Partition: p, Code: kerr.UnstableOffsetCommit.Code}
					continue
				}
				o, ok := g.Offset(tp)
				ps[i] = fetchedPartition{Partition: p, Offset: o, Known: ok}
			}
			out = append(out, ps)
		}
	})
	if code == kerr.GroupIDNotFound.Code {
		code, outTopics, out = 0, topics, nil
		for _, t := range topics {
			ps := make([]fetchedPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				ps[i] = fetchedPartition{Partition: p}
			}
			out = append(out, ps)
		}
	}
	return code, outTopics, out
}

// OffsetFetch serves OffsetFetch (key 9): one group (v0-7) or a batch of
// groups (v8+). A partition with no committed offset answers offset -1,
// leader epoch -1 and metadata "" with no error, also for a group that does
// not exist. Nil topics (v2+) means every committed partition. Coordinator
// errors (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS) are per group, and
// per partition too before v2. Offsets of open transactions are not shown;
// with RequireStable (v7+) their partitions answer UNSTABLE_OFFSET_COMMIT
// (KIP-447), which tells the client to retry.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{Topic: t.Topic, Partitions: t.Partitions})
				}
			}
			code, ts, ps := c.fetchOffsets(ctx, rg.Group, topics, req.RequireStable)
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = rg.Group, code
			if code == 0 {
				for i, t := range ts {
					rt := kmsg.NewOffsetFetchResponseGroupTopic()
					rt.Topic = t.Topic
					for _, p := range ps[i] {
						rp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
						rp.Partition = p.Partition
						rp.Offset, rp.LeaderEpoch, rp.Metadata = fetched(p)
						rp.ErrorCode = p.Code
						rt.Partitions = append(rt.Partitions, rp)
					}
					g.Topics = append(g.Topics, rt)
				}
			}
			resp.Groups = append(resp.Groups, g)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil || req.Version < 2 {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{Topic: t.Topic, Partitions: t.Partitions})
		}
	}
	code, ts, ps := c.fetchOffsets(ctx, req.Group, topics, req.Version >= 7 && req.RequireStable)
	resp.ErrorCode = code
	if code != 0 {
		if req.Version >= 2 {
			return resp
		}
		ts, ps = topics, nil
		for _, t := range topics {
			fp := make([]fetchedPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				fp[i] = fetchedPartition{Partition: p}
			}
			ps = append(ps, fp)
		}
	}
	for i, t := range ts {
		rt := kmsg.NewOffsetFetchResponseTopic()
		rt.Topic = t.Topic
		for _, p := range ps[i] {
			rp := kmsg.NewOffsetFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Offset, rp.LeaderEpoch, rp.Metadata = fetched(p)
			rp.ErrorCode = max(code, p.Code) // at most one is set
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// fetched is a partition's answer: offset, leader epoch and metadata, -1,
// -1 and "" when nothing is committed.
func fetched(p fetchedPartition) (int64, int32, *string) {
	if !p.Known {
		empty := ""
		return -1, -1, &empty
	}
	md := p.Metadata
	return p.Offset.Offset, p.LeaderEpoch, &md
}

// OffsetDelete serves OffsetDelete (key 47): GROUP_ID_NOT_FOUND for a group
// that does not exist; for a non-empty consumer group, partitions of topics
// its members subscribe to are GROUP_SUBSCRIBED_TO_TOPIC and the rest are
// deleted; a non-empty group of another protocol type is NON_EMPTY_GROUP.
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	var tps []TopicPartition
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			tps = append(tps, TopicPartition{Topic: t.Topic, Partition: p.Partition})
		}
	}
	var codes []int16
	code := c.withGroup(ctx, req.Group, false, func(g *Group, _ time.Time, _ Store) {
		resp.ErrorCode, codes = g.DeleteOffsets(tps)
	})
	if code != 0 {
		resp.ErrorCode = code
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	i := 0
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, codes[i]
			i++
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

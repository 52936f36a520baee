package broker

// DeleteTopics (key 20), versions 0-6.
//
// Behavior:
//   - Topics are named (all versions) or, from v6, given by topic id. Every
//     distinct topic in the request gets one result, in request order, with
//     both its name and its id when it is known.
//   - With delete.topic.enable=false every topic is TOPIC_DELETION_DISABLED
//     (INVALID_REQUEST before v3, which has no such code).
//   - A name or id given twice is INVALID_REQUEST ("Duplicate topic name." /
//     "Duplicate topic id."), as is an entry with both or neither, and a
//     name whose id is also in the request.
//   - An unknown name is UNKNOWN_TOPIC_OR_PARTITION, an unknown id
//     UNKNOWN_TOPIC_ID.
//   - Internal topics (__consumer_offsets, __transaction_state) can be
//     deleted like any other: Kafka refuses that only in its command-line
//     tool, not in the protocol.
//   - TimeoutMillis > 0 bounds the wait for the metadata log
//     (REQUEST_TIMED_OUT past it).
//   - The partitions deleted count against controller_mutation_rate
//     (mutation_quota.go), strictly from v5: past the quota a topic is
//     THROTTLING_QUOTA_EXCEEDED.
//
// KIPs: KIP-4 (v0), KIP-322 (v3 TOPIC_DELETION_DISABLED), KIP-482 (v4
// flexible), KIP-599 (v5 THROTTLING_QUOTA_EXCEEDED), KIP-516 (v6 topic ids).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() { register(20, 0, 6, (*Broker).handleDeleteTopics) }

// deleteTarget is one distinct topic of a DeleteTopics request and what
// became of it.
type deleteTarget struct {
	name *string
	id   [16]byte
	err  error
}

func (b *Broker) handleDeleteTopics(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteTopicsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteTopicsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()

	entries := r.Topics
	if req.Version < 6 {
		entries = make([]kmsg.DeleteTopicsRequestTopic, len(r.TopicNames))
		for i := range r.TopicNames {
			entries[i].Topic = &r.TopicNames[i]
		}
	}
	targets := resolveDeletes(b.store.Current(), entries)
	for i, t := range targets {
		if t.err == nil && t.name != nil && !b.allowed(req, auth.OpDelete, auth.ResourceTopic, *t.name) {
			targets[i].err = kerr.TopicAuthorizationFailed
		}
	}
	quota := b.mutationQuota(req, 5)
	if !b.cfg.Settings.DeleteTopicEnable() {
		err := error(kerr.TopicDeletionDisabled)
		if req.Version < 3 {
			err = apiErrorf(kerr.InvalidRequest, "Topic deletion is disabled.")
		}
		for i := range targets {
			targets[i].err = err
		}
	} else {
		img := b.store.Current()
		var ids [][16]byte
		for i, t := range targets {
			if t.err != nil {
				continue
			}
			if topic, ok := img.TopicByID(t.id); ok {
				if targets[i].err = quota.record(len(topic.Partitions)); targets[i].err != nil {
					continue
				}
			}
			ids = append(ids, t.id)
		}
		if len(ids) > 0 {
			errs := b.deleteTopicIDs(ctx, ids)
			for i := range targets {
				if targets[i].err == nil {
					targets[i].err = errs[targets[i].id]
				}
			}
		}
	}
	for _, t := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = t.name, t.id
		if t.err != nil {
			err := adminError(t.err)
			st.ErrorCode, st.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	quota.apply(resp)
	return resp, nil
}

// resolveDeletes turns the request's entries into one target per distinct
// name or id, in request order, resolved against img: a target without
// error has both its name and its id set and may be deleted.
func resolveDeletes(img *metadata.Image, entries []kmsg.DeleteTopicsRequestTopic) []deleteTarget {
	var targets []deleteTarget
	byName := map[string]int{} // index in targets
	byID := map[[16]byte]int{}
	for _, e := range entries {
		switch {
		case e.Topic == nil && e.TopicID == [16]byte{}:
			targets = append(targets, deleteTarget{err: apiErrorf(kerr.InvalidRequest, "Neither topic name nor id were specified.")})
		case e.Topic != nil && e.TopicID != [16]byte{}:
			targets = append(targets, deleteTarget{name: e.Topic, id: e.TopicID,
				err: apiErrorf(kerr.InvalidRequest, "You may not specify both topic name and topic id.")})
		case e.Topic != nil:
			if i, dup := byName[*e.Topic]; dup {
				targets[i] = deleteTarget{name: e.Topic, err: apiErrorf(kerr.InvalidRequest, "Duplicate topic name.")}
				continue
			}
			byName[*e.Topic] = len(targets)
			t := deleteTarget{name: e.Topic, err: kerr.UnknownTopicOrPartition}
			if topic, ok := img.Topic(*e.Topic); ok {
				t.id, t.err = topic.ID, nil
			}
			targets = append(targets, t)
		default:
			if i, dup := byID[e.TopicID]; dup {
				targets[i] = deleteTarget{id: e.TopicID, err: apiErrorf(kerr.InvalidRequest, "Duplicate topic id.")}
				continue
			}
			byID[e.TopicID] = len(targets)
			t := deleteTarget{id: e.TopicID, err: kerr.UnknownTopicID}
			if topic, ok := img.TopicByID(e.TopicID); ok {
				name := topic.Name
				t.name, t.err = &name, nil
			}
			targets = append(targets, t)
		}
	}
	// A name resolving to an id that is also in the request names one topic
	// twice.
	for _, i := range byName {
		if targets[i].err != nil {
			continue
		}
		if j, dup := byID[targets[i].id]; dup && targets[j].err == nil {
			err := apiErrorf(kerr.InvalidRequest, "The provided topic name maps to an ID that was already supplied.")
			targets[i].err, targets[j].err = err, err
		}
	}
	return targets
}

// deleteTopicIDs deletes the topics with the given ids through the
// controller and returns the error of each id that failed.
func (b *Broker) deleteTopicIDs(ctx context.Context, ids [][16]byte) map[[16]byte]error {
	errs := b.ctrl.DeleteTopics(ctx, ids)
	b.waitLocal(ctx)
	return errs
}

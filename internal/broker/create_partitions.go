package broker

// CreatePartitions (key 37), versions 0-3.
//
// Behavior:
//   - Every topic named in the request gets a result, in request order.
//   - A topic named twice is INVALID_REQUEST ("Duplicate topic name.") and
//     is not changed.
//   - Count is the new total; it must exceed the current count
//     (INVALID_PARTITIONS otherwise, with Kafka's messages). Assignment, when
//     given, places exactly the new partitions (INVALID_REPLICA_ASSIGNMENT
//     otherwise). An unknown topic is UNKNOWN_TOPIC_OR_PARTITION. These
//     checks are the controller's.
//   - Under an authorizer, ALTER on the topic (else
//     TOPIC_AUTHORIZATION_FAILED), checked after the duplicate check and
//     before the topic's existence.
//   - ValidateOnly runs every check and changes nothing.
//   - TimeoutMillis > 0 bounds the wait for the metadata log
//     (REQUEST_TIMED_OUT past it).
//   - The partitions added count against controller_mutation_rate
//     (mutation_quota.go), strictly from v3: past the quota a topic is
//     THROTTLING_QUOTA_EXCEEDED.
//
// KIPs: KIP-195 (v0), KIP-482 (v2 flexible), KIP-599 (v3 THROTTLING_QUOTA_EXCEEDED).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/controller"
)

func init() { register(37, 0, 3, (*Broker).handleCreatePartitions) }

func (b *Broker) handleCreatePartitions(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreatePartitionsRequest)
	resp := r.ResponseKind().(*kmsg.CreatePartitionsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(r.Topics))
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	errs := make(map[string]error, len(r.Topics))
	var specs []controller.PartitionSpec
	for _, t := range r.Topics {
		if count[t.Topic] > 1 {
			continue
		}
		if !b.allowed(req, auth.OpAlter, auth.ResourceTopic, t.Topic) {
			errs[t.Topic] = kerr.TopicAuthorizationFailed
			continue
		}
		spec := controller.PartitionSpec{Topic: t.Topic, Count: t.Count}
		if t.Assignment != nil {
			spec.Assignments = make([][]int32, len(t.Assignment))
			for i, a := range t.Assignment {
				spec.Assignments[i] = a.Replicas
			}
		}
		specs = append(specs, spec)
	}
	quota := b.mutationQuota(req, 3)
	if len(specs) > 0 {
		for _, res := range b.createPartitions(ctx, quota, specs, r.ValidateOnly) {
			errs[res.Topic] = res.Err
		}
		b.waitLocal(ctx)
	}
	done := make(map[string]bool, len(r.Topics))
	for _, t := range r.Topics {
		if done[t.Topic] {
			continue
		}
		done[t.Topic] = true
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = t.Topic
		err, ok := errs[t.Topic]
		switch {
		case count[t.Topic] > 1:
			err = apiErrorf(kerr.InvalidRequest, "Duplicate topic name.")
		case !ok:
			err = apiErrorf(kerr.UnknownServerError, "the controller returned no result for this topic")
		}
		if err != nil {
			err = adminError(err)
			st.ErrorCode, st.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	quota.apply(resp)
	return resp, nil
}

// createPartitions grows (or validates growing) topics through the
// controller. Under a controller_mutation_rate the specs are validated
// first, so that only those that pass every other check count their new
// partitions against it, as in Kafka.
func (b *Broker) createPartitions(ctx context.Context, quota *mutationQuota, specs []controller.PartitionSpec, validateOnly bool) []controller.PartitionsResult {
	if !quota.limited() {
		return b.ctrl.CreatePartitions(ctx, specs, validateOnly)
	}
	img := b.store.Current()
	byTopic := make(map[string]controller.PartitionSpec, len(specs))
	for _, s := range specs {
		byTopic[s.Topic] = s
	}
	var results []controller.PartitionsResult
	var admitted []controller.PartitionSpec
	for _, res := range b.ctrl.CreatePartitions(ctx, specs, true) {
		if res.Err == nil {
			spec := byTopic[res.Topic]
			added := int(spec.Count)
			if t, ok := img.Topic(res.Topic); ok {
				added -= len(t.Partitions)
			}
			res.Err = quota.record(added)
		}
		if res.Err != nil || validateOnly {
			results = append(results, res)
			continue
		}
		admitted = append(admitted, byTopic[res.Topic])
	}
	if len(admitted) > 0 {
		results = append(results, b.ctrl.CreatePartitions(ctx, admitted, false)...)
	}
	return results
}

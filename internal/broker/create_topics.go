package broker

// CreateTopics (key 19), versions 0-7.
//
// Behavior:
//   - Every topic named in the request gets a result, in request order.
//   - A name given more than once is INVALID_REQUEST for that name ("Found
//     multiple entries for this topic."), and none of its entries is created.
//   - NumPartitions and ReplicationFactor of -1 (v4+) take the broker's
//     num.partitions and default.replication.factor. A manual assignment
//     naming one partition twice is INVALID_REPLICA_ASSIGNMENT; the other
//     checks (names, counts, assignments, configs) are the controller's and
//     answer Kafka's codes: INVALID_TOPIC_EXCEPTION, INVALID_PARTITIONS,
//     INVALID_REPLICATION_FACTOR, INVALID_REPLICA_ASSIGNMENT, INVALID_CONFIG,
//     TOPIC_ALREADY_EXISTS.
//   - ValidateOnly (v1+) runs every check and creates nothing.
//   - ErrorMessage (v1+) carries the reason of a failure.
//   - From v5 a created (or validated) topic's result carries its partition
//     count, replication factor and configs as DescribeConfigs shows them
//     (sensitive values null); a failed one has -1, -1 and no configs. v7
//     adds the topic id.
//   - TimeoutMillis > 0 bounds the wait for the metadata log; past it the
//     topics not yet created are REQUEST_TIMED_OUT.
//
//   - The partitions created count against controller_mutation_rate
//     (mutation_quota.go), strictly from v6: past the quota a topic is
//     THROTTLING_QUOTA_EXCEEDED.
//
// KIPs: KIP-4 (v0), KIP-108 (v1 ValidateOnly), KIP-464 (v4 default
// partitions and replication factor), KIP-525 (v5 configs in the answer),
// KIP-599 (v6 THROTTLING_QUOTA_EXCEEDED), KIP-516 (v7 topic ids).

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/controller"
)

func init() { register(19, 0, 7, (*Broker).handleCreateTopics) }

func (b *Broker) handleCreateTopics(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateTopicsRequest)
	resp := r.ResponseKind().(*kmsg.CreateTopicsResponse)
	ctx, cancel := adminContext(ctx, r.TimeoutMillis)
	defer cancel()

	count := make(map[string]int, len(r.Topics))
	for _, t := range r.Topics {
		count[t.Topic]++
	}
	errs := make(map[string]error, len(r.Topics))
	var specs []controller.TopicSpec
	for _, t := range r.Topics {
		if count[t.Topic] > 1 {
			errs[t.Topic] = apiErrorf(kerr.InvalidRequest, "Found multiple entries for this topic.")
			continue
		}
		if !b.mayCreateTopic(req, t.Topic) {
			errs[t.Topic] = kerr.TopicAuthorizationFailed
			continue
		}
		spec, err := topicSpec(t)
		if err != nil {
			errs[t.Topic] = err
			continue
		}
		specs = append(specs, spec)
	}
	quota := b.mutationQuota(req, 6)
	results := make(map[string]controller.TopicResult, len(specs))
	if len(specs) > 0 {
		for _, res := range b.createTopics(ctx, quota, specs, r.ValidateOnly) {
			results[res.Name] = res
		}
		b.waitLocal(ctx)
	}
	configs := make(map[string]map[string]string, len(specs))
	for _, s := range specs {
		configs[s.Name] = plainConfigs(s.Configs)
	}

	done := make(map[string]bool, len(r.Topics))
	for _, t := range r.Topics {
		if done[t.Topic] {
			continue
		}
		done[t.Topic] = true
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = t.Topic
		st.NumPartitions, st.ReplicationFactor = -1, -1
		err, failed := errs[t.Topic]
		if !failed {
			res, ok := results[t.Topic]
			if !ok {
				err = apiErrorf(kerr.UnknownServerError, "the controller returned no result for this topic")
			} else {
				err = res.Err
			}
			if err == nil {
				st.TopicID = res.ID
				st.NumPartitions, st.ReplicationFactor = res.NumPartitions, res.ReplicationFactor
				st.Configs = createdTopicConfigs(config.DescribeTopic(b.settings(), configs[t.Topic]))
			}
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

// createTopics creates (or validates) specs through the controller. Under
// a controller_mutation_rate the topics are validated first, so that only
// those that pass every other check count against it, as in Kafka.
func (b *Broker) createTopics(ctx context.Context, quota *mutationQuota, specs []controller.TopicSpec, validateOnly bool) []controller.TopicResult {
	if !quota.limited() {
		return b.ctrl.CreateTopics(ctx, specs, validateOnly, b.topicDefaults())
	}
	byName := make(map[string]controller.TopicSpec, len(specs))
	for _, s := range specs {
		byName[s.Name] = s
	}
	var results []controller.TopicResult
	var admitted []controller.TopicSpec
	for _, res := range b.ctrl.CreateTopics(ctx, specs, true, b.topicDefaults()) {
		if res.Err == nil {
			res.Err = quota.record(int(res.NumPartitions))
		}
		if res.Err != nil || validateOnly {
			results = append(results, res)
			continue
		}
		admitted = append(admitted, byName[res.Name])
	}
	if len(admitted) > 0 {
		results = append(results, b.ctrl.CreateTopics(ctx, admitted, false, b.topicDefaults())...)
	}
	return results
}

// topicSpec converts one requested topic to the controller's form. A manual
// assignment naming a partition twice is INVALID_REPLICA_ASSIGNMENT.
func topicSpec(t kmsg.CreateTopicsRequestTopic) (controller.TopicSpec, error) {
	spec := controller.TopicSpec{
		Name:              t.Topic,
		NumPartitions:     t.NumPartitions,
		ReplicationFactor: t.ReplicationFactor,
	}
	if len(t.ReplicaAssignment) > 0 {
		spec.Assignments = make(map[int32][]int32, len(t.ReplicaAssignment))
		for _, a := range t.ReplicaAssignment {
			if _, dup := spec.Assignments[a.Partition]; dup {
				return spec, apiErrorf(kerr.InvalidReplicaAssignment,
					"Found multiple manual partition assignments for partition %d", a.Partition)
			}
			spec.Assignments[a.Partition] = a.Replicas
		}
	}
	if len(t.Configs) > 0 {
		spec.Configs = make(map[string]*string, len(t.Configs))
		for _, c := range t.Configs {
			spec.Configs[c.Name] = c.Value // a later entry wins, as in Kafka
		}
	}
	return spec, nil
}

// plainConfigs drops the null values of requested configs (a topic with
// one is refused, so this only matters for describing created topics).
func plainConfigs(cs map[string]*string) map[string]string {
	out := make(map[string]string, len(cs))
	for k, v := range cs {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

// createdTopicConfigs is the v5+ configs list of a CreateTopics result.
func createdTopicConfigs(entries []config.Entry) []kmsg.CreateTopicsResponseTopicConfig {
	out := make([]kmsg.CreateTopicsResponseTopicConfig, 0, len(entries))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name, c.ReadOnly, c.IsSensitive = e.Name, e.ReadOnly, e.Sensitive
		c.Source = int8(e.Source)
		if !e.Sensitive {
			c.Value = e.Value
		}
		out = append(out, c)
	}
	return out
}

// adminContext bounds ctx by a request's TimeoutMillis when it is positive.
func adminContext(ctx context.Context, timeoutMillis int32) (context.Context, context.CancelFunc) {
	if timeoutMillis <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, time.Duration(timeoutMillis)*time.Millisecond)
}

// adminError is the error an admin request answers for err: running out of
// the request's TimeoutMillis is REQUEST_TIMED_OUT.
func adminError(err error) error {
	var ke *kerr.Error
	if errors.Is(err, context.DeadlineExceeded) && !errors.As(err, &ke) {
		return fmt.Errorf("%w: %w", kerr.RequestTimedOut, err)
	}
	return err
}

// apiError is a Kafka error answered with its own text in ErrorMessage:
// Kafka's wording where Kafka has one, since clients show it verbatim.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }

// Unwrap returns the Kafka error, the code the answer carries.
func (e *apiError) Unwrap() error { return e.code }

func apiErrorf(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

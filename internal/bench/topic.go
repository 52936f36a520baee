package bench

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// ErrNoTopic is returned by the consume workload for a topic that does not
// exist.
var ErrNoTopic = errors.New("topic does not exist")

// createTopic creates spec's topic unless it exists, through an admin
// client of its own: a client allowing automatic topic creation (as a
// producer's does) would create the topic with the broker's defaults when
// asking whether it exists.
func createTopic(ctx context.Context, newClient ClientFunc, spec TopicSpec) error {
	cl, err := newClient()
	if err != nil {
		return err
	}
	defer cl.Close()
	return ensureTopic(ctx, kadm.NewClient(cl), spec.Topic, spec.Partitions, spec.ReplicationFactor)
}

// listRanges is topicRanges through an admin client of its own. A topic
// just created may not have every partition's leader ready: a retriable
// error is retried for up to rangesRetryFor.
func listRanges(ctx context.Context, newClient ClientFunc, topic string, committed bool) ([]partitionRange, error) {
	cl, err := newClient()
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(rangesRetryFor)
	for {
		out, err := topicRanges(ctx, adm, topic, committed)
		retriable := kerr.IsRetriable(err) || errors.Is(err, errUnlisted)
		if err == nil || !retriable || time.Now().After(deadline) {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

const rangesRetryFor = 10 * time.Second

// errUnlisted is a partition one listing of a topic's offsets has and the
// other lacks: the client learnt of a topic just created between them.
var errUnlisted = errors.New("in one listing of offsets but not the other")

// ensureTopic creates topic with partitions partitions and replication
// factor rf (-1: the broker's default) unless it exists. An existing topic
// is used as it is, whatever its partition count.
func ensureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, rf int16) error {
	details, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return fmt.Errorf("list topic %q: %w", topic, err)
	}
	if details.Has(topic) {
		return nil
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, nil, topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		if resp.ErrMessage != "" {
			return fmt.Errorf("create topic %q: %w: %s", topic, err, resp.ErrMessage)
		}
		return fmt.Errorf("create topic %q: %w", topic, err)
	}
	return nil
}

// partitionRange is the offsets [start, end) of one partition.
type partitionRange struct {
	partition  int32
	start, end int64
}

// topicRanges returns the current [log start, high watermark) of every
// partition of topic, sorted by partition, or ErrNoTopic; with committed
// the end is the last stable offset instead.
func topicRanges(ctx context.Context, adm *kadm.Client, topic string, committed bool) ([]partitionRange, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list start offsets of %q: %w", topic, err)
	}
	listEnds := adm.ListEndOffsets
	if committed {
		listEnds = adm.ListCommittedOffsets
	}
	ends, err := listEnds(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %q: %w", topic, err)
	}
	var out []partitionRange
	var firstErr error
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			firstErr = keepFirst(firstErr, o.Err)
			return
		}
		s, ok := starts.Lookup(o.Topic, o.Partition)
		switch {
		case !ok:
			firstErr = keepFirst(firstErr, fmt.Errorf("partition %d: %w", o.Partition, errUnlisted))
			return
		case s.Err != nil:
			firstErr = keepFirst(firstErr, fmt.Errorf("start offset of partition %d: %w", o.Partition, s.Err))
			return
		}
		out = append(out, partitionRange{partition: o.Partition, start: s.Offset, end: o.Offset})
	})
	starts.Each(func(o kadm.ListedOffset) {
		if _, ok := ends.Lookup(o.Topic, o.Partition); !ok {
			firstErr = keepFirst(firstErr, fmt.Errorf("partition %d: %w", o.Partition, errUnlisted))
		}
	})
	switch {
	case errors.Is(firstErr, kerr.UnknownTopicOrPartition):
		return nil, fmt.Errorf("%q: %w", topic, ErrNoTopic)
	case firstErr != nil:
		return nil, fmt.Errorf("list offsets of %q: %w", topic, firstErr)
	case len(out) == 0:
		return nil, fmt.Errorf("%q: %w", topic, ErrNoTopic)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].partition < out[j].partition })
	return out, nil
}

// keepFirst keeps the first non-nil error.
func keepFirst(first, next error) error {
	if first != nil {
		return first
	}
	return next
}

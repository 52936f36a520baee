package broker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTopicSpec(t *testing.T) {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "t", -1, -1
	rt.ReplicaAssignment = []kmsg.CreateTopicsRequestTopicReplicaAssignment{{Partition: 0, Replicas: []int32{1}}, {Partition: 1, Replicas: []int32{2}}}
	rt.Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "retention.ms", Value: strp("1")}, {Name: "retention.ms", Value: strp("2")}}
	spec, err := topicSpec(rt)
	if err != nil {
		t.Fatalf("got error %v, want none", err)
	}
	if spec.Name != "t" || spec.NumPartitions != -1 || spec.ReplicationFactor != -1 || len(spec.Assignments) != 2 {
		t.Errorf("got %+v, want name t, -1 partitions, -1 replication factor, 2 assignments", spec)
	}
	if v := spec.Configs["retention.ms"]; v == nil || *v != "2" {
		t.Errorf("got retention.ms %v, want the later entry 2", v)
	}

	rt.ReplicaAssignment = append(rt.ReplicaAssignment, kmsg.CreateTopicsRequestTopicReplicaAssignment{Partition: 1})
	if _, err := topicSpec(rt); !errors.Is(err, kerr.InvalidReplicaAssignment) {
		t.Errorf("duplicate assignment: got %v, want INVALID_REPLICA_ASSIGNMENT", err)
	}
}

func TestAdminError(t *testing.T) {
	tests := []struct {
		err  error
		want *kerr.Error
	}{
		{context.DeadlineExceeded, kerr.RequestTimedOut},
		{fmt.Errorf("write: %w", context.DeadlineExceeded), kerr.RequestTimedOut},
		{fmt.Errorf("%w: %w", kerr.NotController, context.DeadlineExceeded), kerr.NotController},
		{kerr.TopicAlreadyExists, kerr.TopicAlreadyExists},
	}
	for _, tt := range tests {
		var got *kerr.Error
		if !errors.As(adminError(tt.err), &got) || got != tt.want {
			t.Errorf("adminError(%v): got %v, want %v", tt.err, got, tt.want)
		}
	}
}

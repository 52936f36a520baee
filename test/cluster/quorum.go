package cluster

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeQuorum asks r for the metadata quorum: DescribeQuorum of
// partition 0 of __cluster_metadata, as kafka-metadata-quorum.sh asks.
func DescribeQuorum(ctx context.Context, r kmsg.Requestor) (*kmsg.DescribeQuorumResponse, error) {
	req := kmsg.NewPtrDescribeQuorumRequest()
	rt := kmsg.NewDescribeQuorumRequestTopic()
	rt.Topic = "__cluster_metadata"
	rt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	req.Topics = append(req.Topics, rt)
	return req.RequestWith(ctx, r)
}

package broker

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestLogDirTopics(t *testing.T) {
	sizes := map[topicPartition]int64{{Topic: "b", Index: 0}: 10, {Topic: "a", Index: 1}: 20, {Topic: "a", Index: 0}: 30}
	type tp struct {
		topic string
		part  int32
		size  int64
	}
	tests := []struct {
		name string
		want []kmsg.DescribeLogDirsRequestTopic
		got  []tp
	}{
		{"all", nil, []tp{{"a", 0, 30}, {"a", 1, 20}, {"b", 0, 10}}},
		{"none", []kmsg.DescribeLogDirsRequestTopic{}, nil},
		{"some", []kmsg.DescribeLogDirsRequestTopic{{Topic: "a", Partitions: []int32{1, 7, 1}}, {Topic: "zz", Partitions: []int32{0}}},
			[]tp{{"a", 1, 20}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []tp
			for _, topic := range logDirTopics(sizes, tt.want) {
				for _, p := range topic.Partitions {
					got = append(got, tp{topic.Topic, p.Partition, p.Size})
				}
			}
			if !reflect.DeepEqual(got, tt.got) {
				t.Errorf("got %v, want %v", got, tt.got)
			}
		})
	}
}

func TestDiskSpace(t *testing.T) {
	total, usable := diskSpace(t.TempDir())
	if total <= 0 || usable < 0 || usable > total {
		t.Errorf("got total %d, usable %d, want 0 <= usable <= total, total > 0", total, usable)
	}
	if total, usable := diskSpace("/no/such/dir"); total != -1 || usable != -1 {
		t.Errorf("missing dir: got %d, %d, want -1, -1", total, usable)
	}
}

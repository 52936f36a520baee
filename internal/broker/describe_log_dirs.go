package broker

// DescribeLogDirs (key 35), versions 0-5.
//
// Behavior:
//   - A node has one log directory, its data directory, reported by its
//     absolute path.
//   - A null topic list asks for every partition this node hosts; otherwise
//     only the listed partitions this node hosts are reported (others are
//     left out, as Kafka does).
//   - Size is the partition's bytes on disk; OffsetLag is 0 and IsFuture
//     false, as partitions are never moved between directories.
//   - Under an authorizer, DESCRIBE on the cluster; without it no
//     directory is listed and (v3+) the top-level error is
//     CLUSTER_AUTHORIZATION_FAILED, as Kafka answers.
//   - TotalBytes and UsableBytes (v4+) come from statfs of the directory;
//     -1 when that fails. IsCordoned (v5+) is always false.
//
// KIPs: KIP-113 (v0), KIP-482 (v2 flexible), KIP-784 (v3 top-level
// ErrorCode), KIP-827 (v4 TotalBytes/UsableBytes), KIP-1066 (v5 IsCordoned).

import (
	"cmp"
	"context"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

func init() { register(35, 0, 5, (*Broker).handleDescribeLogDirs) }

func (b *Broker) handleDescribeLogDirs(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeLogDirsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	if !b.allowedCluster(req, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	if abs, err := filepath.Abs(b.cfg.DataDir); err == nil {
		dir.Dir = abs
	}
	dir.TotalBytes, dir.UsableBytes = diskSpace(dir.Dir)
	sizes := make(map[topicPartition]int64)
	for tp, p := range b.parts.Snapshot() {
		sizes[tp] = p.Size()
	}
	dir.Topics = logDirTopics(sizes, r.Topics)
	resp.Dirs = []kmsg.DescribeLogDirsResponseDir{dir}
	return resp, nil
}

// logDirTopics reports the sizes of the hosted partitions the request asks
// for (all of them when want is nil), sorted by topic and partition.
func logDirTopics(sizes map[topicPartition]int64, want []kmsg.DescribeLogDirsRequestTopic) []kmsg.DescribeLogDirsResponseDirTopic {
	var tps []topicPartition
	if want == nil {
		for tp := range sizes {
			tps = append(tps, tp)
		}
	} else {
		seen := make(map[topicPartition]bool)
		for _, t := range want {
			for _, idx := range t.Partitions {
				tp := topicPartition{Topic: t.Topic, Index: idx}
				if _, ok := sizes[tp]; ok && !seen[tp] {
					seen[tp] = true
					tps = append(tps, tp)
				}
			}
		}
	}
	slices.SortFunc(tps, func(x, y topicPartition) int {
		return cmp.Or(cmp.Compare(x.Topic, y.Topic), cmp.Compare(x.Index, y.Index))
	})
	var out []kmsg.DescribeLogDirsResponseDirTopic
	for _, tp := range tps {
		if len(out) == 0 || out[len(out)-1].Topic != tp.Topic {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = tp.Topic
			out = append(out, t)
		}
		p := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		p.Partition, p.Size = tp.Index, sizes[tp]
		last := &out[len(out)-1]
		last.Partitions = append(last.Partitions, p)
	}
	return out
}

// diskSpace returns the total and usable bytes of the file system holding
// dir, or -1, -1 when statfs fails.
func diskSpace(dir string) (total, usable int64) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return -1, -1
	}
	return int64(st.Blocks) * int64(st.Bsize), int64(st.Bavail) * int64(st.Bsize)
}

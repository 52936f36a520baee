package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestDamagedPartitionOffline: a partition whose log is damaged (a bad
// batch followed by good ones, found by recovery after an unclean stop)
// does not open. Metadata shows it without a leader and this node as its
// offline replica; it answers KAFKA_STORAGE_ERROR to produce, fetch and
// list offsets, as a partition on a failed Kafka log directory does; the topic's
// other partition serves as before; and the damaged log stays on disk
// untouched, also over another restart.
func TestDamagedPartitionOffline(t *testing.T) {
	n := startNode(t, "", nil)
	topic := topicName(t)
	createTopic(t, n.addr, topic, 2, nil)
	cl := franzClient(t, n.addr)
	for i := range 3 {
		for p := range int32(2) {
			if err, off := produceRawTo(t, cl, topic, p, buildBatch(t, 2, 100)); err != nil || off != int64(2*i) {
				t.Fatalf("partition %d batch %d: %v at %d", p, i, err, off)
			}
		}
	}
	cl.Close()
	n.stop()

	// Damage the first batch's records, and make the next start treat the
	// stop as unclean with nothing known durable, so recovery reads it.
	dir := filepath.Join(n.dataDir, topic+"-0")
	logFile := filepath.Join(dir, "00000000000000000000.log")
	data, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	data[80] ^= 0xff
	for _, err := range []error{
		os.WriteFile(logFile, data, 0o644),
		os.Remove(filepath.Join(n.dataDir, ".strata_cleanshutdown")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	// A log this small has no recovery point file; should it have one,
	// it goes too.
	if err := os.Remove(filepath.Join(dir, "recovery-point")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}

	for restart := range 2 {
		n = startNode(t, n.dataDir, nil)
		cl = franzClient(t, n.addr)
		md, err := kmsg.NewPtrMetadataRequest().RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, mt := range md.Topics {
			if mt.Topic == nil || *mt.Topic != topic {
				continue
			}
			for _, mp := range mt.Partitions {
				offline := mp.ErrorCode == kerr.LeaderNotAvailable.Code && mp.Leader == -1 &&
					len(mp.ISR) == 0 && len(mp.OfflineReplicas) == 1 && mp.OfflineReplicas[0] == 1
				healthy := mp.ErrorCode == 0 && mp.Leader == 1 && len(mp.OfflineReplicas) == 0
				if mp.Partition == 0 && !offline || mp.Partition == 1 && !healthy {
					t.Fatalf("restart %d: metadata of partition %d: %+v", restart, mp.Partition, mp)
				}
			}
		}
		if err, _ := produceRawTo(t, cl, topic, 0, buildBatch(t, 1, 10)); !errors.Is(err, kerr.KafkaStorageError) {
			t.Fatalf("restart %d: produce to the damaged partition: %v, want KAFKA_STORAGE_ERROR", restart, err)
		}
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis = 0
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = topic, topicID(t, cl, topic)
		for p := range int32(2) {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition = p
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		fresp, err := cl.Broker(1).Request(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		for _, rp := range fresp.(*kmsg.FetchResponse).Topics[0].Partitions {
			want := int16(0)
			if rp.Partition == 0 {
				want = kerr.KafkaStorageError.Code
			}
			if rp.ErrorCode != want {
				t.Fatalf("restart %d: fetch partition %d: error %d, want %d", restart, rp.Partition, rp.ErrorCode, want)
			}
		}
		// Straight to node 1: the client would not send a partition without a
		// leader there.
		lo := kmsg.NewPtrListOffsetsRequest()
		lt := kmsg.NewListOffsetsRequestTopic()
		lt.Topic = topic
		for p := range int32(2) {
			lp := kmsg.NewListOffsetsRequestTopicPartition()
			lp.Partition, lp.Timestamp = p, -1
			lt.Partitions = append(lt.Partitions, lp)
		}
		lo.Topics = append(lo.Topics, lt)
		kresp, err := cl.Broker(1).Request(context.Background(), lo)
		if err != nil {
			t.Fatal(err)
		}
		for _, lp := range kresp.(*kmsg.ListOffsetsResponse).Topics[0].Partitions {
			damaged := lp.Partition == 0 && lp.ErrorCode == kerr.KafkaStorageError.Code
			intact := lp.Partition == 1 && lp.ErrorCode == 0 && lp.Offset == int64(6+restart)
			if !damaged && !intact {
				t.Fatalf("restart %d: end offset of partition %d: error %d, offset %d", restart, lp.Partition, lp.ErrorCode, lp.Offset)
			}
		}
		if err, off := produceRawTo(t, cl, topic, 1, buildBatch(t, 1, 10)); err != nil || off != int64(6+restart) {
			t.Fatalf("restart %d: produce to the intact partition: %v at %d", restart, err, off)
		}
		cl.Close()
		n.stop()
		if got, err := os.ReadFile(logFile); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("restart %d: the damaged log changed or went (%v)", restart, err)
		}
	}
}

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readAll reads partition 0 of topic from offset 0 to its end offset.
func readAll(t *testing.T, addr, topic string, end int64) []*kgo.Record {
	t.Helper()
	cl := franzClient(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*kgo.Record
	for ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
		if len(out) > 0 && out[len(out)-1].Offset >= end-1 {
			break
		}
	}
	return out
}

// TestCompaction overwrites keys and deletes one on a compacted topic; the
// broker's cleaner compacts the closed segments until a reader from offset 0
// sees exactly the latest value of each live key, with offsets preserved
// (gaps) and the deleted key gone.
func TestCompaction(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.cleaner.backoff.ms": "20"})
	topic := topicName(t)
	end := writeUntilCompacted(t, n.addr, topic)
	// Offsets are preserved: the surviving records keep their original
	// offsets, in increasing order, with gaps.
	recs := readAll(t, n.addr, topic, end)
	for i := 1; i < len(recs); i++ {
		if recs[i].Offset <= recs[i-1].Offset {
			t.Fatalf("offsets not increasing: %d after %d", recs[i].Offset, recs[i-1].Offset)
		}
	}
	for _, r := range recs {
		if string(r.Key) == "k0" && r.Offset != int64((compactRounds-1)*compactKeys) {
			t.Errorf("k0 at offset %d, want its original offset %d", r.Offset, (compactRounds-1)*compactKeys)
		}
	}
}

// The keys writeUntilCompacted writes, and how many values each gets.
const compactKeys, compactRounds = 10, 5

// writeUntilCompacted creates topic, compacted, with a segment rolled every
// 30 ms; writes compactKeys keys compactRounds times each and deletes k5;
// then keeps writing a filler key (each write after segment.ms rolls the
// segment, so everything above becomes cleanable) until a reader from
// offset 0 sees exactly the latest value of each live key. It returns the
// log's end offset.
func writeUntilCompacted(t *testing.T, addr, topic string) int64 {
	t.Helper()
	createTopic(t, addr, topic, 1, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"segment.ms":                kmsg.StringPtr("30"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0.01"),
		"delete.retention.ms":       kmsg.StringPtr("0"),
	})
	cl := franzClient(t, addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx := context.Background()
	var end int64
	produce := func(key string, value []byte) {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: value}).First()
		if err != nil {
			t.Fatal(err)
		}
		end = r.Offset + 1
	}
	for r := range compactRounds {
		for k := range compactKeys {
			produce(fmt.Sprint("k", k), []byte(fmt.Sprintf("v%d-%d", k, r)))
		}
	}
	produce("k5", nil) // tombstone

	filler := 0
	eventually(t, 30*time.Second, "the log compacted to the latest value per key", func() bool {
		produce("filler", []byte(fmt.Sprint(filler)))
		filler++
		recs := readAll(t, addr, topic, end)
		seen := map[string]int{}
		for _, r := range recs {
			k := string(r.Key)
			if k == "filler" {
				continue
			}
			seen[k]++
			if want := fmt.Sprintf("v%s-%d", k[1:], compactRounds-1); k != "k5" && string(r.Value) != want {
				return false // an older value is still there
			}
		}
		for k := range compactKeys {
			key := fmt.Sprint("k", k)
			if (key == "k5" && seen[key] != 0) || (key != "k5" && seen[key] != 1) {
				return false
			}
		}
		return true
	})
	return end
}

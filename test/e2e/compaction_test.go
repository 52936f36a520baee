package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// readAll reads partition 0 of topic from offset 0 to its end offset,
// with the client options opts.
func readAll(t *testing.T, addr, topic string, end int64, opts ...kgo.Opt) []*kgo.Record {
	t.Helper()
	cl := franzClient(t, addr, append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))...)
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

// TestCompactionTransactions: on a compacted topic, franz-go
// transactional producers commit and abort transactions with keys, among
// plain records; the cleaner removes the aborted records (which must
// neither hide an older value nor stay as the latest) and, once they are
// gone, the abort's index entry, so that read_committed and
// read_uncommitted consumers from offset 0 both see exactly the latest
// committed value of each key.
func TestCompactionTransactions(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.cleaner.backoff.ms": "20"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"segment.ms":                kmsg.StringPtr("30"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0.01"),
		"delete.retention.ms":       kmsg.StringPtr("0"),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic))
	var end int64
	produce := func(key, value string) {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value)}).First()
		if err != nil {
			t.Fatal(err)
		}
		end = r.Offset + 1
	}
	committer := franzClient(t, n.addr, kgo.TransactionalID(topic+"-committer"), kgo.DefaultProduceTopic(topic))
	aborter := franzClient(t, n.addr, kgo.TransactionalID(topic+"-aborter"), kgo.DefaultProduceTopic(topic))
	txn := func(p *kgo.Client, commit kgo.TransactionEndTry, kvs ...string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(kvs); i += 2 {
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(kvs[i]), Value: []byte(kvs[i+1])}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", kvs[i], err)
			}
		}
		if err := p.EndTransaction(ctx, commit); err != nil {
			t.Fatalf("end transaction: %v", err)
		}
	}
	produce("k0", "old")
	produce("k2", "old")
	txn(committer, kgo.TryCommit, "k0", "committed", "k1", "committed")
	txn(aborter, kgo.TryAbort, "k0", "aborted", "k2", "aborted", "k3", "aborted")
	produce("k1", "plain")
	// The aborting producer goes on, so that the cleaner need not keep
	// its aborted batch (emptied) as the one holding its last sequence,
	// which would keep the abort marker and its index entry too.
	txn(aborter, kgo.TryCommit, "k4", "later")
	want := map[string]string{"k0": "committed", "k1": "plain", "k2": "old", "k4": "later"}

	// compacted reports whether records hold exactly one value per key
	// of want, that value.
	compacted := func(recs []*kgo.Record) bool {
		seen := map[string]int{}
		for _, r := range recs {
			if k := string(r.Key); k != "filler" {
				seen[k]++
				if string(r.Value) != want[k] {
					return false
				}
			}
		}
		return len(seen) == len(want) && !slices.ContainsFunc(slices.Collect(maps.Values(seen)), func(c int) bool { return c != 1 })
	}
	filler := 0
	eventually(t, 30*time.Second, "the aborted records and their index entry cleaned", func() bool {
		produce("filler", fmt.Sprint(filler))
		filler++
		_, aborted := abortedInFetch(t, cl, topic)
		return len(aborted) == 0 && compacted(readAll(t, n.addr, topic, end))
	})
	for _, level := range []kgo.IsolationLevel{kgo.ReadCommitted(), kgo.ReadUncommitted()} {
		recs := readAll(t, n.addr, topic, end, kgo.FetchIsolationLevel(level))
		if !compacted(recs) {
			var got []string
			for _, r := range recs {
				got = append(got, fmt.Sprintf("%d:%s=%s", r.Offset, r.Key, r.Value))
			}
			t.Fatalf("%v consumer read %v, want %v once each", level, got, want)
		}
	}
}

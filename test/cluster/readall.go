package cluster

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ReadAll reads partitions 0..partitions-1 of topic from their log start
// offsets up to the high watermarks listed when it is called, and returns
// the records by partition in offset order (control records left out).
// Stop producing first: records acknowledged after the listing are not read.
//
// cl lists the offsets; the records are read by a new direct consumer with
// cl's seed brokers, TLS and SASL and Client's retry settings. ReadAll retries through
// leader changes until ctx is done, then fails the test saying how far each
// partition got.
func ReadAll(ctx context.Context, t testing.TB, cl *kgo.Client, topic string, partitions int32) map[TopicPartition][]Record {
	t.Helper()
	starts, ends, err := listOffsets(ctx, kadm.NewClient(cl), topic, partitions)
	if err != nil {
		t.Fatalf("read %s: list offsets: %v", topic, err)
	}

	out := make(map[TopicPartition][]Record, partitions)
	next := map[int32]int64{} // partition -> next offset to read, while unfinished
	consume := map[int32]kgo.Offset{}
	for p := range partitions {
		out[TopicPartition{topic, p}] = nil
		if starts[p] < ends[p] {
			next[p] = starts[p]
			consume[p] = kgo.NewOffset().At(starts[p])
		}
	}
	if len(next) == 0 {
		return out
	}

	seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
	opts := clientDefaults(seeds)
	// A client of a TLS or SASL listener reads as it connects.
	if cfg, _ := cl.OptValue(kgo.DialTLSConfig).(*tls.Config); cfg != nil {
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if mechs, _ := cl.OptValue(kgo.SASL).([]sasl.Mechanism); len(mechs) > 0 {
		opts = append(opts, kgo.SASL(mechs...))
	}
	consumer, err := kgo.NewClient(append(opts,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: consume}),
		// Control records are kept so a partition whose last offset is a
		// transaction marker still reaches its end offset.
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond),
	)...)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()

	var lastErr error
	for len(next) > 0 {
		fetches := consumer.PollFetches(ctx)
		if ctx.Err() != nil {
			var left []string
			for p, o := range next {
				left = append(left, fmt.Sprintf("partition %d at offset %d of [%d, %d)", p, o, starts[p], ends[p]))
			}
			t.Fatalf("read %s: %v with %s unread (last fetch error: %v)", topic, ctx.Err(), strings.Join(left, ", "), lastErr)
		}
		fetches.EachError(func(_ string, _ int32, err error) { lastErr = err })
		fetches.EachRecord(func(r *kgo.Record) {
			o, reading := next[r.Partition]
			if !reading || r.Offset < o {
				return
			}
			if r.Offset < ends[r.Partition] && !r.Attrs.IsControl() {
				tp := TopicPartition{topic, r.Partition}
				out[tp] = append(out[tp], Record{Offset: r.Offset, Value: r.Value})
			}
			next[r.Partition] = r.Offset + 1
			if r.Offset+1 >= ends[r.Partition] {
				delete(next, r.Partition)
			}
		})
	}
	return out
}

// listOffsets returns the log start and end offsets of partitions
// 0..partitions-1 of topic, retrying while any partition has an error (a
// leader moving, a node restarting) until ctx is done. Each attempt gets
// at most listAttemptTimeout, so one request stuck on a node that went away
// does not use up ctx.
func listOffsets(ctx context.Context, adm *kadm.Client, topic string, partitions int32) (starts, ends map[int32]int64, err error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		actx, cancel := context.WithTimeout(ctx, listAttemptTimeout)
		var l kadm.ListedOffsets
		if l, err = adm.ListStartOffsets(actx, topic); err == nil {
			starts, err = offsetsOf(l, topic, partitions)
		}
		if err == nil {
			if l, err = adm.ListEndOffsets(actx, topic); err == nil {
				ends, err = offsetsOf(l, topic, partitions)
			}
		}
		cancel()
		if err == nil {
			return starts, ends, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// listAttemptTimeout bounds one listing of the offsets.
const listAttemptTimeout = 10 * time.Second

// offsetsOf returns the listed offsets of partitions 0..partitions-1 of
// topic, or the first partition's error (or absence).
func offsetsOf(l kadm.ListedOffsets, topic string, partitions int32) (map[int32]int64, error) {
	offsets := make(map[int32]int64, partitions)
	for p := range partitions {
		o, ok := l.Lookup(topic, p)
		if !ok {
			return nil, fmt.Errorf("partition %d not listed", p)
		}
		if o.Err != nil {
			return nil, fmt.Errorf("partition %d: %w", p, o.Err)
		}
		offsets[p] = o.Offset
	}
	return offsets, nil
}

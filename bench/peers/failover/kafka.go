package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaTarget is a topic of one partition, replication factor 3, written
// by an idempotent acks=all franz-go producer.
type kafkaTarget struct {
	topic    string
	seeds    []string
	settings map[string]string
	prod     *kgo.Client
	admin    *kgo.Client // uncached Metadata requests
	done     func([]byte, error)
}

func newKafkaTarget(ctx context.Context, cfg config, done func([]byte, error)) (*kafkaTarget, error) {
	t := &kafkaTarget{topic: cfg.topic, seeds: strings.Split(cfg.brokers, ","), done: done}
	backoff := func(int) time.Duration { return cfg.retryBackoff }
	common := []kgo.Opt{
		kgo.SeedBrokers(t.seeds...),
		kgo.MetadataMinAge(cfg.metaMinAge),
		kgo.RetryBackoffFn(backoff),
	}
	t.settings = map[string]string{
		"client":                  "franz-go (kgo), idempotent producer",
		"acks":                    "all",
		"linger":                  "0",
		"metadata_min_age":        cfg.metaMinAge.String(),
		"retry_backoff":           cfg.retryBackoff.String() + " constant",
		"record_retries":          "unlimited (franz-go default)",
		"delivery_timeout":        "none (franz-go default)",
		"max_buffered":            strconv.Itoa(maxPending),
		"produce_request_timeout": "10s (franz-go default)",
	}
	var err error
	t.prod, err = kgo.NewClient(append(common,
		kgo.ClientID("strata-bench-failover"),
		kgo.DefaultProduceTopic(cfg.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.MaxBufferedRecords(maxPending),
	)...)
	if err != nil {
		return nil, err
	}
	t.admin, err = kgo.NewClient(append(common, kgo.ClientID("strata-bench-failover-admin"))...)
	if err != nil {
		t.prod.Close()
		return nil, err
	}
	adm := kadm.NewClient(t.admin)
	resp, err := adm.CreateTopic(ctx, 1, 3, nil, cfg.topic)
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Close()
		return nil, fmt.Errorf("create topic %q: %w %s", cfg.topic, err, resp.ErrMessage)
	}
	return t, nil
}

func (t *kafkaTarget) Settings() map[string]string { return t.settings }

func (t *kafkaTarget) Produce(ctx context.Context, v []byte) error {
	// ctx ends when the producer stops; a record handed over just before
	// must still be sent, and the final Flush waits for it.
	t.prod.Produce(context.WithoutCancel(ctx), &kgo.Record{Value: v}, func(r *kgo.Record, err error) { t.done(r.Value, err) })
	return nil
}

func (t *kafkaTarget) Flush(ctx context.Context) error { return t.prod.Flush(ctx) }

// partition returns the partition's metadata from a fresh Metadata request
// and the controller id.
func (t *kafkaTarget) partition(ctx context.Context) (kmsg.MetadataResponseTopicPartition, int, error) {
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(t.topic)
	req.Topics = append(req.Topics, rt)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := req.RequestWith(rctx, t.admin)
	if err != nil {
		return kmsg.MetadataResponseTopicPartition{}, -1, err
	}
	for _, rt := range resp.Topics {
		if rt.Topic == nil || *rt.Topic != t.topic {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			return kmsg.MetadataResponseTopicPartition{}, -1, err
		}
		for _, p := range rt.Partitions {
			if p.Partition == 0 {
				return p, int(resp.ControllerID), kerr.ErrorForCode(p.ErrorCode)
			}
		}
	}
	return kmsg.MetadataResponseTopicPartition{}, -1, fmt.Errorf("no partition 0 of %q in metadata", t.topic)
}

func (t *kafkaTarget) Leader(ctx context.Context) (int, int, error) {
	p, controller, err := t.partition(ctx)
	if err != nil {
		return -1, -1, err
	}
	return int(p.Leader), controller, nil
}

// InSync: the partition has a leader, every replica is in the ISR, and id
// (unless -1) is one of them.
func (t *kafkaTarget) InSync(ctx context.Context, id int) (bool, error) {
	p, _, err := t.partition(ctx)
	if err != nil {
		return false, err
	}
	if p.Leader < 0 || len(p.Replicas) == 0 || len(p.ISR) != len(p.Replicas) {
		return false, nil
	}
	return id < 0 || slices.Contains(p.ISR, int32(id)), nil
}

func (t *kafkaTarget) ReadAll(ctx context.Context, fn func([]byte)) error {
	adm := kadm.NewClient(t.admin)
	ends, err := adm.ListEndOffsets(ctx, t.topic)
	if err != nil {
		return err
	}
	end, ok := ends.Lookup(t.topic, 0)
	if !ok || end.Err != nil {
		return fmt.Errorf("end offset of %q: %v", t.topic, end.Err)
	}
	if end.Offset == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(t.seeds...), kgo.ClientID("strata-bench-failover-reader"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{t.topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return err
	}
	defer cl.Close()
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		fs := cl.PollFetches(rctx)
		if err := rctx.Err(); err != nil {
			return fmt.Errorf("read %q to offset %d: %w", t.topic, end.Offset, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return ferr
		}
		last := int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			fn(r.Value)
			last = r.Offset
		})
		if last >= end.Offset-1 {
			return nil
		}
	}
}

func (t *kafkaTarget) Close() {
	t.prod.Close()
	t.admin.Close()
}

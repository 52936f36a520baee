package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/stratalog/strata/internal/recordbatch"
)

// TxnV1 caps a client at transaction version 1, as clients that ignore
// the transaction.version feature are: Produce v11, EndTxn v4,
// TxnOffsetCommit v4. franz-go then adds partitions and offsets
// explicitly and keeps its epoch at EndTxn; and a TxnProducer's batches
// sent through such a client are not added to any transaction by the
// broker (Produce v12 would add them), so hand-made transactions known to
// no coordinator stay possible with verification off.
func TxnV1() kgo.Opt {
	v := kversion.Stable()
	v.SetMaxKeyVersion(0, 11)
	v.SetMaxKeyVersion(26, 4)
	v.SetMaxKeyVersion(28, 4)
	return kgo.MaxVersions(v)
}

// TxnProducer writes transactional batches by hand, as a transactional
// producer would, with a producer id from InitProducerId without a
// transactional id (there is no transaction coordinator yet); markers go
// through EndTxnRequest, as the coordinator would send them.
type TxnProducer struct {
	ID    int64
	Epoch int16
	seq   int32
}

// InitProducer gets a producer id and epoch from the cluster.
func InitProducer(ctx context.Context, cl *kgo.Client) (*TxnProducer, error) {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err != nil {
		return nil, fmt.Errorf("InitProducerId: %w", err)
	}
	return &TxnProducer{ID: resp.ProducerID, Epoch: resp.ProducerEpoch}, nil
}

// Produce sends values as one transactional batch, with acks=all, to
// partition of topic with transactional id txnID (nil: none) through cl (a
// client, or one broker of it), and returns the partition's error. The sequence advances only on success.
func (p *TxnProducer) Produce(ctx context.Context, cl kmsg.Requestor, topic string, partition int32, txnID *string, values ...string) error {
	recs := make([]recordbatch.Record, len(values))
	for i, v := range values {
		recs[i] = recordbatch.Record{Value: []byte(v)}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: time.Now().UnixMilli(), ProducerID: p.ID,
		ProducerEpoch: p.Epoch, BaseSequence: p.seq, Transactional: true}, recs)
	if err != nil {
		return err
	}
	req := kmsg.NewPtrProduceRequest()
	req.TransactionID, req.Acks, req.TimeoutMillis = txnID, -1, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode); err != nil {
		return err
	}
	p.seq += int32(len(values))
	return nil
}

// EndTxnRequest is the WriteTxnMarkers request that ends (commits or
// aborts) producer id's transaction at epoch on one partition, from
// coordinator epoch 0.
func EndTxnRequest(id int64, epoch int16, commit bool, topic string, partition int32) *kmsg.WriteTxnMarkersRequest {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	m := kmsg.NewWriteTxnMarkersRequestMarker()
	m.ProducerID, m.ProducerEpoch, m.Committed = id, epoch, commit
	mt := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
	mt.Topic, mt.Partitions = topic, []int32{partition}
	m.Topics = append(m.Topics, mt)
	req.Markers = append(req.Markers, m)
	return req
}

// EndTxnError returns the partition error of the answer to an
// EndTxnRequest, or an error when the answer does not have that one
// marker and partition.
func EndTxnError(resp *kmsg.WriteTxnMarkersResponse) error {
	if len(resp.Markers) != 1 || len(resp.Markers[0].Topics) != 1 || len(resp.Markers[0].Topics[0].Partitions) != 1 {
		return fmt.Errorf("WriteTxnMarkers response %+v does not answer the one marker", resp)
	}
	return kerr.ErrorForCode(resp.Markers[0].Topics[0].Partitions[0].ErrorCode)
}

// ConsumeValues polls cl, a consumer, until it has n record values, and
// fails the test when ctx ends first or a poll brings more than n (what a
// read_committed consumer must not see); fetch errors the client retries
// (a leader moving) are not failures.
func ConsumeValues(ctx context.Context, t testing.TB, cl *kgo.Client, n int) []string {
	t.Helper()
	var got []string
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %q, want %d records: %v", got, n, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if len(got) != n {
		t.Fatalf("consumed %q, want %d records", got, n)
	}
	return got
}

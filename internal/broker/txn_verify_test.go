package broker

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/txn"
)

// TestTxnVerifierBatches checks that verifications for one coordinator
// wait while a request is in flight and then go as one request, that each
// caller gets its own partitions' answers with Kafka's mapping, and that a
// newer epoch of the same id fails the older one waiting.
func TestTxnVerifierBatches(t *testing.T) {
	first := make(chan struct{})
	release := make(chan struct{})
	var mu sync.Mutex
	var sent []*kmsg.AddPartitionsToTxnRequest
	v := newTxnVerifier(func(_ context.Context, node int32, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
		mu.Lock()
		sent = append(sent, req)
		n := len(sent)
		mu.Unlock()
		if n == 1 {
			close(first)
			<-release
		}
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, rt := range req.Transactions {
			out := kmsg.AddPartitionsToTxnResponseTransaction{TransactionalID: rt.TransactionalID}
			for _, tp := range rt.Topics {
				ot := kmsg.AddPartitionsToTxnResponseTransactionTopic{Topic: tp.Topic}
				for _, p := range tp.Partitions {
					var code int16 // partition 1 is in no transaction; "fenced" is fenced
					if p == 1 {
						code = kerr.TransactionAbortable.Code
					} else if rt.TransactionalID == "fenced" {
						code = kerr.ProducerFenced.Code
					}
					ot.Partitions = append(ot.Partitions, kmsg.AddPartitionsToTxnResponseTransactionTopicPartition{Partition: p, ErrorCode: code})
				}
				out.Topics = append(out.Topics, ot)
			}
			resp.Transactions = append(resp.Transactions, out)
		}
		return resp, nil
	})
	tp := func(p int32) []txn.TopicPartition { return []txn.TopicPartition{{Topic: "t", Partition: p}} }
	type call struct {
		id    string
		epoch int16
		p     int32
		want  error
	}
	run := func(c call, wg *sync.WaitGroup) {
		wg.Go(func() {
			errs := v.verify(7, c.id, 1, c.epoch, false, tp(c.p))
			if got := errs[tp(c.p)[0]]; !errors.Is(got, c.want) && (got != nil || c.want != nil) {
				t.Errorf("verify %+v: got %v, want %v", c, got, c.want)
			}
		})
	}
	var wg sync.WaitGroup
	run(call{"a", 0, 0, nil}, &wg)
	<-first // the first request is in flight; these wait for the next
	var later sync.WaitGroup
	run(call{"b", 0, 1, kerr.TransactionAbortable}, &later)
	run(call{"fenced", 0, 0, kerr.InvalidProducerEpoch}, &later)
	for len(queued(v, 7)) != 2 { // both queue behind the request in flight
		runtime.Gosched()
	}
	run(call{"fenced", 1, 2, kerr.InvalidProducerEpoch}, &later) // replaces the queued epoch 0
	for queued(v, 7)["fenced"] != 1 {
		runtime.Gosched()
	}
	close(release)
	wg.Wait()
	later.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(sent) != 2 || len(sent[1].Transactions) != 2 {
		t.Fatalf("sent %d requests, the second with %d transactions; want 2 and 2", len(sent), len(sent[len(sent)-1].Transactions))
	}
	for _, rt := range sent[1].Transactions {
		if !rt.VerifyOnly || (rt.TransactionalID == "fenced" && rt.ProducerEpoch != 1) {
			t.Fatalf("second request transaction %+v: want verify-only, the fenced id at epoch 1", rt)
		}
	}
}

// queued returns the epochs of the transactions queued for node, by id.
func queued(v *txnVerifier, node int32) map[string]int16 {
	v.mu.Lock()
	defer v.mu.Unlock()
	m := make(map[string]int16)
	for id, t := range v.pending[node] {
		m[id] = t.epoch
	}
	return m
}

package broker

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/partition"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

// txnStateTopic holds the transaction coordinator's state, in Kafka's own
// record format, compacted, as Kafka's __transaction_state.
const txnStateTopic = "__transaction_state"

// txnRequestTimeout bounds an append to __transaction_state and a
// WriteTxnMarkers round trip: Kafka uses request.timeout.ms (30 s) for both.
const txnRequestTimeout = 30 * time.Second

// maxMarkersResponse bounds a WriteTxnMarkers or AddPartitionsToTxn answer:
// one error per partition.
const maxMarkersResponse = 1 << 20

// markersClientID names this broker's transaction requests (markers,
// verifications), as Kafka's transaction marker channel does.
const markersClientID = "strata-txn-markers"

// ensureTxnStateTopic creates __transaction_state on first use, as Kafka
// does when a transaction coordinator is first looked up.
func (b *Broker) ensureTxnStateTopic(ctx context.Context) error {
	s := b.cfg.Settings
	return b.ensureInternalTopic(ctx, internalTopic{
		name:       txnStateTopic,
		partitions: s.TransactionStateLogNumPartitions(),
		rf:         s.TransactionStateLogReplicationFactor(),
		minISR:     s.TransactionStateLogMinISR(),
		configs: map[string]string{
			"cleanup.policy":                 "compact",
			"compression.type":               "uncompressed",
			"segment.bytes":                  strconv.Itoa(int(s.TransactionStateLogSegmentBytes())),
			"unclean.leader.election.enable": "false",
		},
	})
}

// newTxnCoordinator builds the transaction coordinator's driver over this
// broker's partitions and metadata.
func (b *Broker) newTxnCoordinator() *txnDriver {
	s := b.cfg.Settings
	return newTxnDriver(txn.CoordinatorConfig{
		NumPartitions:    s.TransactionStateLogNumPartitions(),
		MaxTimeoutMs:     int32(s.TransactionMaxTimeout().Milliseconds()),
		IDExpirationMs:   s.TransactionalIDExpiration().Milliseconds(),
		OffsetsPartition: b.groups.PartitionFor,
	}, brokerTxnIO{b}, time.Now, b.logger.With("component", "txn"))
}

// brokerTxnIO is the driver's txnIO over this broker.
type brokerTxnIO struct{ b *Broker }

// txnLog returns this node's leader replica of partition p of
// __transaction_state.
func (io brokerTxnIO) txnLog(p int32) (internalLog, error) {
	t, ok := io.b.store.Current().Topic(txnStateTopic)
	if !ok {
		return internalLog{}, kerr.UnknownTopicOrPartition
	}
	rep, err := io.b.parts.Get(txnStateTopic, p)
	if err != nil {
		return internalLog{}, err
	}
	if !rep.IsLeader() {
		return internalLog{}, kerr.NotLeaderForPartition
	}
	minISR := 1
	if cfg, err := config.ResolveTopic(io.b.settings(), t.Configs); err == nil {
		minISR = int(cfg.MinInsyncReplicas)
	}
	return internalLog{p: rep, timeout: txnRequestTimeout, minISR: minISR}, nil
}

func (io brokerTxnIO) appendTxn(ctx context.Context, p int32, rec txn.Record) error {
	l, err := io.txnLog(p)
	if err != nil {
		return err
	}
	if err := l.p.CheckMinISR(l.minISR); err != nil {
		return err
	}
	return l.append(ctx, []recordbatch.Record{{Key: rec.Key, Value: rec.Value}})
}

func (io brokerTxnIO) replayTxn(ctx context.Context, p int32) (*txn.Replay, int32, error) {
	l, err := io.txnLog(p)
	if err != nil {
		return nil, 0, err
	}
	epoch := l.p.LeaderEpoch()
	r := txn.NewReplay()
	err = l.Replay(ctx, func(key, value []byte) error {
		if err := r.Apply(key, value); err != nil {
			io.b.logger.Warn("skipping __transaction_state record", "partition", p, "err", err)
		}
		return nil
	})
	return r, epoch, err
}

func (io brokerTxnIO) markerLeader(tp txn.TopicPartition) (int32, bool) {
	img := io.b.store.Current()
	t, ok := img.Topic(tp.Topic)
	if !ok || tp.Partition < 0 || int(tp.Partition) >= len(t.Partitions) {
		return -1, false
	}
	leader := t.Partitions[tp.Partition].Leader
	if br, ok := img.Broker(leader); !ok || br.Fenced {
		return -1, true
	}
	return leader, true
}

// writeMarkers sends req over the Kafka protocol, to this node too, so
// that markers take the one path WriteTxnMarkers serves.
func (io brokerTxnIO) writeMarkers(ctx context.Context, leader int32, req *kmsg.WriteTxnMarkersRequest) (*kmsg.WriteTxnMarkersResponse, error) {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	return resp, io.b.sendTxnRequest(ctx, leader, req, resp)
}

// sendTxnRequest sends a transaction request (markers, verifications) to
// broker node over the Kafka protocol, to this node too.
func (b *Broker) sendTxnRequest(ctx context.Context, node int32, req kmsg.Request, resp kmsg.Response) error {
	br, ok := b.store.Current().Broker(node)
	if !ok {
		return errNotRegistered
	}
	addr := net.JoinHostPort(br.Host, strconv.Itoa(int(br.Port)))
	return partition.RoundTrip(ctx, b.cfg.Dial, addr, markersClientID, req, resp, txnRequestTimeout, maxMarkersResponse)
}

// verifyTxn sends a verify-only AddPartitionsToTxn to node (txnVerifier).
func (b *Broker) verifyTxn(ctx context.Context, node int32, req *kmsg.AddPartitionsToTxnRequest) (*kmsg.AddPartitionsToTxnResponse, error) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	return resp, b.sendTxnRequest(ctx, node, req, resp)
}

// txnCoordinator returns the node that coordinates transactional id id
// (FindCoordinator key type 1), or -1 if none does now.
func (b *Broker) txnCoordinator(id string) int32 {
	leader, _ := brokerTxnIO{b}.markerLeader(txn.TopicPartition{Topic: txnStateTopic, Partition: b.txns.PartitionFor(id)})
	return leader
}

func (io brokerTxnIO) nextProducerID(ctx context.Context) (int64, error) {
	return io.b.pids.Next(ctx)
}

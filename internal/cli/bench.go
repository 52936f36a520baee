package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/internal/bench"
)

// defaultBenchRecords is the record count of `strata bench produce` given
// neither --records nor --duration.
const defaultBenchRecords = 1_000_000

func newBenchCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-test a Kafka-compatible cluster: produce, consume, end-to-end latency",
		Long: `Generate load against any Kafka-compatible cluster (--brokers) and measure it,
in the manner of Kafka's producer and consumer perf tools and the OpenMessaging
Benchmark.

Every second a progress line (records/s and MB/s over the last second, latency
p50/p99 so far) goes to stderr. At the end a summary goes to stdout: records,
bytes, seconds, records/s, MB/s (MiB, 2^20 bytes, per second) and latency
p50, p95, p99, p99.9 and max in milliseconds from an HDR histogram with
microsecond resolution. With --json the summary is instead one JSON object:
  mode, topic, records, bytes, seconds, records_per_sec, mb_per_sec,
  latency_us {count, min, mean, p50, p95, p99, p99_9, max}  (microseconds;
  absent for consume),
  transactions {committed, aborted, committed_records, aborted_records,
  commit_latency_us {as latency_us}}  (produce --transactional only)
SIGINT or SIGTERM ends a run early; it still prints the summary so far.`,
		Example: `  strata bench produce --topic bench --records 1000000 --record-size 1024 --acks all
  strata bench consume --topic bench --consumers 3
  strata bench e2e --topic bench-e2e --rate 50000 --duration 30s --json`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	cmd.AddCommand(newBenchProduceCommand(opts), newBenchConsumeCommand(opts), newBenchE2ECommand(opts), newBenchConnectCommand(opts))
	return cmd
}

// benchProducerFlags are the flags of the commands that produce.
type benchProducerFlags struct {
	topic         string
	partitions    int32
	replication   int16
	recordSize    int
	compressible  bool
	acks          string
	compression   string
	linger        time.Duration
	batchMaxBytes int32
	partitioner   string
	json          bool
}

// register adds the flags to f, with topic as the default --topic and
// linger as the default --linger.
func (bf *benchProducerFlags) register(f *pflag.FlagSet, topic string, linger time.Duration) {
	f.StringVar(&bf.topic, "topic", topic, "topic to write to; created if missing")
	f.Int32Var(&bf.partitions, "partitions", 6, "partitions of the topic if it is created")
	f.Int16Var(&bf.replication, "replication-factor", -1, "replication factor of the topic if it is created; -1 for the broker's default")
	f.IntVar(&bf.recordSize, "record-size", 1024, "value bytes per record")
	f.BoolVar(&bf.compressible, "compressible", false, "use repeated text as values instead of random (incompressible) bytes")
	f.StringVar(&bf.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&bf.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	f.DurationVar(&bf.linger, "linger", linger, "how long a partition's batch waits for more records")
	f.Int32Var(&bf.batchMaxBytes, "batch-max-bytes", 1_000_012, "largest record batch, before compression")
	f.StringVar(&bf.partitioner, "partitioner", "sticky", "how records (which have no key) pick a partition: sticky (Kafka's default: one partition per batch) or round-robin (each record the next partition, so every partition gets records)")
	f.BoolVar(&bf.json, "json", false, "print the summary as one JSON object")
}

// spec returns the topic and producer specs of the flags.
func (bf *benchProducerFlags) spec(opts *clientOptions) (bench.TopicSpec, bench.ProducerSpec, error) {
	pf := produceFlags{acks: bf.acks, compression: bf.compression, partition: -1}
	kopts, err := pf.producerOpts(opts)
	if err != nil {
		return bench.TopicSpec{}, bench.ProducerSpec{}, err
	}
	if bf.linger < 0 {
		return bench.TopicSpec{}, bench.ProducerSpec{}, fmt.Errorf("--linger must be >= 0, got %s", bf.linger)
	}
	kopts = append(kopts, kgo.ProducerLinger(bf.linger), kgo.ProducerBatchMaxBytes(bf.batchMaxBytes))
	if bf.acks != "all" && bf.acks != "-1" {
		// Without idempotence franz-go sends one produce request at a time
		// per broker; Kafka's producer, and so its perf tool, up to
		// max.in.flight.requests.per.connection (5).
		kopts = append(kopts, kgo.MaxProduceRequestsInflightPerBroker(5))
	}
	switch bf.partitioner {
	case "sticky": // franz-go's default, as Kafka's for keyless records (KIP-794)
	case "round-robin":
		kopts = append(kopts, kgo.RecordPartitioner(kgo.RoundRobinPartitioner()))
	default:
		return bench.TopicSpec{}, bench.ProducerSpec{}, fmt.Errorf("--partitioner %q: want sticky or round-robin", bf.partitioner)
	}
	return bench.TopicSpec{Topic: bf.topic, Partitions: bf.partitions, ReplicationFactor: bf.replication},
		bench.ProducerSpec{RecordSize: bf.recordSize, Compressible: bf.compressible, NewClient: opts.newClient, ProducerOpts: kopts},
		nil
}

func newBenchProduceCommand(opts *clientOptions) *cobra.Command {
	var (
		bf        benchProducerFlags
		records   int64
		duration  time.Duration
		producers int
		rate      float64
		txn       benchTxnFlags
	)
	cmd := &cobra.Command{
		Use:   "produce",
		Short: "Measure producer throughput and acknowledgement latency",
		Long: `Produce records of --record-size bytes to --topic (created with --partitions if
missing) from --producers separate clients, until --records records were
acknowledged or --duration passed, whichever comes first (with neither: 1000000
records). --rate caps the total records per second over all producers on a
fixed schedule; 0 sends as fast as the cluster takes them.

A record's latency is its acknowledgement time minus its send time. With
--rate the send time is the record's intended time on the schedule, so a
producer that falls behind (a full buffer, a slow cluster) shows that delay
in the latency instead of hiding it (no coordinated omission). Unthrottled,
latency includes the time a record waits in the client's buffer.

--transactional makes every producer a transactional one (transactional id
strata-bench-TOPIC-N, N from 0), as Kafka's producer perf tool with
--transaction-duration-ms: each ends its transaction every --txn-interval
(it flushes, then commits) and begins the next, so read_committed consumers
see the records one transaction at a time. --abort-every K aborts every K-th
transaction of each producer instead (its records are still counted as
produced). The summary adds the transactions committed and aborted and the
commit latency: the EndTxn round trip of each commit once its records were
acknowledged. Two runs on the same topic at once fence each other's
producers.`,
		Example: `  strata bench produce --topic bench --records 2000000 --record-size 1024 --acks all
  strata bench produce --topic bench --duration 1m --rate 100000 --producers 4 --compression zstd --compressible
  strata bench produce --topic bench-txn --records 2000000 --transactional --txn-interval 100ms`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, ps, err := bf.spec(opts)
			if err != nil {
				return err
			}
			if records == 0 && duration == 0 {
				records = defaultBenchRecords
			}
			tx, err := txn.spec(cmd, bf)
			if err != nil {
				return err
			}
			return runBench(cmd, bf.json, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.Produce(ctx, bench.ProduceConfig{TopicSpec: ts, ProducerSpec: ps,
					Records: records, Duration: duration, Producers: producers, Rate: rate, Txn: tx, Progress: progress})
			})
		},
	}
	f := cmd.Flags()
	bf.register(f, "strata-bench", time.Millisecond) // OpenMessaging Benchmark's Kafka producers linger 1 ms
	f.Int64Var(&records, "records", 0, "records to produce (default 1000000 unless --duration is given)")
	f.DurationVar(&duration, "duration", 0, "how long to produce")
	f.IntVar(&producers, "producers", 1, "producer clients sending concurrently")
	f.Float64Var(&rate, "rate", 0, "records per second over all producers; 0 for no limit")
	f.BoolVar(&txn.on, "transactional", false, "produce in transactions, one transactional id per producer")
	f.DurationVar(&txn.interval, "txn-interval", 100*time.Millisecond, "with --transactional: how long each transaction stays open before it commits")
	f.IntVar(&txn.abortEvery, "abort-every", 0, "with --transactional: abort every K-th transaction of each producer instead of committing it; 0 never")
	return cmd
}

// benchTxnFlags are the transaction flags of `strata bench produce`.
type benchTxnFlags struct {
	on         bool
	interval   time.Duration
	abortEvery int
}

// spec returns the workload's TxnSpec: zero without --transactional, whose
// companions are then refused, as is a producer without idempotence.
func (tf benchTxnFlags) spec(cmd *cobra.Command, bf benchProducerFlags) (bench.TxnSpec, error) {
	if !tf.on {
		for _, name := range []string{"txn-interval", "abort-every"} {
			if cmd.Flags().Changed(name) {
				return bench.TxnSpec{}, fmt.Errorf("--%s needs --transactional", name)
			}
		}
		return bench.TxnSpec{}, nil
	}
	if bf.acks != "all" && bf.acks != "-1" {
		return bench.TxnSpec{}, fmt.Errorf("--transactional needs --acks all (a transactional producer is idempotent), got %s", bf.acks)
	}
	if tf.interval <= 0 {
		return bench.TxnSpec{}, fmt.Errorf("--txn-interval must be > 0, got %s", tf.interval)
	}
	return bench.TxnSpec{Interval: tf.interval, AbortEvery: tf.abortEvery, IDPrefix: "strata-bench-" + bf.topic}, nil
}

func newBenchConsumeCommand(opts *clientOptions) *cobra.Command {
	var (
		topic     string
		records   int64
		duration  time.Duration
		consumers int
		group     string
		fetchSize int32
		isolation string
		asJSON    bool
	)
	cmd := &cobra.Command{
		Use:   "consume",
		Short: "Measure catch-up consumer throughput",
		Long: `Read --topic from the start of every partition and measure throughput. The run
ends after --records records or --duration, whichever comes first; with neither
it reads every record the topic held when it started.

--consumers C starts C clients. Without --group each reads its share of the
partitions (extra clients beyond the partition count are not started); with
--group G all of them join group G and the group divides the partitions.
The group commits no offsets, so runs repeat; a group with offsets committed
elsewhere resumes from them. Seconds include the group join. The run fails
when no record arrives for --timeout while records are still expected.

--fetch-size is the most one fetch returns per partition
(max.partition.fetch.bytes). One franz-go client decodes its fetch responses
on one goroutine, so a catch-up read on several cores wants several
consumers and fetches larger than the 1 MiB default.

--isolation-level read_committed reads as Kafka's read_committed consumers
do: up to the last stable offset, without the records of aborted
transactions. Reading everything present then means everything below the
last stable offset at the start. Transaction markers are never counted as
records.`,
		Example: `  strata bench consume --topic bench
  strata bench consume --topic bench --consumers 3 --fetch-size 4194304
  strata bench consume --topic bench --consumers 3 --group bench-readers --json
  strata bench consume --topic bench-txn --isolation-level read_committed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var committed bool
			switch isolation {
			case "read_uncommitted":
			case "read_committed":
				committed = true
			default:
				return fmt.Errorf("--isolation-level %q: want read_uncommitted or read_committed", isolation)
			}
			return runBench(cmd, asJSON, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.Consume(ctx, bench.ConsumeConfig{Topic: topic, Records: records, Duration: duration,
					Consumers: consumers, Group: group, FetchSize: fetchSize, ReadCommitted: committed,
					IdleTimeout: opts.timeout, NewClient: opts.newClient, Progress: progress})
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&topic, "topic", "strata-bench", "topic to read")
	f.Int64Var(&records, "records", 0, "records to read (default: all present at the start)")
	f.DurationVar(&duration, "duration", 0, "how long to read")
	f.IntVar(&consumers, "consumers", 1, "consumer clients reading concurrently")
	f.StringVarP(&group, "group", "g", "", "consume as members of this consumer group")
	f.Int32Var(&fetchSize, "fetch-size", 0, "most bytes one fetch returns per partition (default: the client's 1 MiB)")
	f.StringVar(&isolation, "isolation-level", "read_uncommitted", "read_uncommitted, or read_committed: only committed transactions, up to the last stable offset")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	return cmd
}

func newBenchE2ECommand(opts *clientOptions) *cobra.Command {
	var (
		bf       benchProducerFlags
		rate     float64
		duration time.Duration
		warmup   time.Duration
	)
	cmd := &cobra.Command{
		Use:   "e2e",
		Short: "Measure end-to-end latency at a fixed produce rate",
		Long: `Produce to --topic at --rate records per second for --duration while a consumer
reads the topic's partitions from their current end, and measure each record's
end-to-end latency: the consumer's receipt time minus the send time the
producer wrote into the first 8 bytes of the value (Unix nanoseconds,
big-endian), so --record-size must be at least 8. Use a topic nothing else
writes to.

The send time is the record's intended time on the fixed-rate schedule, not
when it actually left: if the producer or the cluster falls behind, the delay
counts in the latency (no coordinated omission). After the producer stops the
run waits until every acknowledged record arrived, and fails when none
arrives for --timeout. The summary's records, bytes and latency are the
consumer's. With --warmup the same schedule runs that long first and its
records are left out of the summary, so that the first connections and
fetches do not count.`,
		Example: `  strata bench e2e --topic bench-e2e --rate 50000 --record-size 1024 --duration 20s`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, ps, err := bf.spec(opts)
			if err != nil {
				return err
			}
			return runBench(cmd, bf.json, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.EndToEnd(ctx, bench.E2EConfig{TopicSpec: ts, ProducerSpec: ps,
					Rate: rate, Duration: duration, Warmup: warmup, IdleTimeout: opts.timeout, Progress: progress})
			})
		},
	}
	f := cmd.Flags()
	bf.register(f, "strata-bench-e2e", 0) // as Kafka's EndToEndLatency tool: linger.ms=0
	f.Float64Var(&rate, "rate", 1000, "records per second")
	f.DurationVar(&duration, "duration", 10*time.Second, "how long to produce")
	f.DurationVar(&warmup, "warmup", 0, "how long to produce first without measuring")
	return cmd
}

func newBenchConnectCommand(opts *clientOptions) *cobra.Command {
	var (
		count  int
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "connect",
		Short: "Measure connection setup time (TLS handshake, SASL authentication)",
		Long: `Open --count connections one after another, each a new client that connects to
the first of --brokers (TCP, the TLS handshake, ApiVersions, the SASL exchange:
the security settings come from --command-config and -X) and asks it for
metadata, and report the setup latency percentiles: from the client's creation
to that first answer.`,
		Example: `  strata bench connect --brokers 127.0.0.1:9095 --count 500 \
    -X security.protocol=SASL_PLAINTEXT -X sasl.mechanism=SCRAM-SHA-512 -X sasl.username=alice -X sasl.password=s3cret`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			seeds, err := opts.seeds()
			if err != nil {
				return err
			}
			newClient := func(extra ...kgo.Opt) (*kgo.Client, error) {
				return opts.newClient(append(extra, kgo.SeedBrokers(seeds[0]))...)
			}
			return runBench(cmd, asJSON, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.Connect(ctx, bench.ConnectConfig{NewClient: newClient, Count: count, Progress: progress})
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&count, "count", 200, "connections to set up")
	f.BoolVar(&asJSON, "json", false, "print the summary as one JSON object")
	return cmd
}

// runBench runs one workload with progress to stderr, stopping early on
// SIGINT or SIGTERM, and prints its summary to stdout as text or JSON.
func runBench(cmd *cobra.Command, asJSON bool, run func(context.Context, io.Writer) (bench.Summary, error)) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := run(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	if asJSON {
		err = sum.WriteJSON(cmd.OutOrStdout())
	} else {
		err = sum.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

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
  absent for consume)
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
latency includes the time a record waits in the client's buffer.`,
		Example: `  strata bench produce --topic bench --records 2000000 --record-size 1024 --acks all
  strata bench produce --topic bench --duration 1m --rate 100000 --producers 4 --compression zstd --compressible`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, ps, err := bf.spec(opts)
			if err != nil {
				return err
			}
			if records == 0 && duration == 0 {
				records = defaultBenchRecords
			}
			return runBench(cmd, bf.json, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.Produce(ctx, bench.ProduceConfig{TopicSpec: ts, ProducerSpec: ps,
					Records: records, Duration: duration, Producers: producers, Rate: rate, Progress: progress})
			})
		},
	}
	f := cmd.Flags()
	bf.register(f, "strata-bench", time.Millisecond) // OpenMessaging Benchmark's Kafka producers linger 1 ms
	f.Int64Var(&records, "records", 0, "records to produce (default 1000000 unless --duration is given)")
	f.DurationVar(&duration, "duration", 0, "how long to produce")
	f.IntVar(&producers, "producers", 1, "producer clients sending concurrently")
	f.Float64Var(&rate, "rate", 0, "records per second over all producers; 0 for no limit")
	return cmd
}

func newBenchConsumeCommand(opts *clientOptions) *cobra.Command {
	var (
		topic     string
		records   int64
		duration  time.Duration
		consumers int
		group     string
		fetchSize int32
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
consumers and fetches larger than the 1 MiB default.`,
		Example: `  strata bench consume --topic bench
  strata bench consume --topic bench --consumers 3 --fetch-size 4194304
  strata bench consume --topic bench --consumers 3 --group bench-readers --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, asJSON, func(ctx context.Context, progress io.Writer) (bench.Summary, error) {
				return bench.Consume(ctx, bench.ConsumeConfig{Topic: topic, Records: records, Duration: duration,
					Consumers: consumers, Group: group, FetchSize: fetchSize, IdleTimeout: opts.timeout, NewClient: opts.newClient, Progress: progress})
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

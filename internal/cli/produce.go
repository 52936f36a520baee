package cli

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"
)

// produceFlags are the flags of `strata produce`.
type produceFlags struct {
	keySeparator string
	headers      []string
	partition    int32
	acks         string
	compression  string
}

func newProduceCommand(opts *clientOptions) *cobra.Command {
	var pf produceFlags
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write lines from stdin to a topic, one record per line",
		Long: `Read stdin line by line and produce each line as one record to TOPIC. The line
ending ("\n" or "\r\n") is not part of the record; an empty line is a record
with an empty value.

With --key-separator SEP each line is split at the first SEP into key and
value; a line without SEP is an error. Without it records have no key.
Every --header k=v is added to every record. Records go to the partition the
client's default partitioner picks (by key hash, or sticky for no key) unless
--partition is given.

At end of input all records are flushed and the count is printed to stderr.
The command fails on the first record the cluster rejects, after flushing
what was already sent. A topic that does not exist is created if the broker
allows automatic topic creation.`,
		Example: `  echo hello | strata produce orders
  printf 'k1:v1\nk2:v2\n' | strata produce orders --key-separator :
  strata produce orders --header source=cli --acks 1 --compression zstd < events.txt`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runProduce(cmd, opts, &pf, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&pf.keySeparator, "key-separator", "", "split each line into key and value at the first occurrence of this string")
	f.StringArrayVar(&pf.headers, "header", nil, "header key=value added to every record; repeatable")
	f.Int32Var(&pf.partition, "partition", -1, "produce every record to this partition; -1 for the client's partitioner")
	f.StringVar(&pf.acks, "acks", "all", "acknowledgements to wait for: all, 1 or 0")
	f.StringVar(&pf.compression, "compression", "none", "batch compression: none, gzip, snappy, lz4 or zstd")
	return cmd
}

// producerOpts turns the flags into kgo options.
func (pf *produceFlags) producerOpts(opts *clientOptions) ([]kgo.Opt, error) {
	out := []kgo.Opt{
		kgo.AllowAutoTopicCreation(),
		kgo.RecordDeliveryTimeout(opts.timeout),
	}
	switch pf.acks {
	case "all", "-1":
		out = append(out, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		out = append(out, kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	case "0":
		out = append(out, kgo.RequiredAcks(kgo.NoAck()), kgo.DisableIdempotentWrite())
	default:
		return nil, fmt.Errorf("--acks %q: want all, 1 or 0", pf.acks)
	}
	codecs := map[string]kgo.CompressionCodec{
		"none":   kgo.NoCompression(),
		"gzip":   kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(),
		"lz4":    kgo.Lz4Compression(),
		"zstd":   kgo.ZstdCompression(),
	}
	codec, ok := codecs[pf.compression]
	if !ok {
		return nil, fmt.Errorf("--compression %q: want none, gzip, snappy, lz4 or zstd", pf.compression)
	}
	out = append(out, kgo.ProducerBatchCompression(codec))
	if pf.partition >= 0 {
		out = append(out, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	return out, nil
}

// produceResult collects the outcome of asynchronous produces.
type produceResult struct {
	mu    sync.Mutex
	count int
	err   error // first failure
}

func (r *produceResult) done(_ *kgo.Record, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.err == nil {
			r.err = err
		}
		return
	}
	r.count++
}

func (r *produceResult) failed() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

func runProduce(cmd *cobra.Command, opts *clientOptions, pf *produceFlags, topic string) error {
	var headers []kgo.RecordHeader
	for _, h := range pf.headers {
		k, v, err := splitKeyValue(h)
		if err != nil {
			return fmt.Errorf("--header: %w", err)
		}
		headers = append(headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
	}
	if pf.partition < -1 {
		return fmt.Errorf("--partition must be >= 0, got %d", pf.partition)
	}
	kopts, err := pf.producerOpts(opts)
	if err != nil {
		return err
	}
	cl, err := opts.newClient(kopts...)
	if err != nil {
		return err
	}
	defer cl.Close()

	ctx := cmd.Context()
	res := &produceResult{}
	in := bufio.NewReaderSize(cmd.InOrStdin(), 64<<10)
	readErr := func() error {
		for line := 1; ; line++ {
			if res.failed() != nil {
				return nil
			}
			b, err := in.ReadBytes('\n')
			if len(b) == 0 && err != nil {
				if errors.Is(err, io.EOF) {
					return nil
				}
				return fmt.Errorf("read stdin: %w", err)
			}
			b = bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
			rec := &kgo.Record{Topic: topic, Value: b, Headers: headers}
			if pf.keySeparator != "" {
				k, v, ok := bytes.Cut(b, []byte(pf.keySeparator))
				if !ok {
					return fmt.Errorf("stdin line %d: key separator %q not found", line, pf.keySeparator)
				}
				rec.Key, rec.Value = k, v
			}
			if pf.partition >= 0 {
				rec.Partition = pf.partition
			}
			cl.Produce(ctx, rec, res.done)
		}
	}()

	flushErr := cl.Flush(ctx)
	res.mu.Lock()
	count, prodErr := res.count, res.err
	res.mu.Unlock()
	fmt.Fprintf(cmd.ErrOrStderr(), "produced %d records to %q\n", count, topic)
	switch {
	case prodErr != nil:
		return opts.requestErr(fmt.Sprintf("produce to %q", topic), prodErr)
	case readErr != nil:
		return readErr
	case flushErr != nil:
		return fmt.Errorf("flush: %w", flushErr)
	}
	return nil
}

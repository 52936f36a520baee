package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeFlags are the flags of `strata consume`.
type consumeFlags struct {
	from      string
	partition int32
	count     int
	format    string
	idleExit  time.Duration
}

func newConsumeCommand(opts *clientOptions) *cobra.Command {
	var cf consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic to stdout",
		Long: `Read records from TOPIC (every partition, or the one given by --partition) and
print them to stdout. No consumer group is used and no offsets are committed.

--from chooses where reading starts in each partition:
  end (default)       only records produced from now on (Kafka's "latest")
  beginning           the oldest record still kept
  OFFSET              this offset (clamped to the partition's log start and end)
  RFC 3339 time       the first record at or after that time, e.g. 2024-05-01T12:00:00Z
  @UNIX_MILLIS        the same, as Unix milliseconds, e.g. @1714564800000

--format chooses how each record is printed:
  value (default)     the value
  kv                  key, a tab, the value
  full                partition:P offset:O timestamp:T key:K headers:k=v,... value:V (tab-separated)
  json                one JSON object per line: topic, partition, offset,
                      timestamp (Unix ms), key, headers [{key, value}], value
A null key or value prints as "null" in the text formats and null in json.

The command runs until SIGINT or SIGTERM, until -n records were printed, or
until --idle-exit passes without a record; each of these exits with status 0.
With several partitions, records of one partition keep their order; records
of different partitions interleave.`,
		Example: `  strata consume orders
  strata consume orders --from beginning -n 10 --format kv
  strata consume orders --partition 2 --from 1500 --format full
  strata consume orders --from 2024-05-01T12:00:00Z --format json --idle-exit 2s`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConsume(cmd, opts, &cf, args[0])
		},
	}
	f := cmd.Flags()
	f.StringVar(&cf.from, "from", "end", "where to start: beginning, end, OFFSET, RFC 3339 time or @UNIX_MILLIS")
	f.Int32Var(&cf.partition, "partition", -1, "consume only this partition; -1 for all")
	f.IntVarP(&cf.count, "count", "n", 0, "exit after this many records (default: no limit)")
	f.StringVar(&cf.format, "format", "value", "output format: "+recordFormatNames)
	f.DurationVar(&cf.idleExit, "idle-exit", 0, "exit after no record arrived for this long (default: never)")
	return cmd
}

func runConsume(cmd *cobra.Command, opts *clientOptions, cf *consumeFlags, topic string) error {
	write, ok := recordFormats[cf.format]
	if !ok {
		return fmt.Errorf("--format %q: want %s", cf.format, recordFormatNames)
	}
	start, err := parseFrom(cf.from)
	if err != nil {
		return err
	}
	switch {
	case cf.count < 0:
		return fmt.Errorf("--count must be >= 0, got %d", cf.count)
	case cf.idleExit < 0:
		return fmt.Errorf("--idle-exit must be >= 0, got %s", cf.idleExit)
	case cf.partition < -1:
		return fmt.Errorf("--partition must be >= 0, got %d", cf.partition)
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	offsets, err := consumeOffsets(ctx, opts, topic, cf.partition, start)
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before the first record
		}
		return err
	}
	reset := kgo.NewOffset().AtStart()
	if start.kind == startEnd {
		reset = kgo.NewOffset().AtEnd()
	}
	cl, err := opts.newClient(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets}),
		kgo.ConsumeResetOffset(reset),
	)
	if err != nil {
		return err
	}
	defer cl.Close()

	out := bufio.NewWriter(cmd.OutOrStdout())
	defer out.Flush()
	printed := 0
	for {
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if cf.idleExit > 0 {
			pollCtx, cancel = context.WithTimeout(ctx, cf.idleExit)
		}
		max := 0
		if cf.count > 0 {
			max = cf.count - printed
		}
		fetches := cl.PollRecords(pollCtx, max)
		cancel()
		if err := fetchError(fetches); err != nil {
			return err
		}
		for it := fetches.RecordIter(); !it.Done(); {
			if err := write(out, it.Next()); err != nil {
				return fmt.Errorf("write record: %w", err)
			}
			printed++
			if cf.count > 0 && printed >= cf.count {
				return out.Flush()
			}
		}
		if err := out.Flush(); err != nil {
			return fmt.Errorf("write records: %w", err)
		}
		// Stopped by a signal or the caller, or idle for --idle-exit.
		if ctx.Err() != nil || (fetches.NumRecords() == 0 && pollCtx.Err() != nil) {
			return nil
		}
	}
}

// fetchError returns the first real partition error of fetches, ignoring
// the errors injected when the poll's context ends or the client closes.
func fetchError(fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, partition int32, err error) {
		if first != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		first = fmt.Errorf("consume topic %q partition %d: %w", topic, partition, err)
	})
	return first
}

// consumeOffsets checks that the topic (and partition, if >= 0) exists and
// returns the offset to start at in each partition to consume.
func consumeOffsets(ctx context.Context, opts *clientOptions, topic string, partition int32, start startOffset) (map[int32]kgo.Offset, error) {
	adm, err := opts.newAdmin()
	if err != nil {
		return nil, err
	}
	defer adm.Close()
	ctx, cancel := opts.withTimeout(ctx)
	defer cancel()

	topics, err := existingTopics(ctx, opts, adm, []string{topic})
	if err != nil {
		return nil, err
	}
	parts := topics[topic].Partitions
	if partition >= 0 {
		if _, ok := parts[partition]; !ok {
			return nil, fmt.Errorf("topic %q has no partition %d (it has %d)", topic, partition, len(parts))
		}
	}
	var starts, ends kadm.ListedOffsets
	if start.kind == startAt {
		if starts, err = adm.ListStartOffsets(ctx, topic); err != nil {
			return nil, opts.requestErr("list start offsets", err)
		}
		if ends, err = adm.ListEndOffsets(ctx, topic); err != nil {
			return nil, opts.requestErr("list end offsets", err)
		}
	}
	offsets := make(map[int32]kgo.Offset)
	for p := range parts {
		if partition >= 0 && p != partition {
			continue
		}
		switch start.kind {
		case startEnd:
			offsets[p] = kgo.NewOffset().AtEnd()
		case startBeginning:
			offsets[p] = kgo.NewOffset().AtStart()
		case startAfterMilli:
			offsets[p] = kgo.NewOffset().AfterMilli(start.milli)
		case startAt:
			lo, err := listedOffset(starts, topic, p)
			if err != nil {
				return nil, err
			}
			hi, err := listedOffset(ends, topic, p)
			if err != nil {
				return nil, err
			}
			offsets[p] = kgo.NewOffset().At(min(max(start.offset, lo), hi))
		}
	}
	return offsets, nil
}

// listedOffset returns the listed offset of one partition.
func listedOffset(l kadm.ListedOffsets, topic string, partition int32) (int64, error) {
	o, ok := l.Lookup(topic, partition)
	switch {
	case !ok:
		return 0, fmt.Errorf("list offsets: no answer for topic %q partition %d", topic, partition)
	case o.Err != nil:
		return 0, fmt.Errorf("list offsets of topic %q partition %d: %w", topic, partition, o.Err)
	}
	return o.Offset, nil
}

// startOffset is where `strata consume` starts in each partition.
type startOffset struct {
	kind   startKind
	offset int64 // startAt: the offset
	milli  int64 // startAfterMilli: Unix milliseconds
}

type startKind int

const (
	startEnd        startKind = iota // the partition's end: new records only
	startBeginning                   // the partition's log start
	startAt                          // an exact offset
	startAfterMilli                  // the first record at or after a time
)

// parseFrom parses --from: "beginning" (or "earliest"), "end" (or
// "latest"), a non-negative offset, an RFC 3339 time, or "@" and Unix
// milliseconds.
func parseFrom(s string) (startOffset, error) {
	switch s {
	case "end", "latest":
		return startOffset{kind: startEnd}, nil
	case "beginning", "earliest":
		return startOffset{kind: startBeginning}, nil
	}
	if ms, ok := strings.CutPrefix(s, "@"); ok {
		n, err := strconv.ParseInt(ms, 10, 64)
		if err != nil || n < 0 {
			return startOffset{}, fmt.Errorf("--from %q: want @ and non-negative Unix milliseconds", s)
		}
		return startOffset{kind: startAfterMilli, milli: n}, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return startOffset{}, fmt.Errorf("--from %q: offset must be >= 0", s)
		}
		return startOffset{kind: startAt, offset: n}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return startOffset{kind: startAfterMilli, milli: t.UnixMilli()}, nil
	}
	return startOffset{}, fmt.Errorf("--from %q: want beginning, end, an offset, an RFC 3339 time or @UNIX_MILLIS", s)
}

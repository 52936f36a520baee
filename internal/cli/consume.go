package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
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
	group     string
}

func newConsumeCommand(opts *clientOptions) *cobra.Command {
	var cf consumeFlags
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Print records of a topic to stdout, alone or as a member of a consumer group",
		Long: `Read records from TOPIC (every partition, or the one given by --partition) and
print them to stdout. Without --group no consumer group is used and no offsets
are committed.

--from chooses where reading starts in each partition:
  end (default)       only records produced from now on (Kafka's "latest")
  beginning           the oldest record still kept
  OFFSET              this offset (clamped to the partition's log start and end)
  RFC 3339 time       the first record at or after that time, e.g. 2024-05-01T12:00:00Z
  @UNIX_MILLIS        the same, as Unix milliseconds, e.g. @1714564800000

With --group G the command joins consumer group G and reads only the
partitions the group assigns to it, so several "strata consume --group G"
(or any other Kafka consumers of G) share the topic's partitions. It commits
the offsets of the records it printed every 5 seconds, before partitions are
taken away in a rebalance, and on exit, so the next member of G continues
exactly after the last printed record. --from then applies only to
partitions for which G has no committed offset (Kafka's auto.offset.reset).
--partition cannot be combined with --group.

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
of different partitions interleave. With --group, --idle-exit counts only once
the group has assigned partitions to this member.`,
		Example: `  strata consume orders
  strata consume orders --group billing --from beginning
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
	f.StringVarP(&cf.group, "group", "g", "", "consume as a member of this consumer group, committing offsets")
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
	case cf.group != "" && cmd.Flags().Changed("partition"):
		return errors.New("--partition cannot be used with --group: the group assigns the partitions")
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var c *consumer
	if cf.group == "" {
		c, err = newPartitionConsumer(ctx, opts, topic, cf.partition, start)
	} else {
		c, err = newGroupConsumer(ctx, opts, cmd.ErrOrStderr(), cf.group, topic, start)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // interrupted before the first record
		}
		return err
	}
	defer c.cl.Close()

	out := bufio.NewWriter(cmd.OutOrStdout())
	err = c.print(ctx, out, write, cf)
	if ferr := out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("write records: %w", ferr)
	}
	if cerr := c.commit(ctx, opts); err == nil {
		err = cerr
	}
	return err
}

// consumer is the client of `strata consume` and, with a group, what it
// needs to commit.
type consumer struct {
	cl    *kgo.Client
	group string // "" when consuming partitions directly
	// assigned is set once the group has assigned partitions (always set
	// without a group); until then --idle-exit does not count.
	assigned atomic.Bool
}

// newPartitionConsumer returns a consumer of the partitions of topic (all,
// or only partition if >= 0), starting at start.
func newPartitionConsumer(ctx context.Context, opts *clientOptions, topic string, partition int32, start startOffset) (*consumer, error) {
	offsets, err := consumeOffsets(ctx, opts, topic, partition, start)
	if err != nil {
		return nil, err
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
		return nil, err
	}
	c := &consumer{cl: cl}
	c.assigned.Store(true)
	return c, nil
}

// newGroupConsumer returns a consumer of topic as a member of group. A
// partition without a committed offset starts at start. Offsets of printed
// records are marked and committed every few seconds, before partitions are
// revoked (errors are reported to stderr) and by commit. Rebalances wait
// while a polled batch is being printed, so a commit never covers a record
// that was not printed and never happens for a partition no longer owned.
func newGroupConsumer(ctx context.Context, opts *clientOptions, stderr io.Writer, group, topic string, start startOffset) (*consumer, error) {
	if err := checkTopicExists(ctx, opts, topic); err != nil {
		return nil, err
	}
	c := &consumer{group: group}
	cl, err := opts.newClient(
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(start.kgoOffset()),
		kgo.AutoCommitMarks(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			c.assigned.Store(true)
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				fmt.Fprintf(stderr, "commit offsets of group %q before rebalance: %v\n", group, err)
			}
		}),
	)
	if err != nil {
		return nil, err
	}
	c.cl = cl
	return c, nil
}

// checkTopicExists returns an error unless topic exists.
func checkTopicExists(ctx context.Context, opts *clientOptions, topic string) error {
	adm, ctx, done, err := opts.openAdmin(ctx)
	if err != nil {
		return err
	}
	defer done()
	_, err = existingTopics(ctx, opts, adm, []string{topic})
	return err
}

// print polls records and writes each with write to out until ctx ends,
// cf.count records were printed, or cf.idleExit passed without a record.
// In a group, each printed record is marked for commit.
func (c *consumer) print(ctx context.Context, out *bufio.Writer, write func(io.Writer, *kgo.Record) error, cf *consumeFlags) error {
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
		wasAssigned := c.assigned.Load()
		fetches := c.cl.PollRecords(pollCtx, max)
		cancel()
		done, err := c.printFetches(out, write, fetches, &printed, cf.count)
		if c.group != "" {
			c.cl.AllowRebalance()
		}
		if done || err != nil {
			return err
		}
		// Stopped by a signal or the caller, or idle for --idle-exit.
		if ctx.Err() != nil || (wasAssigned && fetches.NumRecords() == 0 && pollCtx.Err() != nil) {
			return nil
		}
	}
}

// printFetches writes the records of one poll and flushes out. It reports
// done when count (if > 0) records have been printed in all.
func (c *consumer) printFetches(out *bufio.Writer, write func(io.Writer, *kgo.Record) error, fetches kgo.Fetches, printed *int, count int) (done bool, err error) {
	if err := fetchError(fetches); err != nil {
		return false, err
	}
	for it := fetches.RecordIter(); !it.Done(); {
		r := it.Next()
		if err := write(out, r); err != nil {
			return false, fmt.Errorf("write record: %w", err)
		}
		if c.group != "" {
			c.cl.MarkCommitRecords(r)
		}
		*printed++
		if count > 0 && *printed >= count {
			return true, nil
		}
	}
	if err := out.Flush(); err != nil {
		return false, fmt.Errorf("write records: %w", err)
	}
	return false, nil
}

// commit commits the offsets of the printed records of a group consumer,
// within --timeout even when ctx has ended (as after SIGINT). It does
// nothing without a group.
func (c *consumer) commit(ctx context.Context, opts *clientOptions) error {
	if c.group == "" {
		return nil
	}
	ctx, cancel := opts.withTimeout(context.WithoutCancel(ctx))
	defer cancel()
	if err := c.cl.CommitMarkedOffsets(ctx); err != nil {
		return opts.requestErr(fmt.Sprintf("commit offsets of group %q", c.group), err)
	}
	return nil
}

// fetchError returns the first real partition error of fetches, ignoring
// the errors injected when the poll's context ends or the client closes.
func fetchError(fetches kgo.Fetches) error {
	var first error
	fetches.EachError(func(topic string, partition int32, err error) {
		if first != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kgo.ErrClientClosed) {
			return
		}
		if topic == "" { // not about a partition, e.g. failing to join the group
			first = fmt.Errorf("consume: %w", err)
			return
		}
		first = fmt.Errorf("consume topic %q partition %d: %w", topic, partition, err)
	})
	return first
}

// consumeOffsets checks that the topic (and partition, if >= 0) exists and
// returns the offset to start at in each partition to consume.
func consumeOffsets(ctx context.Context, opts *clientOptions, topic string, partition int32, start startOffset) (map[int32]kgo.Offset, error) {
	adm, ctx, done, err := opts.openAdmin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()

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

// kgoOffset returns s as a kgo offset. An exact offset outside the log is
// moved to the log start or end by the client.
func (s startOffset) kgoOffset() kgo.Offset {
	switch s.kind {
	case startBeginning:
		return kgo.NewOffset().AtStart()
	case startAt:
		return kgo.NewOffset().At(s.offset)
	case startAfterMilli:
		return kgo.NewOffset().AfterMilli(s.milli)
	default:
		return kgo.NewOffset().AtEnd()
	}
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupStates are the consumer group states a broker reports, as Kafka
// spells them; `group list --state` accepts them in any case.
var groupStates = []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Empty", "Dead"}

func newGroupCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe, reset the offsets of and delete consumer groups",
		Long: `Manage the consumer groups of a cluster through the Kafka admin APIs.

A consumer group is a set of consumers sharing the partitions of their topics;
the group's committed offsets record how far it has read each partition.
"strata consume TOPIC --group G" consumes as a member of group G.`,
		Example: `  strata group list
  strata group describe billing
  strata group reset-offsets billing --topic orders --to-earliest --dry-run
  strata group delete billing`,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		newGroupListCommand(opts),
		newGroupDescribeCommand(opts),
		newGroupResetOffsetsCommand(opts),
		newGroupDeleteCommand(opts),
	)
	return cmd
}

func newGroupListCommand(opts *clientOptions) *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups with their state and protocol type",
		Long: `List the cluster's groups, sorted by name, with their state (Empty, Stable,
PreparingRebalance, CompletingRebalance, Dead) and protocol type ("consumer"
for Kafka consumers; "-" for a group that only has committed offsets).

--state keeps only groups in the given states (any case; repeatable or
comma-separated).`,
		Example: `  strata group list
  strata group list --state stable,empty`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			filter, err := parseStates(groupStates, states)
			if err != nil {
				return err
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			groups, err := adm.ListGroups(ctx, filter...)
			if err != nil {
				return opts.requestErr("list groups", err)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
			for _, g := range groups.Sorted() {
				// Brokers before Kafka 2.6 ignore the filter: apply it here too.
				if len(filter) > 0 && !slices.Contains(filter, g.State) {
					continue
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, orDash(g.State), orDash(g.ProtocolType))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "list only groups in these states: "+strings.Join(groupStates, ", "))
	return cmd
}

// parseStates returns the states named in list, spelled as in valid (as
// brokers report them), or an error naming a state not in valid.
func parseStates(valid, list []string) ([]string, error) {
	var out []string
	for _, s := range list {
		i := slices.IndexFunc(valid, func(st string) bool { return strings.EqualFold(st, strings.TrimSpace(s)) })
		if i < 0 {
			return nil, fmt.Errorf("--state %q: want one of %s", s, strings.Join(valid, ", "))
		}
		out = append(out, valid[i])
	}
	return out, nil
}

func newGroupDescribeCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's state, members, committed offsets and lag",
		Long: `Describe each named consumer group: its state, protocol type and partition
assignor, its members (member ID, client ID, host and assigned partitions),
and per partition the group consumes or has committed: the committed offset,
the log end offset (high watermark), the lag (log end minus committed) and the
member it is assigned to. A partition without a committed offset shows "-" as
committed offset and lag; a partition assigned to no member shows "-" as
member.

It is an error if any named group does not exist; nothing is printed then.`,
		Example: `  strata group describe billing
  strata group describe billing audit`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			lags, err := adm.Lag(ctx, args...)
			if err != nil {
				return opts.requestErr("describe groups", err)
			}
			for _, name := range args {
				l, ok := lags[name]
				switch {
				case !ok:
					return fmt.Errorf("describe group %q: no answer", name)
				case errors.Is(l.DescribeErr, kerr.GroupIDNotFound), l.DescribeErr == nil && l.State == "Dead":
					return fmt.Errorf("group %q does not exist", name)
				case l.Error() != nil:
					return opts.requestErr(fmt.Sprintf("describe group %q", name), l.Error())
				}
			}
			out := cmd.OutOrStdout()
			for i, name := range args {
				if i > 0 {
					fmt.Fprintln(out)
				}
				if err := writeGroup(out, cmd.ErrOrStderr(), lags[name]); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// writeGroup prints one group's description to w, and to warn a warning
// per partition whose lag could not be computed (its offsets could not be
// fetched or listed).
func writeGroup(w, warn io.Writer, g kadm.DescribedGroupLag) error {
	fmt.Fprintf(w, "Group:          %s\n", g.Group)
	fmt.Fprintf(w, "State:          %s\n", g.State)
	fmt.Fprintf(w, "Protocol type:  %s\n", orDash(g.ProtocolType))
	fmt.Fprintf(w, "Assignor:       %s\n", orDash(g.Protocol))
	fmt.Fprintf(w, "Members:        %d\n", len(g.Members))
	if len(g.Members) > 0 {
		tw := newTable(w)
		fmt.Fprintln(tw, "MEMBER-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range g.Members {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.MemberID, orDash(m.ClientID), orDash(m.ClientHost), formatAssignment(m))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	rows := g.Lag.Sorted()
	if len(rows) == 0 {
		fmt.Fprintln(w, "Offsets:        (none)")
		return nil
	}
	fmt.Fprintln(w)
	tw := newTable(w)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER-ID")
	for _, r := range rows {
		committed, logEnd, lag, member := "-", "-", "-", "-"
		if r.Commit.At >= 0 {
			committed = fmt.Sprint(r.Commit.At)
		}
		if r.End.Err == nil {
			logEnd = fmt.Sprint(r.End.Offset)
		}
		if r.Err == nil && r.Commit.At >= 0 {
			lag = fmt.Sprint(r.Lag)
		}
		if r.Err != nil {
			fmt.Fprintf(warn, "warning: group %q topic %q partition %d: %v\n", g.Group, r.Topic, r.Partition, r.Err)
		}
		if r.Member != nil {
			member = r.Member.MemberID
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Topic, r.Partition, committed, logEnd, lag, member)
	}
	return tw.Flush()
}

// formatAssignment formats a consumer member's assigned partitions as
// formatPartitions does; "-" for a non-consumer assignment.
func formatAssignment(m kadm.DescribedGroupMember) string {
	a, ok := m.Assigned.AsConsumer()
	if !ok {
		return "-"
	}
	var set kadm.TopicsSet
	for _, t := range a.Topics {
		set.Add(t.Topic, t.Partitions...)
	}
	return formatPartitions(set)
}

// formatPartitions formats s as "topic:0,1;other:2" (no spaces, so a table
// splits on whitespace), topics and partitions sorted; "-" for none.
func formatPartitions(s kadm.TopicsSet) string {
	if len(s) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range s.Sorted() {
		parts = append(parts, t.Topic+":"+formatIDs(t.Partitions))
	}
	return strings.Join(parts, ";")
}

// orDash returns s, or "-" when s is empty.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newGroupDeleteCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups and their committed offsets",
		Long: `Delete each named consumer group with all its committed offsets. A group can
only be deleted while it has no members (state Empty); stop its consumers
first. Each group succeeds or fails on its own; the command fails if any
deletion failed.`,
		Example: `  strata group delete billing
  strata group delete billing audit`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteGroups(ctx, args...)
			if err != nil {
				return opts.requestErr("delete groups", err)
			}
			var errs []error
			for _, name := range args {
				r, err := resps.On(name, nil)
				if err == nil {
					err = r.Err
				}
				switch {
				case errors.Is(err, kerr.NonEmptyGroup):
					errs = append(errs, fmt.Errorf("delete group %q (stop its consumers first): %w", name, err))
				case err != nil:
					errs = append(errs, fmt.Errorf("delete group %q: %w", name, withMessage(err, r.ErrMessage)))
				default:
					fmt.Fprintf(cmd.OutOrStdout(), "deleted group %q\n", name)
				}
			}
			return errors.Join(errs...)
		},
	}
}

// requireInactive returns nil if group has no members (it is Empty, or does
// not exist yet), else an error saying why its offsets cannot be changed.
func requireInactive(ctx context.Context, opts *clientOptions, adm *kadm.Client, group string) error {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return opts.requestErr(fmt.Sprintf("describe group %q", group), err)
	}
	g, err := described.On(group, nil)
	if err == nil {
		err = g.Err
	}
	switch {
	case errors.Is(err, kerr.GroupIDNotFound):
		return nil
	case err != nil:
		return opts.requestErr(fmt.Sprintf("describe group %q", group), withMessage(err, g.ErrMessage))
	case g.State == "Empty", g.State == "Dead":
		return nil
	}
	return fmt.Errorf("group %q is %s with %d member(s): offsets can only be reset while the group is Empty; stop its consumers first",
		group, g.State, len(g.Members))
}

// resetFlags are the flags of `group reset-offsets`.
type resetFlags struct {
	topics     []string
	toEarliest bool
	toLatest   bool
	toOffset   int64
	toDatetime string
	dryRun     bool
}

func newGroupResetOffsetsCommand(opts *clientOptions) *cobra.Command {
	var rf resetFlags
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC[,TOPIC...] (--to-earliest | --to-latest | --to-offset N | --to-datetime TIME)",
		Short: "Set a group's committed offsets for every partition of topics",
		Long: `Set the committed offset of GROUP for every partition of each --topic, so the
group's consumers continue from there:
  --to-earliest       the partition's log start offset (re-read everything kept)
  --to-latest         the partition's log end offset (skip everything so far)
  --to-offset N       offset N, moved into [log start, log end] where it is outside
  --to-datetime TIME  the first record at or after TIME (RFC 3339, e.g.
                      2024-05-01T12:00:00Z), or the log end if there is none

Like Kafka's kafka-consumer-groups, this refuses to change a group that has
members (any state but Empty); stop its consumers first. A group that does
not exist yet is created with these offsets.

The table printed shows per partition the offset committed before ("-" for
none) and the new one. With --dry-run nothing is committed.`,
		Example: `  strata group reset-offsets billing --topic orders --to-earliest --dry-run
  strata group reset-offsets billing --topic orders,refunds --to-latest
  strata group reset-offsets billing --topic orders --to-offset 1500
  strata group reset-offsets billing --topic orders --to-datetime 2024-05-01T12:00:00Z`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResetOffsets(cmd, opts, &rf, args[0])
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&rf.topics, "topic", nil, "reset every partition of these topics; repeatable or comma-separated")
	f.BoolVar(&rf.toEarliest, "to-earliest", false, "reset to the log start offset")
	f.BoolVar(&rf.toLatest, "to-latest", false, "reset to the log end offset")
	f.Int64Var(&rf.toOffset, "to-offset", 0, "reset to this offset (clamped to the log start and end)")
	f.StringVar(&rf.toDatetime, "to-datetime", "", "reset to the first record at or after this RFC 3339 time")
	f.BoolVar(&rf.dryRun, "dry-run", false, "print the new offsets without committing them")
	return cmd
}

// target returns where the one --to-* flag given moves the offsets, or an
// error if there is not exactly one.
func (rf *resetFlags) target(cmd *cobra.Command) (startOffset, error) {
	var given []string
	for _, name := range []string{"to-earliest", "to-latest", "to-offset", "to-datetime"} {
		if cmd.Flags().Changed(name) {
			given = append(given, "--"+name)
		}
	}
	if len(given) != 1 {
		return startOffset{}, fmt.Errorf("give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime; got %d (%s)",
			len(given), strings.Join(given, ", "))
	}
	switch given[0] {
	case "--to-earliest":
		return startOffset{kind: startBeginning}, nil
	case "--to-latest":
		return startOffset{kind: startEnd}, nil
	case "--to-offset":
		if rf.toOffset < 0 {
			return startOffset{}, fmt.Errorf("--to-offset must be >= 0, got %d", rf.toOffset)
		}
		return startOffset{kind: startAt, offset: rf.toOffset}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, rf.toDatetime)
	if err != nil {
		return startOffset{}, fmt.Errorf("--to-datetime %q: want an RFC 3339 time such as 2024-05-01T12:00:00Z", rf.toDatetime)
	}
	return startOffset{kind: startAfterMilli, milli: t.UnixMilli()}, nil
}

func runResetOffsets(cmd *cobra.Command, opts *clientOptions, rf *resetFlags, group string) error {
	target, err := rf.target(cmd)
	if err != nil {
		return err
	}
	var topics []string
	for _, t := range rf.topics {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(topics, t) {
			topics = append(topics, t)
		}
	}
	if len(topics) == 0 {
		return errors.New("give the topics to reset with --topic")
	}

	adm, ctx, done, err := opts.openAdmin(cmd.Context())
	if err != nil {
		return err
	}
	defer done()

	details, err := existingTopics(ctx, opts, adm, topics)
	if err != nil {
		return err
	}
	if err := requireInactive(ctx, opts, adm, group); err != nil {
		return err
	}
	before, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return opts.requestErr(fmt.Sprintf("fetch offsets of group %q", group), err)
	}
	next, err := resetOffsets(ctx, opts, adm, details, topics, target)
	if err != nil {
		return err
	}

	if !rf.dryRun {
		resps, err := adm.CommitOffsets(ctx, group, next)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return opts.requestErr(fmt.Sprintf("commit offsets of group %q", group), err)
		}
	}
	tw := newTable(cmd.OutOrStdout())
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tOLD-OFFSET\tNEW-OFFSET")
	for _, o := range next.Sorted() {
		old := "-"
		if b, ok := before.Lookup(o.Topic, o.Partition); ok && b.Err == nil && b.At >= 0 {
			old = fmt.Sprint(b.At)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", o.Topic, o.Partition, old, o.At)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if rf.dryRun {
		fmt.Fprintf(cmd.ErrOrStderr(), "dry run: offsets of group %q not changed\n", group)
	} else {
		fmt.Fprintf(cmd.ErrOrStderr(), "committed %d offset(s) of group %q\n", len(next.Sorted()), group)
	}
	return nil
}

// resetOffsets returns the new offset of every partition of topics (whose
// metadata is in details) for target.
func resetOffsets(ctx context.Context, opts *clientOptions, adm *kadm.Client, details kadm.TopicDetails, topics []string, target startOffset) (kadm.Offsets, error) {
	var starts, ends, times kadm.ListedOffsets
	var err error
	if target.kind == startBeginning || target.kind == startAt {
		if starts, err = adm.ListStartOffsets(ctx, topics...); err != nil {
			return nil, opts.requestErr("list start offsets", err)
		}
	}
	if target.kind == startEnd || target.kind == startAt {
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			return nil, opts.requestErr("list end offsets", err)
		}
	}
	if target.kind == startAfterMilli {
		if times, err = adm.ListOffsetsAfterMilli(ctx, target.milli, topics...); err != nil {
			return nil, opts.requestErr("list offsets by time", err)
		}
	}
	next := make(kadm.Offsets)
	for _, topic := range topics {
		for p := range details[topic].Partitions {
			var at int64
			switch target.kind {
			case startBeginning:
				at, err = listedOffset(starts, topic, p)
			case startEnd:
				at, err = listedOffset(ends, topic, p)
			case startAfterMilli:
				at, err = listedOffset(times, topic, p)
			case startAt:
				var lo, hi int64
				if lo, err = listedOffset(starts, topic, p); err == nil {
					hi, err = listedOffset(ends, topic, p)
				}
				at = min(max(target.offset, lo), hi)
			}
			if err != nil {
				return nil, err
			}
			next.Add(kadm.Offset{Topic: topic, Partition: p, At: at, LeaderEpoch: -1})
		}
	}
	return next, nil
}

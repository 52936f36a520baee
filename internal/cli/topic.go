package cli

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTopicCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "topic",
		Short: "Create, list, describe, alter and delete topics",
		Long: `Manage the topics of a cluster through the Kafka admin APIs.

Topic settings use Kafka's names (retention.ms, cleanup.policy,
max.message.bytes, ...) and are checked by the broker: an unknown setting or
an invalid value is an error.`,
		Example: `  strata topic create orders -p 6 -c retention.ms=86400000
  strata topic list
  strata topic describe orders
  strata topic alter orders -c retention.ms=3600000 -p 12
  strata topic delete orders`,
		RunE: groupRunE,
	}
	cmd.AddCommand(
		newTopicCreateCommand(opts),
		newTopicListCommand(opts),
		newTopicDescribeCommand(opts),
		newTopicAlterCommand(opts),
		newTopicDeleteCommand(opts),
	)
	return cmd
}

func newTopicCreateCommand(opts *clientOptions) *cobra.Command {
	var (
		partitions  int32
		replication int16
		configs     []string
		ifNotExists bool
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a topic",
		Long: `Create a topic with the given number of partitions, replication factor and
settings. Without -p or -r the broker's defaults (num.partitions,
default.replication.factor) apply.

It is an error if the topic exists, unless --if-not-exists is given.`,
		Example: `  strata topic create orders
  strata topic create orders -p 6 -r 3 -c retention.ms=86400000 -c cleanup.policy=compact
  strata topic create orders --if-not-exists`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg, err := parseTopicConfigs(configs)
			if err != nil {
				return err
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()

			resp, err := adm.CreateTopic(ctx, partitions, replication, cfg, name)
			out := cmd.OutOrStdout()
			switch {
			case ifNotExists && errors.Is(err, kerr.TopicAlreadyExists):
				fmt.Fprintf(out, "topic %q already exists\n", name)
				return nil
			case err != nil:
				return opts.requestErr(fmt.Sprintf("create topic %q", name), withMessage(err, resp.ErrMessage))
			}
			fmt.Fprintf(out, "created topic %q", name)
			if resp.NumPartitions > 0 {
				fmt.Fprintf(out, " (%d partitions, replication factor %d)", resp.NumPartitions, resp.ReplicationFactor)
			}
			fmt.Fprintln(out)
			return nil
		},
	}
	f := cmd.Flags()
	f.Int32VarP(&partitions, "partitions", "p", -1, "number of partitions; -1 for the broker's num.partitions")
	f.Int16VarP(&replication, "replication-factor", "r", -1, "replicas per partition; -1 for the broker's default.replication.factor")
	f.StringArrayVarP(&configs, "config", "c", nil, "topic setting key=value, Kafka names; repeatable")
	f.BoolVar(&ifNotExists, "if-not-exists", false, "succeed without change if the topic exists")
	return cmd
}

func newTopicListCommand(opts *clientOptions) *cobra.Command {
	var internal bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List topics with partition count and replication factor",
		Long: `List the cluster's topics, sorted by name, with their partition count and
replication factor. Internal topics (__consumer_offsets, ...) are hidden unless
--internal is given.`,
		Example: `  strata topic list
  strata topic list --internal`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			topics, err := adm.ListTopicsWithInternal(ctx)
			if err != nil {
				return opts.requestErr("list topics", err)
			}
			if !internal {
				topics.FilterInternal()
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "NAME\tPARTITIONS\tREPLICATION")
			for _, t := range topics.Sorted() {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", t.Topic, len(t.Partitions), replicationFactor(t))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&internal, "internal", false, "include internal topics")
	return cmd
}

func newTopicDescribeCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "describe NAME...",
		Short: "Show a topic's ID, partitions, offsets and settings",
		Long: `Describe each named topic: its ID, partition count and replication factor,
the settings that differ from the defaults (topic overrides), and per
partition the leader, leader epoch, replicas, in-sync replicas (ISR) and the
log start and end offsets (the end offset is the high watermark).

It is an error if any named topic does not exist; nothing is printed then.`,
		Example: `  strata topic describe orders
  strata topic describe orders payments`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()

			topics, err := existingTopics(ctx, opts, adm, args)
			if err != nil {
				return err
			}
			starts, err := adm.ListStartOffsets(ctx, args...)
			if err != nil {
				return opts.requestErr("list start offsets", err)
			}
			ends, err := adm.ListEndOffsets(ctx, args...)
			if err != nil {
				return opts.requestErr("list end offsets", err)
			}
			configs, err := adm.DescribeTopicConfigs(ctx, args...)
			if err != nil {
				return opts.requestErr("describe topic configs", err)
			}
			out := cmd.OutOrStdout()
			for i, name := range args {
				if i > 0 {
					fmt.Fprintln(out)
				}
				rc, err := configs.On(name, nil)
				if err == nil {
					err = rc.Err
				}
				if err != nil {
					return opts.requestErr(fmt.Sprintf("describe configs of topic %q", name), withMessage(err, rc.ErrMessage))
				}
				if err := writeTopic(out, topics[name], rc.Configs, starts, ends); err != nil {
					return err
				}
			}
			return nil
		},
	}
}

// writeTopic prints one topic's description. The topic ID is printed as
// Kafka's tools print it: URL-safe base64 without padding.
func writeTopic(w io.Writer, t kadm.TopicDetail, configs []kadm.Config, starts, ends kadm.ListedOffsets) error {
	fmt.Fprintf(w, "Topic:              %s\n", t.Topic)
	fmt.Fprintf(w, "ID:                 %s\n", base64.RawURLEncoding.EncodeToString(t.ID[:]))
	if t.IsInternal {
		fmt.Fprintf(w, "Internal:           true\n")
	}
	fmt.Fprintf(w, "Partitions:         %d\n", len(t.Partitions))
	fmt.Fprintf(w, "Replication factor: %d\n", replicationFactor(t))
	overrides := topicOverrides(configs)
	if len(overrides) == 0 {
		fmt.Fprintf(w, "Configs:            (none)\n")
	} else {
		fmt.Fprintf(w, "Configs:\n")
		for _, c := range overrides {
			fmt.Fprintf(w, "  %s=%s\n", c.Key, c.MaybeValue())
		}
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tLOG-START\tLOG-END")
	for _, p := range t.Partitions.Sorted() {
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\n", p.Partition, p.Leader, p.LeaderEpoch,
			formatIDs(p.Replicas), formatIDs(p.ISR), offsetCell(starts, t.Topic, p.Partition), offsetCell(ends, t.Topic, p.Partition))
	}
	return tw.Flush()
}

// topicOverrides returns the settings set on the topic itself, sorted by
// name; settings from broker defaults are left out.
func topicOverrides(configs []kadm.Config) []kadm.Config {
	var out []kadm.Config
	for _, c := range configs {
		if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b kadm.Config) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// offsetCell formats a listed offset, or its error code when listing failed.
func offsetCell(l kadm.ListedOffsets, topic string, partition int32) string {
	o, ok := l.Lookup(topic, partition)
	switch {
	case !ok:
		return "-"
	case o.Err != nil:
		var ke *kerr.Error
		if errors.As(o.Err, &ke) {
			return ke.Message
		}
		return "error"
	default:
		return fmt.Sprint(o.Offset)
	}
}

func newTopicAlterCommand(opts *clientOptions) *cobra.Command {
	var (
		configs    []string
		deletes    []string
		partitions int32
	)
	cmd := &cobra.Command{
		Use:   "alter NAME",
		Short: "Change a topic's settings or partition count",
		Long: `Change a topic's settings incrementally (IncrementalAlterConfigs): -c sets a
setting, --delete-config removes the topic's override so the default applies
again; settings not named are left as they are. -p raises the partition count
to the given total (CreatePartitions); Kafka never lowers it.

Settings are changed before partitions are added.`,
		Example: `  strata topic alter orders -c retention.ms=3600000
  strata topic alter orders --delete-config retention.ms
  strata topic alter orders -p 12`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set, err := parseKeyValues(configs)
			if err != nil {
				return fmt.Errorf("--config: %w", err)
			}
			if len(set) == 0 && len(deletes) == 0 && !cmd.Flags().Changed("partitions") {
				return errors.New("nothing to alter: give -c key=value, --delete-config key or -p count")
			}
			var alters []kadm.AlterConfig
			for _, k := range slices.Sorted(maps.Keys(set)) {
				v := set[k]
				alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
			}
			for _, k := range deletes {
				alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
			}

			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()

			if _, err := existingTopics(ctx, opts, adm, args); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if len(alters) > 0 {
				resps, err := adm.AlterTopicConfigs(ctx, alters, name)
				if err != nil {
					return opts.requestErr(fmt.Sprintf("alter configs of topic %q", name), err)
				}
				r, err := resps.On(name, nil)
				if err == nil {
					err = r.Err
				}
				if err != nil {
					return opts.requestErr(fmt.Sprintf("alter configs of topic %q", name), withMessage(err, r.ErrMessage))
				}
				fmt.Fprintf(out, "altered %d setting(s) of topic %q\n", len(alters), name)
			}
			if cmd.Flags().Changed("partitions") {
				resps, err := adm.UpdatePartitions(ctx, int(partitions), name)
				if err != nil {
					return opts.requestErr(fmt.Sprintf("set partitions of topic %q", name), err)
				}
				r, err := resps.On(name, nil)
				if err == nil {
					err = r.Err
				}
				if err != nil {
					return opts.requestErr(fmt.Sprintf("set partitions of topic %q to %d", name, partitions), withMessage(err, r.ErrMessage))
				}
				fmt.Fprintf(out, "topic %q now has %d partitions\n", name, partitions)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&configs, "config", "c", nil, "set topic setting key=value, Kafka names; repeatable")
	f.StringArrayVar(&deletes, "delete-config", nil, "remove the topic's override of this setting; repeatable")
	f.Int32VarP(&partitions, "partitions", "p", 0, "new total partition count (only increases)")
	return cmd
}

func newTopicDeleteCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME...",
		Aliases: []string{"rm"},
		Short:   "Delete topics and all their records",
		Long: `Delete each named topic and all of its records. Each topic succeeds or fails
on its own; the command fails if any deletion failed.`,
		Example: `  strata topic delete orders
  strata topic delete orders payments`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resps, err := adm.DeleteTopics(ctx, args...)
			if err != nil {
				return opts.requestErr("delete topics", err)
			}
			var errs []error
			for _, name := range args {
				r, err := resps.On(name, nil)
				if err == nil {
					err = r.Err
				}
				if err != nil {
					errs = append(errs, fmt.Errorf("delete topic %q: %w", name, withMessage(err, r.ErrMessage)))
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted topic %q\n", name)
			}
			return errors.Join(errs...)
		},
	}
}

// parseTopicConfigs turns -c key=value flags into the form kadm sends.
func parseTopicConfigs(list []string) (map[string]*string, error) {
	m, err := parseKeyValues(list)
	if err != nil {
		return nil, fmt.Errorf("--config: %w", err)
	}
	if m == nil {
		return nil, nil
	}
	out := make(map[string]*string, len(m))
	for k, v := range m {
		out[k] = &v
	}
	return out, nil
}

// replicationFactor is the replica count of the topic's first partition
// (Kafka keeps it equal across partitions), 0 for a topic with none.
func replicationFactor(t kadm.TopicDetail) int {
	ps := t.Partitions.Sorted()
	if len(ps) == 0 {
		return 0
	}
	return len(ps[0].Replicas)
}

// formatIDs formats broker IDs as "1,2,3".
func formatIDs(ids []int32) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}

// withMessage adds a broker's error message to err when it says more than
// the error code's standard text.
func withMessage(err error, msg string) error {
	if err == nil || msg == "" {
		return err
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && msg == ke.Description {
		return err
	}
	return fmt.Errorf("%w (%s)", err, msg)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// existingTopics returns the metadata of the named topics, or an error
// naming the first that does not exist or cannot be described.
func existingTopics(ctx context.Context, opts *clientOptions, adm *kadm.Client, names []string) (kadm.TopicDetails, error) {
	topics, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return nil, opts.requestErr("describe topics", err)
	}
	for _, name := range names {
		t, ok := topics[name]
		switch {
		case !ok, errors.Is(t.Err, kerr.UnknownTopicOrPartition):
			return nil, fmt.Errorf("unknown topic %q", name)
		case t.Err != nil:
			return nil, fmt.Errorf("topic %q: %w", name, t.Err)
		}
	}
	return topics, nil
}

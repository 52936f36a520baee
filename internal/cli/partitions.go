package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newPartitionsCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "partitions",
		Short: "Move partition replicas between brokers",
		Long:  `Move partition replicas between brokers: plan, run, watch and check reassignments.`,
		Example: `  strata partitions reassign --generate --broker-ids 1,2,3,4 > plan.json
  strata partitions reassign --execute plan.json`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newPartitionsReassignCommand(opts))
	return cmd
}

// reassignProgressEvery is how often --execute reports progress.
const reassignProgressEvery = 2 * time.Second

func newPartitionsReassignCommand(opts *clientOptions) *cobra.Command {
	var (
		generate              bool
		brokerIDs             string
		topics                []string
		execute, verify, stop string
		list, noWait          bool
		throttle              int64
	)
	cmd := &cobra.Command{
		Use:   "reassign",
		Short: "Generate, execute, verify or cancel a partition reassignment",
		Long: `Move partition replicas between brokers, as kafka-reassign-partitions.sh does,
through the AlterPartitionReassignments and ListPartitionReassignments APIs.
Plans are JSON in that tool's format:
  {"version":1,"partitions":[{"topic":"orders","partition":0,"replicas":[1,2,3]}]}

--generate --broker-ids 1,2,3,4 writes to stdout a plan that places every
replica of the topics (--topic, repeatable; default every topic) on those
brokers, moving as little as it can: replicas on other brokers move off, then
replicas move from the most to the least loaded broker (by bytes, from
DescribeLogDirs, and by partition count) keeping each partition's replicas in
different racks where it can, and preferred leaderships (first replicas) are
evened out. What it would move is summed up on stderr.

--execute PLAN starts the moves, after printing the current assignment of the
plan's partitions (save it: executing it undoes the plan). The new replicas
copy the data from the leaders, join the in-sync replicas, and then the old
ones are removed; producers and consumers carry on meanwhile. It prints
progress until every move is done (--no-wait returns at once; Ctrl-C stops
watching, not the moves). --throttle BYTES limits the moves' replication to
that many bytes per second, so they do not starve producers and consumers, as
Kafka's tool does: the rates leader.replication.throttled.rate and
follower.replication.throttled.rate as cluster-wide dynamic settings, and the
moving replicas in the topics' leader/follower.replication.throttled.replicas;
they are removed once the moves are done (by --verify, with --no-wait).

--verify PLAN checks that every partition of the plan has the plan's replicas
and no move in progress, and fails if not; once they have, it removes the
plan's throttle. --cancel PLAN cancels the plan's
moves still in progress. --list shows every move in progress.`,
		Example: `  strata partitions reassign --generate --broker-ids 1,2,3,4 > plan.json
  strata partitions reassign --execute plan.json --throttle 50000000
  strata partitions reassign --verify plan.json
  strata partitions reassign --list
  strata partitions reassign --cancel plan.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			modes := 0
			for _, on := range []bool{generate, execute != "", verify != "", stop != "", list} {
				if on {
					modes++
				}
			}
			if modes != 1 {
				return errors.New("give one of --generate, --execute, --verify, --cancel or --list")
			}
			if generate != (brokerIDs != "") {
				return errors.New("--generate needs --broker-ids, and --broker-ids needs --generate")
			}
			cl, err := opts.newClient()
			if err != nil {
				return err
			}
			adm := opts.admin(cl)
			defer adm.Close()
			out := cmd.OutOrStdout()
			switch {
			case generate:
				ctx, cancel := opts.withTimeout(cmd.Context())
				defer cancel()
				ids, err := parseBrokerIDs(brokerIDs)
				if err != nil {
					return err
				}
				return generateReassignment(ctx, opts, adm, ids, topics, out, cmd.ErrOrStderr())
			case list:
				ctx, cancel := opts.withTimeout(cmd.Context())
				defer cancel()
				return listReassignments(ctx, opts, adm, out)
			}
			file := execute + verify + stop
			plan, err := readReassignPlan(file)
			if err != nil {
				return err
			}
			switch {
			case execute != "":
				return executeReassignment(cmd.Context(), opts, adm, brokerAt(cl), plan, !noWait, throttle, out)
			case verify != "":
				ctx, cancel := opts.withTimeout(cmd.Context())
				defer cancel()
				return verifyReassignment(ctx, opts, adm, plan, out)
			default:
				ctx, cancel := opts.withTimeout(cmd.Context())
				defer cancel()
				return cancelReassignment(ctx, opts, adm, plan, out)
			}
		},
	}
	f := cmd.Flags()
	f.BoolVar(&generate, "generate", false, "write a balanced plan for --broker-ids to stdout")
	f.StringVar(&brokerIDs, "broker-ids", "", "with --generate: the brokers to place replicas on, comma-separated ids")
	f.StringArrayVar(&topics, "topic", nil, "with --generate: a topic to place (repeatable; default every topic)")
	f.StringVar(&execute, "execute", "", "start the moves of this plan file and watch them")
	f.BoolVar(&noWait, "no-wait", false, "with --execute: return once the moves have started")
	f.Int64Var(&throttle, "throttle", 0, "with --execute: limit the moves' replication to this many bytes per second (0: no limit)")
	f.StringVar(&verify, "verify", "", "check that the moves of this plan file are done")
	f.StringVar(&stop, "cancel", "", "cancel the moves of this plan file still in progress")
	f.BoolVar(&list, "list", false, "list every move in progress")
	return cmd
}

func parseBrokerIDs(s string) ([]int32, error) {
	var ids []int32
	for _, f := range strings.Split(s, ",") {
		id, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil || id < 0 {
			return nil, fmt.Errorf("--broker-ids %q: %q is not a broker id", s, f)
		}
		if slices.Contains(ids, int32(id)) {
			return nil, fmt.Errorf("--broker-ids %q: broker %d twice", s, id)
		}
		ids = append(ids, int32(id))
	}
	slices.Sort(ids)
	return ids, nil
}

func readReassignPlan(file string) (reassignPlan, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return reassignPlan{}, err
	}
	plan, err := parseReassignPlan(data)
	if err != nil {
		return plan, fmt.Errorf("%s: %w", file, err)
	}
	return plan, nil
}

// generateReassignment writes a plan for brokers to out and its summary to
// summary.
func generateReassignment(ctx context.Context, opts *clientOptions, adm *kadm.Client, brokers []int32, topics []string, out, summary io.Writer) error {
	in, err := clusterPlanInput(ctx, opts, adm, topics)
	if err != nil {
		return err
	}
	for _, id := range brokers {
		if _, ok := in.racks[id]; !ok {
			return fmt.Errorf("broker %d is not a live broker of the cluster (live: %v)", id, slices.Sorted(maps.Keys(in.racks)))
		}
	}
	in.brokers = brokers
	plan, sum := generatePlan(in)
	if err := json.NewEncoder(out).Encode(plan); err != nil {
		return err
	}
	return writePlanSummary(summary, plan, sum, len(in.partitions))
}

// clusterPlanInput reads the partitions of topics (every topic when none
// is named) with their sizes, and the live brokers' racks; the caller sets
// the brokers to place on.
func clusterPlanInput(ctx context.Context, opts *clientOptions, adm *kadm.Client, topics []string) (planInput, error) {
	var in planInput
	md, err := adm.Metadata(ctx, topics...)
	if err != nil {
		return in, opts.requestErr("metadata", err)
	}
	in.racks = map[int32]string{}
	for _, b := range md.Brokers {
		in.racks[b.NodeID] = ptrOr(b.Rack, "")
	}
	sizes := map[planKey]int64{}
	dirs, err := adm.DescribeAllLogDirs(ctx, nil)
	if err != nil {
		return in, opts.requestErr("describe log dirs", err)
	}
	dirs.Each(func(d kadm.DescribedLogDir) {
		d.Topics.Each(func(p kadm.DescribedLogDirPartition) {
			k := planKey{p.Topic, p.Partition}
			sizes[k] = max(sizes[k], p.Size)
		})
	})
	for _, t := range md.Topics.Sorted() {
		if t.Err != nil {
			return in, fmt.Errorf("topic %q: %w", t.Topic, t.Err)
		}
		for _, p := range t.Partitions.Sorted() {
			in.partitions = append(in.partitions, planPartition{topic: t.Topic, partition: p.Partition,
				replicas: slices.Clone(p.Replicas), size: sizes[planKey{t.Topic, p.Partition}]})
		}
	}
	return in, nil
}

// writePlanSummary says what plan does, over partitions partitions.
func writePlanSummary(w io.Writer, plan reassignPlan, sum planSummary, partitions int) error {
	fmt.Fprintf(w, "the plan moves %d replicas (%s) and reorders others, changing %d of %d partitions\n",
		sum.moves, humanBytes(sum.movedBytes), len(plan.Partitions), partitions)
	tw := newTable(w)
	fmt.Fprintln(tw, "BROKER\tREPLICAS\tLEADERS\tBYTES\t\tREPLICAS\tLEADERS\tBYTES")
	for _, b := range sum.brokersOf() {
		x, y := sum.before[b], sum.after[b]
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t->\t%d\t%d\t%s\n", b, x.replicas, x.leaders, humanBytes(x.bytes), y.replicas, y.leaders, humanBytes(y.bytes))
	}
	return tw.Flush()
}

// executeReassignment starts plan's moves, after printing the current
// assignment to undo them with, and with wait watches them until done.
// A throttle above 0 limits the moves' replication to that many bytes per
// second (see setThrottle) until they are done, or until --verify finds
// them done when it does not wait.
func executeReassignment(ctx context.Context, opts *clientOptions, adm *kadm.Client, at func(int32) kmsg.Requestor, plan reassignPlan, wait bool, throttle int64, out io.Writer) error {
	sctx, cancel := opts.withTimeout(ctx)
	defer cancel()
	set := planSet(plan)
	md, err := adm.Metadata(sctx, set.Topics()...)
	if err != nil {
		return opts.requestErr("metadata", err)
	}
	current := reassignPlan{Version: 1, Partitions: []reassignPartition{}}
	for _, rp := range plan.Partitions {
		p, ok := md.Topics[rp.Topic].Partitions[rp.Partition]
		if !ok {
			return fmt.Errorf("%s-%d does not exist", rp.Topic, rp.Partition)
		}
		current.Partitions = append(current.Partitions, reassignPartition{Topic: rp.Topic, Partition: rp.Partition, Replicas: p.Replicas})
	}
	rollback, err := json.Marshal(current)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "Current assignment of the plan's partitions (executing it undoes the plan):\n%s\n\n", rollback)
	if throttle > 0 {
		if err := setThrottle(sctx, adm, plan, current, throttle); err != nil {
			return opts.requestErr("set the replication throttle", err)
		}
		fmt.Fprintf(out, "Replication of the moves throttled to %s/s.\n", humanBytes(throttle))
	}
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, rp := range plan.Partitions {
		req.Assign(rp.Topic, rp.Partition, rp.Replicas)
	}
	res, err := adm.AlterPartitionAssignments(sctx, req)
	if err != nil {
		return opts.requestErr("alter partition reassignments", err)
	}
	failed := 0
	for _, r := range res.Sorted() {
		if r.Err != nil {
			failed++
			fmt.Fprintf(out, "%s-%d: %v\n", r.Topic, r.Partition, withMessage(r.Err, r.ErrMessage))
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of the %d partitions could not be reassigned", failed, len(plan.Partitions))
	}
	fmt.Fprintf(out, "Started moving %d partitions.\n", len(plan.Partitions))
	if !wait {
		return nil
	}
	if done := watchReassignment(ctx, opts, adm, at, plan, out); done && throttle > 0 {
		rctx, cancel := opts.withTimeout(context.WithoutCancel(ctx))
		defer cancel()
		return removeThrottle(rctx, opts, adm, plan, out)
	}
	return nil
}

// Kafka's names of the replication throttle settings.
const (
	leaderRate       = "leader.replication.throttled.rate"
	followerRate     = "follower.replication.throttled.rate"
	leaderReplicas   = "leader.replication.throttled.replicas"
	followerReplicas = "follower.replication.throttled.replicas"
)

// setThrottle throttles the replication of plan's moves to rate bytes per
// second, as kafka-reassign-partitions.sh --throttle does: the rates as
// cluster-wide dynamic settings, and for each topic of the plan the
// current replicas of its moving partitions as leader-side throttled
// replicas and the replicas being added as follower-side ones (replacing
// what those two topic configs held).
func setThrottle(ctx context.Context, adm *kadm.Client, plan, current reassignPlan, rate int64) error {
	r := strconv.FormatInt(rate, 10)
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: leaderRate, Value: &r}, {Name: followerRate, Value: &r}})
	if err == nil {
		err = firstAlterErr(res)
	}
	if err != nil {
		return err
	}
	leaders, followers := map[string][]string{}, map[string][]string{}
	for i, rp := range plan.Partitions {
		old := current.Partitions[i].Replicas
		for _, b := range old {
			leaders[rp.Topic] = append(leaders[rp.Topic], fmt.Sprintf("%d:%d", rp.Partition, b))
		}
		for _, b := range rp.Replicas {
			if !slices.Contains(old, b) {
				followers[rp.Topic] = append(followers[rp.Topic], fmt.Sprintf("%d:%d", rp.Partition, b))
			}
		}
	}
	for _, topic := range slices.Sorted(maps.Keys(leaders)) {
		l, f := strings.Join(leaders[topic], ","), strings.Join(followers[topic], ",")
		res, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: leaderReplicas, Value: &l}, {Name: followerReplicas, Value: &f}}, topic)
		if err == nil {
			err = firstAlterErr(res)
		}
		if err != nil {
			return fmt.Errorf("topic %s: %w", topic, err)
		}
	}
	return nil
}

// removeThrottle removes what setThrottle set for plan.
func removeThrottle(ctx context.Context, opts *clientOptions, adm *kadm.Client, plan reassignPlan, out io.Writer) error {
	res, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderRate}, {Op: kadm.DeleteConfig, Name: followerRate}})
	if err == nil {
		err = firstAlterErr(res)
	}
	for _, topic := range planSet(plan).Topics() {
		if err != nil {
			break
		}
		var tres kadm.AlterConfigsResponses
		tres, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: leaderReplicas}, {Op: kadm.DeleteConfig, Name: followerReplicas}}, topic)
		if err == nil {
			err = firstAlterErr(tres)
		}
	}
	if err != nil {
		return opts.requestErr("remove the replication throttle", err)
	}
	fmt.Fprintln(out, "Replication throttle removed.")
	return nil
}

// firstAlterErr returns the first error of res.
func firstAlterErr(res kadm.AlterConfigsResponses) error {
	for _, r := range res {
		if r.Err != nil {
			return withMessage(r.Err, r.ErrMessage)
		}
	}
	return nil
}

// watchReassignment prints the plan's progress every
// reassignProgressEvery until no partition of it is moving (true) or ctx
// ends (false).
func watchReassignment(ctx context.Context, opts *clientOptions, adm *kadm.Client, at func(int32) kmsg.Requestor, plan reassignPlan, out io.Writer) bool {
	set := planSet(plan)
	start := time.Now()
	tick := time.NewTicker(reassignProgressEvery)
	defer tick.Stop()
	for {
		rctx, cancel := opts.withTimeout(ctx)
		moving, err := adm.ListPartitionReassignments(rctx, set)
		var copied, total int64
		if err == nil && len(moving) > 0 {
			copied, total = copyProgress(rctx, at, moving)
		}
		cancel()
		switch {
		case ctx.Err() != nil:
			fmt.Fprintln(out, "Stopped watching; the moves go on (check with --verify).")
			return false
		case err != nil:
			fmt.Fprintf(out, "progress unknown: %v\n", err)
		case len(moving) == 0:
			fmt.Fprintf(out, "All %d partitions moved in %s.\n", len(plan.Partitions), time.Since(start).Round(time.Second))
			return true
		default:
			line := fmt.Sprintf("%s: %d of %d partitions moved", time.Since(start).Round(time.Second), len(plan.Partitions)-len(moving), len(plan.Partitions))
			if total > 0 {
				line += fmt.Sprintf("; new replicas hold %s of %s", humanBytes(copied), humanBytes(total))
			}
			fmt.Fprintln(out, line)
		}
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
}

// copyProgress sums, over the partitions moving, what their new replicas
// hold and what they will hold (the partition's largest replica, once per
// new replica), asking the brokers holding their replicas through at.
func copyProgress(ctx context.Context, at func(int32) kmsg.Requestor, moving kadm.ListPartitionReassignmentsResponses) (copied, total int64) {
	var keys []planKey
	var brokers []int32
	moving.Each(func(r kadm.ListPartitionReassignmentsResponse) {
		keys = append(keys, planKey{r.Topic, r.Partition})
		brokers = append(brokers, r.Replicas...)
	})
	sizes := describeLogSizes(ctx, at, brokers, keys)
	moving.Each(func(r kadm.ListPartitionReassignmentsResponse) {
		k := planKey{r.Topic, r.Partition}
		var largest int64
		for _, b := range r.Replicas {
			largest = max(largest, sizes.of(k, b))
		}
		for _, b := range r.AddingReplicas {
			copied += max(sizes.of(k, b), 0)
			total += largest
		}
	})
	return copied, total
}

// verifyReassignment reports each partition of plan and fails unless all
// have the plan's replicas with no move in progress.
func verifyReassignment(ctx context.Context, opts *clientOptions, adm *kadm.Client, plan reassignPlan, out io.Writer) error {
	set := planSet(plan)
	moving, err := adm.ListPartitionReassignments(ctx, set)
	if err != nil {
		return opts.requestErr("list partition reassignments", err)
	}
	md, err := adm.Metadata(ctx, set.Topics()...)
	if err != nil {
		return opts.requestErr("metadata", err)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tSTATUS")
	notDone := 0
	for _, rp := range plan.Partitions {
		status := "done"
		p, ok := md.Topics[rp.Topic].Partitions[rp.Partition]
		switch {
		case !ok:
			status = "does not exist"
		case isMoving(moving, rp.Topic, rp.Partition):
			status = "moving"
		case !slices.Equal(p.Replicas, rp.Replicas):
			status = fmt.Sprintf("replicas %v, not the plan's %v", p.Replicas, rp.Replicas)
		}
		if status != "done" {
			notDone++
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\n", rp.Topic, rp.Partition, status)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if notDone > 0 {
		return fmt.Errorf("%d of the %d partitions are not as the plan says", notDone, len(plan.Partitions))
	}
	fmt.Fprintf(out, "All %d partitions are as the plan says.\n", len(plan.Partitions))
	if throttled, err := planThrottled(ctx, adm, plan); err == nil && throttled {
		return removeThrottle(ctx, opts, adm, plan, out)
	}
	return nil
}

// planThrottled reports whether a topic of plan still has throttled
// replicas set.
func planThrottled(ctx context.Context, adm *kadm.Client, plan reassignPlan) (bool, error) {
	rcs, err := adm.DescribeTopicConfigs(ctx, planSet(plan).Topics()...)
	if err != nil {
		return false, err
	}
	for _, rc := range rcs {
		for _, c := range rc.Configs {
			if (c.Key == leaderReplicas || c.Key == followerReplicas) && c.MaybeValue() != "" {
				return true, nil
			}
		}
	}
	return false, nil
}

// cancelReassignment cancels the plan's moves in progress.
func cancelReassignment(ctx context.Context, opts *clientOptions, adm *kadm.Client, plan reassignPlan, out io.Writer) error {
	req := kadm.AlterPartitionAssignmentsReq{}
	for _, rp := range plan.Partitions {
		req.CancelAssign(rp.Topic, rp.Partition)
	}
	res, err := adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return opts.requestErr("alter partition reassignments", err)
	}
	cancelled, failed := 0, 0
	for _, r := range res.Sorted() {
		switch {
		case errors.Is(r.Err, kerr.NoReassignmentInProgress):
		case r.Err != nil:
			failed++
			fmt.Fprintf(out, "%s-%d: %v\n", r.Topic, r.Partition, withMessage(r.Err, r.ErrMessage))
		default:
			cancelled++
		}
	}
	fmt.Fprintf(out, "Cancelled %d moves in progress.\n", cancelled)
	if failed > 0 {
		return fmt.Errorf("%d cancels failed", failed)
	}
	return nil
}

// listReassignments prints every partition moving.
func listReassignments(ctx context.Context, opts *clientOptions, adm *kadm.Client, out io.Writer) error {
	md, err := adm.Metadata(ctx)
	if err != nil {
		return opts.requestErr("metadata", err)
	}
	moving, err := adm.ListPartitionReassignments(ctx, md.Topics.TopicsSet())
	if err != nil {
		return opts.requestErr("list partition reassignments", err)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tREPLICAS\tADDING\tREMOVING")
	for _, r := range moving.Sorted() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", r.Topic, r.Partition, joinIDs(r.Replicas), joinIDs(r.AddingReplicas), joinIDs(r.RemovingReplicas))
	}
	return tw.Flush()
}

func isMoving(moving kadm.ListPartitionReassignmentsResponses, topic string, partition int32) bool {
	_, ok := moving[topic][partition]
	return ok
}

func planSet(plan reassignPlan) kadm.TopicsSet {
	set := kadm.TopicsSet{}
	for _, rp := range plan.Partitions {
		set.Add(rp.Topic, rp.Partition)
	}
	return set
}

// joinIDs writes ids as "1,2,3", or "-" for none.
func joinIDs(ids []int32) string {
	if len(ids) == 0 {
		return "-"
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.Itoa(int(id))
	}
	return strings.Join(s, ",")
}

// humanBytes writes n bytes with a binary unit: "512 B", "1.5 MiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

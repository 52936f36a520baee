package cli

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// groupT0 is the timestamp of the first record groupFixture writes.
var groupT0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// groupFixture creates topic "gc" (one partition) holding v0 ... v9 at
// groupT0, groupT0+1s, ..., and topic "gc2" (two partitions) holding a0, a1
// in partition 0 and b0 in partition 1.
func groupFixture(t *testing.T, addr string) {
	t.Helper()
	createTopic(t, addr, "gc", 1)
	createTopic(t, addr, "gc2", 2)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "gc", Timestamp: groupT0.Add(time.Duration(i) * time.Second),
			Value: fmt.Appendf(nil, "v%d", i)})
	}
	recs = append(recs,
		&kgo.Record{Topic: "gc2", Partition: 0, Value: []byte("a0")},
		&kgo.Record{Topic: "gc2", Partition: 0, Value: []byte("a1")},
		&kgo.Record{Topic: "gc2", Partition: 1, Value: []byte("b0")},
	)
	produceRecords(t, addr, recs...)
}

// normalize turns tabular output into one string per line with the fields
// separated by single spaces, so tests do not depend on column widths.
func normalize(out string) []string {
	var lines []string
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		lines = append(lines, strings.Join(strings.Fields(line), " "))
	}
	return lines
}

// checkOutput fails the test unless out, normalized, is want.
func checkOutput(t *testing.T, what, out string, want ...string) {
	t.Helper()
	if got := normalize(out); !slices.Equal(got, want) {
		t.Errorf("%s: got\n%s\nwant\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// describedGroup is `group describe` output of one group, split up.
type describedGroup struct {
	header  []string   // "Key: value" lines
	members [][]string // fields of each member row
	offsets []string   // normalized partition rows
}

func parseGroupDescribe(t *testing.T, out string) describedGroup {
	t.Helper()
	var d describedGroup
	section := "header"
	for _, line := range normalize(out) {
		switch {
		case line == "":
		case strings.HasPrefix(line, "Offsets:"):
			d.header = append(d.header, line)
		case strings.HasPrefix(line, "MEMBER-ID "):
			section = "members"
		case strings.HasPrefix(line, "TOPIC "):
			section = "offsets"
		case section == "header":
			d.header = append(d.header, line)
		case section == "members":
			f := strings.Fields(line)
			if len(f) != 4 {
				t.Fatalf("member row %q: got %d fields, want 4", line, len(f))
			}
			d.members = append(d.members, f)
		default:
			d.offsets = append(d.offsets, line)
		}
	}
	return d
}

// emptyGroupHeader is the header `group describe` prints for a consumer
// group without members.
var emptyGroupHeader = []string{"Group: %s", "State: Empty", "Protocol type: consumer", "Assignor: -", "Members: 0"}

func headerOf(name string, lines []string) []string {
	out := slices.Clone(lines)
	out[0] = fmt.Sprintf(out[0], name)
	return out
}

// checkGroup fails the test unless `group describe name` prints header and
// the partition rows offsets.
func checkGroup(t *testing.T, cli func(string, ...string) (string, string, error), name string, header []string, offsets ...string) {
	t.Helper()
	d := parseGroupDescribe(t, mustRun(t, cli, "", "group", "describe", name))
	if !slices.Equal(d.header, header) {
		t.Errorf("describe %s header: got %q, want %q", name, d.header, header)
	}
	if !slices.Equal(d.offsets, offsets) {
		t.Errorf("describe %s offsets: got %q, want %q", name, d.offsets, offsets)
	}
}

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// background is a client command running until stopped.
type background struct {
	cancel context.CancelFunc
	done   chan error
	out    syncBuffer // stdout and stderr of the command
	err    error
}

// runBackground starts client command args against addr in a goroutine.
// The test must call stop; t.Cleanup stops it otherwise.
func runBackground(t *testing.T, addr string, args ...string) *background {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := &background{cancel: cancel, done: make(chan error, 1)}
	cmd := newRootCommand(noEnv, nil)
	cmd.SetArgs(append([]string{"--brokers", addr, "--timeout", "10s"}, args...))
	cmd.SetOut(&b.out)
	cmd.SetErr(&b.out)
	go func() { b.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// stop cancels the command, as SIGINT does, and returns what it printed and
// its error.
func (b *background) stop(t *testing.T) (string, error) {
	t.Helper()
	if b.done == nil {
		return b.out.String(), b.err
	}
	b.cancel()
	select {
	case b.err = <-b.done:
	case <-time.After(20 * time.Second):
		t.Fatal("command did not exit within 20s of being cancelled")
	}
	b.done = nil
	return b.out.String(), b.err
}

// waitFor polls cond every 50ms until it reports true, failing the test
// with cond's last description after 20s.
func waitFor(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in 20s; last: %s", what, last)
		}
		<-tick.C
	}
}

// TestGroupConsumeCommits checks that consumers of one group continue where
// the previous one stopped and that describe shows the exact committed
// offsets and lag.
func TestGroupConsumeCommits(t *testing.T) {
	t.Parallel() // each waits out the broker's group.initial.rebalance.delay.ms per new group
	addr := startBroker(t)
	cli := cliAt(t, addr)
	groupFixture(t, addr)

	steps := []struct {
		args []string
		want string
	}{
		{[]string{"--from", "beginning", "-n", "4"}, "v0\nv1\nv2\nv3\n"},
		// --from applies only without a committed offset.
		{[]string{"--from", "beginning", "-n", "4"}, "v4\nv5\nv6\nv7\n"},
		{[]string{"--from", "end", "-n", "1", "--format", "full"}, "partition:0\toffset:8\ttimestamp:2024-05-01T12:00:08.000Z\tkey:null\theaders:\tvalue:v8\n"},
	}
	for i, s := range steps {
		got := mustRun(t, cli, "", append([]string{"consume", "gc", "--group", "g"}, s.args...)...)
		if got != s.want {
			t.Errorf("step %d: got %q, want %q", i, got, s.want)
		}
	}
	checkGroup(t, cli, "g", headerOf("g", emptyGroupHeader), "gc 0 9 10 1 -")

	// A new group starts where --from says.
	if got, want := mustRun(t, cli, "", "consume", "gc", "-g", "fresh", "--from", "7", "-n", "2"), "v7\nv8\n"; got != want {
		t.Errorf("fresh group --from 7: got %q, want %q", got, want)
	}
	checkGroup(t, cli, "fresh", headerOf("fresh", emptyGroupHeader), "gc 0 9 10 1 -")

	// All partitions of a topic; --idle-exit waits for the assignment.
	got := mustRun(t, cli, "", "consume", "gc2", "--group", "multi", "--from", "beginning", "--idle-exit", "2s")
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	slices.Sort(lines)
	if want := []string{"a0", "a1", "b0"}; !slices.Equal(lines, want) {
		t.Errorf("multi: got %q, want %q in any order", lines, want)
	}
	checkGroup(t, cli, "multi", headerOf("multi", emptyGroupHeader), "gc2 0 2 2 0 -", "gc2 1 1 1 0 -")

	checkOutput(t, "list", mustRun(t, cli, "", "group", "list"),
		"GROUP STATE PROTOCOL-TYPE", "fresh Empty consumer", "g Empty consumer", "multi Empty consumer")
}

// TestGroupActiveMember checks describe, list, reset-offsets and delete
// while a consumer is a member of the group, and the commit on exit.
func TestGroupActiveMember(t *testing.T) {
	t.Parallel() // each waits out the broker's group.initial.rebalance.delay.ms per new group
	addr := startBroker(t)
	cli := cliAt(t, addr)
	groupFixture(t, addr)
	mustRun(t, cli, "", "consume", "gc", "--group", "idle", "--from", "beginning", "-n", "3")

	live := runBackground(t, addr, "consume", "gc", "--group", "live", "--from", "6", "--client-id", "live-client")
	waitFor(t, "live consumer printed v6..v9", func() (bool, string) {
		out := live.out.String()
		return out == "v6\nv7\nv8\nv9\n", out
	})
	var d describedGroup
	waitFor(t, "live group stable with its partition assigned", func() (bool, string) {
		out, _, err := cli("", "group", "describe", "live")
		if err != nil {
			return false, err.Error()
		}
		d = parseGroupDescribe(t, out)
		return len(d.members) == 1 && d.members[0][3] == "gc:0" && slices.Contains(d.header, "State: Stable"), out
	})
	wantHeader := []string{"Group: live", "State: Stable", "Protocol type: consumer", d.header[3], "Members: 1"}
	if !slices.Equal(d.header, wantHeader) || d.header[3] == "Assignor: -" {
		t.Errorf("describe live header: got %q, want %q with an assignor", d.header, wantHeader)
	}
	m := d.members[0]
	if m[0] == "" || m[1] != "live-client" || m[2] == "" {
		t.Errorf("describe live member: got %q, want member ID, client ID live-client, host, gc:0", m)
	}
	// The partition is assigned; its offset is committed within the
	// autocommit interval (5s) or on exit.
	if want := []string{"gc 0 - 10 - " + m[0]}; !slices.Equal(d.offsets, want) && !slices.Equal(d.offsets, []string{"gc 0 10 10 0 " + m[0]}) {
		t.Errorf("describe live offsets: got %q, want %q (or committed 10)", d.offsets, want)
	}

	checkOutput(t, "list", mustRun(t, cli, "", "group", "list"),
		"GROUP STATE PROTOCOL-TYPE", "idle Empty consumer", "live Stable consumer")
	for _, tt := range []struct {
		states string
		want   []string
	}{
		{"stable", []string{"GROUP STATE PROTOCOL-TYPE", "live Stable consumer"}},
		{"EMPTY", []string{"GROUP STATE PROTOCOL-TYPE", "idle Empty consumer"}},
		{"Empty,Stable", []string{"GROUP STATE PROTOCOL-TYPE", "idle Empty consumer", "live Stable consumer"}},
		{"Dead", []string{"GROUP STATE PROTOCOL-TYPE"}},
	} {
		checkOutput(t, "list --state "+tt.states, mustRun(t, cli, "", "group", "list", "--state", tt.states), tt.want...)
	}

	_, _, err := cli("", "group", "reset-offsets", "live", "--topic", "gc", "--to-earliest")
	if want := `group "live" is Stable with 1 member(s): offsets can only be reset while the group is Empty`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reset active group: got error %v, want one containing %q", err, want)
	}
	_, _, err = cli("", "group", "delete", "live")
	if err == nil || !strings.Contains(err.Error(), "NON_EMPTY_GROUP") {
		t.Errorf("delete active group: got error %v, want NON_EMPTY_GROUP", err)
	}

	out, err := live.stop(t)
	if err != nil || out != "v6\nv7\nv8\nv9\n" {
		t.Fatalf("live consumer: got %q, %v; want v6..v9, nil", out, err)
	}
	checkGroup(t, cli, "live", headerOf("live", emptyGroupHeader), "gc 0 10 10 0 -")
	checkGroup(t, cli, "idle", headerOf("idle", emptyGroupHeader), "gc 0 3 10 7 -")
}

// TestGroupRebalanceCommits checks that a member commits what it printed
// before a partition moves to a new member, so the new member neither
// re-reads nor skips a record.
func TestGroupRebalanceCommits(t *testing.T) {
	t.Parallel() // each waits out the broker's group.initial.rebalance.delay.ms per new group
	addr := startBroker(t)
	cli := cliAt(t, addr)
	groupFixture(t, addr)
	lines := func(b *background) []string {
		out := strings.TrimSuffix(b.out.String(), "\n")
		if out == "" {
			return nil
		}
		return strings.Split(out, "\n")
	}

	a := runBackground(t, addr, "consume", "gc2", "--group", "r", "--from", "beginning", "--client-id", "a")
	waitFor(t, "first member printed both partitions", func() (bool, string) {
		return len(lines(a)) == 3, a.out.String()
	})
	b := runBackground(t, addr, "consume", "gc2", "--group", "r", "--from", "beginning", "--client-id", "b")
	waitFor(t, "two members with one partition each", func() (bool, string) {
		out, _, err := cli("", "group", "describe", "r")
		if err != nil {
			return false, err.Error()
		}
		d := parseGroupDescribe(t, out)
		var assigned []string
		for _, m := range d.members {
			assigned = append(assigned, m[1]+"="+m[3])
		}
		slices.Sort(assigned)
		one := slices.Equal(assigned, []string{"a=gc2:0", "b=gc2:1"}) || slices.Equal(assigned, []string{"a=gc2:1", "b=gc2:0"})
		return one && slices.Contains(d.header, "State: Stable"), out
	})
	produceRecords(t, addr,
		&kgo.Record{Topic: "gc2", Partition: 0, Value: []byte("a2")},
		&kgo.Record{Topic: "gc2", Partition: 1, Value: []byte("b1")},
	)
	waitFor(t, "the new records printed", func() (bool, string) {
		return len(lines(a))+len(lines(b)) >= 5, a.out.String() + "|" + b.out.String()
	})
	outA, errA := a.stop(t)
	outB, errB := b.stop(t)
	if errA != nil || errB != nil {
		t.Fatalf("members exited with %v, %v; want nil", errA, errB)
	}
	// b got exactly the new record of its partition; nothing was printed
	// twice.
	if outB != "a2\n" && outB != "b1\n" {
		t.Errorf("second member: got %q, want \"a2\\n\" or \"b1\\n\"", outB)
	}
	all := strings.Split(strings.TrimSuffix(outA+outB, "\n"), "\n")
	slices.Sort(all)
	if want := []string{"a0", "a1", "a2", "b0", "b1"}; !slices.Equal(all, want) {
		t.Errorf("both members: got %q, want %q once each", all, want)
	}
	checkGroup(t, cli, "r", headerOf("r", emptyGroupHeader), "gc2 0 3 3 0 -", "gc2 1 2 2 0 -")
}

// TestGroupResetOffsets checks each --to-* target, --dry-run and the
// consumer continuing from the new offset.
func TestGroupResetOffsets(t *testing.T) {
	t.Parallel() // each waits out the broker's group.initial.rebalance.delay.ms per new group
	addr := startBroker(t)
	cli := cliAt(t, addr)
	groupFixture(t, addr)
	mustRun(t, cli, "", "consume", "gc", "--group", "g", "--from", "beginning", "-n", "8")
	mustRun(t, cli, "", "consume", "gc2", "--group", "g2", "--from", "beginning", "--idle-exit", "500ms")

	tests := []struct {
		name    string
		group   string
		args    []string
		want    []string // normalized table
		consume string   // what `consume gc --group g -n 1` prints after; "" to skip
	}{
		{"earliest dry run", "g", []string{"--topic", "gc", "--to-earliest", "--dry-run"}, []string{"gc 0 8 0"}, ""},
		{"offset dry run", "g", []string{"--topic", "gc", "--to-offset", "2", "--dry-run"}, []string{"gc 0 8 2"}, ""},
		{"datetime dry run", "g", []string{"--topic", "gc", "--to-datetime", "2024-05-01T12:00:03Z", "--dry-run"}, []string{"gc 0 8 3"}, ""},
		{"offset", "g", []string{"--topic", "gc", "--to-offset", "5"}, []string{"gc 0 8 5"}, "v5"},
		{"earliest", "g", []string{"--topic", "gc", "--to-earliest"}, []string{"gc 0 6 0"}, "v0"},
		{"datetime", "g", []string{"--topic", "gc", "--to-datetime", "2024-05-01T14:00:03.5+02:00"}, []string{"gc 0 1 4"}, "v4"},
		{"latest", "g", []string{"--topic", "gc", "--to-latest"}, []string{"gc 0 5 10"}, ""},
		{"offset zero", "g", []string{"--topic", "gc", "--to-offset", "0"}, []string{"gc 0 10 0"}, ""},
		{"offset past end", "g", []string{"--topic", "gc", "--to-offset", "99"}, []string{"gc 0 0 10"}, ""},
		{"datetime after last", "g", []string{"--topic", "gc", "--to-datetime", "2030-01-01T00:00:00Z"}, []string{"gc 0 10 10"}, ""},
		{"datetime before first", "g", []string{"--topic", "gc", "--to-datetime", "2020-01-01T00:00:00Z"}, []string{"gc 0 10 0"}, "v0"},
		{"two partitions", "g2", []string{"--topic", "gc2", "--to-earliest"}, []string{"gc2 0 2 0", "gc2 1 1 0"}, ""},
		{"two topics", "g2", []string{"--topic", "gc2,gc", "--to-offset", "1"}, []string{"gc 0 - 1", "gc2 0 0 1", "gc2 1 0 1"}, ""},
		{"new group", "simple", []string{"--topic", "gc", "--to-offset", "7"}, []string{"gc 0 - 7"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := cli("", append([]string{"group", "reset-offsets", tt.group}, tt.args...)...)
			if err != nil {
				t.Fatalf("reset-offsets: %v\nstderr: %s", err, stderr)
			}
			checkOutput(t, "reset-offsets", out, append([]string{"TOPIC PARTITION OLD-OFFSET NEW-OFFSET"}, tt.want...)...)
			wantNote := "committed"
			if slices.Contains(tt.args, "--dry-run") {
				wantNote = "dry run"
			}
			if !strings.HasPrefix(stderr, wantNote) {
				t.Errorf("stderr: got %q, want it to start with %q", stderr, wantNote)
			}
			// What describe shows is what was committed: the old offset
			// after a dry run, the new one otherwise.
			d := parseGroupDescribe(t, mustRun(t, cli, "", "group", "describe", tt.group))
			var committed []string
			for _, row := range d.offsets {
				f := strings.Fields(row)
				committed = append(committed, strings.Join(f[:3], " "))
			}
			var want []string
			for _, row := range tt.want {
				f := strings.Fields(row)
				if slices.Contains(tt.args, "--dry-run") {
					want = append(want, strings.Join(f[:3], " "))
				} else {
					want = append(want, f[0]+" "+f[1]+" "+f[3])
				}
			}
			slices.Sort(want)
			if !slices.Equal(committed, want) {
				t.Errorf("committed after reset: got %q, want %q", committed, want)
			}
			if tt.consume != "" {
				if got := mustRun(t, cli, "", "consume", "gc", "--group", tt.group, "-n", "1"); got != tt.consume+"\n" {
					t.Errorf("consume after reset: got %q, want %q", got, tt.consume+"\n")
				}
			}
		})
	}
}

// TestGroupDelete checks that delete removes a group and its offsets.
func TestGroupDelete(t *testing.T) {
	t.Parallel() // each waits out the broker's group.initial.rebalance.delay.ms per new group
	addr := startBroker(t)
	cli := cliAt(t, addr)
	groupFixture(t, addr)
	mustRun(t, cli, "", "consume", "gc", "--group", "a", "--from", "beginning", "-n", "2")
	mustRun(t, cli, "", "consume", "gc", "--group", "b", "--from", "beginning", "-n", "1")

	if got, want := mustRun(t, cli, "", "group", "delete", "a"), "deleted group \"a\"\n"; got != want {
		t.Errorf("delete: got %q, want %q", got, want)
	}
	checkOutput(t, "list after delete", mustRun(t, cli, "", "group", "list"), "GROUP STATE PROTOCOL-TYPE", "b Empty consumer")
	_, _, err := cli("", "group", "describe", "a")
	if want := `group "a" does not exist`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("describe deleted: got error %v, want one containing %q", err, want)
	}
	out, _, err := cli("", "group", "delete", "a", "b")
	if out != "deleted group \"b\"\n" || err == nil || !strings.Contains(err.Error(), `delete group "a": GROUP_ID_NOT_FOUND`) {
		t.Errorf("delete a b: got %q, %v; want b deleted and GROUP_ID_NOT_FOUND for a", out, err)
	}
	checkOutput(t, "list after deleting all", mustRun(t, cli, "", "group", "list"), "GROUP STATE PROTOCOL-TYPE")
	// A group of the same name starts afresh.
	if got, want := mustRun(t, cli, "", "consume", "gc", "--group", "a", "--from", "beginning", "-n", "1"), "v0\n"; got != want {
		t.Errorf("consume after delete: got %q, want %q", got, want)
	}
}

// TestGroupErrors checks argument errors and errors about missing groups
// and topics.
func TestGroupErrors(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "gc", 1)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"reset no target", []string{"group", "reset-offsets", "g", "--topic", "gc"}, "give exactly one of --to-earliest, --to-latest, --to-offset, --to-datetime; got 0"},
		{"reset two targets", []string{"group", "reset-offsets", "g", "--topic", "gc", "--to-earliest", "--to-offset", "3"}, "got 2 (--to-earliest, --to-offset)"},
		{"reset no topic", []string{"group", "reset-offsets", "g", "--to-latest"}, "give the topics to reset with --topic"},
		{"reset unknown topic", []string{"group", "reset-offsets", "g", "--topic", "gc,nope", "--to-latest"}, `unknown topic "nope"`},
		{"reset bad time", []string{"group", "reset-offsets", "g", "--topic", "gc", "--to-datetime", "yesterday"}, `--to-datetime "yesterday": want an RFC 3339 time`},
		{"reset negative offset", []string{"group", "reset-offsets", "g", "--topic", "gc", "--to-offset", "-1"}, "--to-offset must be >= 0, got -1"},
		{"reset no group", []string{"group", "reset-offsets", "--topic", "gc", "--to-latest"}, "accepts 1 arg(s), received 0"},
		{"list bad state", []string{"group", "list", "--state", "running"}, `--state "running": want one of PreparingRebalance, CompletingRebalance, Stable, Empty, Dead`},
		{"describe no group", []string{"group", "describe"}, "requires at least 1 arg(s)"},
		{"describe unknown", []string{"group", "describe", "nope"}, `group "nope" does not exist`},
		{"delete unknown", []string{"group", "delete", "nope"}, `delete group "nope": GROUP_ID_NOT_FOUND`},
		{"unknown subcommand", []string{"group", "rename"}, `unknown command "rename" for "strata group"`},
		{"consume group and partition", []string{"consume", "gc", "--group", "g", "--partition", "0"}, "--partition cannot be used with --group"},
		{"consume group unknown topic", []string{"consume", "nope", "--group", "g"}, `unknown topic "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli("", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

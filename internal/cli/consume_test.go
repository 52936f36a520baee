package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// consumeFixture fills topic "c" (one partition) with records k0=v0 ...
// k4=v4 at t0, t0+1s, ..., record 1 with headers, and topic "c2" with a0, a1
// in partition 0 and b0 in partition 1. It returns t0.
func consumeFixture(t *testing.T, addr string) time.Time {
	t.Helper()
	t0 := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	createTopic(t, addr, "c", 1)
	createTopic(t, addr, "c2", 2)
	var recs []*kgo.Record
	for i := range 5 {
		r := &kgo.Record{Topic: "c", Timestamp: t0.Add(time.Duration(i) * time.Second),
			Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
		if i == 1 {
			r.Headers = []kgo.RecordHeader{{Key: "h1", Value: []byte("a")}, {Key: "h2", Value: []byte("b")}}
		}
		recs = append(recs, r)
	}
	recs = append(recs,
		&kgo.Record{Topic: "c2", Partition: 0, Value: []byte("a0")},
		&kgo.Record{Topic: "c2", Partition: 0, Value: []byte("a1")},
		&kgo.Record{Topic: "c2", Partition: 1, Value: []byte("b0")},
	)
	produceRecords(t, addr, recs...)
	return t0
}

func TestConsume(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	t0 := consumeFixture(t, addr)
	idle := []string{"--idle-exit", "300ms"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"beginning value", []string{"c", "--from", "beginning", "-n", "5"}, "v0\nv1\nv2\nv3\nv4\n"},
		{"count limit kv", []string{"c", "--from", "earliest", "-n", "2", "--format", "kv"}, "k0\tv0\nk1\tv1\n"},
		{"full", []string{"c", "--from", "1", "--count", "2", "--format", "full"},
			"partition:0\toffset:1\ttimestamp:2024-05-01T12:00:01.000Z\tkey:k1\theaders:h1=a,h2=b\tvalue:v1\n" +
				"partition:0\toffset:2\ttimestamp:2024-05-01T12:00:02.000Z\tkey:k2\theaders:\tvalue:v2\n"},
		{"json", []string{"c", "--from", "beginning", "-n", "2", "--format", "json"},
			`{"topic":"c","partition":0,"offset":0,"timestamp":1714564800000,"key":"k0","headers":[],"value":"v0"}` + "\n" +
				`{"topic":"c","partition":0,"offset":1,"timestamp":1714564801000,"key":"k1","headers":[{"key":"h1","value":"a"},{"key":"h2","value":"b"}],"value":"v1"}` + "\n"},
		{"offset then idle", append([]string{"c", "--from", "3"}, idle...), "v3\nv4\n"},
		{"offset past end", append([]string{"c", "--from", "99"}, idle...), ""},
		{"end", append([]string{"c", "--from", "end"}, idle...), ""},
		{"rfc3339", []string{"c", "--from", t0.Add(2 * time.Second).Format(time.RFC3339), "-n", "3"}, "v2\nv3\nv4\n"},
		{"rfc3339 between records", []string{"c", "--from", "2024-05-01T14:00:02.5+02:00", "-n", "2"}, "v3\nv4\n"},
		{"unix millis", []string{"c", "--from", fmt.Sprintf("@%d", t0.Add(4*time.Second).UnixMilli()), "-n", "1"}, "v4\n"},
		{"time after last", append([]string{"c", "--from", "2030-01-01T00:00:00Z"}, idle...), ""},
		{"one partition", append([]string{"c2", "--partition", "1", "--from", "beginning"}, idle...), "b0\n"},
		{"one partition offset", append([]string{"c2", "--partition", "0", "--from", "1", "--format", "kv"}, idle...), "null\ta1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, stderr, err := cli("", append([]string{"consume"}, tt.args...)...)
			if err != nil {
				t.Fatalf("consume: %v\nstderr: %s", err, stderr)
			}
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestConsumeErrors(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "c", 1)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"unknown topic", []string{"nope"}, `unknown topic "nope"`},
		{"unknown partition", []string{"c", "--partition", "7"}, `topic "c" has no partition 7 (it has 1)`},
		{"bad format", []string{"c", "--format", "xml"}, `--format "xml": want value, kv, full or json`},
		{"bad from", []string{"c", "--from", "yesterday"}, `--from "yesterday"`},
		{"negative count", []string{"c", "-n", "-1"}, "--count must be >= 0"},
		{"no topic", nil, "accepts 1 arg(s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := cli("", append([]string{"consume"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestConsumeFromEnd checks that --from end prints records produced after
// the consumer started, and nothing from before.
func TestConsumeFromEnd(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "tail", 1)
	produceRecords(t, addr, &kgo.Record{Topic: "tail", Value: []byte("old")})

	type result struct {
		out string
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, _, err := cli("", "consume", "tail", "-n", "1")
		done <- result{out, err}
	}()
	// The consumer's end offset is resolved at some unknown moment: keep
	// producing until it has seen a record.
	deadline := time.After(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-done:
			if r.err != nil || r.out != "new\n" {
				t.Fatalf("got %q, %v; want \"new\\n\", nil", r.out, r.err)
			}
			return
		case <-tick.C:
			produceRecords(t, addr, &kgo.Record{Topic: "tail", Value: []byte("new")})
		case <-deadline:
			t.Fatal("consume --from end printed nothing in 15s")
		}
	}
}

// TestConsumeCancel checks that a consumer stopped by its context (as by
// SIGINT) exits cleanly.
func TestConsumeCancel(t *testing.T) {
	addr := startBroker(t)
	createTopic(t, addr, "c", 1)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newRootCommand(noEnv, nil)
	cmd.SetArgs([]string{"--brokers", addr, "consume", "c"})
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("got %v, want nil", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("consume did not exit after its context was cancelled")
	}
}

func TestProduceConsumeRoundTrip(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "rt", 1)
	before := time.Now().Add(-time.Second)
	mustRun(t, cli, "k1=v1\nk2=v2\n", "produce", "rt", "--key-separator", "=", "--header", "src=cli")
	after := time.Now().Add(time.Second)

	if got, want := mustRun(t, cli, "", "consume", "rt", "--from", "beginning", "-n", "2", "--format", "kv"), "k1\tv1\nk2\tv2\n"; got != want {
		t.Errorf("kv: got %q, want %q", got, want)
	}
	out := mustRun(t, cli, "", "consume", "rt", "--from", "beginning", "-n", "2", "--format", "json")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("json: got %d lines, want 2: %q", len(lines), out)
	}
	for i, line := range lines {
		var got jsonRecord
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("line %d %q: %v", i, line, err)
		}
		ts := time.UnixMilli(got.Timestamp)
		if ts.Before(before) || ts.After(after) {
			t.Errorf("line %d: got timestamp %s, want within [%s, %s]", i, ts, before, after)
		}
		got.Timestamp = 0
		k, v := fmt.Sprintf("k%d", i+1), fmt.Sprintf("v%d", i+1)
		want := jsonRecord{Topic: "rt", Offset: int64(i), Key: &k, Value: &v, Headers: []jsonHeader{{"src", "cli"}}}
		if fmt.Sprint(got.Topic, got.Partition, got.Offset, *got.Key, *got.Value, got.Headers) !=
			fmt.Sprint(want.Topic, want.Partition, want.Offset, *want.Key, *want.Value, want.Headers) {
			t.Errorf("line %d: got %+v, want %+v", i, got, want)
		}
	}
}

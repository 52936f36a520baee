package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// describeRow is one partition row of `topic describe`.
type describeRow struct {
	partition, leader, replicas, isr, logStart, logEnd string
}

// parseDescribe splits `topic describe` output of one topic into its
// header lines (key: value, with the volatile ID dropped), its config lines
// and its partition rows.
func parseDescribe(t *testing.T, out string) (header, configs []string, rows []describeRow) {
	t.Helper()
	inTable := false
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(line, "PARTITION"):
			inTable = true
		case inTable:
			f := strings.Fields(line)
			if len(f) != 7 {
				t.Fatalf("partition row %q: got %d fields, want 7", line, len(f))
			}
			rows = append(rows, describeRow{f[0], f[1], f[3], f[4], f[5], f[6]})
		case strings.HasPrefix(line, "  "):
			configs = append(configs, strings.TrimSpace(line))
		case strings.HasPrefix(line, "ID:"):
			if strings.TrimSpace(strings.TrimPrefix(line, "ID:")) == "" {
				t.Errorf("got empty topic ID in %q", out)
			}
		default:
			header = append(header, strings.Join(strings.Fields(line), " "))
		}
	}
	return header, configs, rows
}

func TestTopicLifecycle(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	node := fmt.Sprint(brokerID(t, addr))

	if got, want := mustRun(t, cli, "", "topic", "create", "orders", "-p", "3", "-r", "1", "-c", "retention.ms=60000"),
		"created topic \"orders\" (3 partitions, replication factor 1)\n"; got != want {
		t.Errorf("create: got %q, want %q", got, want)
	}
	mustRun(t, cli, "", "topic", "create", "a", "-p", "1")

	_, _, err := cli("", "topic", "create", "orders")
	if err == nil || !strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS") {
		t.Errorf("create existing: got error %v, want TOPIC_ALREADY_EXISTS", err)
	}
	if got, want := mustRun(t, cli, "", "topic", "create", "orders", "--if-not-exists"), "topic \"orders\" already exists\n"; got != want {
		t.Errorf("create --if-not-exists: got %q, want %q", got, want)
	}

	wantList := "NAME    PARTITIONS  REPLICATION\n" +
		"a       1           1\n" +
		"orders  3           1\n"
	if got := mustRun(t, cli, "", "topic", "list"); got != wantList {
		t.Errorf("list: got\n%s\nwant\n%s", got, wantList)
	}

	produceRecords(t, addr,
		&kgo.Record{Topic: "orders", Partition: 1, Value: []byte("x")},
		&kgo.Record{Topic: "orders", Partition: 1, Value: []byte("y")},
		&kgo.Record{Topic: "orders", Partition: 2, Value: []byte("z")},
	)
	header, configs, rows := parseDescribe(t, mustRun(t, cli, "", "topic", "describe", "orders"))
	if got, want := strings.Join(header, "|"), "Topic: orders|Partitions: 3|Replication factor: 1|Configs:"; got != want {
		t.Errorf("describe header: got %q, want %q", got, want)
	}
	if got, want := strings.Join(configs, "|"), "retention.ms=60000"; got != want {
		t.Errorf("describe configs: got %q, want %q", got, want)
	}
	wantRows := []describeRow{
		{"0", node, node, node, "0", "0"},
		{"1", node, node, node, "0", "2"},
		{"2", node, node, node, "0", "1"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(wantRows) {
		t.Errorf("describe rows: got %v, want %v", rows, wantRows)
	}

	if got, want := mustRun(t, cli, "", "topic", "alter", "orders", "-c", "retention.ms=120000", "-c", "cleanup.policy=compact"),
		"altered 2 setting(s) of topic \"orders\"\n"; got != want {
		t.Errorf("alter: got %q, want %q", got, want)
	}
	_, configs, _ = parseDescribe(t, mustRun(t, cli, "", "topic", "describe", "orders"))
	if got, want := strings.Join(configs, "|"), "cleanup.policy=compact|retention.ms=120000"; got != want {
		t.Errorf("configs after alter: got %q, want %q", got, want)
	}
	if got, want := mustRun(t, cli, "", "topic", "alter", "orders", "--delete-config", "retention.ms", "-p", "5"),
		"altered 1 setting(s) of topic \"orders\"\ntopic \"orders\" now has 5 partitions\n"; got != want {
		t.Errorf("alter: got %q, want %q", got, want)
	}
	header, configs, rows = parseDescribe(t, mustRun(t, cli, "", "topic", "describe", "orders"))
	if got, want := strings.Join(configs, "|"), "cleanup.policy=compact"; got != want {
		t.Errorf("configs after delete-config: got %q, want %q", got, want)
	}
	if got, want := header[1], "Partitions: 5"; got != want || len(rows) != 5 {
		t.Errorf("after -p 5: got %q and %d rows, want %q and 5 rows", got, len(rows), want)
	}

	out := mustRun(t, cli, "", "topic", "describe", "a", "orders")
	if n := strings.Count(out, "Topic:"); n != 2 || !strings.Contains(out, "Configs:            (none)\n") {
		t.Errorf("describe two topics: got %d topics in\n%s\nwant 2, the first without configs", n, out)
	}

	if got, want := mustRun(t, cli, "", "topic", "delete", "orders", "a"), "deleted topic \"orders\"\ndeleted topic \"a\"\n"; got != want {
		t.Errorf("delete: got %q, want %q", got, want)
	}
	if got, want := mustRun(t, cli, "", "topic", "list"), "NAME  PARTITIONS  REPLICATION\n"; got != want {
		t.Errorf("list after delete: got %q, want %q", got, want)
	}
}

func TestTopicErrors(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "exists", 2)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"describe unknown", []string{"topic", "describe", "exists", "nope"}, `unknown topic "nope"`},
		{"alter unknown", []string{"topic", "alter", "nope", "-c", "retention.ms=1"}, `unknown topic "nope"`},
		{"alter nothing", []string{"topic", "alter", "exists"}, "nothing to alter"},
		{"alter bad config syntax", []string{"topic", "alter", "exists", "-c", "retention.ms"}, `"retention.ms" is not key=value`},
		{"alter fewer partitions", []string{"topic", "alter", "exists", "-p", "1"}, "INVALID_PARTITIONS"},
		{"create bad config syntax", []string{"topic", "create", "x", "-c", "=1"}, `"=1" is not key=value`},
		{"create no name", []string{"topic", "create"}, "accepts 1 arg(s)"},
		{"delete unknown", []string{"topic", "delete", "nope"}, `delete topic "nope": UNKNOWN_TOPIC_OR_PARTITION`},
		{"unreachable", []string{"--brokers", "127.0.0.1:1", "--timeout", "300ms", "topic", "list"}, "list topics (brokers 127.0.0.1:1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := cli("", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if stdout != "" {
				t.Errorf("got stdout %q, want none", stdout)
			}
			if n := strings.Count(stderr, "Error: "); n != 1 {
				t.Errorf("got %d error lines in stderr %q, want 1", n, stderr)
			}
		})
	}
}

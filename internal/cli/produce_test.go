package cli

import (
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordText is the comparable part of a record: partition, key, value and
// headers, with "<nil>" for a null key.
func recordText(r *kgo.Record) string {
	key := "<nil>"
	if r.Key != nil {
		key = fmt.Sprintf("%q", r.Key)
	}
	var hs []string
	for _, h := range r.Headers {
		hs = append(hs, h.Key+"="+string(h.Value))
	}
	return fmt.Sprintf("p%d key=%s value=%q headers=%v", r.Partition, key, r.Value, hs)
}

func TestProduce(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	tests := []struct {
		name       string
		partitions int32 // 0: do not create the topic
		stdin      string
		args       []string
		partition  int32 // where to read the records back
		want       []string
	}{
		{
			name: "lines", partitions: 1, stdin: "a\nb\r\n\nlast",
			want: []string{`p0 key=<nil> value="a" headers=[]`, `p0 key=<nil> value="b" headers=[]`,
				`p0 key=<nil> value="" headers=[]`, `p0 key=<nil> value="last" headers=[]`},
		},
		{
			name: "keys and headers", partitions: 1, stdin: "k1:v1\nk2:v:2\n:v3\nk4:\n",
			args: []string{"--key-separator", ":", "--header", "h1=a", "--header", "h2=b=c"},
			want: []string{`p0 key="k1" value="v1" headers=[h1=a h2=b=c]`, `p0 key="k2" value="v:2" headers=[h1=a h2=b=c]`,
				`p0 key="" value="v3" headers=[h1=a h2=b=c]`, `p0 key="k4" value="" headers=[h1=a h2=b=c]`},
		},
		{
			name: "multi-byte separator", partitions: 1, stdin: "k1::v1:x\n",
			args: []string{"--key-separator", "::"},
			want: []string{`p0 key="k1" value="v1:x" headers=[]`},
		},
		{
			name: "partition acks 1 gzip", partitions: 3, stdin: "x\ny\n",
			args:      []string{"--partition", "2", "--acks", "1", "--compression", "gzip"},
			partition: 2,
			want:      []string{`p2 key=<nil> value="x" headers=[]`, `p2 key=<nil> value="y" headers=[]`},
		},
		{
			name: "acks 0 zstd", partitions: 1, stdin: "z\n", args: []string{"--acks", "0", "--compression", "zstd"},
			want: []string{`p0 key=<nil> value="z" headers=[]`},
		},
		{
			name: "snappy", partitions: 1, stdin: "s\n", args: []string{"--compression", "snappy"},
			want: []string{`p0 key=<nil> value="s" headers=[]`},
		},
		{
			name: "lz4", partitions: 1, stdin: "l\n", args: []string{"--compression", "lz4"},
			want: []string{`p0 key=<nil> value="l" headers=[]`},
		},
		{
			name: "auto-created topic", stdin: "auto\n",
			want: []string{`p0 key=<nil> value="auto" headers=[]`},
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topic := fmt.Sprintf("produce-%d", i)
			if tt.partitions > 0 {
				createTopic(t, addr, topic, tt.partitions)
			}
			stdout, stderr, err := cli(tt.stdin, append([]string{"produce", topic}, tt.args...)...)
			if err != nil {
				t.Fatalf("produce: %v\nstderr: %s", err, stderr)
			}
			if want := fmt.Sprintf("produced %d records to %q\n", len(tt.want), topic); stderr != want || stdout != "" {
				t.Errorf("got stdout %q, stderr %q; want no stdout, stderr %q", stdout, stderr, want)
			}
			recs := readRecords(t, addr, topic, tt.partition, len(tt.want))
			for j, r := range recs {
				if got := recordText(r); got != tt.want[j] {
					t.Errorf("record %d: got %s, want %s", j, got, tt.want[j])
				}
			}
		})
	}
}

func TestProduceErrors(t *testing.T) {
	addr := startBroker(t)
	cli := cliAt(t, addr)
	createTopic(t, addr, "one", 1)
	tests := []struct {
		name       string
		stdin      string
		args       []string
		wantErr    string
		wantStderr string // prefix of stderr
	}{
		{"missing separator", "k1:v1\nnosep\nk3:v3\n", []string{"--key-separator", ":"},
			`stdin line 2: key separator ":" not found`, "produced 1 records to \"one\"\n"},
		{"bad acks", "x\n", []string{"--acks", "2"}, `--acks "2"`, "Error:"},
		{"bad compression", "x\n", []string{"--compression", "brotli"}, `--compression "brotli"`, "Error:"},
		{"bad header", "x\n", []string{"--header", "nokv"}, `--header: "nokv" is not key=value`, "Error:"},
		{"negative partition", "x\n", []string{"--partition", "-2"}, "--partition must be >= 0", "Error:"},
		{"partition out of range", "x\n", []string{"--partition", "5", "--timeout", "2s"}, `produce to "one"`, "produced 0 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, stderr, err := cli(tt.stdin, append([]string{"produce", "one"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
			if !strings.HasPrefix(stderr, tt.wantStderr) {
				t.Errorf("got stderr %q, want prefix %q", stderr, tt.wantStderr)
			}
		})
	}
}

package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestRecordFormats(t *testing.T) {
	ts := time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	recs := []*kgo.Record{
		{Topic: "t", Partition: 2, Offset: 7, Timestamp: ts, Key: []byte("k1"), Value: []byte("v1"),
			Headers: []kgo.RecordHeader{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("x=y")}}},
		{Topic: "t", Partition: 0, Offset: 0, Timestamp: ts.Add(time.Second), Value: []byte(`say "hi"`)},
		{Topic: "t", Partition: 0, Offset: 1, Timestamp: ts, Key: []byte{}, Value: nil},
	}
	tests := []struct {
		format string
		want   string
	}{
		{"value", "v1\nsay \"hi\"\nnull\n"},
		{"kv", "k1\tv1\nnull\tsay \"hi\"\n\tnull\n"},
		{"full", "partition:2\toffset:7\ttimestamp:2024-05-01T12:00:00.123Z\tkey:k1\theaders:a=1,b=x=y\tvalue:v1\n" +
			"partition:0\toffset:0\ttimestamp:2024-05-01T12:00:01.123Z\tkey:null\theaders:\tvalue:say \"hi\"\n" +
			"partition:0\toffset:1\ttimestamp:2024-05-01T12:00:00.123Z\tkey:\theaders:\tvalue:null\n"},
		{"json", `{"topic":"t","partition":2,"offset":7,"timestamp":1714564800123,"key":"k1","headers":[{"key":"a","value":"1"},{"key":"b","value":"x=y"}],"value":"v1"}` + "\n" +
			`{"topic":"t","partition":0,"offset":0,"timestamp":1714564801123,"key":null,"headers":[],"value":"say \"hi\""}` + "\n" +
			`{"topic":"t","partition":0,"offset":1,"timestamp":1714564800123,"key":"","headers":[],"value":null}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			for _, r := range recs {
				if err := recordFormats[tt.format](&buf, r); err != nil {
					t.Fatal(err)
				}
			}
			if got := buf.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestParseFrom(t *testing.T) {
	tests := []struct {
		in      string
		want    startOffset
		wantErr string
	}{
		{in: "end", want: startOffset{kind: startEnd}},
		{in: "latest", want: startOffset{kind: startEnd}},
		{in: "beginning", want: startOffset{kind: startBeginning}},
		{in: "earliest", want: startOffset{kind: startBeginning}},
		{in: "0", want: startOffset{kind: startAt, offset: 0}},
		{in: "1500", want: startOffset{kind: startAt, offset: 1500}},
		{in: "2024-05-01T12:00:00Z", want: startOffset{kind: startAfterMilli, milli: 1714564800000}},
		{in: "2024-05-01T14:00:00.5+02:00", want: startOffset{kind: startAfterMilli, milli: 1714564800500}},
		{in: "@1714564800000", want: startOffset{kind: startAfterMilli, milli: 1714564800000}},
		{in: "-1", wantErr: "offset must be >= 0"},
		{in: "@-5", wantErr: "Unix milliseconds"},
		{in: "@soon", wantErr: "Unix milliseconds"},
		{in: "2024-05-01", wantErr: "want beginning, end"},
		{in: "", wantErr: "want beginning, end"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseFrom(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %+v, %v; want error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSplitKeyValueList(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a=1", []string{"a=1"}},
		{"a=1,b=2", []string{"a=1", "b=2"}},
		{"cleanup.policy=compact,delete,b=2", []string{"cleanup.policy=compact,delete", "b=2"}},
		{"a=1,,b=", []string{"a=1", "b="}},
		{" , x", []string{" x"}},
	}
	for _, tt := range tests {
		got := splitKeyValueList(tt.in)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("splitKeyValueList(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

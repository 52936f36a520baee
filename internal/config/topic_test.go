package config

import (
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicCases lists, for every topic config, Kafka's default, a valid value
// and an invalid one with the text of Kafka's complaint.
var topicCases = []struct {
	name, dflt, valid, invalid, why string
	typ                             kmsg.ConfigType
}{
	{CleanupPolicy, "delete", "compact,delete", "compact,nope", "String must be one of: compact, delete", kmsg.ConfigTypeList},
	{CompressionType, "producer", "zstd", "brotli", "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer", kmsg.ConfigTypeString},
	{DeleteRetentionMs, "86400000", "0", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{FileDeleteDelayMs, "60000", "1000", "-5", "Value must be at least 0", kmsg.ConfigTypeLong},
	{FlushMessages, maxLong, "1", "0", "Value must be at least 1", kmsg.ConfigTypeLong},
	{FlushMs, maxLong, "1000", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{FollowerReplicationThrottled, "", "0:1,1:2", "0-1", "Must be the wildcard (*) or of the form 'partitionId:brokerId,partitionId:brokerId,...'", kmsg.ConfigTypeList},
	{IndexIntervalBytes, "4096", "1024", "x", "Not a number of type INT", kmsg.ConfigTypeInt},
	{LeaderReplicationThrottled, "", "*", "a:b", "Must be the wildcard (*) or of the form 'partitionId:brokerId,partitionId:brokerId,...'", kmsg.ConfigTypeList},
	{LocalRetentionBytes, "-2", "1000", "-3", "Value must be at least -2", kmsg.ConfigTypeLong},
	{LocalRetentionMs, "-2", "-1", "-3", "Value must be at least -2", kmsg.ConfigTypeLong},
	{MaxCompactionLagMs, maxLong, "1000", "0", "Value must be at least 1", kmsg.ConfigTypeLong},
	{MaxMessageBytes, "1048588", "5242880", "2147483648", "Not a number of type INT", kmsg.ConfigTypeInt},
	{MessageTimestampAfterMaxMs, maxLong, "3600000", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{MessageTimestampBeforeMaxMs, maxLong, "3600000", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{MessageTimestampDifferenceMaxMs, maxLong, "60000", "soon", "Not a number of type LONG", kmsg.ConfigTypeLong},
	{MessageTimestampType, "CreateTime", "LogAppendTime", "createtime", "String must be one of: CreateTime, LogAppendTime", kmsg.ConfigTypeString},
	{MinCleanableDirtyRatio, "0.5", "0.9", "1.5", "Value must be no more than 1", kmsg.ConfigTypeDouble},
	{MinCompactionLagMs, "0", "1000", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{MinInsyncReplicas, "1", "2", "0", "Value must be at least 1", kmsg.ConfigTypeInt},
	{Preallocate, "false", "true", "yes", "Expected value to be either true or false", kmsg.ConfigTypeBoolean},
	{RemoteStorageEnable, "false", "false", "true", "Strata does not support this feature", kmsg.ConfigTypeBoolean},
	{RetentionBytes, "-1", "1073741824", "1GB", "Not a number of type LONG", kmsg.ConfigTypeLong},
	{RetentionMs, "604800000", "-1", "-2", "Value must be at least -1", kmsg.ConfigTypeLong},
	{SegmentBytes, "1073741824", "1048576", "1048575", "Value must be at least 1048576", kmsg.ConfigTypeInt},
	{SegmentIndexBytes, "10485760", "4096", "3", "Value must be at least 4", kmsg.ConfigTypeInt},
	{SegmentJitterMs, "0", "1000", "-1", "Value must be at least 0", kmsg.ConfigTypeLong},
	{SegmentMs, "604800000", "3600000", "0", "Value must be at least 1", kmsg.ConfigTypeLong},
	{UncleanLeaderElectionEnable, "false", "true", "1", "Expected value to be either true or false", kmsg.ConfigTypeBoolean},
}

func TestTopicConfigTable(t *testing.T) {
	var names []string
	for _, tc := range topicCases {
		names = append(names, tc.name)
	}
	if got := TopicConfigNames(); !slices.Equal(got, names) {
		t.Fatalf("got topic configs %v, want %v (sorted, each with a test case)", got, names)
	}
	for _, tc := range topicCases {
		t.Run(tc.name, func(t *testing.T) {
			d, ok := TopicDefinition(tc.name)
			if !ok || !IsTopicConfig(tc.name) {
				t.Fatalf("got unknown, want a definition")
			}
			if *d.Default != tc.dflt || d.Type != tc.typ {
				t.Fatalf("got default %q type %v, want %q %v", *d.Default, d.Type, tc.dflt, tc.typ)
			}
			if got, err := ValidateTopicConfig(tc.name, " "+tc.valid+" "); err != nil || got != tc.valid {
				t.Fatalf("valid %q: got %q, %v; want %q, nil", tc.valid, got, err, tc.valid)
			}
			_, err := ValidateTopicConfig(tc.name, tc.invalid)
			want := "Invalid value " + tc.invalid + " for configuration " + tc.name + ": " + tc.why
			var ce *Error
			if !errors.As(err, &ce) || err.Error() != want || ce.Name != tc.name || !errors.Is(err, kerr.InvalidConfig) {
				t.Fatalf("invalid %q: got %v, want %q wrapping INVALID_CONFIG", tc.invalid, err, want)
			}
			if err := ValidateTopicOverrides(map[string]*string{tc.name: &tc.valid}); err != nil {
				t.Fatalf("ValidateTopicOverrides(valid): %v", err)
			}
			if err := ValidateTopicOverrides(map[string]*string{tc.name: &tc.invalid}); err == nil {
				t.Fatalf("ValidateTopicOverrides(invalid): got nil, want an error")
			}
		})
	}
	*mustDef(t, RetentionMs).Default = "1" // copies: the table must not change
	if d := mustDef(t, RetentionMs); *d.Default != "604800000" {
		t.Fatalf("got default %q after editing a copy, want 604800000", *d.Default)
	}
}

func mustDef(t *testing.T, name string) *Definition {
	t.Helper()
	d, ok := TopicDefinition(name)
	if !ok {
		t.Fatalf("no definition for %s", name)
	}
	return &d
}

func TestValidateTopicOverrides(t *testing.T) {
	v := func(s string) *string { return &s }
	tests := []struct {
		name      string
		overrides map[string]*string
		want      string // "" for valid
	}{
		{"none", nil, ""},
		{"several valid", map[string]*string{RetentionMs: v("1000"), CleanupPolicy: v("compact"), MinCleanableDirtyRatio: v("0.1")}, ""},
		{"unknown", map[string]*string{"foo": v("1")}, "Unknown topic config name: foo"},
		{"null value", map[string]*string{RetentionMs: nil}, "Null value not supported for topic configs: retention.ms"},
		{"first problem in name order", map[string]*string{"zzz": v("1"), RetentionMs: v("x")},
			"Invalid value x for configuration retention.ms: Not a number of type LONG"},
		{"compaction lags conflict", map[string]*string{MinCompactionLagMs: v("100"), MaxCompactionLagMs: v("10")},
			"conflict topic config setting min.compaction.lag.ms (100) > max.compaction.lag.ms (10)"},
		{"empty cleanup policy", map[string]*string{CleanupPolicy: v("")}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopicOverrides(tt.overrides)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, kerr.InvalidConfig) {
				t.Fatalf("got %v, want %q wrapping INVALID_CONFIG", err, tt.want)
			}
		})
	}
}

func TestResolveTopicDefaults(t *testing.T) {
	got, err := ResolveTopic(DefaultBroker(), nil)
	if err != nil {
		t.Fatalf("ResolveTopic: %v", err)
	}
	want := Topic{
		CleanupDelete: true, CompressionType: "producer", DeleteRetentionMs: 86400000, FileDeleteDelayMs: 60000,
		FlushMessages: math.MaxInt64, FlushMs: math.MaxInt64, IndexIntervalBytes: 4096, MaxCompactionLagMs: math.MaxInt64,
		MaxMessageBytes: 1048588, TimestampBeforeMaxMs: math.MaxInt64, TimestampAfterMaxMs: math.MaxInt64,
		MinCleanableDirtyRatio: 0.5, MinInsyncReplicas: 1, RetentionBytes: -1, RetentionMs: 604800000,
		SegmentBytes: 1073741824, SegmentIndexBytes: 10485760, SegmentMs: 604800000,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestThrottled(t *testing.T) {
	for _, tt := range []struct {
		value string
		has   [][2]int32
		not   [][2]int32
	}{
		{"", nil, [][2]int32{{0, 1}}},
		{"*", [][2]int32{{0, 1}, {7, 3}}, nil},
		{"0:1, 2:3", [][2]int32{{0, 1}, {2, 3}}, [][2]int32{{0, 3}, {1, 1}}},
	} {
		tc, err := ResolveTopic(DefaultBroker(), map[string]string{LeaderReplicationThrottled: tt.value, FollowerReplicationThrottled: tt.value})
		if err != nil {
			t.Fatalf("%q: %v", tt.value, err)
		}
		for _, r := range tt.has {
			if !tc.LeaderThrottled.Has(r[0], r[1]) || !tc.FollowerThrottled.Has(r[0], r[1]) {
				t.Errorf("%q: %v not throttled", tt.value, r)
			}
		}
		for _, r := range tt.not {
			if tc.LeaderThrottled.Has(r[0], r[1]) {
				t.Errorf("%q: %v throttled", tt.value, r)
			}
		}
	}
}

func TestResolveTopicPrecedence(t *testing.T) {
	tests := []struct {
		name      string
		broker    map[string]string
		overrides map[string]string
		check     func(Topic) bool
		want      string
	}{
		{"broker ms", map[string]string{"log.retention.ms": "1000"}, nil,
			func(t Topic) bool { return t.RetentionMs == 1000 }, "retention 1000"},
		{"broker minutes", map[string]string{"log.retention.minutes": "2"}, nil,
			func(t Topic) bool { return t.RetentionMs == 120000 }, "retention 120000"},
		{"broker hours", map[string]string{"log.retention.hours": "1"}, nil,
			func(t Topic) bool { return t.RetentionMs == 3600000 }, "retention 3600000"},
		{"ms over minutes over hours", map[string]string{"log.retention.ms": "5", "log.retention.minutes": "2", "log.retention.hours": "1"}, nil,
			func(t Topic) bool { return t.RetentionMs == 5 }, "retention 5"},
		{"minutes over hours", map[string]string{"log.retention.minutes": "2", "log.retention.hours": "1"}, nil,
			func(t Topic) bool { return t.RetentionMs == 120000 }, "retention 120000"},
		{"negative hours unlimited", map[string]string{"log.retention.hours": "-1"}, nil,
			func(t Topic) bool { return t.RetentionMs == -1 }, "retention -1"},
		{"negative ms unlimited", map[string]string{"log.retention.ms": "-7"}, nil,
			func(t Topic) bool { return t.RetentionMs == -1 }, "retention -1"},
		{"override over broker", map[string]string{"log.retention.ms": "1000"}, map[string]string{RetentionMs: "42"},
			func(t Topic) bool { return t.RetentionMs == 42 }, "retention 42"},
		{"roll hours", map[string]string{"log.roll.hours": "2"}, nil,
			func(t Topic) bool { return t.SegmentMs == 7200000 }, "segment.ms 7200000"},
		{"roll jitter hours", map[string]string{"log.roll.jitter.hours": "1"}, nil,
			func(t Topic) bool { return t.SegmentJitterMs == 3600000 }, "jitter 3600000"},
		{"flush falls back to scheduler", map[string]string{"log.flush.scheduler.interval.ms": "3000"}, nil,
			func(t Topic) bool { return t.FlushMs == 3000 }, "flush.ms 3000"},
		{"flush interval over scheduler", map[string]string{"log.flush.scheduler.interval.ms": "3000", "log.flush.interval.ms": "10"}, nil,
			func(t Topic) bool { return t.FlushMs == 10 }, "flush.ms 10"},
		{"message.max.bytes", map[string]string{"message.max.bytes": "2000000"}, nil,
			func(t Topic) bool { return t.MaxMessageBytes == 2000000 }, "max.message.bytes 2000000"},
		{"segment bytes", map[string]string{"log.segment.bytes": "2097152"}, map[string]string{},
			func(t Topic) bool { return t.SegmentBytes == 2097152 }, "segment.bytes 2097152"},
		{"cleanup policy", map[string]string{"log.cleanup.policy": "compact"}, nil,
			func(t Topic) bool { return t.CleanupCompact && !t.CleanupDelete }, "compact only"},
		{"both policies override", nil, map[string]string{CleanupPolicy: "compact, delete"},
			func(t Topic) bool { return t.CleanupCompact && t.CleanupDelete }, "compact and delete"},
		{"log append time", map[string]string{"log.message.timestamp.type": "LogAppendTime"}, nil,
			func(t Topic) bool { return t.LogAppendTime }, "LogAppendTime"},
		{"difference stands in for before and after", nil, map[string]string{MessageTimestampDifferenceMaxMs: "500", MessageTimestampAfterMaxMs: "9"},
			func(t Topic) bool { return t.TimestampBeforeMaxMs == 500 && t.TimestampAfterMaxMs == 9 }, "before 500 after 9"},
		{"broker min isr, topic compression", map[string]string{"min.insync.replicas": "2", "compression.type": "lz4"}, map[string]string{CompressionType: "zstd"},
			func(t Topic) bool { return t.MinInsyncReplicas == 2 && t.CompressionType == "zstd" }, "min isr 2, zstd"},
		{"cleaner settings", map[string]string{"log.cleaner.min.cleanable.ratio": "0.25", "log.cleaner.delete.retention.ms": "7", "log.cleaner.min.compaction.lag.ms": "3", "log.cleaner.max.compaction.lag.ms": "9"}, nil,
			func(t Topic) bool {
				return t.MinCleanableDirtyRatio == 0.25 && t.DeleteRetentionMs == 7 && t.MinCompactionLagMs == 3 && t.MaxCompactionLagMs == 9
			}, "cleaner values"},
		{"misc broker synonyms", map[string]string{"log.preallocate": "true", "unclean.leader.election.enable": "true", "log.index.interval.bytes": "1", "log.index.size.max.bytes": "100", "log.segment.delete.delay.ms": "0", "log.flush.interval.messages": "10", "log.retention.bytes": "99"}, nil,
			func(t Topic) bool {
				return t.Preallocate && t.UncleanLeaderElection && t.IndexIntervalBytes == 1 && t.SegmentIndexBytes == 100 &&
					t.FileDeleteDelayMs == 0 && t.FlushMessages == 10 && t.RetentionBytes == 99
			}, "synonym values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseBroker(tt.broker)
			if err != nil {
				t.Fatalf("ParseBroker: %v", err)
			}
			got, err := ResolveTopic(b, tt.overrides)
			if err != nil {
				t.Fatalf("ResolveTopic: %v", err)
			}
			if !tt.check(got) {
				t.Fatalf("got %+v, want %s", got, tt.want)
			}
		})
	}
}

func TestResolveTopicErrors(t *testing.T) {
	for _, overrides := range []map[string]string{
		{"retention.hours": "1"},
		{SegmentBytes: "1024"},
		{MinCompactionLagMs: "10", MaxCompactionLagMs: "5"},
	} {
		if _, err := ResolveTopic(DefaultBroker(), overrides); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%v: got %v, want INVALID_CONFIG", overrides, err)
		}
	}
	b, err := ParseBroker(map[string]string{"log.cleaner.min.compaction.lag.ms": "10"})
	if err != nil {
		t.Fatalf("ParseBroker: %v", err)
	}
	if _, err := ResolveTopic(b, map[string]string{MaxCompactionLagMs: "5"}); err == nil || !strings.Contains(err.Error(), "conflict") {
		t.Fatalf("got %v, want the lag conflict", err)
	}
}

func TestDescribeTopic(t *testing.T) {
	b, err := ParseBroker(map[string]string{"log.retention.minutes": "10", "log.segment.bytes": "2097152"})
	if err != nil {
		t.Fatalf("ParseBroker: %v", err)
	}
	entries := DescribeTopic(b, map[string]string{CleanupPolicy: "compact , delete", MaxMessageBytes: "5000"})
	if len(entries) != len(topicCases) {
		t.Fatalf("got %d entries, want %d", len(entries), len(topicCases))
	}
	byName := map[string]Entry{}
	for _, e := range entries {
		byName[e.Name] = e
		if e.ReadOnly || e.Sensitive || e.Value == nil || e.Documentation == "" || len(e.Synonyms) == 0 {
			t.Errorf("%s: got %+v, want a writable, non-sensitive, documented value with synonyms", e.Name, e)
		}
		if e.Synonyms[0].Source != e.Source {
			t.Errorf("%s: got first synonym from %v, want the source in force %v", e.Name, e.Synonyms[0].Source, e.Source)
		}
	}
	s := func(v string) *string { return &v }
	tests := []struct {
		name   string
		value  string
		source kmsg.ConfigSource
		syns   []Synonym
	}{
		{CleanupPolicy, "compact,delete", kmsg.ConfigSourceDynamicTopicConfig, []Synonym{
			{CleanupPolicy, s("compact,delete"), kmsg.ConfigSourceDynamicTopicConfig},
			{"log.cleanup.policy", s("delete"), kmsg.ConfigSourceDefaultConfig}}},
		{MaxMessageBytes, "5000", kmsg.ConfigSourceDynamicTopicConfig, []Synonym{
			{MaxMessageBytes, s("5000"), kmsg.ConfigSourceDynamicTopicConfig},
			{"message.max.bytes", s("1048588"), kmsg.ConfigSourceDefaultConfig}}},
		{RetentionMs, "600000", kmsg.ConfigSourceStaticBrokerConfig, []Synonym{
			{"log.retention.minutes", s("10"), kmsg.ConfigSourceStaticBrokerConfig},
			{"log.retention.hours", s("168"), kmsg.ConfigSourceDefaultConfig}}},
		{SegmentBytes, "2097152", kmsg.ConfigSourceStaticBrokerConfig, []Synonym{
			{"log.segment.bytes", s("2097152"), kmsg.ConfigSourceStaticBrokerConfig},
			{"log.segment.bytes", s("1073741824"), kmsg.ConfigSourceDefaultConfig}}},
		{SegmentMs, "604800000", kmsg.ConfigSourceDefaultConfig, []Synonym{
			{"log.roll.hours", s("168"), kmsg.ConfigSourceDefaultConfig}}},
		{RemoteStorageEnable, "false", kmsg.ConfigSourceDefaultConfig, []Synonym{
			{RemoteStorageEnable, s("false"), kmsg.ConfigSourceDefaultConfig}}},
	}
	for _, tt := range tests {
		e := byName[tt.name]
		if *e.Value != tt.value || e.Source != tt.source || !reflect.DeepEqual(e.Synonyms, tt.syns) {
			t.Errorf("%s: got value %q source %v synonyms %s; want %q %v %s",
				tt.name, *e.Value, e.Source, fmtSyns(e.Synonyms), tt.value, tt.source, fmtSyns(tt.syns))
		}
	}
}

func fmtSyns(syns []Synonym) string {
	var parts []string
	for _, s := range syns {
		v := "<nil>"
		if s.Value != nil {
			v = *s.Value
		}
		parts = append(parts, s.Name+"="+v+"("+s.Source.String()+")")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

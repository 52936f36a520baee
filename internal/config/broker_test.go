package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDefaultBrokerGetters(t *testing.T) {
	b := DefaultBroker()
	tests := []struct {
		name      string
		got, want any
	}{
		{"NodeID", b.NodeID(), int32(-1)},
		{"NumPartitions", b.NumPartitions(), int32(1)},
		{"DefaultReplicationFactor", b.DefaultReplicationFactor(), int16(1)},
		{"AutoCreateTopics", b.AutoCreateTopics(), true},
		{"DeleteTopicEnable", b.DeleteTopicEnable(), true},
		{"SocketRequestMaxBytes", b.SocketRequestMaxBytes(), int32(104857600)},
		{"MessageMaxBytes", b.MessageMaxBytes(), int32(1048588)},
		{"FetchMaxBytes", b.FetchMaxBytes(), int32(57671680)},
		{"RetentionCheckInterval", b.RetentionCheckInterval(), 5 * time.Minute},
		{"LogCleanerEnable", b.LogCleanerEnable(), true},
		{"LogFlushSchedulerInterval", b.LogFlushSchedulerInterval(), int64(9223372036854775807)},
		{"AutoLeaderRebalance", b.AutoLeaderRebalance(), true},
		{"ReplicaLagTimeMax", b.ReplicaLagTimeMax(), 30 * time.Second},
		{"ReplicaFetchMaxBytes", b.ReplicaFetchMaxBytes(), int32(1048576)},
		{"ConnectionsMaxIdle", b.ConnectionsMaxIdle(), 10 * time.Minute},
		{"OffsetsTopicNumPartitions", b.OffsetsTopicNumPartitions(), int32(50)},
		{"OffsetsTopicReplicationFactor", b.OffsetsTopicReplicationFactor(), int16(3)},
		{"OffsetsTopicSegmentBytes", b.OffsetsTopicSegmentBytes(), int32(104857600)},
		{"OffsetsCommitTimeout", b.OffsetsCommitTimeout(), 5 * time.Second},
		{"OffsetsRetention", b.OffsetsRetention(), 7 * 24 * time.Hour},
		{"OffsetsRetentionCheckInterval", b.OffsetsRetentionCheckInterval(), 10 * time.Minute},
		{"GroupInitialRebalanceDelay", b.GroupInitialRebalanceDelay(), 3 * time.Second},
		{"GroupMinSessionTimeout", b.GroupMinSessionTimeout(), 6 * time.Second},
		{"GroupMaxSessionTimeout", b.GroupMaxSessionTimeout(), 30 * time.Minute},
		{"GroupMaxSize", b.GroupMaxSize(), int32(2147483647)},
		{"TransactionStateLogNumPartitions", b.TransactionStateLogNumPartitions(), int32(50)},
		{"TransactionStateLogReplicationFactor", b.TransactionStateLogReplicationFactor(), int16(3)},
		{"TransactionStateLogMinISR", b.TransactionStateLogMinISR(), int32(2)},
		{"TransactionStateLogSegmentBytes", b.TransactionStateLogSegmentBytes(), int32(104857600)},
		{"TransactionMaxTimeout", b.TransactionMaxTimeout(), 15 * time.Minute},
		{"TransactionalIDExpiration", b.TransactionalIDExpiration(), 7 * 24 * time.Hour},
		{"ProducerIDExpiration", b.ProducerIDExpiration(), 24 * time.Hour},
		{"ProducerIDExpirationCheckInterval", b.ProducerIDExpirationCheckInterval(), 10 * time.Minute},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestParseBroker(t *testing.T) {
	b, err := ParseBroker(map[string]string{
		"node.id": " 3 ", "num.partitions": "6", "auto.create.topics.enable": "FALSE", "default.replication.factor": "3",
		"socket.request.max.bytes": "1000", "log.retention.check.interval.ms": "250", "delete.topic.enable": "false",
		"offsets.topic.replication.factor": "1", "group.initial.rebalance.delay.ms": "0",
	})
	if err != nil {
		t.Fatalf("ParseBroker: %v", err)
	}
	if b.NodeID() != 3 || b.NumPartitions() != 6 || b.AutoCreateTopics() || b.DefaultReplicationFactor() != 3 ||
		b.SocketRequestMaxBytes() != 1000 || b.RetentionCheckInterval() != 250*time.Millisecond || b.DeleteTopicEnable() ||
		b.OffsetsTopicReplicationFactor() != 1 || b.GroupInitialRebalanceDelay() != 0 {
		t.Fatalf("getters do not reflect the settings")
	}
	if v, ok := b.Value("node.id"); !ok || v != "3" || !b.IsSet("node.id") {
		t.Fatalf("got node.id %q %v, want the trimmed value 3", v, ok)
	}
	if _, ok := b.Value("log.retention.ms"); ok {
		t.Fatalf("got a value for unset log.retention.ms, want none")
	}
	if b2, _ := ParseBroker(map[string]string{"broker.id": "7"}); b2.NodeID() != 7 {
		t.Fatalf("got node id %d from broker.id, want 7", b2.NodeID())
	}

	tests := []struct {
		settings map[string]string
		want     string
	}{
		{map[string]string{"bogus.setting": "1"}, "Unknown broker setting: bogus.setting"},
		{map[string]string{"num.partitions": "0"}, "Invalid value 0 for configuration num.partitions: Value must be at least 1"},
		{map[string]string{"offsets.topic.replication.factor": "40000"}, "Invalid value 40000 for configuration offsets.topic.replication.factor: Not a number of type SHORT"},
		{map[string]string{"log.segment.bytes": "1000"}, "Invalid value 1000 for configuration log.segment.bytes: Value must be at least 1048576"},
		{map[string]string{"node.id": "1", "broker.id": "2"}, "broker.id (2) must equal node.id (1)"},
		{map[string]string{"log.cleanup.policy": "purge"}, "Invalid value purge for configuration log.cleanup.policy: String must be one of: compact, delete"},
		{map[string]string{"log.roll.ms": "0"}, "Invalid value 0 for configuration log.roll.ms: Value must be at least 1"},
		{map[string]string{"log.cleaner.min.compaction.lag.ms": "10", "log.cleaner.max.compaction.lag.ms": "5"},
			"conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"},
	}
	for _, tt := range tests {
		_, err := ParseBroker(tt.settings)
		if err == nil || err.Error() != tt.want || !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%v: got %v, want %q", tt.settings, err, tt.want)
		}
	}
}

func TestBrokerDefinitionsSound(t *testing.T) {
	for i := range brokerDefs {
		d := &brokerDefs[i]
		if i > 0 && brokerDefs[i-1].Name >= d.Name {
			t.Errorf("%s: broker settings not sorted", d.Name)
		}
		if d.Default != nil {
			if _, err := d.Parse(*d.Default); err != nil {
				t.Errorf("%s: default invalid: %v", d.Name, err)
			}
		}
	}
	for i := range topicDefs {
		d := &topicDefs[i]
		if _, err := d.Parse(*d.Default); err != nil {
			t.Errorf("%s: default invalid: %v", d.Name, err)
		}
		if d.units != nil && len(d.units) != len(d.Synonyms) {
			t.Errorf("%s: %d units for %d synonyms", d.Name, len(d.units), len(d.Synonyms))
		}
		for _, syn := range d.Synonyms {
			if !IsBrokerSetting(syn) {
				t.Errorf("%s: synonym %s is not a broker setting", d.Name, syn)
			}
		}
	}
}

func TestDescribeBroker(t *testing.T) {
	b, err := ParseBroker(map[string]string{"num.partitions": "4"})
	if err != nil {
		t.Fatalf("ParseBroker: %v", err)
	}
	entries := DescribeBroker(b)
	if len(entries) != len(brokerDefs) {
		t.Fatalf("got %d entries, want %d", len(entries), len(brokerDefs))
	}
	found := 0
	for _, e := range entries {
		if e.ReadOnly == IsDynamic(e.Name) {
			t.Errorf("%s: read-only %v, but dynamic %v", e.Name, e.ReadOnly, IsDynamic(e.Name))
		}
		switch e.Name {
		case "num.partitions":
			found++
			if *e.Value != "4" || e.Source != kmsg.ConfigSourceStaticBrokerConfig || len(e.Synonyms) != 2 ||
				e.Synonyms[0].Source != kmsg.ConfigSourceStaticBrokerConfig || *e.Synonyms[1].Value != "1" {
				t.Errorf("num.partitions: got %+v %s", e, fmtSyns(e.Synonyms))
			}
		case "log.retention.ms":
			found++
			if e.Value != nil || e.Source != kmsg.ConfigSourceDefaultConfig || len(e.Synonyms) != 0 {
				t.Errorf("log.retention.ms: got %+v, want no value from DEFAULT_CONFIG", e)
			}
		case "log.retention.hours":
			found++
			if *e.Value != "168" || e.Source != kmsg.ConfigSourceDefaultConfig || e.Type != kmsg.ConfigTypeInt {
				t.Errorf("log.retention.hours: got %+v", e)
			}
		}
	}
	if found != 3 {
		t.Fatalf("got %d of the checked entries, want 3", found)
	}
}

// TestDynamicLayers sets log.retention.ms on the command line, as a
// cluster-wide dynamic default and for one broker: each layer wins over
// the one below, topics see the value in force, and the synonyms list all
// layers in Kafka's order.
func TestDynamicLayers(t *testing.T) {
	static, err := ParseBroker(map[string]string{"log.retention.ms": "1000", "num.partitions": "3"})
	if err != nil {
		t.Fatal(err)
	}
	check := func(b Broker, want string, source kmsg.ConfigSource, syns int) {
		t.Helper()
		tc, err := ResolveTopic(b, nil)
		if err != nil {
			t.Fatal(err)
		}
		var e Entry
		for _, x := range DescribeBroker(b) {
			if x.Name == "log.retention.ms" {
				e = x
			}
		}
		if got, _ := b.Value("log.retention.ms"); got != want || e.Source != source || len(e.Synonyms) != syns || e.ReadOnly {
			t.Errorf("got %s from %v with %d synonyms (read-only %v), want %s from %v with %d", got, e.Source, len(e.Synonyms), e.ReadOnly, want, source, syns)
		}
		if tc.RetentionMs != mustInt(want) {
			t.Errorf("topics retain for %d ms, want %s", tc.RetentionMs, want)
		}
	}
	check(static, "1000", kmsg.ConfigSourceStaticBrokerConfig, 1)
	withDefault := static.WithDynamic(map[string]string{"log.retention.ms": "2000"}, nil)
	check(withDefault, "2000", kmsg.ConfigSourceDynamicDefaultBrokerConfig, 2)
	both := static.WithDynamic(map[string]string{"log.retention.ms": "2000"}, map[string]string{"log.retention.ms": "3000"})
	check(both, "3000", kmsg.ConfigSourceDynamicBrokerConfig, 3)
	check(both.WithDynamic(nil, nil), "1000", kmsg.ConfigSourceStaticBrokerConfig, 1)
	if got := DescribeClusterDefault(both); len(got) != 1 || *got[0].Value != "2000" || got[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
		t.Errorf("cluster default: got %+v", got)
	}
	if n, _ := both.Value("num.partitions"); n != "3" {
		t.Errorf("num.partitions: got %s, want the command line's 3", n)
	}
}

func mustInt(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		panic(err)
	}
	return n
}

func TestCheckDynamic(t *testing.T) {
	static := DefaultBroker()
	got, err := CheckDynamic(static, map[string]string{"message.max.bytes": " 2000 ", "log.retention.hours": "2"})
	if err != nil || got["message.max.bytes"] != "2000" {
		t.Fatalf("got %v, %v", got, err)
	}
	for set, want := range map[string]error{
		"broker.rack=r1":        kerr.InvalidRequest,
		"num.partitions=2":      kerr.InvalidRequest,
		"message.max.bytes=x":   kerr.InvalidConfig,
		"no.such.setting=1":     kerr.InvalidConfig,
		"min.insync.replicas=0": kerr.InvalidConfig,
	} {
		k, v, _ := strings.Cut(set, "=")
		_, err := CheckDynamic(static, map[string]string{k: v})
		if !errors.Is(err, want) {
			t.Errorf("%s: got %v, want %v", set, err, want)
		}
	}
	_, err = CheckDynamic(static, map[string]string{"num.partitions": "2", "broker.rack": "a", "message.max.bytes": "1"})
	if err == nil || err.Error() != "Cannot update these configs dynamically: Set(broker.rack, num.partitions)" {
		t.Errorf("got %v, want Kafka's message naming both", err)
	}
}

// TestEveryBrokerSetting sets each broker setting to its default and to a
// value no setting accepts.
func TestEveryBrokerSetting(t *testing.T) {
	for i := range brokerDefs {
		d := &brokerDefs[i]
		t.Run(d.Name, func(t *testing.T) {
			valid := "1"
			if d.Default != nil {
				valid = *d.Default
			}
			b, err := ParseBroker(map[string]string{d.Name: valid})
			if err != nil {
				t.Fatalf("valid %q: %v", valid, err)
			}
			if v, _ := b.Value(d.Name); v != valid {
				t.Fatalf("got %q, want %q", v, valid)
			}
			if _, err := ParseBroker(map[string]string{d.Name: "not a value"}); !errors.Is(err, kerr.InvalidConfig) {
				t.Fatalf("invalid: got %v, want INVALID_CONFIG", err)
			}
		})
	}
}

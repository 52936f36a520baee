package config

import (
	"errors"
	"math"
	"slices"
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
		{"TransactionAbortTimedOutInterval", b.TransactionAbortTimedOutInterval(), 10 * time.Second},
		{"TransactionRemoveExpiredInterval", b.TransactionRemoveExpiredInterval(), time.Hour},
		{"TransactionMaxTimeout", b.TransactionMaxTimeout(), 15 * time.Minute},
		{"TransactionalIDExpiration", b.TransactionalIDExpiration(), 7 * 24 * time.Hour},
		{"ProducerIDExpiration", b.ProducerIDExpiration(), 24 * time.Hour},
		{"ProducerIDExpirationCheckInterval", b.ProducerIDExpirationCheckInterval(), 10 * time.Minute},
		{"LogCleanerBackoff", b.LogCleanerBackoff(), 15 * time.Second},
		{"LogCleanerThreads", b.LogCleanerThreads(), 1},
		{"LogCleanerDedupeBufferSize", b.LogCleanerDedupeBufferSize(), int64(128 << 20)},
		{"LogCleanerDedupeBufferLoadFactor", b.LogCleanerDedupeBufferLoadFactor(), 0.9},
		{"LogCleanerIOBufferSize", b.LogCleanerIOBufferSize(), int64(512 << 10)},
		{"LogCleanerIOMaxBytesPerSecond", b.LogCleanerIOMaxBytesPerSecond(), int64(math.MaxInt64)},
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
	got, err := CheckDynamic(static, false, map[string]string{"message.max.bytes": " 2000 ", "log.retention.hours": "2"})
	if err != nil || got["message.max.bytes"] != "2000" {
		t.Fatalf("got %v, %v", got, err)
	}
	got, err = CheckDynamic(static, true, map[string]string{"log.cleaner.io.max.bytes.per.second": "1000000", "log.cleaner.threads": "2"})
	if err != nil || got["log.cleaner.io.max.bytes.per.second"] != "1000000" {
		t.Fatalf("cleaner settings: got %v, %v", got, err)
	}
	restart := "Cannot update these configs dynamically: Set("
	atDefault := "Cannot update these configs at default cluster level, broker id must be specified: Set("
	tests := []struct {
		set       string
		perBroker bool
		want      error
		msg       string // a prefix of the message; "" to skip
	}{
		{"broker.rack=r1", true, kerr.InvalidRequest, restart + "broker.rack)"},
		{"num.partitions=2", false, kerr.InvalidRequest, restart},
		{"listeners=PLAINTEXT://:9093", true, nil, ""},
		{"listeners=PLAINTEXT://:9093", false, kerr.InvalidRequest, atDefault + "listeners)"},
		{"max.connections.per.ip=10", false, nil, ""},
		{"max.connections=10", false, nil, ""},
		{"max.connections.per.ip.overrides=127.0.0.1:2", true, nil, ""},
		{"max.connection.creation.rate=10", false, kerr.InvalidRequest, restart + "max.connection.creation.rate)"},
		{"ssl.keystore.location=/k", true, kerr.InvalidRequest, "These security configs can be dynamically updated only per-listener using the listener prefix: Set(ssl.keystore.location)"},
		{"ssl.client.auth=required", true, nil, ""},
		{"ssl.client.auth=required", false, kerr.InvalidRequest, atDefault},
		{"ssl.principal.mapping.rules=DEFAULT", true, kerr.InvalidRequest, restart},
		{"sasl.enabled.mechanisms=PLAIN", true, nil, ""},
		{"sasl.enabled.mechanisms=PLAIN", false, kerr.InvalidRequest, atDefault},
		{"listener.name.external.ssl.keystore.location=/k", true, nil, ""},
		{"listener.name.external.ssl.keystore.location=/k", false, kerr.InvalidRequest, atDefault + "listener.name.external.ssl.keystore.location)"},
		{"listener.name.external.ssl.principal.mapping.rules=DEFAULT", true, kerr.InvalidRequest, restart},
		{"listener.name.external.max.connections=5", true, kerr.InvalidRequest, restart},
		{"message.max.bytes=x", false, kerr.InvalidConfig, "Invalid value x for configuration message.max.bytes"},
		{"no.such.setting=1", false, kerr.InvalidConfig, "Unknown broker setting: no.such.setting"},
		{"min.insync.replicas=0", false, kerr.InvalidConfig, ""},
		{"log.cleaner.io.max.bytes.per.second=0.5", false, kerr.InvalidConfig, ""},
		{"log.cleaner.threads=0", false, kerr.InvalidConfig, ""},
		{"log.cleaner.threads=2", false, nil, ""},
		{"log.cleaner.threads=3", false, kerr.InvalidRequest, "Log cleaner threads cannot be increased to more than double the current value 1"},
		{"log.cleaner.dedupe.buffer.size=1048576", true, kerr.InvalidConfig, "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."},
		{"sasl.kerberos.min.time.before.relogin=58000", true, nil, ""},
		{"sasl.kerberos.min.time.before.relogin=58000", false, kerr.InvalidRequest, atDefault + "sasl.kerberos.min.time.before.relogin)"},
		{"num.io.threads=16", false, nil, ""},
		{"producer.id.expiration.ms=1000", false, nil, ""},
	}
	for _, tt := range tests {
		k, v, _ := strings.Cut(tt.set, "=")
		_, err := CheckDynamic(static, tt.perBroker, map[string]string{k: v})
		if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%s (per broker %v): got %v, want %v", tt.set, tt.perBroker, err, tt.want)
		} else if err != nil && !strings.HasPrefix(err.Error(), tt.msg) {
			t.Errorf("%s (per broker %v): got message %q, want it to start %q", tt.set, tt.perBroker, err, tt.msg)
		}
	}
	_, err = CheckDynamic(static, false, map[string]string{"num.partitions": "2", "broker.rack": "a", "message.max.bytes": "1", "max.connection.creation.rate": "9"})
	if err == nil || err.Error() != "Cannot update these configs dynamically: Set(broker.rack, max.connection.creation.rate, num.partitions)" {
		t.Errorf("got %v, want Kafka's message naming all three", err)
	}
}

// TestCheckDynamicInForce checks a change against the settings in force:
// log.cleaner.threads may double from what this broker's own setting makes
// it, a cluster-wide change its own setting hides changes nothing, and the
// dedupe buffer must cover the threads of both layers.
func TestCheckDynamicInForce(t *testing.T) {
	static, err := ParseBroker(map[string]string{"log.cleaner.threads": "2"})
	if err != nil {
		t.Fatal(err)
	}
	b := static.WithDynamic(map[string]string{"log.cleaner.threads": "3"}, map[string]string{"log.cleaner.threads": "4"})
	tests := []struct {
		perBroker bool
		set       map[string]string
		want      error
	}{
		{true, map[string]string{"log.cleaner.threads": "8"}, nil},
		{true, map[string]string{"log.cleaner.threads": "9"}, kerr.InvalidRequest},
		{true, map[string]string{"log.cleaner.threads": "1"}, kerr.InvalidRequest},
		{false, map[string]string{"log.cleaner.threads": "20"}, nil}, // this broker keeps its own 4
		{false, map[string]string{"log.cleaner.dedupe.buffer.size": "4194304"}, kerr.InvalidConfig},
		{true, map[string]string{}, nil}, // dropping its own 4 leaves the cluster's 3
	}
	for _, tt := range tests {
		if _, err := CheckDynamic(b, tt.perBroker, tt.set); tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
			t.Errorf("%v (per broker %v): got %v, want %v", tt.set, tt.perBroker, err, tt.want)
		}
	}
}

// TestDynamicSettingsKnown checks the lists of dynamic settings against the
// definitions: each is a broker setting, and those refused are not.
func TestDynamicSettingsKnown(t *testing.T) {
	for _, name := range slices.Concat(dynamicOwn, dynamicListener) {
		if !IsBrokerSetting(name) {
			t.Errorf("dynamic %s: not a broker setting", name)
		}
	}
	for name := range notYetDynamic {
		if IsBrokerSetting(name) {
			t.Errorf("refused %s: a broker setting, so listed twice", name)
		}
	}
}

// TestDescribeDynamicCleaner describes cleaner settings set on every
// layer, and a double given in plain digits keeps them.
func TestDescribeDynamicCleaner(t *testing.T) {
	static, err := ParseBroker(map[string]string{"log.cleaner.io.max.bytes.per.second": "5e6"})
	if err != nil {
		t.Fatal(err)
	}
	b := static.WithDynamic(map[string]string{"log.cleaner.io.max.bytes.per.second": "2000000", "log.cleaner.threads": "2"},
		map[string]string{"log.cleaner.threads": "3"})
	want := map[string]struct {
		value   string
		sources []kmsg.ConfigSource
	}{
		"log.cleaner.io.max.bytes.per.second": {"2000000", []kmsg.ConfigSource{kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceDefaultConfig}},
		"log.cleaner.threads": {"3", []kmsg.ConfigSource{kmsg.ConfigSourceDynamicBrokerConfig,
			kmsg.ConfigSourceDynamicDefaultBrokerConfig, kmsg.ConfigSourceDefaultConfig}},
		"num.io.threads": {"8", []kmsg.ConfigSource{kmsg.ConfigSourceDefaultConfig}},
	}
	for _, e := range DescribeBroker(b) {
		w, ok := want[e.Name]
		if !ok {
			continue
		}
		var sources []kmsg.ConfigSource
		for _, s := range e.Synonyms {
			sources = append(sources, s.Source)
		}
		if *e.Value != w.value || e.Source != w.sources[0] || e.ReadOnly || !slices.Equal(sources, w.sources) {
			t.Errorf("%s: got %s from %v (read-only %v), synonyms %s; want %s from %v", e.Name, *e.Value, e.Source, e.ReadOnly, fmtSyns(e.Synonyms), w.value, w.sources)
		}
	}
	if got := b.LogCleanerIOMaxBytesPerSecond(); got != 2000000 {
		t.Errorf("cleaner rate: got %d, want 2000000", got)
	}
	if v, _ := static.Value("log.cleaner.io.max.bytes.per.second"); v != "5000000" {
		t.Errorf("5e6 canonical: got %s, want 5000000", v)
	}
	if v, _ := DefaultBroker().Value("log.cleaner.io.max.bytes.per.second"); v != "1.7976931348623157E308" {
		t.Errorf("default rate: got %s, want Kafka's Double.MAX_VALUE", v)
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
			switch {
			case strings.HasSuffix(d.Name, "listeners"):
				valid = "PLAINTEXT://127.0.0.1:9092"
			case d.Type == kmsg.ConfigTypePassword:
				valid = "alice:s3cret"
			}
			b, err := ParseBroker(map[string]string{d.Name: valid})
			if err != nil {
				t.Fatalf("valid %q: %v", valid, err)
			}
			if v, _ := b.Value(d.Name); v != valid {
				t.Fatalf("got %q, want %q", v, valid)
			}
			if d.check == nil && (d.Type == kmsg.ConfigTypeString || d.Type == kmsg.ConfigTypeList || d.Type == kmsg.ConfigTypePassword) {
				return // free text: every value is valid
			}
			if _, err := ParseBroker(map[string]string{d.Name: "not a value"}); !errors.Is(err, kerr.InvalidConfig) {
				t.Fatalf("invalid: got %v, want INVALID_CONFIG", err)
			}
		})
	}
}

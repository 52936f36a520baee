package e2e

// End-to-end tests of dynamic broker settings (KIP-226) through kadm: the
// log cleaner's settings set cluster-wide and for the broker, described
// with their sources, refused where Kafka refuses them, and honoured by the
// running cleaner without a restart.

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// setConfig is an IncrementalAlterConfigs SET.
func setConfig(name, value string) kadm.AlterConfig {
	return kadm.AlterConfig{Op: kadm.SetConfig, Name: name, Value: &value}
}

// alterBroker alters the settings of broker, or the cluster-wide defaults
// when broker is omitted, and returns the resource's result.
func alterBroker(ctx context.Context, t *testing.T, adm *kadm.Client, configs []kadm.AlterConfig, broker ...int32) kadm.AlterConfigsResponse {
	t.Helper()
	rs, err := adm.AlterBrokerConfigs(ctx, configs, broker...)
	if err != nil || len(rs) != 1 {
		t.Fatalf("alter broker configs %v: %v, %d results", broker, err, len(rs))
	}
	return rs[0]
}

// mustAlterBroker is alterBroker failing the test on an error.
func mustAlterBroker(ctx context.Context, t *testing.T, adm *kadm.Client, configs []kadm.AlterConfig, broker ...int32) {
	t.Helper()
	if r := alterBroker(ctx, t, adm, configs, broker...); r.Err != nil {
		t.Fatalf("alter broker configs %v: %v (%s)", broker, r.Err, r.ErrMessage)
	}
}

// describeBroker returns setting name as broker describes it, or as the
// cluster-wide defaults do when broker is omitted; ok is false when the
// answer does not hold it.
func describeBroker(ctx context.Context, t *testing.T, adm *kadm.Client, name string, broker ...int32) (c kadm.Config, ok bool) {
	t.Helper()
	rcs, err := adm.DescribeBrokerConfigs(ctx, broker...)
	if err != nil || len(rcs) != 1 || rcs[0].Err != nil {
		t.Fatalf("describe broker configs %v: %v %+v", broker, err, rcs)
	}
	i := slices.IndexFunc(rcs[0].Configs, func(c kadm.Config) bool { return c.Key == name })
	if i < 0 {
		return kadm.Config{}, false
	}
	return rcs[0].Configs[i], true
}

// synonym is one expected synonym of a described setting.
type synonym struct {
	value  string
	source kmsg.ConfigSource
}

// checkDescribed checks the value, source and synonyms of a described
// setting: the value and source in force are the first synonym's.
func checkDescribed(t *testing.T, what string, c kadm.Config, want ...synonym) {
	t.Helper()
	var got []synonym
	for _, s := range c.Synonyms {
		if s.Key != c.Key {
			t.Errorf("%s: synonym %s, want only %s", what, s.Key, c.Key)
		}
		v := ""
		if s.Value != nil {
			v = *s.Value
		}
		got = append(got, synonym{v, s.Source})
	}
	if c.MaybeValue() != want[0].value || c.Source != want[0].source || !slices.Equal(got, want) {
		t.Errorf("%s: got %s from %v, synonyms %v; want %s from %v, synonyms %v", what, c.MaybeValue(), c.Source, got, want[0].value, want[0].source, want)
	}
}

// TestDynamicBrokerConfigs sets log cleaner settings cluster-wide and for
// the broker: DescribeConfigs shows each with its source and synonyms in
// Kafka's order; settings that need a restart, a per-broker setting at the
// cluster level and a thread count beyond double are refused with Kafka's
// INVALID_REQUEST and message; settings without effect in Strata are
// accepted and described; and AlterConfigs replaces the broker's own.
func TestDynamicBrokerConfigs(t *testing.T) {
	a := newAdminTest(t)
	node := a.nodeID()
	describe := func(name string, broker ...int32) kadm.Config {
		t.Helper()
		c, found := describeBroker(a.ctx, t, a.adm, name, broker...)
		if !found {
			t.Fatalf("describe %v: no %s", broker, name)
		}
		return c
	}

	mustAlterBroker(a.ctx, t, a.adm, []kadm.AlterConfig{setConfig("log.cleaner.threads", "2"),
		setConfig("log.cleaner.io.max.bytes.per.second", "1000000")})
	mustAlterBroker(a.ctx, t, a.adm, []kadm.AlterConfig{setConfig("log.cleaner.threads", "4")}, node)
	checkDescribed(t, "threads", describe("log.cleaner.threads", node), synonym{"4", kmsg.ConfigSourceDynamicBrokerConfig},
		synonym{"2", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, synonym{"1", kmsg.ConfigSourceDefaultConfig})
	checkDescribed(t, "rate", describe("log.cleaner.io.max.bytes.per.second", node),
		synonym{"1000000", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, synonym{"1.7976931348623157E308", kmsg.ConfigSourceDefaultConfig})
	checkDescribed(t, "cluster-wide threads", describe("log.cleaner.threads"), synonym{"2", kmsg.ConfigSourceDynamicDefaultBrokerConfig})
	checkDescribed(t, "backoff", describe("log.cleaner.backoff.ms", node), synonym{"15000", kmsg.ConfigSourceDefaultConfig})

	for _, tt := range []struct {
		what    string
		config  kadm.AlterConfig
		broker  []int32
		want    *kerr.Error
		wantMsg string
	}{
		{"the inter-broker listener moved", setConfig("listeners", "PLAINTEXT://127.0.0.1:9093"), []int32{node}, kerr.InvalidRequest,
			"The inter-broker listener PLAINTEXT cannot be changed dynamically: it is how the other nodes reach this one"},
		{"a connection creation rate", setConfig("max.connection.creation.rate", "10"), nil, kerr.InvalidRequest,
			"Cannot update these configs dynamically: Set(max.connection.creation.rate)"},
		{"a static setting", setConfig("log.cleaner.enable", "false"), nil, kerr.InvalidRequest,
			"Cannot update these configs dynamically: Set(log.cleaner.enable)"},
		{"threads beyond double", setConfig("log.cleaner.threads", "9"), []int32{node}, kerr.InvalidRequest,
			"Log cleaner threads cannot be increased to more than double the current value 4"},
		{"a per-broker setting cluster-wide", setConfig("sasl.kerberos.min.time.before.relogin", "58000"), nil, kerr.InvalidRequest,
			"Cannot update these configs at default cluster level, broker id must be specified: Set(sasl.kerberos.min.time.before.relogin)"},
		{"a bad value", setConfig("log.cleaner.io.max.bytes.per.second", "fast"), []int32{node}, kerr.InvalidConfig,
			"Invalid value fast for configuration log.cleaner.io.max.bytes.per.second: Not a number of type DOUBLE"},
	} {
		r := alterBroker(a.ctx, t, a.adm, []kadm.AlterConfig{tt.config}, tt.broker...)
		wantErr(t, tt.what, r.Err, tt.want)
		if r.ErrMessage != tt.wantMsg {
			t.Errorf("%s: got message %q, want %q", tt.what, r.ErrMessage, tt.wantMsg)
		}
	}
	checkDescribed(t, "threads after refusals", describe("log.cleaner.threads", node), synonym{"4", kmsg.ConfigSourceDynamicBrokerConfig},
		synonym{"2", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, synonym{"1", kmsg.ConfigSourceDefaultConfig})

	// Settings without effect in Strata, as Kafka's tools and librdkafka's
	// admin tests set them.
	mustAlterBroker(a.ctx, t, a.adm, []kadm.AlterConfig{setConfig("sasl.kerberos.min.time.before.relogin", "58000")}, node)
	mustAlterBroker(a.ctx, t, a.adm, []kadm.AlterConfig{setConfig("num.io.threads", "16")})
	checkDescribed(t, "kerberos", describe("sasl.kerberos.min.time.before.relogin", node),
		synonym{"58000", kmsg.ConfigSourceDynamicBrokerConfig}, synonym{"60000", kmsg.ConfigSourceDefaultConfig})
	checkDescribed(t, "io threads", describe("num.io.threads", node),
		synonym{"16", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, synonym{"8", kmsg.ConfigSourceDefaultConfig})

	// AlterConfigs replaces the broker's own settings: its thread count
	// goes, and the cluster's shows through.
	rs, err := a.adm.AlterBrokerConfigsState(a.ctx, []kadm.AlterConfig{setConfig("sasl.kerberos.min.time.before.relogin", "57000")}, node)
	if err != nil || len(rs) != 1 || rs[0].Err != nil {
		t.Fatalf("alter configs: %v %+v", err, rs)
	}
	checkDescribed(t, "threads after AlterConfigs", describe("log.cleaner.threads", node),
		synonym{"2", kmsg.ConfigSourceDynamicDefaultBrokerConfig}, synonym{"1", kmsg.ConfigSourceDefaultConfig})
	checkDescribed(t, "kerberos after AlterConfigs", describe("sasl.kerberos.min.time.before.relogin", node),
		synonym{"57000", kmsg.ConfigSourceDynamicBrokerConfig}, synonym{"60000", kmsg.ConfigSourceDefaultConfig})
}

// TestDynamicCleanerBackoff: a node whose cleaner waits an hour between
// rounds gets log.cleaner.backoff.ms lowered for it at runtime (and two
// cleaner threads), then takes writes. Only rounds after them can compact
// the log, so it compacts only if the running cleaner took the new backoff.
func TestDynamicCleanerBackoff(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.cleaner.backoff.ms": "3600000"})
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("log.cleaner.backoff.ms", "20"), setConfig("log.cleaner.threads", "2")}, 1)
	writeUntilCompacted(t, n.addr, topicName(t))
}

// TestDynamicCleanerThrottle sets log.cleaner.io.max.bytes.per.second
// cluster-wide, together with a short backoff that starts the cleaner on a
// log of some hundred kB: the log compacts, and not sooner than the rate
// allows for reading its dirty bytes once (a pass reads them twice, and
// writes what it keeps).
func TestDynamicCleanerThrottle(t *testing.T) {
	n := startNode(t, "", map[string]string{"log.cleaner.backoff.ms": "3600000"})
	topic := topicName(t)
	createTopic(t, n.addr, topic, 1, map[string]*string{
		"cleanup.policy":            kmsg.StringPtr("compact"),
		"segment.ms":                kmsg.StringPtr("50"),
		"min.cleanable.dirty.ratio": kmsg.StringPtr("0.01"),
	})
	cl := franzClient(t, n.addr, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const keys, rounds, valueSize = 40, 4, 1000
	for r := range rounds {
		for k := range keys {
			v := make([]byte, valueSize)
			_, _ = rand.Read(v) // crypto/rand.Read never fails
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprint("k", k)), Value: v}).FirstErr(); err != nil {
				t.Fatalf("round %d: %v", r, err)
			}
		}
	}
	size := func() int64 {
		t.Helper()
		d, err := adm.DescribeBrokerLogDirs(ctx, 1, kadm.TopicsSet{topic: {0: {}}})
		if err != nil {
			t.Fatalf("describe log dirs: %v", err)
		}
		return d.Size()
	}
	dirty := size()
	if dirty < keys*rounds*valueSize {
		t.Fatalf("log of %d bytes, want at least %d", dirty, keys*rounds*valueSize)
	}

	const rate = 80000
	start := time.Now()
	mustAlterBroker(ctx, t, adm, []kadm.AlterConfig{setConfig("log.cleaner.io.max.bytes.per.second", fmt.Sprint(rate)),
		setConfig("log.cleaner.backoff.ms", "20")})
	// A filler write after segment.ms rolls the segment the keys are in.
	eventually(t, 50*time.Second, "the log compacted", func() bool {
		if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("filler")}).FirstErr(); err != nil {
			t.Fatalf("filler: %v", err)
		}
		return size() < dirty/2
	})
	// The token bucket holds a second of the rate when the pass starts.
	if took, least := time.Since(start), time.Duration(float64(dirty-rate)/rate*float64(time.Second)); took < least {
		t.Errorf("compacted %d bytes in %v at %d bytes/s, want at least %v", dirty, took, rate, least)
	}
	c, _ := describeBroker(ctx, t, adm, "log.cleaner.io.max.bytes.per.second", 1)
	checkDescribed(t, "rate", c, synonym{fmt.Sprint(rate), kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		synonym{"1.7976931348623157E308", kmsg.ConfigSourceDefaultConfig})
}

package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic config names, as Kafka spells them.
const (
	CleanupPolicy                   = "cleanup.policy"
	CompressionType                 = "compression.type"
	DeleteRetentionMs               = "delete.retention.ms"
	FileDeleteDelayMs               = "file.delete.delay.ms"
	FlushMessages                   = "flush.messages"
	FlushMs                         = "flush.ms"
	FollowerReplicationThrottled    = "follower.replication.throttled.replicas"
	IndexIntervalBytes              = "index.interval.bytes"
	LeaderReplicationThrottled      = "leader.replication.throttled.replicas"
	LocalRetentionBytes             = "local.retention.bytes"
	LocalRetentionMs                = "local.retention.ms"
	MaxCompactionLagMs              = "max.compaction.lag.ms"
	MaxMessageBytes                 = "max.message.bytes"
	MessageTimestampAfterMaxMs      = "message.timestamp.after.max.ms"
	MessageTimestampBeforeMaxMs     = "message.timestamp.before.max.ms"
	MessageTimestampDifferenceMaxMs = "message.timestamp.difference.max.ms"
	MessageTimestampType            = "message.timestamp.type"
	MinCleanableDirtyRatio          = "min.cleanable.dirty.ratio"
	MinCompactionLagMs              = "min.compaction.lag.ms"
	MinInsyncReplicas               = "min.insync.replicas"
	Preallocate                     = "preallocate"
	RemoteStorageEnable             = "remote.storage.enable"
	RetentionBytes                  = "retention.bytes"
	RetentionMs                     = "retention.ms"
	SegmentBytes                    = "segment.bytes"
	SegmentIndexBytes               = "segment.index.bytes"
	SegmentJitterMs                 = "segment.jitter.ms"
	SegmentMs                       = "segment.ms"
	UncleanLeaderElectionEnable     = "unclean.leader.election.enable"
)

const (
	msPerMinute = 60 * 1000
	msPerHour   = 60 * msPerMinute
	maxLong     = "9223372036854775807"
)

var compressionTypes = []string{"uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"}

// topicDefs are the topic configs Strata accepts, sorted by name.
//
// Kafka's limits are those of Kafka 4.x (segment.bytes at least 1 MiB).
// Accepted but without effect in Strata: the two replication throttle lists,
// local.retention.ms/bytes (tiered storage) and the deprecated
// message.timestamp.difference.max.ms, which as in Kafka 3.6+ stands in for
// message.timestamp.before/after.max.ms when those are left at their default.
// remote.storage.enable accepts only false. Not accepted (Kafka 3.8+ only):
// compression.gzip.level, compression.lz4.level, compression.zstd.level.
var topicDefs = []Definition{
	{Name: CleanupPolicy, Type: kmsg.ConfigTypeList, Default: str("delete"), check: listOf("compact", "delete"),
		Synonyms: []string{"log.cleanup.policy"},
		Doc:      "A string that is either \"delete\" or \"compact\" or both, the retention policy for old log segments."},
	{Name: CompressionType, Type: kmsg.ConfigTypeString, Default: str("producer"), check: oneOf(compressionTypes...),
		Synonyms: []string{"compression.type"},
		Doc:      "The final compression type of the topic; 'producer' keeps the codec the producer set."},
	{Name: DeleteRetentionMs, Type: kmsg.ConfigTypeLong, Default: str("86400000"), check: atLeast(0),
		Synonyms: []string{"log.cleaner.delete.retention.ms"},
		Doc:      "How long delete tombstones are kept on compacted topics."},
	{Name: FileDeleteDelayMs, Type: kmsg.ConfigTypeLong, Default: str("60000"), check: atLeast(0),
		Synonyms: []string{"log.segment.delete.delay.ms"},
		Doc:      "The time to wait before deleting a file from the filesystem."},
	{Name: FlushMessages, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(1),
		Synonyms: []string{"log.flush.interval.messages"},
		Doc:      "The number of messages written to a log partition between forced fsyncs."},
	{Name: FlushMs, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(0),
		Synonyms: []string{"log.flush.interval.ms", "log.flush.scheduler.interval.ms"},
		Doc:      "The time interval between forced fsyncs of a log partition."},
	{Name: FollowerReplicationThrottled, Type: kmsg.ConfigTypeList, Default: str(""), check: throttledReplicas,
		Doc: "Replicas (partition:broker, or * for all) whose replication is throttled on the follower side, to follower.replication.throttled.rate, while out of the ISR."},
	{Name: IndexIntervalBytes, Type: kmsg.ConfigTypeInt, Default: str("4096"), check: atLeast(0),
		Synonyms: []string{"log.index.interval.bytes"},
		Doc:      "How often an entry is added to the offset index."},
	{Name: LeaderReplicationThrottled, Type: kmsg.ConfigTypeList, Default: str(""), check: throttledReplicas,
		Doc: "Replicas (partition:broker, or * for all) that throttle, as leaders, what they send to followers out of the ISR, to leader.replication.throttled.rate."},
	{Name: LocalRetentionBytes, Type: kmsg.ConfigTypeLong, Default: str("-2"), check: atLeast(-2),
		Synonyms: []string{"log.local.retention.bytes"},
		Doc:      "Tiered storage local retention size (accepted, no effect in Strata)."},
	{Name: LocalRetentionMs, Type: kmsg.ConfigTypeLong, Default: str("-2"), check: atLeast(-2),
		Synonyms: []string{"log.local.retention.ms"},
		Doc:      "Tiered storage local retention time (accepted, no effect in Strata)."},
	{Name: MaxCompactionLagMs, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(1),
		Synonyms: []string{"log.cleaner.max.compaction.lag.ms"},
		Doc:      "The maximum time a message remains ineligible for compaction."},
	{Name: MaxMessageBytes, Type: kmsg.ConfigTypeInt, Default: str("1048588"), check: atLeast(0),
		Synonyms: []string{"message.max.bytes"},
		Doc:      "The largest record batch size allowed, after compression."},
	{Name: MessageTimestampAfterMaxMs, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(0),
		Synonyms: []string{"log.message.timestamp.after.max.ms"},
		Doc:      "How far a CreateTime message timestamp may be ahead of the broker's clock."},
	{Name: MessageTimestampBeforeMaxMs, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(0),
		Synonyms: []string{"log.message.timestamp.before.max.ms"},
		Doc:      "How far a CreateTime message timestamp may be behind the broker's clock."},
	{Name: MessageTimestampDifferenceMaxMs, Type: kmsg.ConfigTypeLong, Default: str(maxLong), check: atLeast(0),
		Synonyms: []string{"log.message.timestamp.difference.max.ms"},
		Doc:      "Deprecated: used for both before and after bounds when those are unset."},
	{Name: MessageTimestampType, Type: kmsg.ConfigTypeString, Default: str("CreateTime"), check: oneOf("CreateTime", "LogAppendTime"),
		Synonyms: []string{"log.message.timestamp.type"},
		Doc:      "Whether message timestamps are the producer's create time or the log append time."},
	{Name: MinCleanableDirtyRatio, Type: kmsg.ConfigTypeDouble, Default: str("0.5"), check: betweenFloat(0, 1),
		Synonyms: []string{"log.cleaner.min.cleanable.ratio"},
		Doc:      "The dirty share of the log above which the compactor cleans it."},
	{Name: MinCompactionLagMs, Type: kmsg.ConfigTypeLong, Default: str("0"), check: atLeast(0),
		Synonyms: []string{"log.cleaner.min.compaction.lag.ms"},
		Doc:      "The minimum time a message remains uncompacted in the log."},
	{Name: MinInsyncReplicas, Type: kmsg.ConfigTypeInt, Default: str("1"), check: atLeast(1),
		Synonyms: []string{"min.insync.replicas"},
		Doc:      "The minimum number of in-sync replicas for an acks=all write to succeed."},
	{Name: Preallocate, Type: kmsg.ConfigTypeBoolean, Default: str("false"),
		Synonyms: []string{"log.preallocate"},
		Doc:      "Whether to preallocate the file on disk when creating a new log segment."},
	{Name: RemoteStorageEnable, Type: kmsg.ConfigTypeBoolean, Default: str("false"), check: onlyFalse,
		Doc: "Tiered storage; Strata has none, so only false is accepted."},
	{Name: RetentionBytes, Type: kmsg.ConfigTypeLong, Default: str("-1"),
		Synonyms: []string{"log.retention.bytes"},
		Doc:      "The maximum size a partition can grow to before old segments are deleted; -1 for no limit."},
	{Name: RetentionMs, Type: kmsg.ConfigTypeLong, Default: str("604800000"), check: atLeast(-1),
		Synonyms: []string{"log.retention.ms", "log.retention.minutes", "log.retention.hours"}, units: []int64{0, msPerMinute, msPerHour},
		Doc: "The maximum time a log is retained before old segments are deleted; -1 for no limit."},
	{Name: SegmentBytes, Type: kmsg.ConfigTypeInt, Default: str("1073741824"), check: atLeast(1 << 20),
		Synonyms: []string{"log.segment.bytes"},
		Doc:      "The segment file size for the log."},
	{Name: SegmentIndexBytes, Type: kmsg.ConfigTypeInt, Default: str("10485760"), check: atLeast(4),
		Synonyms: []string{"log.index.size.max.bytes"},
		Doc:      "The size of the index that maps offsets to file positions."},
	{Name: SegmentJitterMs, Type: kmsg.ConfigTypeLong, Default: str("0"), check: atLeast(0),
		Synonyms: []string{"log.roll.jitter.ms", "log.roll.jitter.hours"}, units: []int64{0, msPerHour},
		Doc: "The maximum random jitter subtracted from the scheduled segment roll time."},
	{Name: SegmentMs, Type: kmsg.ConfigTypeLong, Default: str("604800000"), check: atLeast(1),
		Synonyms: []string{"log.roll.ms", "log.roll.hours"}, units: []int64{0, msPerHour},
		Doc: "The period after which the log rolls a new segment even if the current one is not full."},
	{Name: UncleanLeaderElectionEnable, Type: kmsg.ConfigTypeBoolean, Default: str("false"),
		Synonyms: []string{"unclean.leader.election.enable"},
		Doc:      "Whether replicas not in the ISR may be elected leader as a last resort, at the risk of data loss."},
}

// topicIndex maps a topic config name to its definition.
var topicIndex = func() map[string]*Definition {
	m := make(map[string]*Definition, len(topicDefs))
	for i := range topicDefs {
		m[topicDefs[i].Name] = &topicDefs[i]
	}
	return m
}()

// TopicDefinition returns the definition of the topic config name.
func TopicDefinition(name string) (Definition, bool) {
	d, ok := topicIndex[name]
	if !ok {
		return Definition{}, false
	}
	c := *d // a copy the caller cannot use to change the table
	c.Default = str(*d.Default)
	c.Synonyms = slices.Clone(d.Synonyms)
	c.units = slices.Clone(d.units)
	return c, true
}

// IsTopicConfig reports whether name is a topic config Strata accepts.
func IsTopicConfig(name string) bool { _, ok := topicIndex[name]; return ok }

// TopicConfigNames returns the topic config names, sorted.
func TopicConfigNames() []string {
	names := make([]string, len(topicDefs))
	for i := range topicDefs {
		names[i] = topicDefs[i].Name
	}
	return names
}

// Topic is the effective configuration of one topic.
type Topic struct {
	CleanupDelete, CleanupCompact bool
	// CompressionType is one of uncompressed, zstd, lz4, snappy, gzip, producer.
	CompressionType                                              string
	DeleteRetentionMs, FileDeleteDelayMs, FlushMessages, FlushMs int64
	IndexIntervalBytes                                           int32
	MaxCompactionLagMs                                           int64
	MaxMessageBytes                                              int32
	LogAppendTime                                                bool
	// TimestampBeforeMaxMs and TimestampAfterMaxMs fall back to
	// message.timestamp.difference.max.ms when left at their default.
	TimestampBeforeMaxMs, TimestampAfterMaxMs int64
	MinCleanableDirtyRatio                    float64
	MinCompactionLagMs                        int64
	MinInsyncReplicas                         int32
	Preallocate                               bool
	// RetentionBytes and RetentionMs are -1 for no limit.
	RetentionBytes, RetentionMs, SegmentBytes, SegmentIndexBytes, SegmentJitterMs, SegmentMs int64
	UncleanLeaderElection                                                                    bool
	// LeaderThrottled and FollowerThrottled are the replicas whose
	// replication is throttled on the leader's and on the follower's side
	// (leader.replication.throttled.replicas and
	// follower.replication.throttled.replicas).
	LeaderThrottled, FollowerThrottled Throttled
}

// Throttled is a set of replicas, partition and broker, as the
// *.replication.throttled.replicas configs list them: "*" for all, or
// "partition:broker,...".
type Throttled struct {
	all      bool
	replicas [][2]int32
}

// Has reports whether the replica of partition on broker is in the set.
func (t Throttled) Has(partition, broker int32) bool {
	return t.all || slices.Contains(t.replicas, [2]int32{partition, broker})
}

// parseThrottled reads a valid throttled replicas list.
func parseThrottled(list []string) Throttled {
	if len(list) == 1 && list[0] == "*" {
		return Throttled{all: true}
	}
	var t Throttled
	for _, e := range list {
		p, b, _ := strings.Cut(e, ":")
		pi, _ := strconv.ParseInt(strings.TrimSpace(p), 10, 32)
		bi, _ := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
		t.replicas = append(t.replicas, [2]int32{int32(pi), int32(bi)})
	}
	return t
}

// ValidateTopicOverrides checks the configs given with CreateTopics: every
// name must be a topic config and every value valid; a nil value is invalid
// ("Null value not supported for topic configs: name"). Problems are
// reported for names in sorted order; the error is an *Error wrapping
// kerr.InvalidConfig. The cross-config rule min.compaction.lag.ms <=
// max.compaction.lag.ms is checked against the defaults.
func ValidateTopicOverrides(overrides map[string]*string) error {
	plain := make(map[string]string, len(overrides))
	for _, name := range sortedKeys(overrides) {
		v := overrides[name]
		if !IsTopicConfig(name) {
			return unknownTopicConfig(name)
		}
		if v == nil {
			return &Error{Name: name, Msg: "Null value not supported for topic configs: " + name}
		}
		if _, err := ValidateTopicConfig(name, *v); err != nil {
			return err
		}
		plain[name] = *v
	}
	_, err := ResolveTopic(DefaultBroker(), plain)
	return err
}

// ValidateTopicConfig checks one topic config name and value, as
// AlterConfigs and IncrementalAlterConfigs need; it returns the canonical
// value or an *Error wrapping kerr.InvalidConfig.
func ValidateTopicConfig(name, value string) (string, error) {
	d, ok := topicIndex[name]
	if !ok {
		return "", unknownTopicConfig(name)
	}
	return d.Parse(value)
}

func unknownTopicConfig(name string) *Error {
	return &Error{Name: name, Msg: "Unknown topic config name: " + name}
}

// ResolveTopic returns a topic's effective configuration: for each config,
// the topic override if present, else the first broker synonym set
// explicitly (converted to the topic's unit), else Kafka's default. Unknown
// or invalid overrides return an *Error wrapping kerr.InvalidConfig.
func ResolveTopic(b Broker, overrides map[string]string) (Topic, error) {
	for _, name := range sortedKeys(overrides) {
		if _, err := ValidateTopicConfig(name, overrides[name]); err != nil {
			return Topic{}, err
		}
	}
	vals := make(map[string]value, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		raw, _ := effectiveTopicValue(b, d, overrides)
		v, err := d.parse(raw)
		if err != nil {
			return Topic{}, err
		}
		vals[d.Name] = v
	}
	t := Topic{
		CleanupDelete:          slices.Contains(vals[CleanupPolicy].list, "delete"),
		CleanupCompact:         slices.Contains(vals[CleanupPolicy].list, "compact"),
		CompressionType:        vals[CompressionType].s,
		DeleteRetentionMs:      vals[DeleteRetentionMs].i,
		FileDeleteDelayMs:      vals[FileDeleteDelayMs].i,
		FlushMessages:          vals[FlushMessages].i,
		FlushMs:                vals[FlushMs].i,
		IndexIntervalBytes:     int32(vals[IndexIntervalBytes].i),
		MaxCompactionLagMs:     vals[MaxCompactionLagMs].i,
		MaxMessageBytes:        int32(vals[MaxMessageBytes].i),
		LogAppendTime:          vals[MessageTimestampType].s == "LogAppendTime",
		TimestampBeforeMaxMs:   vals[MessageTimestampBeforeMaxMs].i,
		TimestampAfterMaxMs:    vals[MessageTimestampAfterMaxMs].i,
		MinCleanableDirtyRatio: vals[MinCleanableDirtyRatio].f,
		MinCompactionLagMs:     vals[MinCompactionLagMs].i,
		MinInsyncReplicas:      int32(vals[MinInsyncReplicas].i),
		Preallocate:            vals[Preallocate].b,
		RetentionBytes:         vals[RetentionBytes].i,
		RetentionMs:            vals[RetentionMs].i,
		SegmentBytes:           vals[SegmentBytes].i,
		SegmentIndexBytes:      vals[SegmentIndexBytes].i,
		SegmentJitterMs:        vals[SegmentJitterMs].i,
		SegmentMs:              vals[SegmentMs].i,
		UncleanLeaderElection:  vals[UncleanLeaderElectionEnable].b,
		LeaderThrottled:        parseThrottled(vals[LeaderReplicationThrottled].list),
		FollowerThrottled:      parseThrottled(vals[FollowerReplicationThrottled].list),
	}
	if diff := vals[MessageTimestampDifferenceMaxMs].i; diff != math.MaxInt64 {
		if t.TimestampBeforeMaxMs == math.MaxInt64 {
			t.TimestampBeforeMaxMs = diff
		}
		if t.TimestampAfterMaxMs == math.MaxInt64 {
			t.TimestampAfterMaxMs = diff
		}
	}
	if t.MinCompactionLagMs > t.MaxCompactionLagMs {
		return Topic{}, &Error{Name: MinCompactionLagMs, Msg: fmt.Sprintf("conflict topic config setting %s (%d) > %s (%d)",
			MinCompactionLagMs, t.MinCompactionLagMs, MaxCompactionLagMs, t.MaxCompactionLagMs)}
	}
	return t, nil
}

// effectiveTopicValue returns the raw value in force for topic config d and
// its source.
func effectiveTopicValue(b Broker, d *Definition, overrides map[string]string) (string, kmsg.ConfigSource) {
	if v, ok := overrides[d.Name]; ok {
		return v, kmsg.ConfigSourceDynamicTopicConfig
	}
	for i, syn := range d.Synonyms {
		raw, ok := b.values[syn]
		if !ok {
			continue
		}
		if d.units != nil {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return raw, b.source(syn) // ParseBroker rejects this
			}
			n *= max(d.units[i], 1)
			if n < 0 && d.Name == RetentionMs {
				n = -1 // Kafka: a negative retention in any unit means unlimited
			}
			raw = strconv.FormatInt(n, 10)
		}
		return raw, b.source(syn)
	}
	return *d.Default, kmsg.ConfigSourceDefaultConfig
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

package e2e

// End-to-end tests of the admin APIs through franz-go's kadm, against a
// node from startNode.

import (
	"context"
	"errors"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// adminTest is one broker with an admin client and a plain client.
type adminTest struct {
	t    *testing.T
	ctx  context.Context
	addr string
	cl   *kgo.Client
	adm  *kadm.Client
}

func newAdminTest(t *testing.T) *adminTest {
	t.Helper()
	addr := startNode(t, "", nil).addr
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(cl.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return &adminTest{t: t, ctx: ctx, addr: addr, cl: cl, adm: kadm.NewClient(cl)}
}

// createTopic creates topic with partitions partitions and configs, failing
// the test on error.
func (a *adminTest) createTopic(topic string, partitions int32, configs map[string]*string) kadm.CreateTopicResponse {
	a.t.Helper()
	res, err := a.adm.CreateTopic(a.ctx, partitions, 1, configs, topic)
	if err != nil || res.Err != nil {
		a.t.Fatalf("create topic %s: %v, %v (%s)", topic, err, res.Err, res.ErrMessage)
	}
	return res
}

// produce writes n records to partition 0 of topic.
func (a *adminTest) produce(topic string, n int) {
	a.t.Helper()
	for i := range n {
		r := &kgo.Record{Topic: topic, Partition: 0, Value: []byte(strconv.Itoa(i))}
		if err := a.cl.ProduceSync(a.ctx, r).FirstErr(); err != nil {
			a.t.Fatalf("produce to %s: %v", topic, err)
		}
	}
}

// raw sends req to the broker itself, bypassing the client's routing of
// requests by topic or broker resource.
func (a *adminTest) raw(req kmsg.Request) kmsg.Response {
	a.t.Helper()
	resp, err := a.cl.Broker(int(a.nodeID())).Request(a.ctx, req)
	if err != nil {
		a.t.Fatalf("%T: %v", req, err)
	}
	return resp
}

// nodeID is the broker's node id, from Metadata.
func (a *adminTest) nodeID() int32 {
	a.t.Helper()
	m, err := a.adm.BrokerMetadata(a.ctx)
	if err != nil || len(m.Brokers) != 1 {
		a.t.Fatalf("broker metadata: %v, %d brokers, want 1", err, len(m.Brokers))
	}
	return m.Brokers[0].NodeID
}

// topicConfig describes topic and returns config name.
func (a *adminTest) topicConfig(topic, name string) kadm.Config {
	a.t.Helper()
	rcs, err := a.adm.DescribeTopicConfigs(a.ctx, topic)
	if err != nil {
		a.t.Fatalf("describe %s: %v", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		a.t.Fatalf("describe %s: %v, %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	a.t.Fatalf("describe %s: no config %s", topic, name)
	return kadm.Config{}
}

func wantErr(t *testing.T, what string, got error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if got != nil {
			t.Errorf("%s: got error %v, want none", what, got)
		}
		return
	}
	if !errors.Is(got, want) {
		t.Errorf("%s: got error %v, want %s", what, got, want.Message)
	}
}

func TestAdminCreateTopics(t *testing.T) {
	a := newAdminTest(t)
	retention := "60000"
	res := a.createTopic("ok", 3, map[string]*string{"retention.ms": &retention})
	if res.NumPartitions != 3 || res.ReplicationFactor != 1 || res.ID == (kadm.TopicID{}) {
		t.Errorf("created: got %d partitions, replication factor %d, id %v; want 3, 1, an id", res.NumPartitions, res.ReplicationFactor, res.ID)
	}
	if c := res.Configs["retention.ms"]; c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("created retention.ms: got %q from %v, want 60000 from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}
	if c := res.Configs["cleanup.policy"]; c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("created cleanup.policy: got %q from %v, want delete from DEFAULT_CONFIG", c.MaybeValue(), c.Source)
	}

	bad := "abc"
	tests := []struct {
		name       string
		topic      string
		partitions int32
		rf         int16
		configs    map[string]*string
		want       *kerr.Error
	}{
		{"exists", "ok", 1, 1, nil, kerr.TopicAlreadyExists},
		{"invalid name", "bad name!", 1, 1, nil, kerr.InvalidTopicException},
		{"dot only", "..", 1, 1, nil, kerr.InvalidTopicException},
		{"zero partitions", "zero", 0, 1, nil, kerr.InvalidPartitions},
		{"replication factor above brokers", "rf2", 1, 2, nil, kerr.InvalidReplicationFactor},
		{"bad config value", "badcfg", 1, 1, map[string]*string{"retention.ms": &bad}, kerr.InvalidConfig},
		{"unknown config", "unknowncfg", 1, 1, map[string]*string{"no.such.config": &bad}, kerr.InvalidConfig},
		{"defaults", "defaults", -1, -1, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := a.adm.CreateTopics(a.ctx, tt.partitions, tt.rf, tt.configs, tt.topic)
			if err != nil {
				t.Fatalf("create topics: %v", err)
			}
			r, err := rs.On(tt.topic, nil)
			if err != nil {
				t.Fatalf("no result for %s: %v", tt.topic, err)
			}
			wantErr(t, tt.topic, r.Err, tt.want)
			if tt.want != nil && (r.NumPartitions != -1 || r.ReplicationFactor != -1) {
				t.Errorf("failed create: got %d partitions, replication factor %d, want -1, -1", r.NumPartitions, r.ReplicationFactor)
			}
			if tt.want != nil && tt.want != kerr.TopicAlreadyExists && r.ErrMessage == "" {
				t.Errorf("failed create: got no error message, want one")
			}
			if tt.want == nil && (r.NumPartitions != 1 || r.ReplicationFactor != 1) {
				t.Errorf("defaults: got %d partitions, replication factor %d, want 1, 1", r.NumPartitions, r.ReplicationFactor)
			}
		})
	}

	t.Run("validate only", func(t *testing.T) {
		rs, err := a.adm.ValidateCreateTopics(a.ctx, 2, 1, nil, "dry")
		if err != nil {
			t.Fatalf("validate: %v", err)
		}
		if r, _ := rs.On("dry", nil); r.Err != nil || r.NumPartitions != 2 {
			t.Errorf("validate: got %v, %d partitions, want no error, 2", r.Err, r.NumPartitions)
		}
		rs, err = a.adm.ValidateCreateTopics(a.ctx, 1, 1, nil, "ok")
		if err != nil {
			t.Fatalf("validate: %v", err)
		}
		if r, _ := rs.On("ok", nil); !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			t.Errorf("validate existing: got %v, want TOPIC_ALREADY_EXISTS", r.Err)
		}
		topics, err := a.adm.ListTopics(a.ctx)
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		if topics.Has("dry") {
			t.Errorf("validate only created the topic")
		}
	})

	t.Run("duplicate names", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		req.TimeoutMillis = 10000
		for range 2 {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "dup", 1, 1
			req.Topics = append(req.Topics, rt)
		}
		resp := a.raw(req).(*kmsg.CreateTopicsResponse)
		if len(resp.Topics) != 1 || resp.Topics[0].Topic != "dup" || resp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
			t.Errorf("got %+v, want one INVALID_REQUEST result for dup", resp.Topics)
		}
	})
}

func TestAdminDescribeConfigs(t *testing.T) {
	a := newAdminTest(t)
	retention := "60000"
	a.createTopic("cfg", 1, map[string]*string{"retention.ms": &retention})

	c := a.topicConfig("cfg", "retention.ms")
	if c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms: got %q from %v, want 60000 from DYNAMIC_TOPIC_CONFIG", c.MaybeValue(), c.Source)
	}
	if len(c.Synonyms) < 2 || c.Synonyms[0].Key != "retention.ms" || c.Synonyms[0].Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms synonyms: got %+v, want the override first, then broker defaults", c.Synonyms)
	} else if last := c.Synonyms[len(c.Synonyms)-1]; last.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms last synonym: got %+v, want a DEFAULT_CONFIG one", last)
	}
	c = a.topicConfig("cfg", "cleanup.policy")
	if c.MaybeValue() != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("cleanup.policy: got %q from %v, want delete from DEFAULT_CONFIG", c.MaybeValue(), c.Source)
	}

	rcs, err := a.adm.DescribeTopicConfigs(a.ctx, "nope")
	if err != nil {
		t.Fatalf("describe unknown: %v", err)
	}
	if rc, _ := rcs.On("nope", nil); !errors.Is(rc.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("unknown topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", rc.Err)
	}

	node := a.nodeID()
	brs, err := a.adm.DescribeBrokerConfigs(a.ctx, node)
	if err != nil {
		t.Fatalf("describe broker: %v", err)
	}
	br, err := brs.On(strconv.Itoa(int(node)), nil)
	if err != nil || br.Err != nil {
		t.Fatalf("describe broker: %v, %v", err, br.Err)
	}
	if i := slices.IndexFunc(br.Configs, func(c kadm.Config) bool { return c.Key == "num.partitions" }); i < 0 {
		t.Errorf("broker configs: no num.partitions")
	}

	// Raw requests: documentation, config name filter, wrong broker, loggers.
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeDocumentation = true
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{
		{kmsg.ConfigResourceTypeTopic, "cfg"},
		{kmsg.ConfigResourceTypeBroker, strconv.Itoa(int(node) + 1)},
		{kmsg.ConfigResourceTypeBroker, "x"},
		{kmsg.ConfigResourceTypeBroker, ""},
		{kmsg.ConfigResourceTypeBrokerLogger, strconv.Itoa(int(node))},
		{kmsg.ConfigResourceTypeGroupConfig, "g"},
	} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = r.typ, r.name
		if r.typ == kmsg.ConfigResourceTypeTopic {
			rr.ConfigNames = []string{"retention.ms", "no.such"}
		}
		req.Resources = append(req.Resources, rr)
	}
	resp := a.raw(req).(*kmsg.DescribeConfigsResponse)
	wantCodes := []int16{0, kerr.InvalidRequest.Code, kerr.InvalidRequest.Code, 0, 0, kerr.InvalidRequest.Code}
	if len(resp.Resources) != len(wantCodes) {
		t.Fatalf("got %d resources, want %d", len(resp.Resources), len(wantCodes))
	}
	for i, want := range wantCodes {
		if got := resp.Resources[i].ErrorCode; got != want {
			t.Errorf("resource %d (%v %q): got error code %d, want %d", i, resp.Resources[i].ResourceType, resp.Resources[i].ResourceName, got, want)
		}
	}
	topic := resp.Resources[0]
	if len(topic.Configs) != 1 || topic.Configs[0].Name != "retention.ms" || topic.Configs[0].Documentation == nil ||
		len(topic.Configs[0].ConfigSynonyms) != 0 || topic.Configs[0].ConfigType != kmsg.ConfigTypeLong {
		t.Errorf("filtered topic configs: got %+v, want retention.ms only, LONG, with documentation, no synonyms", topic.Configs)
	}
	if n := len(resp.Resources[3].Configs); n != 0 {
		t.Errorf("cluster default broker configs: got %d, want 0 (no dynamic defaults)", n)
	}
}

func TestAdminAlterConfigs(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("alt", 1, nil)
	ptr := func(s string) *string { return &s }

	alter := func(what string, ops []kadm.AlterConfig, want *kerr.Error) {
		t.Helper()
		rs, err := a.adm.AlterTopicConfigs(a.ctx, ops, "alt")
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		r, err := rs.On("alt", nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		wantErr(t, what, r.Err, want)
	}
	value := func(name, want string, source kmsg.ConfigSource) {
		t.Helper()
		c := a.topicConfig("alt", name)
		if c.MaybeValue() != want || c.Source != source {
			t.Errorf("%s: got %q from %v, want %q from %v", name, c.MaybeValue(), c.Source, want, source)
		}
	}

	alter("set and append", []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("1000")},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: ptr("compact")},
	}, nil)
	value("retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig)
	value("cleanup.policy", "delete,compact", kmsg.ConfigSourceDynamicTopicConfig)

	alter("delete and subtract", []kadm.AlterConfig{
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: ptr("delete")},
	}, nil)
	value("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)
	value("cleanup.policy", "compact", kmsg.ConfigSourceDynamicTopicConfig)

	alter("unknown config", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "no.such", Value: ptr("1")}}, kerr.InvalidConfig)
	alter("bad value", []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("x")}}, kerr.InvalidConfig)
	alter("append to non-list", []kadm.AlterConfig{{Op: kadm.AppendConfig, Name: "retention.ms", Value: ptr("1")}}, kerr.InvalidConfig)
	alter("duplicate keys", []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("1")},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}, kerr.InvalidRequest)
	value("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	rs, err := a.adm.ValidateAlterTopicConfigs(a.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("5")}}, "alt")
	if err != nil {
		t.Fatalf("validate alter: %v", err)
	}
	if r, _ := rs.On("alt", nil); r.Err != nil {
		t.Errorf("validate alter: got %v, want none", r.Err)
	}
	value("retention.ms", "604800000", kmsg.ConfigSourceDefaultConfig)

	// AlterConfigs replaces every override.
	rs, err = a.adm.AlterTopicConfigsState(a.ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: ptr("3600000")}}, "alt")
	if err != nil {
		t.Fatalf("alter state: %v", err)
	}
	if r, _ := rs.On("alt", nil); r.Err != nil {
		t.Errorf("alter state: got %v, want none", r.Err)
	}
	value("segment.ms", "3600000", kmsg.ConfigSourceDynamicTopicConfig)
	value("cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig)

	rs, err = a.adm.AlterTopicConfigs(a.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "retention.ms", Value: ptr("1")}}, "nope")
	if err != nil {
		t.Fatalf("alter unknown topic: %v", err)
	}
	if r, _ := rs.On("nope", nil); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("alter unknown topic: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}

	node := a.nodeID()
	brs, err := a.adm.AlterBrokerConfigs(a.ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "num.partitions", Value: ptr("3")}}, node)
	if err != nil {
		t.Fatalf("alter broker: %v", err)
	}
	if r, _ := brs.On(strconv.Itoa(int(node)), nil); !errors.Is(r.Err, kerr.InvalidRequest) {
		t.Errorf("alter broker: got %v, want INVALID_REQUEST", r.Err)
	}
}

func TestAdminCreatePartitions(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("grow", 1, nil)
	partitions := func() int {
		t.Helper()
		td, err := a.adm.ListTopics(a.ctx, "grow")
		if err != nil {
			t.Fatalf("list topics: %v", err)
		}
		return len(td["grow"].Partitions)
	}
	tests := []struct {
		name  string
		call  func() (kadm.CreatePartitionsResponses, error)
		topic string
		want  *kerr.Error
		count int
	}{
		{"add", func() (kadm.CreatePartitionsResponses, error) { return a.adm.CreatePartitions(a.ctx, 2, "grow") }, "grow", nil, 3},
		{"validate only", func() (kadm.CreatePartitionsResponses, error) {
			return a.adm.ValidateCreatePartitions(a.ctx, 1, "grow")
		}, "grow", nil, 3},
		{"shrink", func() (kadm.CreatePartitionsResponses, error) { return a.adm.UpdatePartitions(a.ctx, 2, "grow") }, "grow", kerr.InvalidPartitions, 3},
		{"same count", func() (kadm.CreatePartitionsResponses, error) { return a.adm.UpdatePartitions(a.ctx, 3, "grow") }, "grow", kerr.InvalidPartitions, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := tt.call()
			if err != nil {
				t.Fatalf("create partitions: %v", err)
			}
			r, err := rs.On(tt.topic, nil)
			if err != nil {
				t.Fatalf("no result: %v", err)
			}
			wantErr(t, tt.name, r.Err, tt.want)
			if got := partitions(); got != tt.count {
				t.Errorf("got %d partitions, want %d", got, tt.count)
			}
		})
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = 10000
	for _, name := range []string{"nope", "grow", "grow"} {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = name, 10
		req.Topics = append(req.Topics, rt)
	}
	resp := a.raw(req).(*kmsg.CreatePartitionsResponse)
	want := []struct {
		topic string
		code  int16
	}{{"nope", kerr.UnknownTopicOrPartition.Code}, {"grow", kerr.InvalidRequest.Code}}
	if len(resp.Topics) != len(want) {
		t.Fatalf("got %d results, want %d", len(resp.Topics), len(want))
	}
	for i, w := range want {
		if got := resp.Topics[i]; got.Topic != w.topic || got.ErrorCode != w.code {
			t.Errorf("result %d: got %s/%d, want %s/%d", i, got.Topic, got.ErrorCode, w.topic, w.code)
		}
	}
	if got := partitions(); got != 3 {
		t.Errorf("after duplicate: got %d partitions, want 3", got)
	}
}

func TestAdminDeleteRecords(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("del", 1, nil)
	a.produce("del", 10)

	tests := []struct {
		name string
		at   int64
		want *kerr.Error
		low  int64
	}{
		{"middle", 4, nil, 4},
		{"below start", 2, nil, 4},
		{"past high watermark", 11, kerr.OffsetOutOfRange, -1},
		{"high watermark", -1, nil, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var os kadm.Offsets
			os.AddOffset("del", 0, tt.at, -1)
			rs, err := a.adm.DeleteRecords(a.ctx, os)
			if err != nil {
				t.Fatalf("delete records: %v", err)
			}
			r, ok := rs.Lookup("del", 0)
			if !ok {
				t.Fatalf("no result")
			}
			wantErr(t, tt.name, r.Err, tt.want)
			if tt.want == nil && r.LowWatermark != tt.low {
				t.Errorf("got low watermark %d, want %d", r.LowWatermark, tt.low)
			}
		})
	}
	starts, err := a.adm.ListStartOffsets(a.ctx, "del")
	if err != nil {
		t.Fatalf("list start offsets: %v", err)
	}
	if o, _ := starts.Lookup("del", 0); o.Err != nil || o.Offset != 10 {
		t.Errorf("start offset: got %d, %v, want 10", o.Offset, o.Err)
	}

	req := kmsg.NewPtrDeleteRecordsRequest()
	req.TimeoutMillis = 10000
	for _, tp := range []struct {
		topic string
		part  int32
	}{{"nope", 0}, {"del", 5}} {
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = tp.topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = tp.part, 0
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	resp := a.raw(req).(*kmsg.DeleteRecordsResponse)
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != kerr.UnknownTopicOrPartition.Code || rp.LowWatermark != -1 {
				t.Errorf("%s/%d: got code %d, low watermark %d, want UNKNOWN_TOPIC_OR_PARTITION, -1", rt.Topic, rp.Partition, rp.ErrorCode, rp.LowWatermark)
			}
		}
	}
}

func TestAdminDescribeCluster(t *testing.T) {
	a := newAdminTest(t)
	node := a.nodeID()
	req := kmsg.NewPtrDescribeClusterRequest()
	resp := a.raw(req).(*kmsg.DescribeClusterResponse)
	host, portStr, _ := net.SplitHostPort(a.addr)
	port, _ := strconv.Atoi(portStr)
	if resp.ErrorCode != 0 || resp.ClusterID == "" || resp.ControllerID != node || resp.EndpointType != 1 {
		t.Errorf("got code %d, cluster %q, controller %d, endpoint type %d; want 0, an id, %d, 1",
			resp.ErrorCode, resp.ClusterID, resp.ControllerID, resp.EndpointType, node)
	}
	if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != node || resp.Brokers[0].Host != host || resp.Brokers[0].Port != int32(port) {
		t.Errorf("got brokers %+v, want one: %d at %s", resp.Brokers, node, a.addr)
	}
	if resp.ClusterAuthorizedOperations != math.MinInt32 {
		t.Errorf("got authorized operations %d, want %d when not requested", resp.ClusterAuthorizedOperations, math.MinInt32)
	}

	req.IncludeClusterAuthorizedOperations = true
	resp = a.raw(req).(*kmsg.DescribeClusterResponse)
	// CREATE(5), ALTER(7), DESCRIBE(8), CLUSTER_ACTION(9),
	// DESCRIBE_CONFIGS(10), ALTER_CONFIGS(11), IDEMPOTENT_WRITE(12).
	const clusterOps = 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12
	if resp.ClusterAuthorizedOperations != clusterOps {
		t.Errorf("got authorized operations %b, want %b when requested", resp.ClusterAuthorizedOperations, clusterOps)
	}

	req.EndpointType = 2
	resp = a.raw(req).(*kmsg.DescribeClusterResponse)
	if resp.ErrorCode != kerr.MismatchedEndpointType.Code {
		t.Errorf("controllers endpoint: got code %d, want MISMATCHED_ENDPOINT_TYPE", resp.ErrorCode)
	}
}

// TestAdminDescribeQuorum checks DescribeQuorum at every version on a
// one-node cluster: the node is the quorum's leader and only voter, and any
// other partition is unknown.
func TestAdminDescribeQuorum(t *testing.T) {
	a := newAdminTest(t)
	node := a.nodeID()
	a.createTopic("q", 1, nil) // a few more entries in the metadata log
	quorumReq := func(v int16, topic string, partition int32) *kmsg.DescribeQuorumRequest {
		req := kmsg.NewPtrDescribeQuorumRequest()
		req.Version = v
		rt := kmsg.NewDescribeQuorumRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDescribeQuorumRequestTopicPartition()
		rp.Partition = partition
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return req
	}
	for v := int16(0); v <= 2; v++ {
		// franz-go sends the highest version both sides know: cap it.
		vs := kversion.Stable()
		vs.SetMaxKeyVersion(55, v)
		cl, err := kgo.NewClient(kgo.SeedBrokers(a.addr), kgo.MaxVersions(vs))
		if err != nil {
			t.Fatal(err)
		}
		r, err := quorumReq(v, "__cluster_metadata", 0).RequestWith(a.ctx, cl)
		cl.Close()
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if r.Version != v {
			t.Fatalf("got a v%d response, want v%d", r.Version, v)
		}
		resp := r
		if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("v%d: got code %d, topics %+v; want one partition", v, resp.ErrorCode, resp.Topics)
		}
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != 0 || p.LeaderID != node || p.LeaderEpoch < 1 || p.HighWatermark < 1 {
			t.Errorf("v%d: got code %d, leader %d, epoch %d, high watermark %d; want 0, %d, >0, >0",
				v, p.ErrorCode, p.LeaderID, p.LeaderEpoch, p.HighWatermark, node)
		}
		if len(p.CurrentVoters) != 1 || p.CurrentVoters[0].ReplicaID != node ||
			p.CurrentVoters[0].LogEndOffset < p.HighWatermark || len(p.Observers) != 0 {
			t.Errorf("v%d: got voters %+v, observers %+v; want %d alone, caught up", v, p.CurrentVoters, p.Observers, node)
		}
		if v >= 1 && p.CurrentVoters[0].LastFetchTimestamp <= 0 {
			t.Errorf("v%d: got the leader's last fetch time %d, want now", v, p.CurrentVoters[0].LastFetchTimestamp)
		}
		if v >= 2 && (len(resp.Nodes) != 1 || resp.Nodes[0].NodeID != node) {
			t.Errorf("v%d: got nodes %+v, want %d", v, resp.Nodes, node)
		}
	}
	for _, tp := range []struct {
		topic     string
		partition int32
	}{{"__cluster_metadata", 1}, {"q", 0}} {
		resp := a.raw(quorumReq(2, tp.topic, tp.partition)).(*kmsg.DescribeQuorumResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 ||
			resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
			t.Errorf("%s/%d: got %+v, want UNKNOWN_TOPIC_OR_PARTITION", tp.topic, tp.partition, resp.Topics)
		}
	}
}

func TestAdminDescribeLogDirs(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("dirs", 2, nil)
	a.produce("dirs", 3)
	all, err := a.adm.DescribeAllLogDirs(a.ctx, nil)
	if err != nil {
		t.Fatalf("describe log dirs: %v", err)
	}
	dirs := all.Sorted()
	if len(dirs) != 1 {
		t.Fatalf("got %d log dirs, want 1", len(dirs))
	}
	d := dirs[0]
	if d.Err != nil || !filepath.IsAbs(d.Dir) || d.TotalBytes <= 0 || d.UsableBytes < 0 {
		t.Errorf("got dir %q, error %v, total %d, usable %d; want an absolute path, no error, sizes", d.Dir, d.Err, d.TotalBytes, d.UsableBytes)
	}
	p0, ok0 := d.Topics.Lookup("dirs", 0)
	_, ok1 := d.Topics.Lookup("dirs", 1)
	if !ok0 || !ok1 || p0.Size <= 0 {
		t.Errorf("got partitions 0 (%v, size %d) and 1 (%v), want both, partition 0 non-empty", ok0, p0.Size, ok1)
	}
}

func TestAdminOffsetForLeaderEpoch(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("epochs", 1, nil)
	a.produce("epochs", 5)
	m, err := a.adm.Metadata(a.ctx, "epochs")
	if err != nil {
		t.Fatalf("metadata: %v", err)
	}
	epoch := m.Topics["epochs"].Partitions[0].LeaderEpoch

	tests := []struct {
		name      string
		topic     string
		epoch     int32
		want      *kerr.Error
		wantEpoch int32
		wantEnd   int64
	}{
		{"current epoch", "epochs", epoch, nil, epoch, 5},
		{"later epoch", "epochs", epoch + 1, nil, -1, -1},
		{"no epoch", "epochs", -1, nil, -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req kadm.OffsetForLeaderEpochRequest
			req.Add(tt.topic, 0, tt.epoch)
			rs, err := a.adm.OffsetForLeaderEpoch(a.ctx, req)
			if err != nil {
				t.Fatalf("offset for leader epoch: %v", err)
			}
			r := rs[tt.topic][0]
			wantErr(t, tt.name, r.Err, tt.want)
			if r.LeaderEpoch != tt.wantEpoch || r.EndOffset != tt.wantEnd {
				t.Errorf("got epoch %d, end offset %d, want %d, %d", r.LeaderEpoch, r.EndOffset, tt.wantEpoch, tt.wantEnd)
			}
		})
	}

	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	for _, current := range []int32{epoch + 1, epoch - 1} {
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.LeaderEpoch = current, epoch
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
	}
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = "nope"
	rt.Partitions = append(rt.Partitions, kmsg.NewOffsetForLeaderEpochRequestTopicPartition())
	req.Topics = append(req.Topics, rt)
	resp := a.raw(req).(*kmsg.OffsetForLeaderEpochResponse)
	wantCodes := []int16{kerr.UnknownLeaderEpoch.Code, kerr.FencedLeaderEpoch.Code, kerr.UnknownTopicOrPartition.Code}
	if epoch == 0 {
		wantCodes[1] = 0 // CurrentLeaderEpoch -1 skips the check
	}
	if len(resp.Topics) != len(wantCodes) {
		t.Fatalf("got %d topics, want %d", len(resp.Topics), len(wantCodes))
	}
	for i, want := range wantCodes {
		if got := resp.Topics[i].Partitions[0].ErrorCode; got != want {
			t.Errorf("entry %d: got code %d, want %d", i, got, want)
		}
	}
}

func TestAdminDeleteTopics(t *testing.T) {
	a := newAdminTest(t)
	a.createTopic("gone", 2, nil)
	a.produce("gone", 1)

	rs, err := a.adm.DeleteTopics(a.ctx, "gone", "never")
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	if r, _ := rs.On("gone", nil); r.Err != nil {
		t.Errorf("delete gone: got %v, want none", r.Err)
	}
	if r, _ := rs.On("never", nil); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete never: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}
	topics, err := a.adm.ListTopics(a.ctx)
	if err != nil {
		t.Fatalf("list topics: %v", err)
	}
	if topics.Has("gone") {
		t.Errorf("gone still listed after delete")
	}
	rs, err = a.adm.DeleteTopics(a.ctx, "gone")
	if err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	if r, _ := rs.On("gone", nil); !errors.Is(r.Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("delete again: got %v, want UNKNOWN_TOPIC_OR_PARTITION", r.Err)
	}

	// By id (v6), and an unknown id.
	res := a.createTopic("byid", 1, nil)
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.TimeoutMillis = 10000
	for _, id := range [][16]byte{res.ID, {0xff}} {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.TopicID = id
		req.Topics = append(req.Topics, rt)
	}
	resp := a.raw(req).(*kmsg.DeleteTopicsResponse)
	if len(resp.Topics) != 2 {
		t.Fatalf("got %d results, want 2", len(resp.Topics))
	}
	if r := resp.Topics[0]; r.ErrorCode != 0 || r.Topic == nil || *r.Topic != "byid" {
		t.Errorf("delete by id: got code %d, name %v, want 0, byid", r.ErrorCode, r.Topic)
	}
	if r := resp.Topics[1]; r.ErrorCode != kerr.UnknownTopicID.Code {
		t.Errorf("delete unknown id: got code %d, want UNKNOWN_TOPIC_ID", r.ErrorCode)
	}
}

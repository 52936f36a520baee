package e2e

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const standardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// TestACLsWithoutAuthorizer checks that the ACL APIs answer
// SECURITY_DISABLED when no authorizer is set, as Kafka's do.
func TestACLsWithoutAuthorizer(t *testing.T) {
	n := startNode(t, "", nil)
	adm := kadm.NewClient(franzClient(t, n.addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.DescribeACLs(ctx, anyACLs())
	if err != nil || len(res) == 0 || !errors.Is(res[0].Err, kerr.SecurityDisabled) {
		t.Fatalf("DescribeAcls: got %+v, %v; want SECURITY_DISABLED", res, err)
	}
}

// TestAuthorizer runs a node with an authorizer: as a super user it
// creates topics and ACLs for User:ANONYMOUS, then restarts without super
// users, so the ACLs it enforces come from the metadata log, and checks
// Kafka's answers for what the ACLs allow and deny.
func TestAuthorizer(t *testing.T) {
	dir := t.TempDir()
	settings := map[string]string{"authorizer.class.name": standardAuthorizer, "super.users": "User:ANONYMOUS"}
	n := startNode(t, dir, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, topic := range []string{"ok-1", "ok-denied", "okay", "hidden"} {
		createTopic(t, n.addr, topic, 1, nil)
	}
	adm := kadm.NewClient(franzClient(t, n.addr))
	anon := "User:ANONYMOUS"
	mustCreateACLs(ctx, t, adm,
		// Everything on topics prefixed ok- (not okay: a prefix is not
		// a substring), but writes to ok-denied are denied.
		kadm.NewACLs().Allow(anon).Topics("ok-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpAll),
		kadm.NewACLs().Deny(anon).Topics("ok-denied").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(anon).Groups("g-ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead),
		kadm.NewACLs().Allow(anon).Clusters().ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAlter, kadm.OpDescribe),
		// Someone else may read okay, so the topic has ACLs.
		kadm.NewACLs().Allow("User:alice").Topics("okay").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead),
	)
	described, err := adm.DescribeACLs(ctx, anyACLs())
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, d := range described {
		if d.Err != nil {
			t.Fatalf("DescribeAcls: %v", d.Err)
		}
		count += len(d.Described)
	}
	if count != 6 { // OpAlter and OpDescribe are two ACLs
		t.Fatalf("DescribeAcls lists %d ACLs, want 6: %+v", count, described)
	}

	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}

	n.stop()
	delete(settings, "super.users")
	n = startNode(t, dir, settings)
	cl := franzClient(t, n.addr, kgo.DisableIdempotentWrite(), kgo.RecordRetries(0), kgo.RequestRetries(0))
	adm = kadm.NewClient(cl)

	produce := func(topic string) error {
		return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr()
	}
	if err := produce("ok-1"); err != nil {
		t.Fatalf("produce with a prefixed ALLOW ALL: %v", err)
	}
	if err := produce("okay"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce to a topic the prefix must not match: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	if err := produce("ok-denied"); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce under a DENY and an ALLOW: got %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}

	// Fetch: READ on the topic.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxBytes = -1, 1<<20
	for _, topic := range []string{"ok-1", "okay"} {
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = topic, topics[topic].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes = 1 << 20
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
	}
	fresp, err := fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]int16{}
	for _, ft := range fresp.Topics {
		name := ft.Topic
		for _, td := range topics {
			if td.ID == ft.TopicID && name == "" {
				name = td.Topic
			}
		}
		codes[name] = ft.Partitions[0].ErrorCode
		if name == "ok-1" && len(ft.Partitions[0].RecordBatches) == 0 {
			t.Fatal("fetch of ok-1 returned no records")
		}
	}
	if codes["ok-1"] != 0 || codes["okay"] != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("fetch error codes %v, want ok-1 0 and okay TOPIC_AUTHORIZATION_FAILED", codes)
	}

	// A replica fetch needs CLUSTER_ACTION, which nobody was granted.
	fetch.ReplicaID, fetch.ReplicaState.ID = 7, 7
	fresp, err = fetch.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, ft := range fresp.Topics {
		if code := ft.Partitions[0].ErrorCode; code != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("replica fetch of %x without CLUSTER_ACTION: code %d, want TOPIC_AUTHORIZATION_FAILED", ft.TopicID, code)
		}
	}

	// Metadata lists only what the principal may describe.
	md, err := adm.Metadata(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := md.Topics.Names(); !slices.Equal(sorted(got), []string{"ok-1", "ok-denied"}) {
		t.Fatalf("Metadata lists %v, want [ok-1 ok-denied]", got)
	}
	mreq := kmsg.NewPtrMetadataRequest()
	for _, name := range []string{"hidden", "ok-1", "no-such-topic"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(name)
		mreq.Topics = append(mreq.Topics, mt)
	}
	mreq.AllowAutoTopicCreation = true
	mreq.IncludeTopicAuthorizedOperations = true
	mresp, err := mreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mresp.Topics {
		want := kerr.TopicAuthorizationFailed.Code
		if *mt.Topic == "ok-1" {
			want = 0
			if mt.AuthorizedOperations&(1<<3) == 0 { // READ
				t.Errorf("ok-1 authorized operations %b lack READ", mt.AuthorizedOperations)
			}
		}
		if mt.ErrorCode != want {
			t.Errorf("Metadata of %s: code %d, want %d", *mt.Topic, mt.ErrorCode, want)
		}
	}

	// Groups: FindCoordinator needs DESCRIBE on the group, JoinGroup and
	// OffsetCommit READ, the commit READ on each topic too. The requests
	// go straight to the node, the group's coordinator.
	coordinator := cl.Broker(1)
	find := kmsg.NewPtrFindCoordinatorRequest()
	find.CoordinatorKey, find.CoordinatorKeys = "g-bad", []string{"g-bad"}
	fcresp, err := find.RequestWith(ctx, coordinator)
	if err != nil {
		t.Fatal(err)
	}
	if code := fcresp.Coordinators[0].ErrorCode; code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("FindCoordinator without DESCRIBE: code %d, want GROUP_AUTHORIZATION_FAILED", code)
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g-bad", "consumer", 10000, 10000
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	jresp, err := join.RequestWith(ctx, coordinator)
	if err != nil {
		t.Fatal(err)
	}
	if jresp.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("JoinGroup without READ: code %d, want GROUP_AUTHORIZATION_FAILED", jresp.ErrorCode)
	}
	commit := func(group, topic string) int16 {
		t.Helper()
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.Generation = group, -1
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Offset = 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, coordinator)
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].Partitions[0].ErrorCode
	}
	if code := commit("g-bad", "ok-1"); code != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("OffsetCommit without READ on the group: code %d, want GROUP_AUTHORIZATION_FAILED", code)
	}
	if code := commit("g-ok", "okay"); code != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("OffsetCommit without READ on the topic: code %d, want TOPIC_AUTHORIZATION_FAILED", code)
	}
	// The group's coordinator loads once FindCoordinator created the
	// offsets topic: retry the retriable answers meanwhile.
	find.CoordinatorKey, find.CoordinatorKeys = "g-ok", []string{"g-ok"}
	if _, err := find.RequestWith(ctx, coordinator); err != nil {
		t.Fatal(err)
	}
	var code int16
	eventually(t, 20*time.Second, "OffsetCommit with READ on group and topic", func() bool {
		code = commit("g-ok", "ok-1")
		return code != kerr.NotCoordinator.Code && code != kerr.CoordinatorLoadInProgress.Code
	})
	if code != 0 {
		t.Fatalf("OffsetCommit with READ on group and topic: code %d", code)
	}

	// Removing the DENY lets the write through.
	deleted, err := adm.DeleteACLs(ctx, kadm.NewACLs().Deny(anon).DenyHosts().Topics("ok-denied").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite))
	if err != nil || len(deleted) != 1 || deleted[0].Err != nil || len(deleted[0].Deleted) != 1 {
		t.Fatalf("DeleteAcls: %+v, %v", deleted, err)
	}
	if err := produce("ok-denied"); err != nil {
		t.Fatalf("produce after the DENY was removed: %v", err)
	}
}

func mustCreateACLs(ctx context.Context, t *testing.T, adm *kadm.Client, builders ...*kadm.ACLBuilder) {
	t.Helper()
	for _, b := range builders {
		res, err := adm.CreateACLs(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Err != nil {
				t.Fatalf("create ACL %+v: %v", r, r.Err)
			}
		}
	}
}

// anyACLs is a filter matching every ACL: one for the ALLOWs, one for the
// DENYs.
func anyACLs() *kadm.ACLBuilder {
	return kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().
		ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny)
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

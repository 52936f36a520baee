package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// TestAuthorizerAdminAPIs checks the admin, configuration, transaction and
// quorum APIs under an authorizer: User:ANONYMOUS may do everything on
// topic "mine", write transactional id "tx-ok" and read group "g-ok", and
// nothing on the cluster, topic "theirs" or transactional id "tx-hidden"
// (each of which has an ACL for someone else). Every denial must answer
// Kafka's error code, and what is allowed must still work.
func TestAuthorizerAdminAPIs(t *testing.T) {
	dir := t.TempDir()
	settings := map[string]string{"authorizer.class.name": standardAuthorizer, "super.users": "User:ANONYMOUS"}
	n := startNode(t, dir, settings)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	createTopic(t, n.addr, "mine", 1, nil)
	createTopic(t, n.addr, "theirs", 1, nil)
	anon, alice := "User:ANONYMOUS", "User:alice"
	adm := kadm.NewClient(franzClient(t, n.addr))
	mustCreateACLs(ctx, t, adm,
		kadm.NewACLs().Allow(anon).Topics("mine").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll),
		kadm.NewACLs().Allow(alice).Topics("theirs").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll),
		kadm.NewACLs().Allow(anon).TransactionalIDs("tx-ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(alice).TransactionalIDs("tx-hidden").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow(anon).Groups("g-ok").ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpRead),
		kadm.NewACLs().Allow(alice).Clusters().ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAll),
	)
	// Two finished transactions, for ListTransactions to list or hide.
	for _, id := range []string{"tx-ok", "tx-hidden"} {
		cl := franzClient(t, n.addr, kgo.TransactionalID(id))
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "mine", Value: []byte(id)}).FirstErr(); err != nil {
			t.Fatalf("transactional produce as %s: %v", id, err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		cl.Close()
	}

	n.stop()
	delete(settings, "super.users")
	n = startNode(t, dir, settings)
	cl := franzClient(t, n.addr, kgo.RequestRetries(0))
	node := cl.Broker(1)
	ok, topicDenied, clusterDenied := int16(0), kerr.TopicAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code
	check := func(what string, got, want int16) {
		t.Helper()
		if got != want {
			t.Errorf("%s: error code %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), want, kerr.ErrorForCode(want))
		}
	}
	request := func(req kmsg.Request) kmsg.Response {
		t.Helper()
		resp, err := node.Request(ctx, req)
		if err != nil {
			t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
		}
		return resp
	}

	t.Run("configs", func(t *testing.T) {
		dc := kmsg.NewPtrDescribeConfigsRequest()
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeTopic, "mine"}, {kmsg.ConfigResourceTypeTopic, "theirs"},
			{kmsg.ConfigResourceTypeTopic, "no-such-topic"}, {kmsg.ConfigResourceTypeBroker, "1"}} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = r.typ, r.name
			dc.Resources = append(dc.Resources, rr)
		}
		res := request(dc).(*kmsg.DescribeConfigsResponse).Resources
		check("DescribeConfigs mine", res[0].ErrorCode, ok)
		if len(res[0].Configs) == 0 {
			t.Error("DescribeConfigs of mine listed no configs")
		}
		check("DescribeConfigs theirs", res[1].ErrorCode, topicDenied)
		if len(res[1].Configs) != 0 {
			t.Errorf("DescribeConfigs of theirs leaked %d configs", len(res[1].Configs))
		}
		check("DescribeConfigs of an unknown topic without DESCRIBE_CONFIGS", res[2].ErrorCode, topicDenied)
		check("DescribeConfigs broker", res[3].ErrorCode, clusterDenied)

		inc := kmsg.NewPtrIncrementalAlterConfigsRequest()
		legacy := kmsg.NewPtrAlterConfigsRequest()
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeTopic, "mine"}, {kmsg.ConfigResourceTypeTopic, "theirs"}, {kmsg.ConfigResourceTypeBroker, ""}} {
			ir := kmsg.NewIncrementalAlterConfigsRequestResource()
			ir.ResourceType, ir.ResourceName = r.typ, r.name
			ic := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			ic.Name, ic.Value = "retention.ms", kmsg.StringPtr("3600000")
			if r.typ == kmsg.ConfigResourceTypeBroker {
				ic.Name = "log.retention.ms"
			}
			ir.Configs = append(ir.Configs, ic)
			inc.Resources = append(inc.Resources, ir)
			lr := kmsg.NewAlterConfigsRequestResource()
			lr.ResourceType, lr.ResourceName = r.typ, r.name
			lr.Configs = []kmsg.AlterConfigsRequestResourceConfig{{Name: ic.Name, Value: ic.Value}}
			legacy.Resources = append(legacy.Resources, lr)
		}
		ires := request(inc).(*kmsg.IncrementalAlterConfigsResponse).Resources
		check("IncrementalAlterConfigs mine", ires[0].ErrorCode, ok)
		check("IncrementalAlterConfigs theirs", ires[1].ErrorCode, topicDenied)
		check("IncrementalAlterConfigs broker", ires[2].ErrorCode, clusterDenied)
		lres := request(legacy).(*kmsg.AlterConfigsResponse).Resources
		check("AlterConfigs mine", lres[0].ErrorCode, ok)
		check("AlterConfigs theirs", lres[1].ErrorCode, topicDenied)
		check("AlterConfigs broker", lres[2].ErrorCode, clusterDenied)
	})

	t.Run("topics", func(t *testing.T) {
		cp := kmsg.NewPtrCreatePartitionsRequest()
		cp.TimeoutMillis = 10000
		for _, name := range []string{"mine", "theirs"} {
			ct := kmsg.NewCreatePartitionsRequestTopic()
			ct.Topic, ct.Count = name, 2
			cp.Topics = append(cp.Topics, ct)
		}
		for _, r := range request(cp).(*kmsg.CreatePartitionsResponse).Topics {
			check("CreatePartitions "+r.Topic, r.ErrorCode, map[string]int16{"mine": ok, "theirs": topicDenied}[r.Topic])
		}

		dr := kmsg.NewPtrDeleteRecordsRequest()
		dr.TimeoutMillis = 10000
		for _, name := range []string{"mine", "theirs"} {
			rt := kmsg.NewDeleteRecordsRequestTopic()
			rt.Topic = name
			rt.Partitions = []kmsg.DeleteRecordsRequestTopicPartition{{Partition: 0, Offset: -1}}
			dr.Topics = append(dr.Topics, rt)
		}
		for _, r := range request(dr).(*kmsg.DeleteRecordsResponse).Topics {
			check("DeleteRecords "+r.Topic, r.Partitions[0].ErrorCode, map[string]int16{"mine": ok, "theirs": topicDenied}[r.Topic])
		}

		dp := kmsg.NewPtrDescribeProducersRequest()
		for _, name := range []string{"mine", "theirs"} {
			dp.Topics = append(dp.Topics, kmsg.DescribeProducersRequestTopic{Topic: name, Partitions: []int32{0}})
		}
		for _, r := range request(dp).(*kmsg.DescribeProducersResponse).Topics {
			check("DescribeProducers "+r.Topic, r.Partitions[0].ErrorCode, map[string]int16{"mine": ok, "theirs": topicDenied}[r.Topic])
		}
	})

	t.Run("cluster", func(t *testing.T) {
		el := kmsg.NewPtrElectLeadersRequest()
		el.Topics = []kmsg.ElectLeadersRequestTopic{{Topic: "mine", Partitions: []int32{0}}}
		elr := request(el).(*kmsg.ElectLeadersResponse)
		check("ElectLeaders", elr.ErrorCode, clusterDenied)
		check("ElectLeaders partition", elr.Topics[0].Partitions[0].ErrorCode, clusterDenied)

		ar := kmsg.NewPtrAlterPartitionAssignmentsRequest()
		ar.Topics = []kmsg.AlterPartitionAssignmentsRequestTopic{{Topic: "mine",
			Partitions: []kmsg.AlterPartitionAssignmentsRequestTopicPartition{{Partition: 0, Replicas: []int32{1}}}}}
		arr := request(ar).(*kmsg.AlterPartitionAssignmentsResponse)
		check("AlterPartitionReassignments", arr.ErrorCode, clusterDenied)
		if len(arr.Topics) != 0 {
			t.Errorf("AlterPartitionReassignments denied answered topics %+v", arr.Topics)
		}
		check("ListPartitionReassignments", request(kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse).ErrorCode, clusterDenied)

		ldr := request(kmsg.NewPtrDescribeLogDirsRequest()).(*kmsg.DescribeLogDirsResponse)
		check("DescribeLogDirs", ldr.ErrorCode, clusterDenied)
		if len(ldr.Dirs) != 0 {
			t.Errorf("DescribeLogDirs denied listed %d directories", len(ldr.Dirs))
		}

		add := kmsg.NewPtrAddRaftVoterRequest()
		add.VoterID = 2
		check("AddRaftVoter", request(add).(*kmsg.AddRaftVoterResponse).ErrorCode, clusterDenied)
		rm := kmsg.NewPtrRemoveRaftVoterRequest()
		rm.VoterID = 1
		check("RemoveRaftVoter", request(rm).(*kmsg.RemoveRaftVoterResponse).ErrorCode, clusterDenied)
		ub := kmsg.NewPtrUnregisterBrokerRequest()
		ub.BrokerID = 1
		check("UnregisterBroker", request(ub).(*kmsg.UnregisterBrokerResponse).ErrorCode, clusterDenied)

		check("DescribeClientQuotas", request(kmsg.NewPtrDescribeClientQuotasRequest()).(*kmsg.DescribeClientQuotasResponse).ErrorCode, clusterDenied)
		aq := kmsg.NewPtrAlterClientQuotasRequest()
		aq.Entries = []kmsg.AlterClientQuotasRequestEntry{{
			Entity: []kmsg.AlterClientQuotasRequestEntryEntity{{Type: "user", Name: kmsg.StringPtr("alice")}},
			Ops:    []kmsg.AlterClientQuotasRequestEntryOp{{Key: "producer_byte_rate", Value: 1024}},
		}}
		check("AlterClientQuotas", request(aq).(*kmsg.AlterClientQuotasResponse).Entries[0].ErrorCode, clusterDenied)
	})

	t.Run("transactions", func(t *testing.T) {
		lt := request(kmsg.NewPtrListTransactionsRequest()).(*kmsg.ListTransactionsResponse)
		check("ListTransactions", lt.ErrorCode, ok)
		var ids []string
		for _, s := range lt.TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
		if len(ids) != 1 || ids[0] != "tx-ok" {
			t.Errorf("ListTransactions lists %v, want only [tx-ok]", ids)
		}

		dt := kmsg.NewPtrDescribeTransactionsRequest()
		dt.TransactionalIDs = []string{"tx-ok", "tx-hidden"}
		dtr := request(dt).(*kmsg.DescribeTransactionsResponse).TransactionStates
		check("DescribeTransactions tx-ok", dtr[0].ErrorCode, ok)
		check("DescribeTransactions tx-hidden", dtr[1].ErrorCode, kerr.TransactionalIDAuthorizationFailed.Code)

		// A client's AddPartitionsToTxn (v3): WRITE on the id, then on
		// each topic; one denied topic stops the others.
		v3 := franzClient(t, n.addr, kgo.RequestRetries(0), kgo.MaxVersions(kversion.V3_5_0()))
		apt := func(id string) *kmsg.AddPartitionsToTxnResponse {
			t.Helper()
			req := kmsg.NewPtrAddPartitionsToTxnRequest()
			req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, 1, 0
			for _, name := range []string{"mine", "theirs"} {
				req.Topics = append(req.Topics, kmsg.AddPartitionsToTxnRequestTopic{Topic: name, Partitions: []int32{0}})
			}
			resp, err := v3.Broker(1).Request(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kmsg.AddPartitionsToTxnResponse)
		}
		for _, r := range apt("tx-hidden").Topics {
			check("AddPartitionsToTxn tx-hidden "+r.Topic, r.Partitions[0].ErrorCode, kerr.TransactionalIDAuthorizationFailed.Code)
		}
		for _, r := range apt("tx-ok").Topics {
			check("AddPartitionsToTxn tx-ok "+r.Topic, r.Partitions[0].ErrorCode,
				map[string]int16{"mine": kerr.OperationNotAttempted.Code, "theirs": topicDenied}[r.Topic])
		}
		// A broker's (v4+): CLUSTER_ACTION.
		verify := kmsg.NewPtrAddPartitionsToTxnRequest()
		verify.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{{TransactionalID: "tx-ok", ProducerID: 1, VerifyOnly: true,
			Topics: []kmsg.AddPartitionsToTxnRequestTransactionTopic{{Topic: "mine", Partitions: []int32{0}}}}}
		check("AddPartitionsToTxn v4+", request(verify).(*kmsg.AddPartitionsToTxnResponse).ErrorCode, clusterDenied)

		commit := func(id, group string) map[string]int16 {
			t.Helper()
			req := kmsg.NewPtrTxnOffsetCommitRequest()
			req.TransactionalID, req.Group, req.ProducerID, req.Generation = id, group, 1, -1
			for _, name := range []string{"mine", "theirs"} {
				req.Topics = append(req.Topics, kmsg.TxnOffsetCommitRequestTopic{Topic: name,
					Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}}})
			}
			codes := map[string]int16{}
			for _, rt := range request(req).(*kmsg.TxnOffsetCommitResponse).Topics {
				codes[rt.Topic] = rt.Partitions[0].ErrorCode
			}
			return codes
		}
		codes := commit("tx-hidden", "g-ok")
		check("TxnOffsetCommit tx-hidden", codes["mine"], kerr.TransactionalIDAuthorizationFailed.Code)
		codes = commit("tx-ok", "g-other")
		check("TxnOffsetCommit without READ on the group", codes["mine"], kerr.GroupAuthorizationFailed.Code)
		codes = commit("tx-ok", "g-ok")
		check("TxnOffsetCommit theirs", codes["theirs"], topicDenied)
		if c := codes["mine"]; c == topicDenied || c == kerr.GroupAuthorizationFailed.Code || c == kerr.TransactionalIDAuthorizationFailed.Code {
			t.Errorf("TxnOffsetCommit of mine was refused by authorization: %v", kerr.ErrorForCode(c))
		}
	})
}

package fault

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/stratalog/strata/test/cluster"
)

// TestReplicationUnderAuthorizer checks that a 3-node cluster keeps
// replicating with an authorizer on, the Kafka way: the nodes fetch from
// each other over PLAINTEXT as User:ANONYMOUS, which the operator grants
// CLUSTER_ACTION on the cluster. Once the cluster resource has ACLs,
// allow.everyone.if.no.acl.found no longer covers it, so replication
// depends on that grant. An acks=all produce needing all three replicas
// in sync succeeds on every partition.
func TestReplicationUnderAuthorizer(t *testing.T) {
	topic := "acl-replicated"
	c, cl := startClusterWith(t, topic, 3, map[string]string{
		"authorizer.class.name":          "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found": "true",
	})
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	anon := "User:ANONYMOUS"
	res, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow(anon).Clusters().ResourcePatternType(kadm.ACLPatternLiteral).
		Operations(kadm.OpClusterAction, kadm.OpAlter, kadm.OpDescribe, kadm.OpCreate, kadm.OpIdempotentWrite))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("create ACL: %v", r.Err)
		}
	}
	// Every node enforces the ACLs the metadata log carries, once it has
	// applied the record.
	for _, n := range c.Nodes() {
		ncl := c.Client(t, kgo.SeedBrokers(n.KafkaAddr()))
		cluster.Eventually(t, 30*time.Second, fmt.Sprintf("node %d describing the 5 cluster ACLs", n.ID()), func() bool {
			described, err := kadm.NewClient(ncl).DescribeACLs(ctx, kadm.NewACLs().Clusters().Allow(anon).AllowHosts().
				ResourcePatternType(kadm.ACLPatternLiteral).Operations(kadm.OpAny))
			return err == nil && len(described) == 1 && described[0].Err == nil && len(described[0].Described) == 5
		})
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kadm.StringPtr("3")}}, topic); err != nil {
		t.Fatal(err)
	}
	pcl := c.Client(t, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ledger := cluster.NewLedger()
	for i := range 60 {
		rec := &kgo.Record{Value: []byte(fmt.Sprint(i)), Partition: int32(i % 3)}
		ledger.Attempted(rec.Value)
		err := pcl.ProduceSync(ctx, rec).FirstErr()
		ledger.Promise(rec, err)
		if err != nil {
			t.Fatalf("acks=all produce %d with min.insync.replicas=3: %v", i, err)
		}
	}
	ledger.CheckAgainst(t, cluster.ReadAll(ctx, t, cl, topic, 3))
}

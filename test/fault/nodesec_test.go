package fault

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/stratalog/strata/internal/tlsconfig"
	"github.com/stratalog/strata/test/cluster"
)

// nodeCerts writes a node certificate for 127.0.0.1 issued by ca, usable
// for server and client, and ca's certificate; it returns the keystore and
// truststore paths.
func nodeCerts(t *testing.T, ca *tlsconfig.CA) (keystore, truststore string) {
	t.Helper()
	node, err := ca.Issue(tlsconfig.CertRequest{Subject: pkix.Name{CommonName: "strata node"}, Hosts: []string{"127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keystore, truststore = filepath.Join(dir, "node.pem"), filepath.Join(dir, "ca.pem")
	for path, data := range map[string][]byte{keystore: node.Keystore(), truststore: ca.PEM} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return keystore, truststore
}

func newCA(t *testing.T, name string) *tlsconfig.CA {
	t.Helper()
	ca, err := tlsconfig.NewCA(name, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

// TestSASLBetweenNodes runs a 3-node cluster whose nodes replicate over
// INTERNAL, a SASL_SSL listener, authenticating as User:broker with PLAIN
// (sasl.plain.users holds the user: no bootstrap step), under an
// authorizer that allows nothing by default: the nodes' fetches pass only
// as the super user User:broker. Sessions last 3 s
// (connections.max.reauth.ms), so the nodes' long-lived fetcher
// connections must re-authenticate many times. Clients use INTERNAL as
// User:admin. acks=all produces keep being acknowledged through a
// leader's death, and the ledger check finds every acknowledged record at
// its offset.
func TestSASLBetweenNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	keystore, truststore := nodeCerts(t, newCA(t, "cluster CA"))
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, map[string]string{
		"inter.broker.listener.name":                    "INTERNAL",
		"ssl.keystore.location":                         keystore,
		"ssl.truststore.location":                       truststore,
		"sasl.enabled.mechanisms":                       "PLAIN,SCRAM-SHA-512",
		"sasl.plain.users":                              "broker:broker-secret,admin:admin-secret",
		"sasl.mechanism.inter.broker.protocol":          "PLAIN",
		"listener.name.internal.plain.sasl.jaas.config": `org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="broker-secret";`,
		"connections.max.reauth.ms":                     "3000",
		"authorizer.class.name":                         "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"allow.everyone.if.no.acl.found":                "false",
		"super.users":                                   "User:broker;User:admin",
	})
	const topic, parts = "sasl-between-nodes", 3
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: settings,
		Listeners: []cluster.Listener{{Name: "INTERNAL", Protocol: "SASL_SSL"}}})
	c.WaitReady(30 * time.Second)

	pool := x509.NewCertPool()
	ca, err := os.ReadFile(truststore)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(ca)
	cl := c.ListenerClient(t, "INTERNAL", kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(plain.Auth{User: "admin", Pass: "admin-secret"}.AsMechanism()))
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if res, err := adm.CreateTopic(ctx, parts, 3, map[string]*string{"min.insync.replicas": kadm.StringPtr("3")}, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	// With min.insync.replicas=3 an acknowledged record is on every node:
	// each follower replicated it over SASL_SSL, re-authenticating.
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 500, 30*time.Second, "acks=all replicated by all three over SASL_SSL")
	reauthDeadline := time.Now().Add(7 * time.Second) // two sessions and more
	for time.Now().Before(reauthDeadline) {
		p.waitAcked(t, 100, 30*time.Second, "acks=all across re-authentications")
	}
	if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "min.insync.replicas", Value: kadm.StringPtr("2")}}, topic); err != nil {
		t.Fatal(err)
	}
	killLeaderAndCheck(t, c, cl, p, topic, parts)
	// No node cut another off for an ended session or failed credentials:
	// the connections re-authenticated in time.
	for _, n := range c.Nodes() {
		log := n.LogTail(100000)
		for _, bad := range []string{"broker-secret", "admin-secret", "without re-authentication", "SASL authentication failed"} {
			if strings.Contains(log, bad) {
				t.Errorf("node %d logged %q", n.ID(), bad)
			}
		}
	}
}

// TestWrongInterBrokerCredentials: nodes authenticate to each other with
// SCRAM-SHA-512 as User:broker, created over the PLAINTEXT listener after
// the cluster starts (the SCRAM way of bootstrapping); node 3 has the wrong
// password. Nodes 1 and 2 replicate, node 3 cannot: its log says that the
// leader refused its credentials, and it drops out of the ISR of every
// partition it follows.
func TestWrongInterBrokerCredentials(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	jaas := func(password string) map[string]string {
		return map[string]string{"listener.name.internal.scram-sha-512.sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="` + password + `";`}
	}
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, map[string]string{
		"inter.broker.listener.name":           "INTERNAL",
		"sasl.enabled.mechanisms":              "SCRAM-SHA-512",
		"sasl.mechanism.inter.broker.protocol": "SCRAM-SHA-512",
		"replica.lag.time.max.ms":              "2000",
	})
	maps.Copy(settings, jaas("right-secret"))
	const topic, parts = "wrong-credentials", 6
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: settings, NodeSettings: map[int32]map[string]string{3: jaas("wrong-secret")},
		Listeners: []cluster.Listener{{Name: "INTERNAL", Protocol: "SASL_PLAINTEXT"}}})
	c.WaitReady(30 * time.Second)
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: "broker", Mechanism: kadm.ScramSha512, Iterations: 4096, Password: "right-secret"}}); err != nil {
		t.Fatal(err)
	}
	if res, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 500, 30*time.Second, "acks=all from nodes 1 and 2")
	cluster.Eventually(t, 30*time.Second, "node 3 out of the ISR of the partitions it follows", func() bool {
		desc, err := adm.ListTopics(ctx, topic)
		if err != nil {
			return false
		}
		for _, pd := range desc[topic].Partitions {
			if pd.Leader != 3 && (len(pd.ISR) != 2 || containsID(pd.ISR, 3)) {
				return false
			}
		}
		return true
	})
	log := c.Node(3).LogTail(100000)
	if !strings.Contains(log, "cannot reach the partition leader to replicate") || !strings.Contains(log, "SASL_AUTHENTICATION_FAILED") {
		t.Errorf("node 3's log does not say its credentials were refused:\n%s", c.Node(3).LogTail(30))
	}
	if strings.Contains(log, "wrong-secret") || strings.Contains(c.Node(1).LogTail(100000), "right-secret") {
		t.Error("a node logged a password")
	}
	// Nodes 1 and 2 replicate from each other and from node 3, and log
	// node 3's failed attempts.
	for _, id := range []int32{1, 2} {
		if l := c.Node(id).LogTail(100000); strings.Contains(l, "cannot reach the partition leader") || !strings.Contains(l, "SASL authentication failed") {
			t.Errorf("node %d: want no replication failure and node 3's refusals logged:\n%s", id, c.Node(id).LogTail(30))
		}
	}
	p.stop()
	check(t, c, cl, p, topic, parts)
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// raftTLSSettings are the settings of a cluster whose Raft listeners speak
// TLS with client certificates required.
func raftTLSSettings(keystore, truststore string) map[string]string {
	settings := maps.Clone(clusterSettings)
	maps.Copy(settings, map[string]string{
		"listener.security.protocol.map":                                 "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
		"listener.name.controller.ssl.keystore.location":                 keystore,
		"listener.name.controller.ssl.truststore.location":               truststore,
		"listener.name.controller.ssl.client.auth":                       "required",
		"listener.name.controller.ssl.endpoint.identification.algorithm": "https",
	})
	return settings
}

// TestRaftOverTLS: a 3-node cluster whose controller listeners are
// CONTROLLER:SSL with client certificates required forms its quorum,
// elects, and survives the death of the controller: a new one is elected
// and metadata changes go on. The Raft port answers nothing to a TLS
// client without a certificate.
func TestRaftOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	ca := newCA(t, "cluster CA")
	keystore, truststore := nodeCerts(t, ca)
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: raftTLSSettings(keystore, truststore)})
	c.WaitReady(30 * time.Second)
	// The Raft port speaks TLS, to a member's certificate only.
	if err := refusesPlainAndAnonymous(c.Node(1).ControllerAddr(), ca.PEM); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(keystore, keystore)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", c.Node(1).ControllerAddr(),
		&tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatalf("TLS to the Raft port with a member's certificate: %v", err)
	}
	conn.Close()
	const topic, parts = "raft-over-tls", 3
	cl := c.Client(t)
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if res, err := adm.CreateTopic(ctx, parts, 3, nil, topic); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	p := startProducer(t, cl, topic)
	p.waitAcked(t, 500, 30*time.Second, "acks with the quorum over TLS")
	var old int32
	cluster.Eventually(t, 30*time.Second, "a controller", func() bool { old = controllerOf(t, c, 0); return old > 0 })
	c.Node(old).Kill()
	cluster.Eventually(t, 30*time.Second, "a new controller", func() bool {
		id := controllerOf(t, c, old)
		return id != old && id > 0
	})
	// The new controller decides: a topic is created, leaders move off the
	// dead node and the producer goes on.
	cluster.Eventually(t, 30*time.Second, "a topic created under the new controller", func() bool {
		res, err := adm.CreateTopic(ctx, 1, 2, nil, "after-controller-death")
		return err == nil && res.Err == nil
	})
	p.waitAcked(t, 500, 30*time.Second, "acks with the controller dead")
	c.Node(old).Restart()
	c.Node(old).WaitReady(30 * time.Second)
	p.waitAcked(t, 500, 30*time.Second, "acks after the restart")
	p.stop()
	check(t, c, cl, p, topic, parts)
}

// TestRaftTLSRefusesStranger: node 3 of a cluster with TLS on its Raft
// listeners has a certificate from another CA. Nodes 1 and 2 form the
// quorum and serve; node 3 never joins it (it never becomes ready), and
// both sides log the failed TLS handshake.
func TestRaftTLSRefusesStranger(t *testing.T) {
	if testing.Short() {
		t.Skip("starts strata processes")
	}
	keystore, truststore := nodeCerts(t, newCA(t, "cluster CA"))
	strangerKeystore, _ := nodeCerts(t, newCA(t, "another CA"))
	c := cluster.Start(t, cluster.Options{Nodes: 3, Settings: raftTLSSettings(keystore, truststore),
		NodeSettings: map[int32]map[string]string{3: {"listener.name.controller.ssl.keystore.location": strangerKeystore}}})
	c.Node(1).WaitReady(30 * time.Second)
	c.Node(2).WaitReady(30 * time.Second)
	cluster.Eventually(t, 30*time.Second, "the failed handshakes logged on both sides", func() bool {
		return strings.Contains(c.Node(1).LogTail(100000), "TLS handshake failed") &&
			strings.Contains(c.Node(3).LogTail(100000), "TLS handshake failed")
	})
	// The two trusted nodes have a working quorum: a topic is created.
	cl := c.Client(t, kgo.SeedBrokers(c.Node(1).KafkaAddr(), c.Node(2).KafkaAddr()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 2, nil, "without-the-stranger"); err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s/readyz", c.Node(3).AdminAddr()))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("node 3, whose certificate no voter trusts, is ready")
	}
}

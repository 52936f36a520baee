package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// brokerDefs are the broker settings Strata accepts, sorted by name, with
// Kafka's names, types and defaults. Network, directory and quorum settings
// are not here: Strata takes them as command-line flags.
var brokerDefs = []Definition{
	{Name: "advertised.listeners", Type: kmsg.ConfigTypeList, check: listenerList("advertised.listeners"),
		Doc: "Listeners to publish for clients to use, NAME://host:port each, if different from listeners; a listener left out is advertised at the address it bound."},
	boolDef("allow.everyone.if.no.acl.found", false, "With an authorizer, whether an operation on a resource no ACL names is allowed to everyone."),
	{Name: "authorizer.class.name", Type: kmsg.ConfigTypeString, Default: str(""), check: oneOf("", StandardAuthorizer),
		Doc: "The authorizer: " + StandardAuthorizer + " enforces the ACLs (Kafka's own, whose rules Strata's authorizer has); empty allows every request."},
	boolDef("auto.create.topics.enable", true, "Enable auto creation of topics on the server."),
	boolDef("auto.leader.rebalance.enable", true, "Enables automatic leader balancing."),
	intDef("background.threads", kmsg.ConfigTypeInt, "10", 1, "The number of threads for background tasks (no effect in Strata: its background work runs on goroutines)."),
	intDef("broker.heartbeat.interval.ms", kmsg.ConfigTypeInt, "100", 10, "How often a node tells the controller voters it is alive (Kafka: 2000)."),
	intDef("broker.id", kmsg.ConfigTypeInt, "-1", noMin, "The broker id; must equal node.id when both are set."),
	{Name: "broker.rack", Type: kmsg.ConfigTypeString, check: rackName,
		Doc: "The rack of this broker: replicas of a partition are placed in different racks."},
	intDef("broker.session.timeout.ms", kmsg.ConfigTypeInt, "1000", 50, "How long a broker may go without a heartbeat before the controller fences it and moves its leaderships (Kafka: 9000)."),
	{Name: "compression.type", Type: kmsg.ConfigTypeString, Default: str("producer"), check: oneOf(compressionTypes...),
		Doc: "The default final compression type of topics."},
	intDef("connection.failed.authentication.delay.ms", kmsg.ConfigTypeInt, "100", 0, "How long a failed SASL authentication's answer, and the close of its connection, is delayed, to slow a client trying passwords; below connections.max.idle.ms."),
	intDef("connections.max.idle.ms", kmsg.ConfigTypeLong, "600000", noMin, "Idle connections timeout."),
	intDef("connections.max.reauth.ms", kmsg.ConfigTypeLong, "0", 0, "How long a SASL authentication holds: a client re-authenticates before then (KIP-368), and a connection that did not is closed at its next request; 0 for no limit."),
	boolDef("controlled.shutdown.enable", true, "Whether a stopping node first moves its leaderships to other in-sync replicas."),
	{Name: "controller.listener.names", Type: kmsg.ConfigTypeList, Default: str("CONTROLLER"),
		Doc: "The name of the Raft controller listener (--controller-listen), the first one given: its listener.security.protocol.map entry (PLAINTEXT without one, or SSL) and its listener.name.<name>.ssl.* settings secure the traffic between the controller quorum's members."},
	intDef("controller.quorum.election.timeout.ms", kmsg.ConfigTypeInt, "500", 20, "How long a controller voter waits without hearing from the leader before it calls an election (Kafka: 1000)."),
	intDef("controller.quota.window.num", kmsg.ConfigTypeInt, "11", 1, "The number of samples kept for controller mutation quotas: with controller.quota.window.size.seconds, how many seconds of controller_mutation_rate a client may spend at once."),
	intDef("controller.quota.window.size.seconds", kmsg.ConfigTypeInt, "1", 1, "The time span of each sample for controller mutation quotas."),
	intDef("default.replication.factor", kmsg.ConfigTypeInt, "1", 1, "The default replication factor of automatically created topics."),
	boolDef("delete.topic.enable", true, "Enables topic deletion."),
	intDef("fetch.max.bytes", kmsg.ConfigTypeInt, "57671680", 1024, "The maximum number of bytes returned for a fetch request."),
	intDef("follower.replication.throttled.rate", kmsg.ConfigTypeLong, maxLong, 1, "Bytes per second a broker fetches, as follower out of the ISR, for throttled replicas (follower.replication.throttled.replicas)."),
	intDef("group.initial.rebalance.delay.ms", kmsg.ConfigTypeInt, "3000", noMin, "How long the coordinator waits for more consumers to join a new group before the first rebalance."),
	intDef("group.max.session.timeout.ms", kmsg.ConfigTypeInt, "1800000", noMin, "The maximum allowed session timeout for registered consumers."),
	intDef("group.max.size", kmsg.ConfigTypeInt, "2147483647", 1, "The maximum number of consumers a single consumer group can accommodate."),
	intDef("group.min.session.timeout.ms", kmsg.ConfigTypeInt, "6000", noMin, "The minimum allowed session timeout for registered consumers."),
	{Name: "inter.broker.listener.name", Type: kmsg.ConfigTypeString,
		Doc: "The listener other nodes connect to. Unset: the listener named PLAINTEXT, else the first PLAINTEXT one, else the first."},
	intDef("leader.imbalance.check.interval.seconds", kmsg.ConfigTypeLong, "300", 1, "How often the controller checks leader balance (auto.leader.rebalance.enable)."),
	intDef("leader.imbalance.per.broker.percentage", kmsg.ConfigTypeInt, "10", 0, "The share of a broker's preferred leaderships it may lose before the controller gives them back, in percent."),
	intDef("leader.replication.throttled.rate", kmsg.ConfigTypeLong, maxLong, 1, "Bytes per second a broker sends, as leader, to followers of throttled replicas (leader.replication.throttled.replicas) that are out of the ISR."),
	{Name: "listener.security.protocol.map", Type: kmsg.ConfigTypeList, Default: str(defaultProtocolMap), check: protocolMap,
		Doc: "Map between listener names and security protocols, NAME:PROTOCOL each."},
	{Name: "listeners", Type: kmsg.ConfigTypeList, check: listenerList("listeners"),
		Doc: "Listeners to accept Kafka clients on, NAME://host:port each (an empty host: every interface). Unset: one PLAINTEXT listener at --listen."},
	intDef("log.cleaner.backoff.ms", kmsg.ConfigTypeLong, "15000", 0, "The amount of time to sleep when there are no logs to clean."),
	intDef("log.cleaner.dedupe.buffer.size", kmsg.ConfigTypeLong, "134217728", noMin, "The memory the cleaner's key maps may use, shared by the cleaner threads; a pass that fills its share cleans what it mapped and leaves the rest to the next."),
	intDef("log.cleaner.delete.retention.ms", kmsg.ConfigTypeLong, "86400000", 0, "The amount of time to retain tombstone markers for log compacted topics."),
	boolDef("log.cleaner.enable", true, "Enable the log cleaner process to run on the server."),
	{Name: "log.cleaner.io.buffer.load.factor", Type: kmsg.ConfigTypeDouble, Default: str("0.9"), check: betweenFloat(0, 1),
		Doc: "The share of its dedupe buffer a cleaner thread fills before it stops mapping keys for a pass."},
	intDef("log.cleaner.io.buffer.size", kmsg.ConfigTypeInt, "524288", 0, "The memory for the cleaner's I/O buffers, shared by the cleaner threads: half for reading segments, half for writing cleaned ones."),
	{Name: "log.cleaner.io.max.bytes.per.second", Type: kmsg.ConfigTypeDouble, Default: str(maxDouble), check: betweenFloat(1, math.MaxFloat64),
		Doc: "The cleaner is throttled so that the sum of its read and write I/O stays below this many bytes per second, on average."},
	intDef("log.cleaner.max.compaction.lag.ms", kmsg.ConfigTypeLong, maxLong, 1, "The maximum time a message will remain ineligible for compaction in the log."),
	{Name: "log.cleaner.min.cleanable.ratio", Type: kmsg.ConfigTypeDouble, Default: str("0.5"), check: betweenFloat(0, 1),
		Doc: "The minimum ratio of dirty log to total log for a log to be eligible for cleaning."},
	intDef("log.cleaner.min.compaction.lag.ms", kmsg.ConfigTypeLong, "0", 0, "The minimum time a message will remain uncompacted in the log."),
	intDef("log.cleaner.threads", kmsg.ConfigTypeInt, "1", 1, "The number of logs the cleaner compacts at once."),
	{Name: "log.cleanup.policy", Type: kmsg.ConfigTypeList, Default: str("delete"), check: listOf("compact", "delete"),
		Doc: "The default cleanup policy for segments beyond the retention window."},
	intDef("log.flush.interval.messages", kmsg.ConfigTypeLong, maxLong, 1, "The number of messages accumulated on a log partition before messages are flushed to disk."),
	{Name: "log.flush.interval.ms", Type: kmsg.ConfigTypeLong, check: atLeast(0),
		Doc: "The maximum time in ms that a message is kept in memory before being flushed to disk. If not set, log.flush.scheduler.interval.ms is used."},
	intDef("log.flush.scheduler.interval.ms", kmsg.ConfigTypeLong, maxLong, 0, "The frequency in ms that the log flusher checks whether any log needs to be flushed to disk."),
	intDef("log.index.interval.bytes", kmsg.ConfigTypeInt, "4096", 0, "The interval with which an entry is added to the offset index."),
	intDef("log.index.size.max.bytes", kmsg.ConfigTypeInt, "10485760", 4, "The maximum size in bytes of the offset index."),
	intDef("log.local.retention.bytes", kmsg.ConfigTypeLong, "-2", -2, "Tiered storage local retention size (no effect in Strata)."),
	intDef("log.local.retention.ms", kmsg.ConfigTypeLong, "-2", -2, "Tiered storage local retention time (no effect in Strata)."),
	intDef("log.message.timestamp.after.max.ms", kmsg.ConfigTypeLong, maxLong, 0, "How far a message timestamp may be ahead of the broker's clock."),
	intDef("log.message.timestamp.before.max.ms", kmsg.ConfigTypeLong, maxLong, 0, "How far a message timestamp may be behind the broker's clock."),
	intDef("log.message.timestamp.difference.max.ms", kmsg.ConfigTypeLong, maxLong, 0, "Deprecated: the bound for both directions when the before/after settings are unset."),
	{Name: "log.message.timestamp.type", Type: kmsg.ConfigTypeString, Default: str("CreateTime"), check: oneOf("CreateTime", "LogAppendTime"),
		Doc: "Whether the timestamp in the message is the create time or the log append time."},
	boolDef("log.preallocate", false, "Whether to preallocate a file when creating a new segment."),
	intDef("log.retention.bytes", kmsg.ConfigTypeLong, "-1", noMin, "The maximum size of the log before deleting it."),
	intDef("log.retention.check.interval.ms", kmsg.ConfigTypeLong, "300000", 1, "The frequency in milliseconds that the log cleaner checks whether any log is eligible for deletion."),
	intDef("log.retention.hours", kmsg.ConfigTypeInt, "168", noMin, "The number of hours to keep a log file before deleting it, tertiary to log.retention.ms."),
	{Name: "log.retention.minutes", Type: kmsg.ConfigTypeInt,
		Doc: "The number of minutes to keep a log file before deleting it, secondary to log.retention.ms."},
	{Name: "log.retention.ms", Type: kmsg.ConfigTypeLong,
		Doc: "The number of milliseconds to keep a log file before deleting it. If not set, log.retention.minutes is used; -1 for no limit."},
	intDef("log.roll.hours", kmsg.ConfigTypeInt, "168", 1, "The maximum time before a new log segment is rolled out, secondary to log.roll.ms."),
	intDef("log.roll.jitter.hours", kmsg.ConfigTypeInt, "0", 0, "The maximum jitter to subtract from the roll time, secondary to log.roll.jitter.ms."),
	{Name: "log.roll.jitter.ms", Type: kmsg.ConfigTypeLong, check: atLeast(0),
		Doc: "The maximum jitter to subtract from the roll time. If not set, log.roll.jitter.hours is used."},
	{Name: "log.roll.ms", Type: kmsg.ConfigTypeLong, check: atLeast(1),
		Doc: "The maximum time before a new log segment is rolled out. If not set, log.roll.hours is used."},
	intDef("log.segment.bytes", kmsg.ConfigTypeInt, "1073741824", 1<<20, "The maximum size of a single log file."),
	intDef("log.segment.delete.delay.ms", kmsg.ConfigTypeLong, "60000", 0, "The amount of time to wait before deleting a file from the filesystem."),
	intDef("max.connections", kmsg.ConfigTypeInt, "2147483647", 0, "The most connections the broker accepts at once; beyond it, accepting waits for one to close."),
	intDef("max.connections.per.ip", kmsg.ConfigTypeInt, "2147483647", 0, "The most connections from one IP address; more are closed at once."),
	{Name: "max.connections.per.ip.overrides", Type: kmsg.ConfigTypeString, Default: str(""), check: connectionOverrides,
		Doc: "Per-IP or hostname overrides of max.connections.per.ip, as a comma-separated list of host:count, e.g. 127.0.0.1:200."},
	intDef("message.max.bytes", kmsg.ConfigTypeInt, "1048588", 0, "The largest record batch size allowed, after compression."),
	intDef("min.insync.replicas", kmsg.ConfigTypeInt, "1", 1, "The minimum number of replicas that must acknowledge an acks=all write."),
	intDef("node.id", kmsg.ConfigTypeInt, "-1", noMin, "The node id of this server."),
	intDef("num.io.threads", kmsg.ConfigTypeInt, "8", 1, "The number of threads that process requests (no effect in Strata: each connection's requests run on goroutines)."),
	intDef("num.network.threads", kmsg.ConfigTypeInt, "3", 1, "The number of threads that read requests and write responses (no effect in Strata: each connection has its own goroutines)."),
	intDef("num.partitions", kmsg.ConfigTypeInt, "1", 1, "The default number of log partitions per topic."),
	intDef("num.recovery.threads.per.data.dir", kmsg.ConfigTypeInt, "1", 1, "The number of threads that recover logs at start and flush them at shutdown (no effect in Strata: it opens several logs at once, whatever this says)."),
	intDef("num.replica.fetchers", kmsg.ConfigTypeInt, "1", 1, "The number of fetchers that replicate from each leader broker (no effect in Strata: it always runs one per leader broker, as this setting's default)."),
	intDef("offset.metadata.max.bytes", kmsg.ConfigTypeInt, "4096", noMin, "The maximum size for a metadata entry associated with an offset commit."),
	intDef("offsets.commit.timeout.ms", kmsg.ConfigTypeInt, "5000", 1, "How long an offset commit waits for replication of the offsets topic."),
	intDef("offsets.retention.check.interval.ms", kmsg.ConfigTypeLong, "600000", 1, "Frequency at which to check for stale offsets."),
	intDef("offsets.retention.minutes", kmsg.ConfigTypeInt, "10080", 1, "How long committed offsets of an empty group are kept."),
	intDef("offsets.topic.num.partitions", kmsg.ConfigTypeInt, "50", 1, "The number of partitions of the offsets topic."),
	intDef("offsets.topic.replication.factor", kmsg.ConfigTypeShort, "3", 1, "The replication factor of the offsets topic."),
	intDef("offsets.topic.segment.bytes", kmsg.ConfigTypeInt, "104857600", 1, "The segment size of the offsets topic."),
	intDef("producer.id.expiration.check.interval.ms", kmsg.ConfigTypeInt, "600000", 1, "How often producer ids idle longer than producer.id.expiration.ms are removed."),
	intDef("producer.id.expiration.ms", kmsg.ConfigTypeInt, "86400000", 1, "How long an idle producer id is kept."),
	intDef("quota.window.num", kmsg.ConfigTypeInt, "11", 1, "The number of samples kept in memory for client quotas."),
	intDef("quota.window.size.seconds", kmsg.ConfigTypeInt, "1", 1, "The time span of each sample for client quotas."),
	intDef("replica.alter.log.dirs.io.max.bytes.per.second", kmsg.ConfigTypeLong, maxLong, 0, "Bytes per second for moving replicas between log directories (no effect in Strata: a node has one data directory)."),
	intDef("replica.fetch.backoff.ms", kmsg.ConfigTypeInt, "1000", 0, "How long a follower waits before fetching again after a fetch error."),
	intDef("replica.fetch.max.bytes", kmsg.ConfigTypeInt, "1048576", 0, "The number of bytes of messages to attempt to fetch for each partition when replicating."),
	intDef("replica.fetch.min.bytes", kmsg.ConfigTypeInt, "1", 1, "The minimum bytes a follower's fetch waits for."),
	intDef("replica.fetch.response.max.bytes", kmsg.ConfigTypeInt, "10485760", 0, "The maximum bytes of one follower fetch response."),
	intDef("replica.fetch.wait.max.ms", kmsg.ConfigTypeInt, "500", 0, "The longest a follower's fetch waits for new records."),
	intDef("replica.lag.time.max.ms", kmsg.ConfigTypeLong, "30000", noMin, "How long a follower may lag before the leader removes it from the ISR."),
	{Name: "replica.selector.class", Type: kmsg.ConfigTypeString, Default: str(""), check: oneOf("", rackAwareSelector, leaderSelector),
		Doc: "How a leader picks the replica a consumer that names its rack (client.rack) reads from: " + rackAwareSelector + " picks an in-sync replica in the consumer's rack (KIP-392); unset or " + leaderSelector + " keeps every consumer on the leader."},
	{Name: "sasl.enabled.mechanisms", Type: kmsg.ConfigTypeList, Default: str("SCRAM-SHA-256,SCRAM-SHA-512"), check: listOf(saslMechanisms...),
		Doc: "The SASL mechanisms SASL listeners offer (Kafka's default, GSSAPI, does not exist in Strata; PLAIN, which sends the password, must be enabled explicitly)."},
	{Name: "sasl.kerberos.kinit.cmd", Type: kmsg.ConfigTypeString, Default: str("/usr/bin/kinit"), Doc: "Kerberos kinit command path" + noKerberos},
	intDef("sasl.kerberos.min.time.before.relogin", kmsg.ConfigTypeLong, "60000", noMin, "Login thread sleep time between refresh attempts"+noKerberos),
	{Name: "sasl.kerberos.principal.to.local.rules", Type: kmsg.ConfigTypeList, Default: str("DEFAULT"),
		Doc: "Rules mapping Kerberos principal names to short names" + noKerberos},
	{Name: "sasl.kerberos.service.name", Type: kmsg.ConfigTypeString, Doc: "The Kerberos principal name that Kafka runs as" + noKerberos},
	{Name: "sasl.kerberos.ticket.renew.jitter", Type: kmsg.ConfigTypeDouble, Default: str("0.05"),
		Doc: "Random jitter added to the Kerberos renewal time" + noKerberos},
	{Name: "sasl.kerberos.ticket.renew.window.factor", Type: kmsg.ConfigTypeDouble, Default: str("0.8"),
		Doc: "The share of a Kerberos ticket's lifetime after which it is renewed" + noKerberos},
	{Name: "sasl.mechanism.inter.broker.protocol", Type: kmsg.ConfigTypeString, Default: str("GSSAPI"), check: oneOf("GSSAPI", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
		Doc: "The SASL mechanism a node authenticates to other nodes with when the inter-broker listener is SASL_PLAINTEXT or SASL_SSL, with the credentials of listener.name.<listener>.<mechanism>.sasl.jaas.config. Kafka's default, GSSAPI, does not exist in Strata: set PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512."},
	intDef("sasl.oauthbearer.clock.skew.seconds", kmsg.ConfigTypeInt, "30", 0, "The leeway, in seconds, given to an OAUTHBEARER token's exp, nbf and iat against the broker's clock."),
	{Name: "sasl.oauthbearer.expected.audience", Type: kmsg.ConfigTypeList,
		Doc: "Audiences an OAUTHBEARER token's aud claim must name one of; unset, aud is not checked."},
	{Name: "sasl.oauthbearer.expected.issuer", Type: kmsg.ConfigTypeString,
		Doc: "The iss claim an OAUTHBEARER token must carry; unset, iss is not checked."},
	intDef("sasl.oauthbearer.jwks.endpoint.refresh.ms", kmsg.ConfigTypeLong, "3600000", 1, "How old the OAUTHBEARER JWKS may get before it is fetched again."),
	intDef("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", kmsg.ConfigTypeLong, "10000", 0, "The longest wait between failed JWKS fetches; also the least time between fetches caused by tokens with an unknown key id."),
	intDef("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", kmsg.ConfigTypeLong, "100", 0, "The first wait after a failed JWKS fetch, doubled on each failure up to the maximum."),
	{Name: "sasl.oauthbearer.jwks.endpoint.url", Type: kmsg.ConfigTypeString,
		Doc: "The https://, http:// or file:// URL of the JWKS whose keys verify OAUTHBEARER tokens."},
	{Name: "sasl.oauthbearer.scope.claim.name", Type: kmsg.ConfigTypeString, Default: str("scope"),
		Doc: "The OAUTHBEARER token claim that holds the scope."},
	{Name: "sasl.oauthbearer.sub.claim.name", Type: kmsg.ConfigTypeString, Default: str("sub"),
		Doc: "The OAUTHBEARER token claim that holds the subject, the principal's name."},
	{Name: "sasl.plain.users", Type: kmsg.ConfigTypePassword, check: userPasswords,
		Doc: "Users SASL/PLAIN accepts besides those with SCRAM credentials: user:password,... (Kafka's user_NAME entries of the PLAIN JAAS config). Sensitive: never described."},
	intDef("sasl.server.max.receive.size", kmsg.ConfigTypeInt, "524288", 1, "The largest request a connection may send before it has authenticated."),
	intDef("socket.request.max.bytes", kmsg.ConfigTypeInt, "104857600", 1, "The maximum number of bytes in a socket request."),
	boolDef("ssl.allow.dn.changes", false, "Whether a dynamic change of a listener's keystore may change its certificate's subject (distinguished name)."),
	boolDef("ssl.allow.san.changes", false, "Whether a dynamic change of a listener's keystore may change its certificate's subject alternative names."),
	{Name: "ssl.client.auth", Type: kmsg.ConfigTypeString, Default: str("none"), check: oneOf("required", "requested", "none"),
		Doc: "Whether an SSL listener asks clients for a certificate: required refuses a client without a valid one, requested asks but lets a client without one in as User:ANONYMOUS."},
	{Name: "ssl.enabled.protocols", Type: kmsg.ConfigTypeList, Default: str("TLSv1.2,TLSv1.3"), check: nonEmptyListOf("TLSv1.2", "TLSv1.3"),
		Doc: "The TLS versions the listeners and the node's own connections accept (no older ones: Strata's minimum is TLS 1.2)."},
	{Name: "ssl.endpoint.identification.algorithm", Type: kmsg.ConfigTypeString, Default: str("https"), check: oneOf("https", ""),
		Doc: "https: a node checks that the certificate of the node it connects to names the host it dialed; empty: no host name check (the CA is still checked)."},
	{Name: "ssl.keystore.certificate.chain", Type: kmsg.ConfigTypePassword,
		Doc: "The listener's certificate chain in PEM, inline, when ssl.keystore.key is given instead of ssl.keystore.location."},
	{Name: "ssl.keystore.key", Type: kmsg.ConfigTypePassword,
		Doc: "The listener's private key in PEM (unencrypted PKCS#8, PKCS#1 or EC), inline."},
	{Name: "ssl.keystore.location", Type: kmsg.ConfigTypeString,
		Doc: "A PEM file holding the listener's private key and certificate chain; reloaded when it changes on disk."},
	{Name: "ssl.keystore.type", Type: kmsg.ConfigTypeString, Default: str("PEM"), check: oneOf("PEM"),
		Doc: "The keystore's format: PEM (Strata reads no JKS or PKCS12 stores)."},
	{Name: "ssl.principal.mapping.rules", Type: kmsg.ConfigTypeString, Default: str("DEFAULT"),
		Doc: "Rules mapping a client certificate's subject (RFC 2253 form) to a user name: RULE:pattern/replacement/[LU], ..., DEFAULT."},
	{Name: "ssl.truststore.certificates", Type: kmsg.ConfigTypePassword,
		Doc: "The trusted CA certificates in PEM, inline."},
	{Name: "ssl.truststore.location", Type: kmsg.ConfigTypeString,
		Doc: "A PEM file of the trusted CA certificates (client certificates and other nodes are checked against them); reloaded when it changes on disk."},
	{Name: "ssl.truststore.type", Type: kmsg.ConfigTypeString, Default: str("PEM"), check: oneOf("PEM"),
		Doc: "The truststore's format: PEM (Strata reads no JKS or PKCS12 stores)."},
	{Name: "super.users", Type: kmsg.ConfigTypeString,
		Doc: "Principals, separated by semicolons (User:admin;User:broker), that the authorizer allows everything."},
	intDef("transaction.abort.timed.out.transaction.cleanup.interval.ms", kmsg.ConfigTypeInt, "10000", 1, "How often transactions past their timeout are aborted."),
	intDef("transaction.max.timeout.ms", kmsg.ConfigTypeInt, "900000", 1, "The maximum allowed timeout for transactions."),
	boolDef("transaction.partition.verification.enable", true, "Enable verification that checks that the partition has been added to the transaction before writing transactional records to the partition."),
	intDef("transaction.remove.expired.transaction.cleanup.interval.ms", kmsg.ConfigTypeInt, "3600000", 1, "How often transactional ids idle past transactional.id.expiration.ms are removed."),
	intDef("transaction.state.log.min.isr", kmsg.ConfigTypeInt, "2", 1, "The min.insync.replicas of the transaction topic."),
	intDef("transaction.state.log.num.partitions", kmsg.ConfigTypeInt, "50", 1, "The number of partitions of the transaction topic."),
	intDef("transaction.state.log.replication.factor", kmsg.ConfigTypeShort, "3", 1, "The replication factor of the transaction topic."),
	intDef("transaction.state.log.segment.bytes", kmsg.ConfigTypeInt, "104857600", 1, "The segment size of the transaction topic."),
	intDef("transactional.id.expiration.ms", kmsg.ConfigTypeInt, "604800000", 1, "How long an idle transactional id is kept."),
	boolDef("unclean.leader.election.enable", false, "Whether replicas not in the ISR may be elected leader as a last resort."),
}

// StandardAuthorizer is the authorizer.class.name that turns authorization
// on: Kafka's own, whose rules Strata's authorizer has, so a Kafka config
// file works unchanged.
const StandardAuthorizer = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"

// maxDouble is Java's Double.MAX_VALUE as Kafka writes it: the "no limit"
// of a rate given as a double.
const maxDouble = "1.7976931348623157E308"

// noKerberos ends the documentation of Kafka's Kerberos settings: Strata
// accepts them, dynamically too, for the tools and client test suites that
// set them.
const noKerberos = " (no effect in Strata: it has no Kerberos, SASL/GSSAPI)."

// rackName accepts a rack name of printable characters without spaces.
func rackName(v value) string {
	for _, r := range v.s {
		if r <= ' ' || r == 0x7f {
			return "a rack name has no spaces or control characters"
		}
	}
	return ""
}

func boolDef(name string, dflt bool, doc string) Definition {
	return Definition{Name: name, Type: kmsg.ConfigTypeBoolean, Default: str(strconv.FormatBool(dflt)), Doc: doc}
}

// noMin marks an integer setting without a lower bound.
const noMin = math.MinInt64

// intDef defines an integer setting with a lower bound (or noMin).
func intDef(name string, t kmsg.ConfigType, dflt string, min int64, doc string) Definition {
	d := Definition{Name: name, Type: t, Default: str(dflt), Doc: doc}
	if min != noMin {
		d.check = atLeast(min)
	}
	return d
}

var brokerIndex = func() map[string]*Definition {
	m := make(map[string]*Definition, len(brokerDefs))
	for i := range brokerDefs {
		m[brokerDefs[i].Name] = &brokerDefs[i]
	}
	return m
}()

// IsBrokerSetting reports whether name is a broker setting Strata accepts.
func IsBrokerSetting(name string) bool { _, ok := brokerIndex[name]; return ok }

// Broker holds a broker's settings. The zero value is not valid; use
// DefaultBroker or ParseBroker. A Broker is immutable and safe to share.
type Broker struct {
	// values are the settings in force given explicitly, in canonical
	// form: the command line's, with the dynamic ones over them.
	values map[string]string
	// staticValues are the command line's settings when dynamic ones are
	// layered over them (nil: values are the command line's); then
	// clusterDefault and perBroker are the dynamic layers.
	staticValues, clusterDefault, perBroker map[string]string
}

// DefaultBroker returns a broker with every setting at Kafka's default.
func DefaultBroker() Broker { return Broker{values: map[string]string{}} }

// ParseBroker validates settings (Kafka setting name to value) and returns
// the broker they describe. An unknown name ("Unknown broker setting: x"),
// an invalid value, node.id and broker.id set to different ids, or a setting
// that makes a topic default invalid returns an *Error wrapping
// kerr.InvalidConfig.
func ParseBroker(settings map[string]string) (Broker, error) {
	b := Broker{values: make(map[string]string, len(settings))}
	for _, name := range sortedKeys(settings) {
		d, ok := brokerDef(name)
		if !ok {
			return Broker{}, &Error{Name: name, Msg: "Unknown broker setting: " + name}
		}
		v, err := d.Parse(settings[name])
		if err != nil {
			return Broker{}, err
		}
		b.values[name] = v
	}
	node, nok := b.values["node.id"]
	broker, bok := b.values["broker.id"]
	if nok && bok && node != broker {
		return Broker{}, &Error{Name: "broker.id", Msg: fmt.Sprintf("broker.id (%s) must equal node.id (%s)", broker, node)}
	}
	if err := checkCombined(b); err != nil {
		return Broker{}, err
	}
	return b, nil
}

// checkCombined checks the rules that span settings: the topic defaults
// must make a valid topic, and each cleaner thread needs more than 1 MiB of
// dedupe buffer (Kafka's requirement).
func checkCombined(b Broker) error {
	if _, err := ResolveTopic(b, nil); err != nil {
		return err
	}
	if b.LogCleanerDedupeBufferSize()/int64(b.LogCleanerThreads()) <= 1<<20 {
		return &Error{Name: "log.cleaner.dedupe.buffer.size", Msg: "log.cleaner.dedupe.buffer.size must be at least 1MB per cleaner thread."}
	}
	return nil
}

// Value returns the setting's value in force (explicit or default) and
// whether there is one; unknown names and unset settings without a default
// report false.
func (b Broker) Value(name string) (string, bool) {
	if v, ok := b.values[name]; ok {
		return v, true
	}
	if d, ok := brokerIndex[name]; ok && d.Default != nil {
		return *d.Default, true
	}
	return "", false
}

// IsSet reports whether the setting was given explicitly, on the command
// line or dynamically.
func (b Broker) IsSet(name string) bool { _, ok := b.values[name]; return ok }

// get parses the value in force of a setting that has a default.
func (b Broker) get(name string) value {
	d := brokerIndex[name]
	v, _ := b.Value(name)
	return d.mustParse(v)
}

func (b Broker) int(name string) int64        { return b.get(name).i }
func (b Broker) ms(name string) time.Duration { return time.Duration(b.int(name)) * time.Millisecond }

// NodeID is node.id, or broker.id when only that is set; -1 when neither is.
func (b Broker) NodeID() int32 {
	if b.IsSet("node.id") {
		return int32(b.int("node.id"))
	}
	return int32(b.int("broker.id"))
}

// NumPartitions is num.partitions, the partition count of auto-created topics.
func (b Broker) NumPartitions() int32 { return int32(b.int("num.partitions")) }

// DefaultReplicationFactor is default.replication.factor.
func (b Broker) DefaultReplicationFactor() int16 { return int16(b.int("default.replication.factor")) }

// LeaderRebalanceInterval is how often the controller checks leader
// balance: leader.imbalance.check.interval.seconds, or 0 when
// auto.leader.rebalance.enable is off.
func (b Broker) LeaderRebalanceInterval() time.Duration {
	if !b.get("auto.leader.rebalance.enable").b {
		return 0
	}
	return time.Duration(b.int("leader.imbalance.check.interval.seconds")) * time.Second
}

// LeaderImbalancePercent is leader.imbalance.per.broker.percentage.
func (b Broker) LeaderImbalancePercent() int {
	return int(b.int("leader.imbalance.per.broker.percentage"))
}

// LeaderThrottledRate is leader.replication.throttled.rate, bytes/s.
func (b Broker) LeaderThrottledRate() int64 { return b.int("leader.replication.throttled.rate") }

// FollowerThrottledRate is follower.replication.throttled.rate, bytes/s.
func (b Broker) FollowerThrottledRate() int64 { return b.int("follower.replication.throttled.rate") }

// Kafka's replica selectors (replica.selector.class).
const (
	rackAwareSelector = "org.apache.kafka.common.replica.RackAwareReplicaSelector"
	leaderSelector    = "org.apache.kafka.common.replica.LeaderSelector"
)

// RackAwareReads reports whether replica.selector.class sends consumers to
// an in-sync replica in their rack.
func (b Broker) RackAwareReads() bool {
	v, _ := b.Value("replica.selector.class")
	return v == rackAwareSelector
}

// ControlledShutdownEnable is controlled.shutdown.enable.
func (b Broker) ControlledShutdownEnable() bool { return b.get("controlled.shutdown.enable").b }

// AuthorizerEnabled reports whether authorizer.class.name turns
// authorization on.
func (b Broker) AuthorizerEnabled() bool { return b.get("authorizer.class.name").s != "" }

// SuperUsers is super.users: principals separated by semicolons.
func (b Broker) SuperUsers() string { return b.get("super.users").s }

// AllowEveryoneIfNoACLFound is allow.everyone.if.no.acl.found.
func (b Broker) AllowEveryoneIfNoACLFound() bool { return b.get("allow.everyone.if.no.acl.found").b }

// AutoCreateTopics is auto.create.topics.enable.
func (b Broker) AutoCreateTopics() bool { return b.get("auto.create.topics.enable").b }

// DeleteTopicEnable is delete.topic.enable.
func (b Broker) DeleteTopicEnable() bool { return b.get("delete.topic.enable").b }

// SocketRequestMaxBytes is socket.request.max.bytes, the largest request frame.
func (b Broker) SocketRequestMaxBytes() int32 { return int32(b.int("socket.request.max.bytes")) }

// MessageMaxBytes is message.max.bytes, the default of max.message.bytes.
func (b Broker) MessageMaxBytes() int32 { return int32(b.int("message.max.bytes")) }

// FetchMaxBytes is fetch.max.bytes, the cap on one fetch response.
func (b Broker) FetchMaxBytes() int32 { return int32(b.int("fetch.max.bytes")) }

// RetentionCheckInterval is log.retention.check.interval.ms.
func (b Broker) RetentionCheckInterval() time.Duration {
	return b.ms("log.retention.check.interval.ms")
}

// LogCleanerEnable is log.cleaner.enable.
func (b Broker) LogCleanerEnable() bool { return b.get("log.cleaner.enable").b }

// LogFlushSchedulerInterval is log.flush.scheduler.interval.ms (math.MaxInt64
// milliseconds, i.e. never, by default).
func (b Broker) LogFlushSchedulerInterval() int64 { return b.int("log.flush.scheduler.interval.ms") }

// AutoLeaderRebalance is auto.leader.rebalance.enable.
func (b Broker) AutoLeaderRebalance() bool { return b.get("auto.leader.rebalance.enable").b }

// ReplicaLagTimeMax is replica.lag.time.max.ms.
func (b Broker) ReplicaLagTimeMax() time.Duration { return b.ms("replica.lag.time.max.ms") }

// BrokerRack is broker.rack, "" when unset.
func (b Broker) BrokerRack() string {
	v, _ := b.Value("broker.rack")
	return v
}

// BrokerHeartbeatInterval is broker.heartbeat.interval.ms.
func (b Broker) BrokerHeartbeatInterval() time.Duration { return b.ms("broker.heartbeat.interval.ms") }

// BrokerSessionTimeout is broker.session.timeout.ms.
func (b Broker) BrokerSessionTimeout() time.Duration { return b.ms("broker.session.timeout.ms") }

// ElectionTimeout is controller.quorum.election.timeout.ms.
func (b Broker) ElectionTimeout() time.Duration { return b.ms("controller.quorum.election.timeout.ms") }

// ReplicaFetchWaitMax is replica.fetch.wait.max.ms.
func (b Broker) ReplicaFetchWaitMax() time.Duration { return b.ms("replica.fetch.wait.max.ms") }

// ReplicaFetchMinBytes is replica.fetch.min.bytes.
func (b Broker) ReplicaFetchMinBytes() int32 { return int32(b.int("replica.fetch.min.bytes")) }

// ReplicaFetchResponseMaxBytes is replica.fetch.response.max.bytes.
func (b Broker) ReplicaFetchResponseMaxBytes() int32 {
	return int32(b.int("replica.fetch.response.max.bytes"))
}

// ReplicaFetchBackoff is replica.fetch.backoff.ms.
func (b Broker) ReplicaFetchBackoff() time.Duration { return b.ms("replica.fetch.backoff.ms") }

// ReplicaFetchMaxBytes is replica.fetch.max.bytes.
func (b Broker) ReplicaFetchMaxBytes() int32 { return int32(b.int("replica.fetch.max.bytes")) }

// MaxConnections is max.connections.
func (b Broker) MaxConnections() int { return int(b.int("max.connections")) }

// MaxConnectionsPerIP is max.connections.per.ip.
func (b Broker) MaxConnectionsPerIP() int { return int(b.int("max.connections.per.ip")) }

// MaxConnectionsPerIPOverrides is max.connections.per.ip.overrides, by
// host (an IP address or a name).
func (b Broker) MaxConnectionsPerIPOverrides() map[string]int {
	m, _ := parseConnectionOverrides(b.get("max.connections.per.ip.overrides").s)
	return m
}

// QuotaWindow is quota.window.size.seconds, the span of one quota sample,
// and QuotaSamples quota.window.num, how many are kept.
func (b Broker) QuotaWindow() time.Duration {
	return time.Duration(b.int("quota.window.size.seconds")) * time.Second
}

// QuotaSamples is quota.window.num.
func (b Broker) QuotaSamples() int { return int(b.int("quota.window.num")) }

// MutationQuotaWindow is the span of the samples of controller mutation
// quotas times their number (controller.quota.window.size.seconds times
// controller.quota.window.num): a client's burst is its
// controller_mutation_rate over that span.
func (b Broker) MutationQuotaWindow() time.Duration {
	return time.Duration(b.int("controller.quota.window.size.seconds")*b.int("controller.quota.window.num")) * time.Second
}

// SASLMechanisms is sasl.enabled.mechanisms.
func (b Broker) SASLMechanisms() []string { return b.get("sasl.enabled.mechanisms").list }

// SASLPlainUsers is sasl.plain.users, unparsed: it holds passwords.
func (b Broker) SASLPlainUsers() string { return b.get("sasl.plain.users").s }

// SASLMaxReceiveSize is sasl.server.max.receive.size.
func (b Broker) SASLMaxReceiveSize() int32 { return int32(b.int("sasl.server.max.receive.size")) }

// FailedAuthenticationDelay is connection.failed.authentication.delay.ms.
func (b Broker) FailedAuthenticationDelay() time.Duration {
	return b.ms("connection.failed.authentication.delay.ms")
}

// ConnectionsMaxReauth is connections.max.reauth.ms.
func (b Broker) ConnectionsMaxReauth() time.Duration { return b.ms("connections.max.reauth.ms") }

// userPasswords accepts sasl.plain.users: user:password,... with neither
// part empty, or nothing.
func userPasswords(v value) string {
	if v.s == "" {
		return ""
	}
	for item := range strings.SplitSeq(v.s, ",") {
		if user, password, ok := strings.Cut(item, ":"); !ok || user == "" || password == "" {
			return "Each item must be user:password"
		}
	}
	return ""
}

// saslMechanisms are the mechanisms sasl.enabled.mechanisms may name.
var saslMechanisms = []string{"OAUTHBEARER", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// ConnectionsMaxIdle is connections.max.idle.ms.
func (b Broker) ConnectionsMaxIdle() time.Duration { return b.ms("connections.max.idle.ms") }

// OffsetsTopicNumPartitions is offsets.topic.num.partitions.
func (b Broker) OffsetsTopicNumPartitions() int32 {
	return int32(b.int("offsets.topic.num.partitions"))
}

// OffsetsTopicReplicationFactor is offsets.topic.replication.factor (Kafka's
// default 3; the caller caps it to the cluster size if it chooses to).
func (b Broker) OffsetsTopicReplicationFactor() int16 {
	return int16(b.int("offsets.topic.replication.factor"))
}

// OffsetsTopicSegmentBytes is offsets.topic.segment.bytes.
func (b Broker) OffsetsTopicSegmentBytes() int32 { return int32(b.int("offsets.topic.segment.bytes")) }

// OffsetsCommitTimeout is offsets.commit.timeout.ms.
func (b Broker) OffsetsCommitTimeout() time.Duration { return b.ms("offsets.commit.timeout.ms") }

// OffsetsRetention is offsets.retention.minutes.
func (b Broker) OffsetsRetention() time.Duration {
	return time.Duration(b.int("offsets.retention.minutes")) * time.Minute
}

// OffsetsRetentionCheckInterval is offsets.retention.check.interval.ms.
func (b Broker) OffsetsRetentionCheckInterval() time.Duration {
	return b.ms("offsets.retention.check.interval.ms")
}

// GroupInitialRebalanceDelay is group.initial.rebalance.delay.ms.
func (b Broker) GroupInitialRebalanceDelay() time.Duration {
	return b.ms("group.initial.rebalance.delay.ms")
}

// GroupMinSessionTimeout is group.min.session.timeout.ms.
func (b Broker) GroupMinSessionTimeout() time.Duration { return b.ms("group.min.session.timeout.ms") }

// GroupMaxSessionTimeout is group.max.session.timeout.ms.
func (b Broker) GroupMaxSessionTimeout() time.Duration { return b.ms("group.max.session.timeout.ms") }

// OffsetMetadataMaxBytes is offset.metadata.max.bytes.
func (b Broker) OffsetMetadataMaxBytes() int { return int(b.int("offset.metadata.max.bytes")) }

// LogCleanerBackoff is log.cleaner.backoff.ms.
func (b Broker) LogCleanerBackoff() time.Duration { return b.ms("log.cleaner.backoff.ms") }

// LogCleanerThreads is log.cleaner.threads.
func (b Broker) LogCleanerThreads() int { return int(b.int("log.cleaner.threads")) }

// LogCleanerDedupeBufferSize is log.cleaner.dedupe.buffer.size, bytes.
func (b Broker) LogCleanerDedupeBufferSize() int64 { return b.int("log.cleaner.dedupe.buffer.size") }

// LogCleanerDedupeBufferLoadFactor is log.cleaner.io.buffer.load.factor
// (Kafka's name for the dedupe buffer's load factor).
func (b Broker) LogCleanerDedupeBufferLoadFactor() float64 {
	return b.get("log.cleaner.io.buffer.load.factor").f
}

// LogCleanerIOBufferSize is log.cleaner.io.buffer.size, bytes.
func (b Broker) LogCleanerIOBufferSize() int64 { return b.int("log.cleaner.io.buffer.size") }

// LogCleanerIOMaxBytesPerSecond is log.cleaner.io.max.bytes.per.second
// rounded up to whole bytes; math.MaxInt64 (no limit) for the rates
// beyond, such as Kafka's default.
func (b Broker) LogCleanerIOMaxBytesPerSecond() int64 {
	f := b.get("log.cleaner.io.max.bytes.per.second").f
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(math.Ceil(f))
}

// GroupMaxSize is group.max.size.
func (b Broker) GroupMaxSize() int32 { return int32(b.int("group.max.size")) }

// TransactionStateLogNumPartitions is transaction.state.log.num.partitions.
func (b Broker) TransactionStateLogNumPartitions() int32 {
	return int32(b.int("transaction.state.log.num.partitions"))
}

// TransactionStateLogReplicationFactor is transaction.state.log.replication.factor.
func (b Broker) TransactionStateLogReplicationFactor() int16 {
	return int16(b.int("transaction.state.log.replication.factor"))
}

// TransactionStateLogMinISR is transaction.state.log.min.isr.
func (b Broker) TransactionStateLogMinISR() int32 {
	return int32(b.int("transaction.state.log.min.isr"))
}

// TransactionStateLogSegmentBytes is transaction.state.log.segment.bytes.
func (b Broker) TransactionStateLogSegmentBytes() int32 {
	return int32(b.int("transaction.state.log.segment.bytes"))
}

// TransactionMaxTimeout is transaction.max.timeout.ms.
func (b Broker) TransactionMaxTimeout() time.Duration { return b.ms("transaction.max.timeout.ms") }

// TransactionPartitionVerification is
// transaction.partition.verification.enable (KIP-890).
func (b Broker) TransactionPartitionVerification() bool {
	return b.get("transaction.partition.verification.enable").b
}

// TransactionAbortTimedOutInterval is
// transaction.abort.timed.out.transaction.cleanup.interval.ms.
func (b Broker) TransactionAbortTimedOutInterval() time.Duration {
	return b.ms("transaction.abort.timed.out.transaction.cleanup.interval.ms")
}

// TransactionRemoveExpiredInterval is
// transaction.remove.expired.transaction.cleanup.interval.ms.
func (b Broker) TransactionRemoveExpiredInterval() time.Duration {
	return b.ms("transaction.remove.expired.transaction.cleanup.interval.ms")
}

// TransactionalIDExpiration is transactional.id.expiration.ms.
func (b Broker) TransactionalIDExpiration() time.Duration {
	return b.ms("transactional.id.expiration.ms")
}

// ProducerIDExpiration is producer.id.expiration.ms.
func (b Broker) ProducerIDExpiration() time.Duration { return b.ms("producer.id.expiration.ms") }

// ProducerIDExpirationCheckInterval is
// producer.id.expiration.check.interval.ms.
func (b Broker) ProducerIDExpirationCheckInterval() time.Duration {
	return b.ms("producer.id.expiration.check.interval.ms")
}

// connectionOverrides checks max.connections.per.ip.overrides.
func connectionOverrides(v value) string {
	if _, err := parseConnectionOverrides(v.s); err != nil {
		return err.Error()
	}
	return ""
}

// parseConnectionOverrides parses "host:count,host:count" (an IPv6
// address in brackets); the empty string is no override.
func parseConnectionOverrides(s string) (map[string]int, error) {
	m := map[string]int{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, ':')
		if i <= 0 {
			return nil, fmt.Errorf("invalid override %q: want host:count", item)
		}
		n, err := strconv.Atoi(item[i+1:])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("invalid connection count in %q", item)
		}
		m[strings.Trim(item[:i], "[]")] = n
	}
	return m, nil
}

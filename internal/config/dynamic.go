package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Dynamic broker configs (Kafka's KIP-226): a setting Kafka can change
// without a restart may be set for one broker or as the cluster-wide
// default, through the admin APIs; what is set there wins over the command
// line, the broker's own over the default. Strata takes dynamically the
// settings Kafka does (DynamicBrokerConfig's lists, Kafka 4.0) that it has:
// every broker setting that is a topic config's synonym, and those below.

// dynamicOwn are the dynamic settings that are no topic config's synonym.
// Those Strata applies: the replication throttles, the log cleaner's
// settings (message.max.bytes, the cleaner's last one, is a synonym),
// producer.id.expiration.ms and transaction.partition.verification.enable.
// Those it accepts without effect, as their documentation says: the thread pools, the log directory mover's
// throttle, and the Kerberos settings.
var dynamicOwn = []string{
	"follower.replication.throttled.rate", "leader.replication.throttled.rate",
	"log.cleaner.backoff.ms", "log.cleaner.dedupe.buffer.size", "log.cleaner.io.buffer.load.factor",
	"log.cleaner.io.buffer.size", "log.cleaner.io.max.bytes.per.second", "log.cleaner.threads",
	"producer.id.expiration.ms", "transaction.partition.verification.enable",

	"background.threads", "num.io.threads", "num.network.threads", "num.recovery.threads.per.data.dir",
	"num.replica.fetchers", "replica.alter.log.dirs.io.max.bytes.per.second",
	"sasl.kerberos.kinit.cmd", "sasl.kerberos.min.time.before.relogin", "sasl.kerberos.principal.to.local.rules",
	"sasl.kerberos.service.name", "sasl.kerberos.ticket.renew.jitter", "sasl.kerberos.ticket.renew.window.factor",
}

// dynamicListener are Kafka's dynamic listener, TLS, SASL and
// connection-limit settings (DynamicListenerConfig's and SocketServer's
// lists) that Strata has; the node applies them to its running listeners
// (internal/cli). Kafka reloads a listener's keystore and truststore only
// under the listener's prefix (listener.name.<l>.ssl.keystore.location);
// unprefixed they are refused, see listenerOnly.
var dynamicListener = []string{
	"advertised.listeners", "listener.security.protocol.map", "listeners",
	"max.connections", "max.connections.per.ip", "max.connections.per.ip.overrides",
	"sasl.enabled.mechanisms",
	"ssl.client.auth", "ssl.enabled.protocols", "ssl.endpoint.identification.algorithm",
	"ssl.keystore.certificate.chain", "ssl.keystore.key", "ssl.keystore.location", "ssl.keystore.type",
	"ssl.truststore.certificates", "ssl.truststore.location", "ssl.truststore.type",
}

// listenerOnly are Kafka's reconfigurable SSL settings (SslConfigs'
// RECONFIGURABLE_CONFIGS) that Strata has: at runtime, only per listener.
var listenerOnly = map[string]bool{
	"ssl.keystore.certificate.chain": true, "ssl.keystore.key": true, "ssl.keystore.location": true, "ssl.keystore.type": true,
	"ssl.truststore.certificates": true, "ssl.truststore.location": true, "ssl.truststore.type": true,
}

// clusterLevelListener are the dynamic listener settings Kafka also takes
// as the cluster-wide default (its ClusterLevelListenerConfigs, and
// SocketServer's own): the connection limits.
var clusterLevelListener = map[string]bool{
	"max.connections": true, "max.connections.per.ip": true, "max.connections.per.ip.overrides": true,
}

// perBrokerOnly reports whether Kafka takes dynamic setting name for one
// broker only, never as the cluster-wide default: its listener settings
// (listener.name.* included), but the connection limits.
func perBrokerOnly(name string) bool {
	if _, setting, ok := splitListenerSetting(name); ok {
		name = setting
	}
	return strings.HasPrefix(name, "sasl.kerberos.") ||
		slices.Contains(dynamicListener, name) && !clusterLevelListener[name]
}

// notYetDynamic are Kafka's other dynamic listener, TLS and SASL settings,
// which Strata does not have (it reads no JKS stores, so no passwords; it
// has no JAAS, login or principal builder classes): they are refused as
// settings that need a restart rather than as unknown ones.
// max.connection.creation.rate is the exception: Strata has no rate limit
// of new connections yet.
var notYetDynamic = map[string]bool{
	"max.connection.creation.rate": true, "principal.builder.class": true,
	"sasl.jaas.config": true, "sasl.login.refresh.buffer.seconds": true,
	"sasl.login.refresh.min.period.seconds": true, "sasl.login.refresh.window.factor": true,
	"sasl.login.refresh.window.jitter": true, "ssl.cipher.suites": true,
	"ssl.engine.factory.class": true, "ssl.key.password": true,
	"ssl.keymanager.algorithm": true, "ssl.keystore.password": true,
	"ssl.protocol": true, "ssl.provider": true, "ssl.secure.random.implementation": true,
	"ssl.trustmanager.algorithm": true, "ssl.truststore.password": true,
}

// dynamicSettings is the set of broker settings that may change at runtime.
var dynamicSettings = func() map[string]bool {
	m := map[string]bool{}
	for _, d := range topicDefs {
		for _, s := range d.Synonyms {
			m[s] = true
		}
	}
	for _, s := range slices.Concat(dynamicOwn, dynamicListener) {
		m[s] = true
	}
	return m
}()

// IsDynamic reports whether broker setting name, which may be a
// listener.name.<l>. override, may be changed at runtime.
func IsDynamic(name string) bool {
	if _, setting, ok := splitListenerSetting(name); ok {
		return dynamicSettings[setting]
	}
	return dynamicSettings[name]
}

// needsRestart reports whether Strata refuses to change setting name at
// runtime: a known setting that is not dynamic, one of notYetDynamic, or a
// listener.name.* override of either, or of a setting Strata takes for all
// listeners only.
func needsRestart(name string) bool {
	if _, setting, ok := splitListenerSetting(name); ok {
		return !dynamicSettings[setting] || clusterLevelListener[setting]
	}
	if strings.HasPrefix(name, listenerPrefix) {
		return true
	}
	_, known := brokerIndex[name]
	return known && !dynamicSettings[name] || notYetDynamic[name]
}

// WithDynamic returns b with the dynamic cluster-wide defaults and this
// broker's dynamic settings over its explicit ones. Entries that are not
// dynamic settings or do not parse are left out (CheckDynamic keeps them
// from being stored).
func (b Broker) WithDynamic(clusterDefault, perBroker map[string]string) Broker {
	if len(clusterDefault)+len(perBroker) == 0 {
		return Broker{values: b.static(), staticValues: b.staticValues}
	}
	out := Broker{values: maps.Clone(b.static()), staticValues: b.static()}
	layer := func(m map[string]string) map[string]string {
		kept := map[string]string{}
		for k, raw := range m {
			d, ok := brokerDef(k)
			if !ok || !IsDynamic(k) || needsRestart(k) {
				continue
			}
			if v, err := d.Parse(raw); err == nil {
				kept[k] = v
				out.values[k] = v
			}
		}
		return kept
	}
	out.clusterDefault = layer(clusterDefault)
	out.perBroker = layer(perBroker)
	return out
}

// static returns the explicit settings of the command line.
func (b Broker) static() map[string]string {
	if b.staticValues != nil {
		return b.staticValues
	}
	return b.values
}

// source says where the value in force of setting name comes from.
func (b Broker) source(name string) kmsg.ConfigSource {
	switch {
	case hasKey(b.perBroker, name):
		return kmsg.ConfigSourceDynamicBrokerConfig
	case hasKey(b.clusterDefault, name):
		return kmsg.ConfigSourceDynamicDefaultBrokerConfig
	case hasKey(b.static(), name):
		return kmsg.ConfigSourceStaticBrokerConfig
	}
	return kmsg.ConfigSourceDefaultConfig
}

func hasKey(m map[string]string, k string) bool { _, ok := m[k]; return ok }

// CheckDynamic checks a change of dynamic broker settings against b, the
// settings in force on this broker: set are the values this broker's own
// dynamic settings (perBroker) or the cluster-wide defaults would have
// after it, in full. It answers as Kafka does: a setting that needs a
// restart is INVALID_REQUEST ("Cannot update these configs dynamically:
// Set(...)") for the whole resource; a bad value, or a name Strata does not
// know, is INVALID_CONFIG; a per-broker setting in the cluster-wide
// defaults is INVALID_REQUEST, and so is a change of log.cleaner.threads to
// less than half or more than double the value in force. The settings in
// force after the change must pass ParseBroker's combined checks. The
// returned map holds the values in canonical form.
func CheckDynamic(b Broker, perBroker bool, set map[string]string) (map[string]string, error) {
	names := slices.Sorted(maps.Keys(set))
	if fixed := slices.DeleteFunc(slices.Clone(names), func(k string) bool { return !needsRestart(k) }); len(fixed) > 0 {
		return nil, dynamicErrorf("Cannot update these configs dynamically: Set(%s)", strings.Join(fixed, ", "))
	}
	if unprefixed := slices.DeleteFunc(slices.Clone(names), func(k string) bool { return !listenerOnly[k] }); len(unprefixed) > 0 {
		return nil, dynamicErrorf("These security configs can be dynamically updated only per-listener using the listener prefix: Set(%s)", strings.Join(unprefixed, ", "))
	}
	out := make(map[string]string, len(set))
	for _, k := range names {
		d, ok := brokerDef(k)
		if !ok {
			return nil, &Error{Name: k, Msg: "Unknown broker setting: " + k}
		}
		v, err := d.Parse(set[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	if only := slices.DeleteFunc(names, func(k string) bool { return !perBrokerOnly(k) }); !perBroker && len(only) > 0 {
		return nil, dynamicErrorf("Cannot update these configs at default cluster level, broker id must be specified: Set(%s)", strings.Join(only, ", "))
	}
	next := b.WithDynamic(out, b.perBroker)
	if perBroker {
		next = b.WithDynamic(b.clusterDefault, out)
	}
	if err := checkCombined(next); err != nil {
		return nil, err
	}
	switch cur, n := b.LogCleanerThreads(), next.LogCleanerThreads(); {
	case n < cur/2:
		return nil, dynamicErrorf("Log cleaner threads cannot be reduced to less than half the current value %d", cur)
	case n > cur*2:
		return nil, dynamicErrorf("Log cleaner threads cannot be increased to more than double the current value %d", cur)
	}
	return out, nil
}

// dynamicError is a refused dynamic change: INVALID_REQUEST, as Kafka
// answers a setting that needs a restart.
type dynamicError struct{ msg string }

func dynamicErrorf(format string, args ...any) error {
	return &dynamicError{fmt.Sprintf(format, args...)}
}

func (e *dynamicError) Error() string { return e.msg }

// Unwrap returns kerr.InvalidRequest.
func (e *dynamicError) Unwrap() error { return kerr.InvalidRequest }

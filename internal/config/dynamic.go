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
// line, the broker's own over the default. Strata accepts a setting
// dynamically only where it applies the change at once: the defaults of
// topic configs (every broker setting that is a topic config's synonym) and
// the replication throttles.

// throttleRates are the dynamic settings that are no topic config's synonym.
var throttleRates = []string{"follower.replication.throttled.rate", "leader.replication.throttled.rate"}

// dynamicSettings is the set of broker settings that may change at runtime.
var dynamicSettings = func() map[string]bool {
	m := map[string]bool{}
	for _, d := range topicDefs {
		for _, s := range d.Synonyms {
			m[s] = true
		}
	}
	for _, s := range throttleRates {
		m[s] = true
	}
	return m
}()

// IsDynamic reports whether broker setting name may be changed at runtime.
func IsDynamic(name string) bool { return dynamicSettings[name] }

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
			d, ok := brokerIndex[k]
			if !ok || !dynamicSettings[k] {
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

// CheckDynamic checks a change of dynamic broker settings: set are the
// values a broker (perBroker) or the cluster-wide default would have after
// it, in full. A setting that needs a restart is INVALID_REQUEST with
// Kafka's "Cannot update these configs dynamically: Set(...)", for the
// whole resource; an unknown setting or a bad value is INVALID_CONFIG. The
// returned map holds the values in canonical form.
func CheckDynamic(static Broker, set map[string]string) (map[string]string, error) {
	var fixed []string
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if _, known := brokerIndex[k]; known && !dynamicSettings[k] {
			fixed = append(fixed, k)
		}
	}
	if len(fixed) > 0 {
		return nil, &dynamicError{fmt.Sprintf("Cannot update these configs dynamically: Set(%s)", strings.Join(fixed, ", "))}
	}
	out := make(map[string]string, len(set))
	for _, k := range slices.Sorted(maps.Keys(set)) {
		d, ok := brokerIndex[k]
		if !ok {
			return nil, &Error{Name: k, Msg: "Unknown broker setting: " + k}
		}
		v, err := d.Parse(set[k])
		if err != nil {
			return nil, err
		}
		out[k] = v
	}
	if _, err := ResolveTopic(static.WithDynamic(out, nil), nil); err != nil {
		return nil, err
	}
	return out, nil
}

// dynamicError is a refused dynamic change: INVALID_REQUEST, as Kafka
// answers a setting that needs a restart.
type dynamicError struct{ msg string }

func (e *dynamicError) Error() string { return e.msg }

// Unwrap returns kerr.InvalidRequest.
func (e *dynamicError) Unwrap() error { return kerr.InvalidRequest }

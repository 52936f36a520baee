package config

import "github.com/twmb/franz-go/pkg/kmsg"

// Entry is one config as DescribeConfigs reports it.
type Entry struct {
	Name string
	// Value is the value in force; nil for a setting without one.
	Value     *string
	Source    kmsg.ConfigSource
	ReadOnly  bool
	Sensitive bool
	Type      kmsg.ConfigType
	// Documentation is a one-line description.
	Documentation string
	// Synonyms lists where the value could come from, the one in force
	// first, in Kafka's order: the topic override, then each broker synonym
	// in precedence order, each with its explicit setting before its
	// default. Callers drop it when the request did not ask for synonyms.
	Synonyms []Synonym
}

// Synonym is one source of a config's value.
type Synonym struct {
	Name   string
	Value  *string
	Source kmsg.ConfigSource
}

// DescribeTopic returns every topic config of a topic with the given (valid)
// overrides, sorted by name. Source is DYNAMIC_TOPIC_CONFIG for an override,
// STATIC_BROKER_CONFIG when an explicit broker setting supplies the value,
// else DEFAULT_CONFIG. Topic configs are not read-only.
func DescribeTopic(b Broker, overrides map[string]string) []Entry {
	entries := make([]Entry, 0, len(topicDefs))
	for i := range topicDefs {
		d := &topicDefs[i]
		raw, source := effectiveTopicValue(b, d, overrides)
		if v, err := d.Parse(raw); err == nil {
			raw = v
		}
		e := Entry{Name: d.Name, Value: str(raw), Source: source, Type: d.Type, Documentation: d.Doc}
		if source == kmsg.ConfigSourceDynamicTopicConfig {
			e.Synonyms = append(e.Synonyms, Synonym{Name: d.Name, Value: str(raw), Source: source})
		}
		for _, syn := range d.Synonyms {
			e.Synonyms = append(e.Synonyms, brokerSynonyms(b, brokerIndex[syn])...)
		}
		if len(d.Synonyms) == 0 && source == kmsg.ConfigSourceDefaultConfig {
			e.Synonyms = append(e.Synonyms, Synonym{Name: d.Name, Value: str(*d.Default), Source: source})
		}
		entries = append(entries, e)
	}
	return entries
}

// DescribeBroker returns every broker setting, sorted by name, with the
// value in force and where it comes from: this broker's dynamic setting,
// the cluster-wide dynamic default, the command line, or the default. Only
// the dynamic settings (IsDynamic) are not read-only.
func DescribeBroker(b Broker) []Entry {
	entries := make([]Entry, 0, len(brokerDefs))
	for i := range brokerDefs {
		d := &brokerDefs[i]
		e := Entry{Name: d.Name, Source: b.source(d.Name), ReadOnly: !dynamicSettings[d.Name], Type: d.Type,
			Sensitive:     d.Type == kmsg.ConfigTypePassword,
			Documentation: d.Doc, Synonyms: brokerSynonyms(b, d)}
		if v, ok := b.Value(d.Name); ok {
			e.Value = str(v)
		}
		if d.Type == kmsg.ConfigTypePassword {
			// Kafka never describes a password's value.
			e.Sensitive, e.Value = true, nil
			for i := range e.Synonyms {
				e.Synonyms[i].Value = nil
			}
		}
		entries = append(entries, e)
	}
	return entries
}

// DescribeClusterDefault returns the cluster-wide dynamic defaults of b, as
// Kafka describes the broker resource with the empty name: only the
// settings set there, sorted by name.
func DescribeClusterDefault(b Broker) []Entry {
	var entries []Entry
	for _, name := range sortedKeys(b.clusterDefault) {
		d := brokerIndex[name]
		v := b.clusterDefault[name]
		entries = append(entries, Entry{Name: name, Value: str(v), Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig,
			Type: d.Type, Documentation: d.Doc,
			Synonyms: []Synonym{{Name: name, Value: str(v), Source: kmsg.ConfigSourceDynamicDefaultBrokerConfig}}})
	}
	return entries
}

// brokerSynonyms returns the sources of broker setting d in Kafka's order
// of precedence: this broker's dynamic value, the cluster-wide dynamic
// default, the command line's value, then the default.
func brokerSynonyms(b Broker, d *Definition) []Synonym {
	var out []Synonym
	for _, l := range []struct {
		m      map[string]string
		source kmsg.ConfigSource
	}{
		{b.perBroker, kmsg.ConfigSourceDynamicBrokerConfig},
		{b.clusterDefault, kmsg.ConfigSourceDynamicDefaultBrokerConfig},
		{b.static(), kmsg.ConfigSourceStaticBrokerConfig},
	} {
		if v, ok := l.m[d.Name]; ok {
			out = append(out, Synonym{Name: d.Name, Value: str(v), Source: l.source})
		}
	}
	if d.Default != nil {
		out = append(out, Synonym{Name: d.Name, Value: str(*d.Default), Source: kmsg.ConfigSourceDefaultConfig})
	}
	return out
}

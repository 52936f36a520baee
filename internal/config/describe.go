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

// DescribeBroker returns every broker setting, sorted by name. All are
// read-only: Strata has no dynamic broker configs yet.
func DescribeBroker(b Broker) []Entry {
	entries := make([]Entry, 0, len(brokerDefs))
	for i := range brokerDefs {
		d := &brokerDefs[i]
		e := Entry{Name: d.Name, Source: kmsg.ConfigSourceDefaultConfig, ReadOnly: true, Type: d.Type,
			Documentation: d.Doc, Synonyms: brokerSynonyms(b, d)}
		if v, ok := b.Value(d.Name); ok {
			e.Value = str(v)
		}
		if b.IsSet(d.Name) {
			e.Source = kmsg.ConfigSourceStaticBrokerConfig
		}
		entries = append(entries, e)
	}
	return entries
}

// brokerSynonyms returns the sources of broker setting d: its explicit
// value, then its default.
func brokerSynonyms(b Broker, d *Definition) []Synonym {
	var out []Synonym
	if v, ok := b.values[d.Name]; ok {
		out = append(out, Synonym{Name: d.Name, Value: str(v), Source: kmsg.ConfigSourceStaticBrokerConfig})
	}
	if d.Default != nil {
		out = append(out, Synonym{Name: d.Name, Value: str(*d.Default), Source: kmsg.ConfigSourceDefaultConfig})
	}
	return out
}

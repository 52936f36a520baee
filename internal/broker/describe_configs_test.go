package broker

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/config"
)

func TestDescribedConfigs(t *testing.T) {
	entries := []config.Entry{
		{Name: "a", Value: strp("1"), Source: kmsg.ConfigSourceDefaultConfig, Type: kmsg.ConfigTypeInt, Documentation: "doc a",
			Synonyms: []config.Synonym{{Name: "a", Value: strp("1"), Source: kmsg.ConfigSourceDefaultConfig}}},
		{Name: "secret", Value: strp("hunter2"), Source: kmsg.ConfigSourceStaticBrokerConfig, Sensitive: true, ReadOnly: true,
			Synonyms: []config.Synonym{{Name: "secret", Value: strp("hunter2"), Source: kmsg.ConfigSourceStaticBrokerConfig}}},
	}
	tests := []struct {
		name           string
		names          []string
		synonyms, docs bool
		want           []string
	}{
		{"all", nil, false, false, []string{"a", "secret"}},
		{"empty is all", []string{}, false, false, []string{"a", "secret"}},
		{"filtered", []string{"secret", "unknown"}, true, true, []string{"secret"}},
		{"synonyms and docs", nil, true, true, []string{"a", "secret"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describedConfigs(entries, tt.names, tt.synonyms, tt.docs)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d configs, want %d", len(got), len(tt.want))
			}
			for i, c := range got {
				if c.Name != tt.want[i] {
					t.Errorf("config %d: got %s, want %s", i, c.Name, tt.want[i])
				}
				if c.IsSensitive && (c.Value != nil || len(c.ConfigSynonyms) > 0 && c.ConfigSynonyms[0].Value != nil) {
					t.Errorf("%s: got a sensitive value, want null", c.Name)
				}
				if !c.IsSensitive && (c.Value == nil || *c.Value != "1") {
					t.Errorf("%s: got value %v, want 1", c.Name, c.Value)
				}
				if got := len(c.ConfigSynonyms) > 0; got != tt.synonyms {
					t.Errorf("%s: got synonyms %v, want %v", c.Name, got, tt.synonyms)
				}
				if c.Name == "a" && (c.Documentation != nil) != tt.docs {
					t.Errorf("a: got documentation %v, want present %v", c.Documentation, tt.docs)
				}
				if c.Name == "a" && (!c.IsDefault || c.ConfigType != kmsg.ConfigTypeInt) {
					t.Errorf("a: got default %v, type %v, want true, INT", c.IsDefault, c.ConfigType)
				}
			}
		})
	}
}

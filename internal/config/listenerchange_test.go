package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestCheckListenerChange checks dynamic listener changes against a node
// with a PLAINTEXT (inter-broker) and an SSL listener: adding and removing
// others passes, Kafka's refusals are INVALID_REQUEST with its messages.
func TestCheckListenerChange(t *testing.T) {
	static, err := ParseBroker(map[string]string{
		"listeners":                                               "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093",
		"listener.name.ssl.ssl.client.auth":                       "required",
		"listener.name.ssl.ssl.keystore.location":                 "/k1",
		"listener.name.ssl.ssl.endpoint.identification.algorithm": "",
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		set  map[string]string
		msg  string // "" for a change that passes
	}{
		{"add a listener", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093,SASL_PLAINTEXT://127.0.0.1:9094"}, ""},
		{"remove one", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092"}, ""},
		{"move one", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9095"}, ""},
		{"new keystore", map[string]string{"listener.name.ssl.ssl.keystore.location": "/k2"}, ""},
		{"advertise one", map[string]string{"advertised.listeners": "PLAINTEXT://127.0.0.1:9092,SSL://ssl.example:9093"}, ""},
		{"remove the inter-broker one", map[string]string{"listeners": "SSL://127.0.0.1:9093"},
			"Advertised listener must be specified for inter-broker listener PLAINTEXT"},
		{"move the inter-broker one", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9096,SSL://127.0.0.1:9093"},
			"The inter-broker listener PLAINTEXT cannot be changed dynamically"},
		{"advertise the inter-broker one", map[string]string{"advertised.listeners": "PLAINTEXT://other:9092"},
			"The inter-broker listener PLAINTEXT cannot be changed dynamically"},
		{"new protocol", map[string]string{"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SASL_SSL"},
			"Security protocol cannot be updated for existing listener SSL"},
		{"fixed listener setting", map[string]string{"listener.name.ssl.ssl.client.auth": "none"},
			"Configs cannot be updated dynamically for existing listener SSL, restart broker or create a new listener for update"},
		{"no protocol", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,OTHER://127.0.0.1:9097"},
			"No security protocol defined for listener OTHER"},
		{"same port twice", map[string]string{"listeners": "PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9092"},
			"Each listener must have a different port"},
	}
	for _, tt := range tests {
		err := CheckListenerChange(static, static.WithDynamic(nil, tt.set), "", "")
		switch {
		case tt.msg == "" && err != nil:
			t.Errorf("%s: got %v, want it to pass", tt.name, err)
		case tt.msg != "" && (!errors.Is(err, kerr.InvalidRequest) || !strings.Contains(err.Error(), tt.msg)):
			t.Errorf("%s: got %v, want INVALID_REQUEST %q", tt.name, err, tt.msg)
		}
	}
	// A node of one PLAINTEXT listener from --listen gains a second.
	plain := DefaultBroker()
	next := plain.WithDynamic(nil, map[string]string{"listeners": "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"})
	if err := CheckListenerChange(plain, next, "127.0.0.1:0", ""); err != nil {
		t.Errorf("from --listen: got %v", err)
	}
}

package config

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestListenerOverride reads a TLS setting through a listener's
// listener.name. override and falls back to the plain setting elsewhere.
func TestListenerOverride(t *testing.T) {
	b, err := ParseBroker(map[string]string{
		"ssl.client.auth":                         "requested",
		"listener.name.internal.ssl.client.auth":  "required",
		"listener.name.external.ssl.keystore.key": "inline",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ listener, name, want string }{
		{"INTERNAL", "ssl.client.auth", "required"},
		{"SSL", "ssl.client.auth", "requested"},
		{"EXTERNAL", "ssl.keystore.key", "inline"},
		{"EXTERNAL", "ssl.keystore.type", "PEM"},
	} {
		if got, _ := b.ListenerValue(tt.listener, tt.name); got != tt.want {
			t.Errorf("%s %s: got %q, want %q", tt.listener, tt.name, got, tt.want)
		}
	}
	for _, bad := range []map[string]string{
		{"listener.name.internal.ssl.client.auth": "sometimes"}, // the plain setting's rules apply
		{"listener.name.INTERNAL.ssl.client.auth": "required"},  // Kafka's prefix is lower case
		{"listener.name.internal.num.partitions": "3"},          // not a per-listener setting
		{"listener.name..ssl.client.auth": "required"},
	} {
		if _, err := ParseBroker(bad); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%v: got %v, want INVALID_CONFIG", bad, err)
		}
	}
}

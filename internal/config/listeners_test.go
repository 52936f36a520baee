package config

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestListeners(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     []Listener
		inter    string
		wantErr  string // the setting at fault; "" for none
	}{
		{"flags only", nil, []Listener{{Name: "PLAINTEXT", Bind: "127.0.0.1:9092", Advertised: "h:1", SecurityProtocol: "PLAINTEXT"}}, "PLAINTEXT", ""},
		{"named", map[string]string{
			"listeners":                      "PLAINTEXT://127.0.0.1:9092,sasl_ssl://:9094,INTERNAL://127.0.0.1:9095",
			"advertised.listeners":           "SASL_SSL://kafka.example:19094",
			"listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,INTERNAL:SSL",
			"inter.broker.listener.name":     "INTERNAL",
		}, []Listener{
			{Name: "PLAINTEXT", Bind: "127.0.0.1:9092", SecurityProtocol: "PLAINTEXT"},
			{Name: "SASL_SSL", Bind: ":9094", Advertised: "kafka.example:19094", SecurityProtocol: "SASL_SSL"},
			{Name: "INTERNAL", Bind: "127.0.0.1:9095", SecurityProtocol: "SSL"},
		}, "INTERNAL", ""},
		{"inter defaults to a plaintext one", map[string]string{
			"listeners":                      "SASL_SSL://127.0.0.1:9094,REPL://127.0.0.1:9095",
			"listener.security.protocol.map": "SASL_SSL:SASL_SSL,REPL:PLAINTEXT",
		}, []Listener{
			{Name: "SASL_SSL", Bind: "127.0.0.1:9094", SecurityProtocol: "SASL_SSL"},
			{Name: "REPL", Bind: "127.0.0.1:9095", SecurityProtocol: "PLAINTEXT"},
		}, "REPL", ""},
		{"name twice", map[string]string{"listeners": "PLAINTEXT://:1,PLAINTEXT://:2"}, nil, "", "listeners"},
		{"port twice", map[string]string{"listeners": "PLAINTEXT://:1,SSL://:1"}, nil, "", "listeners"},
		{"unmapped name", map[string]string{"listeners": "EXTERNAL://:1"}, nil, "", "listener.security.protocol.map"},
		{"advertised not a listener", map[string]string{"listeners": "PLAINTEXT://:1", "advertised.listeners": "SSL://h:2"}, nil, "", "advertised.listeners"},
		{"advertised meta-address", map[string]string{"listeners": "PLAINTEXT://:1", "advertised.listeners": "PLAINTEXT://0.0.0.0:1"}, nil, "", "advertised.listeners"},
		{"inter not a listener", map[string]string{"listeners": "PLAINTEXT://:1", "inter.broker.listener.name": "SSL"}, nil, "", "inter.broker.listener.name"},
		{"inter not the flag listener", map[string]string{"inter.broker.listener.name": "SSL"}, nil, "", "inter.broker.listener.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ParseBroker(tt.settings)
			if err != nil {
				t.Fatal(err)
			}
			got, inter, err := b.Listeners("127.0.0.1:9092", "h:1")
			if tt.wantErr != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Name != tt.wantErr || !errors.Is(err, kerr.InvalidConfig) {
					t.Fatalf("got %v, want an INVALID_CONFIG error naming %s", err, tt.wantErr)
				}
				return
			}
			if err != nil || inter != tt.inter || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, %q, %v; want %+v, %q", got, inter, err, tt.want, tt.inter)
			}
		})
	}
	for _, bad := range []string{"PLAINTEXT", "PLAINTEXT://nohost", "PLAINTEXT://:99999", "://:1"} {
		if _, err := ParseBroker(map[string]string{"listeners": bad}); !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("listeners=%s: got %v, want INVALID_CONFIG", bad, err)
		}
	}
	if _, err := ParseBroker(map[string]string{"listener.security.protocol.map": "A:TLS"}); !errors.Is(err, kerr.InvalidConfig) {
		t.Errorf("protocol TLS: got %v, want INVALID_CONFIG", err)
	}
}

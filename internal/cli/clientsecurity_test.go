package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "client.properties")
	if err := os.WriteFile(props, []byte(`# a Java client's file
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
! another comment
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="s3cret";
`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := readClientConfig(props)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 3 || s["sasl.mechanism"] != "SCRAM-SHA-512" {
		t.Fatalf("read %v", s)
	}
	m, err := clientSASL(s)
	if err != nil || m.Name() != "SCRAM-SHA-512" {
		t.Fatalf("mechanism %v, %v", m, err)
	}
	if opts, err := securityOpts(s); err != nil || len(opts) != 1 {
		t.Fatalf("SASL_PLAINTEXT: %d options, %v; want the SASL one", len(opts), err)
	}
	if opts, err := securityOpts(map[string]string{"security.protocol": "ssl"}); err != nil || len(opts) != 1 {
		t.Fatalf("SSL: %d options, %v; want the TLS one", len(opts), err)
	}
	for _, bad := range []map[string]string{
		{"security.protocol": "TLS"},
		{"bootstrap.servers": "x"},
		{"security.protocol": "SASL_SSL", "sasl.mechanism": "GSSAPI"},
		{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "OAUTHBEARER"},
		{"security.protocol": "SSL", "ssl.ca.location": filepath.Join(dir, "missing.pem")},
		{"security.protocol": "SSL", "ssl.ca.location": props},
	} {
		if _, err := securityOpts(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
	o := &clientOptions{commandConfig: props, clientSettings: []string{"sasl.mechanism=PLAIN"}}
	if _, err := o.security(); err != nil {
		t.Fatal(err)
	}
	o.clientSettings = []string{"nokey"}
	if _, err := o.security(); err == nil || !strings.Contains(err.Error(), "key=value") {
		t.Fatalf("-X nokey: %v", err)
	}
}

package cli

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stratalog/strata/internal/tlsconfig"
)

// TestDevCerts writes a certificate set, loads it as the broker and a
// client would, prints the serve line, and refuses to overwrite it.
func TestDevCerts(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	cmd := newDevCertsCommand()
	cmd.SetOut(&out)
	cmd.SetArgs([]string{dir, "--hosts", "127.0.0.1,localhost"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	p := devCertPaths(dir)
	for _, want := range []string{"ssl.keystore.location=" + p.serverKeystore, "ssl.truststore.location=" + p.ca,
		"kcat -b 127.0.0.1:9093 -X security.protocol=SSL"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	protocols := []string{"TLSv1.2", "TLSv1.3"}
	if _, err := tlsconfig.Load(tlsconfig.Settings{KeystoreLocation: p.serverKeystore, TruststoreLocation: p.ca,
		ClientAuth: "required", Protocols: protocols}, true, logger); err != nil {
		t.Errorf("server keystore: %v", err)
	}
	if _, err := tlsconfig.Load(tlsconfig.Settings{KeystoreLocation: p.clientKeystore, TruststoreLocation: p.ca,
		Protocols: protocols}, true, logger); err != nil {
		t.Errorf("client keystore: %v", err)
	}
	cmd = newDevCertsCommand()
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	cmd.SetArgs([]string{dir})
	if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("second run: got %v, want a refusal to overwrite", err)
	}
}

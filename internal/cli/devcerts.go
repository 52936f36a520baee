package cli

import (
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratalog/strata/internal/tlsconfig"
)

// Files written by `strata dev certs`, named for the setting that reads each.
const (
	devCAFile             = "ca.pem"              // ssl.truststore.location, a client's CA
	devServerKeystoreFile = "server.keystore.pem" // ssl.keystore.location
	devClientKeystoreFile = "client.keystore.pem" // a client's key and chain in one file
	devClientCertFile     = "client.cert.pem"     // for clients that take them apart
	devClientKeyFile      = "client.key.pem"

	devClientCN   = "strata-client"
	devCAValid    = 5 * 365 * 24 * time.Hour
	devCertsValid = 365 * 24 * time.Hour
)

// devCerts are the files of a development certificate set, written by
// writeDevCerts.
type devCerts struct {
	dir, ca, serverKeystore, clientKeystore, clientCert, clientKey string
}

func devCertPaths(dir string) devCerts {
	j := func(f string) string { return filepath.Join(dir, f) }
	return devCerts{dir: dir, ca: j(devCAFile), serverKeystore: j(devServerKeystoreFile),
		clientKeystore: j(devClientKeystoreFile), clientCert: j(devClientCertFile), clientKey: j(devClientKeyFile)}
}

// writeDevCerts makes a CA, a server certificate for hosts and a client
// certificate, and writes them to dir. It refuses to overwrite: a CA that
// clients already trust is not replaced by accident.
func writeDevCerts(dir string, hosts []string) (devCerts, error) {
	if len(hosts) == 0 {
		return devCerts{}, errors.New("--hosts: give at least one host name or IP address")
	}
	p := devCertPaths(dir)
	files := []string{p.ca, p.serverKeystore, p.clientKeystore, p.clientCert, p.clientKey}
	for _, f := range files {
		if _, err := os.Stat(f); !errors.Is(err, fs.ErrNotExist) {
			return devCerts{}, fmt.Errorf("%s exists: remove the old certificates or choose another directory", f)
		}
	}
	ca, err := tlsconfig.NewCA("Strata development CA", devCAValid)
	if err != nil {
		return devCerts{}, err
	}
	now := time.Now()
	server, err := ca.Issue(tlsconfig.CertRequest{Subject: pkix.Name{CommonName: hosts[0]}, Hosts: hosts,
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(devCertsValid)})
	if err != nil {
		return devCerts{}, err
	}
	client, err := ca.Issue(tlsconfig.CertRequest{Subject: pkix.Name{CommonName: devClientCN},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(devCertsValid)})
	if err != nil {
		return devCerts{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return devCerts{}, err
	}
	for _, f := range []struct {
		path string
		data []byte
		mode fs.FileMode
	}{
		{p.ca, ca.PEM, 0o644},
		{p.serverKeystore, server.Keystore(), 0o600},
		{p.clientKeystore, client.Keystore(), 0o600},
		{p.clientCert, client.CertPEM, 0o644},
		{p.clientKey, client.KeyPEM, 0o600},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return devCerts{}, err
		}
	}
	return p, nil
}

// printDevCerts tells what was written and how to use it.
func printDevCerts(w io.Writer, p devCerts, host string) {
	fmt.Fprintf(w, `Wrote to %s:
  %-20s the CA: the truststore of the broker and of clients
  %-20s the server's key and certificate (a PEM keystore)
  %-20s a client's key and certificate (principal User:CN=%s), also apart:
  %-20s %s

Start a broker with a mutual-TLS listener on port 9093 beside plaintext 9092:

  strata serve --set listeners=PLAINTEXT://%s:9092,SSL://%s:9093 \
    --set ssl.keystore.location=%s \
    --set ssl.truststore.location=%s \
    --set ssl.client.auth=required

and connect with kcat:

  kcat -b %s:9093 -X security.protocol=SSL -X ssl.ca.location=%s \
    -X ssl.certificate.location=%s -X ssl.key.location=%s -L
`, p.dir, devCAFile, devServerKeystoreFile, devClientKeystoreFile, devClientCN, devClientCertFile, devClientKeyFile,
		host, host, p.serverKeystore, p.ca, host, p.ca, p.clientCert, p.clientKey)
}

func newDevCertsCommand() *cobra.Command {
	var hosts []string
	cmd := &cobra.Command{
		Use:   "certs DIR",
		Short: "Make a local CA, a server certificate and a client certificate for trying TLS",
		Long: `Make a certificate authority, a server certificate for --hosts signed by it
and a client certificate (subject CN=` + devClientCN + `), and write them as PEM
files to DIR, ready for Kafka's ssl.* settings of "strata serve" and for any
client. Keys are ECDSA P-256; the CA is valid for five years, the certificates
for one. Existing files are never overwritten.

These certificates are for development on one machine: anyone who can read
DIR can impersonate the broker and the client.`,
		Example: `  strata dev certs ./certs
  strata dev certs ./certs --hosts 127.0.0.1,localhost,broker.example.test`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			for i := range hosts {
				hosts[i] = strings.TrimSpace(hosts[i])
			}
			p, err := writeDevCerts(dir, hosts)
			if err != nil {
				return err
			}
			printDevCerts(cmd.OutOrStdout(), p, hosts[0])
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&hosts, "hosts", []string{"127.0.0.1", "localhost"}, "host names and IP addresses the server certificate is valid for")
	return cmd
}

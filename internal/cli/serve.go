package cli

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// nodeRunner runs one node until ctx is cancelled; runNode is the real one.
type nodeRunner func(ctx context.Context, opts ServeOptions, logger *slog.Logger) error

func newServeCommand(lookupEnv func(string) (string, bool), run nodeRunner) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a Strata node (broker and controller)",
		Long: `Run a Strata node until SIGINT or SIGTERM.

With no flags this is a one-node cluster listening for Kafka clients on
127.0.0.1:9092, keeping its data in ./strata-data and serving /metrics,
/healthz and /readyz on 127.0.0.1:9644.

Every option can come from, in order of precedence:
  1. a flag, e.g. --data-dir /var/lib/strata
  2. an environment variable STRATA_<FLAG_NAME>, e.g. STRATA_DATA_DIR
  3. the YAML file given by --config (or STRATA_CONFIG)
  4. the built-in default

Broker settings use Kafka's names and are given with --set key=value
(repeatable), STRATA_SET=k1=v1,k2=v2, or the file's settings: map; a key given
in several places takes the value of the highest-precedence source.

Example config file:

  data-dir: /var/lib/strata
  listen: 0.0.0.0:9092
  advertise: kafka1.example.com:9092
  admin: 127.0.0.1:9644
  node-id: 1
  log-level: info
  settings:
    auto.create.topics.enable: "false"
    num.partitions: 3`,
		Example: `  strata serve
  strata serve --data-dir /tmp/strata --listen 127.0.0.1:19092 --admin 127.0.0.1:19644
  strata serve --set auto.create.topics.enable=false --set log.retention.ms=3600000
  # TLS on a second listener, after: strata dev certs ./certs
  strata serve --set listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093 \
               --set ssl.keystore.location=./certs/server.keystore.pem \
               --set ssl.truststore.location=./certs/ca.pem
  # SASL/SCRAM on a second listener; add users with "strata user create"
  strata serve --set listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9095 \
               --set sasl.enabled.mechanisms=SCRAM-SHA-256,SCRAM-SHA-512
  STRATA_LOG_LEVEL=debug strata serve --config /etc/strata.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts, err := resolveServeOptions(cmd.Flags(), lookupEnv)
			if err != nil {
				return err
			}
			level, err := parseLogLevel(opts.LogLevel)
			if err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return run(ctx, opts, logger)
		},
	}
	addServeFlags(cmd.Flags())
	return cmd
}

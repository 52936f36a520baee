// Package cli holds the strata command tree. `strata serve` starts a node;
// every other command is an ordinary Kafka client of a cluster and talks to it
// only through franz-go (kgo for records, kadm for administration).
package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// envPrefix starts the name of every environment variable a flag reads:
// flag --data-dir is read from STRATA_DATA_DIR.
const envPrefix = "STRATA_"

// clientOptions are the root's persistent flags shared by every client command.
type clientOptions struct {
	brokers  string
	clientID string
	timeout  time.Duration
	// commandConfig and clientSettings are the client's security
	// settings (see clientsecurity.go).
	commandConfig  string
	clientSettings []string
}

// NewRootCommand returns the complete strata command tree. Commands write
// results to cmd.OutOrStdout(), progress and logs to cmd.ErrOrStderr(), and
// return errors (printed once by cobra) instead of exiting.
func NewRootCommand() *cobra.Command {
	return newRootCommand(os.LookupEnv, runNode)
}

// newRootCommand builds the tree with an injectable environment and node
// runner, so tests can check flag handling without starting a node.
func newRootCommand(lookupEnv func(string) (string, bool), run nodeRunner) *cobra.Command {
	opts := &clientOptions{}
	root := &cobra.Command{
		Use:   "strata",
		Short: "Strata: a Kafka-compatible commit log",
		Long: `Strata is a distributed commit log that speaks the Apache Kafka wire protocol.

One binary is the broker, the controller and this CLI. "strata serve" starts a
node; every other command is an ordinary Kafka client of a running cluster and
works against any Kafka-compatible broker.

Client commands find the cluster through --brokers (or STRATA_BROKERS); every
root flag can also be set from the environment as STRATA_<FLAG_NAME>, e.g.
STRATA_CLIENT_ID. A flag given on the command line wins over the environment.`,
		Example: `  strata serve
  strata topic create orders -p 3
  printf 'k1:hello\nk2:world\n' | strata produce orders --key-separator :
  strata consume orders --from beginning -n 2 --format kv`,
		SilenceUsage:  true,
		SilenceErrors: false,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd.Root().PersistentFlags(), lookupEnv); err != nil {
				return err
			}
			if opts.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive, got %s", opts.timeout)
			}
			return nil
		},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&opts.brokers, "brokers", "127.0.0.1:9092", "comma-separated seed brokers (host:port) of the cluster (env STRATA_BROKERS)")
	pf.StringVar(&opts.clientID, "client-id", "strata-cli", "client ID sent with every request (env STRATA_CLIENT_ID)")
	pf.DurationVar(&opts.timeout, "timeout", 30*time.Second, "deadline for each admin operation and each produced record (env STRATA_TIMEOUT)")
	pf.StringVar(&opts.commandConfig, "command-config", "", "a properties file of client security settings, as Kafka's tools take: security.protocol, sasl.mechanism, sasl.username, sasl.password (or sasl.jaas.config), ssl.truststore.location, ssl.keystore.location, ... (env STRATA_COMMAND_CONFIG)")
	pf.StringArrayVarP(&opts.clientSettings, "client-setting", "X", nil, "a client security setting key=value, as kcat's -X; repeatable, over --command-config")

	root.AddCommand(
		newServeCommand(lookupEnv, run),
		newTopicCommand(opts),
		newProduceCommand(opts),
		newConsumeCommand(opts),
		newGroupCommand(opts),
		newQuotaCommand(opts),
		newUserCommand(opts),
		newACLCommand(opts),
		newTxnCommand(opts),
		newProducersCommand(opts),
		newClusterCommand(opts),
		newPartitionsCommand(opts),
		newBenchCommand(opts),
		newDevCommand(),
	)
	return root
}

// groupRunE is the RunE of a command that only groups subcommands: it
// prints help when called alone and fails on an unknown subcommand (cobra
// would print help and exit 0).
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return fmt.Errorf("unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// envName returns the environment variable that backs the flag name:
// "data-dir" becomes "STRATA_DATA_DIR".
func envName(flag string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of fs that was not given on the command line from
// its environment variable, if that is set. It returns an error naming the
// variable when its value does not parse.
func applyEnv(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		name := envName(f.Name)
		v, ok := lookupEnv(name)
		if !ok {
			return
		}
		if setErr := f.Value.Set(v); setErr != nil {
			err = fmt.Errorf("environment %s=%q: %w", name, v, setErr)
		}
	})
	return err
}

// freshMetadata is the MetadataMinAge of the CLI's clients.
const freshMetadata = 50 * time.Millisecond

// seeds splits the --brokers list, dropping empty elements.
func (o *clientOptions) seeds() ([]string, error) {
	var out []string
	for _, s := range strings.Split(o.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no brokers given: set --brokers or STRATA_BROKERS")
	}
	return out, nil
}

// newClient returns a kgo client for the cluster with the common options
// plus extra. The caller closes it.
func (o *clientOptions) newClient(extra ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := o.seeds()
	if err != nil {
		return nil, err
	}
	security, err := o.security()
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID(o.clientID),
		kgo.DialTimeout(o.timeout),
		// kadm answers Metadata from the client's cache for this long;
		// commands that watch the cluster (reassign, elect-leaders after
		// a restart) need what it says now.
		kgo.MetadataMinAge(freshMetadata),
	}
	cl, err := kgo.NewClient(slices.Concat(base, security, extra)...)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return cl, nil
}

// openClient returns a client for the cluster and ctx bounded by
// --timeout; the caller calls done when finished with both.
func (o *clientOptions) openClient(ctx context.Context) (*kgo.Client, context.Context, func(), error) {
	cl, err := o.newClient()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := o.withTimeout(ctx)
	return cl, ctx, func() { cancel(); cl.Close() }, nil
}

// openAdmin is openClient for admin requests (see admin).
func (o *clientOptions) openAdmin(ctx context.Context) (*kadm.Client, context.Context, func(), error) {
	cl, ctx, done, err := o.openClient(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return o.admin(cl), ctx, done, nil
}

// admin wraps cl for admin requests with --timeout as the request timeout
// the broker applies (e.g. to CreateTopics). Closing it closes cl.
func (o *clientOptions) admin(cl *kgo.Client) *kadm.Client {
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(min(o.timeout.Milliseconds(), math.MaxInt32)))
	return adm
}

// withTimeout bounds one operation by --timeout.
func (o *clientOptions) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, o.timeout)
}

// requestErr wraps err from a request about what. When the cluster could
// not be reached (a network error or the deadline passing) the message also
// names the brokers, so a user who mistyped --brokers sees where the CLI
// tried to connect.
func (o *clientOptions) requestErr(what string, err error) error {
	var netErr net.Error
	if errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s (brokers %s): %w", what, o.brokers, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

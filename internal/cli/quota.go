package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
)

func newQuotaCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "quota",
		Short: "Set and describe client quotas",
		Long: `Manage client quotas through the Kafka admin APIs (AlterClientQuotas,
DescribeClientQuotas), as kafka-configs.sh does for users and clients.

A quota is set on an entity: a user (the authenticated principal's name;
ANONYMOUS for an unauthenticated client), a client id, or a user's client id,
each by name or as the default. For each quota a connection gets the value of
the most specific entity that sets it, in Kafka's order. The quotas are
producer_byte_rate and consumer_byte_rate (bytes per second),
request_percentage (percent of one thread's time) and controller_mutation_rate
(partitions created or deleted per second).`,
		Example: `  strata quota set --user alice --add producer_byte_rate=1048576,consumer_byte_rate=2097152
  strata quota set --user-default --add controller_mutation_rate=10
  strata quota describe`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newQuotaSetCommand(opts), newQuotaDescribeCommand(opts))
	return cmd
}

// quotaEntityFlags names a quota entity as kafka-configs.sh's --user,
// --user-defaults, --client and --client-defaults do.
type quotaEntityFlags struct {
	user, clientID               string
	userDefault, clientIDDefault bool
}

func (f *quotaEntityFlags) register(cmd *cobra.Command, verb string) {
	fs := cmd.Flags()
	fs.StringVar(&f.user, "user", "", verb+" the named user (the principal's name, without User:)")
	fs.BoolVar(&f.userDefault, "user-default", false, verb+" the default user")
	fs.StringVar(&f.clientID, "client-id", "", verb+" the named client id")
	fs.BoolVar(&f.clientIDDefault, "client-default", false, verb+" the default client id")
	cmd.MarkFlagsMutuallyExclusive("user", "user-default")
	cmd.MarkFlagsMutuallyExclusive("client-id", "client-default")
}

// components returns the entity's components, user first; a component
// with a nil name is the default. Flags given empty are an error, as an
// empty name is no entity.
func (f *quotaEntityFlags) components(cmd *cobra.Command) (kadm.ClientQuotaEntity, error) {
	var e kadm.ClientQuotaEntity
	for _, c := range []struct {
		typ, flag, name string
		dflt            bool
	}{{"user", "user", f.user, f.userDefault}, {"client-id", "client-id", f.clientID, f.clientIDDefault}} {
		switch {
		case c.dflt:
			e = append(e, kadm.ClientQuotaEntityComponent{Type: c.typ})
		case cmd.Flags().Changed(c.flag) && c.name == "":
			return nil, fmt.Errorf("--%s: the name may not be empty (use --%s-default for the default)", c.flag, strings.TrimSuffix(c.flag, "-id"))
		case c.name != "":
			name := c.name
			e = append(e, kadm.ClientQuotaEntityComponent{Type: c.typ, Name: &name})
		}
	}
	return e, nil
}

func newQuotaSetCommand(opts *clientOptions) *cobra.Command {
	var entity quotaEntityFlags
	var add, del []string
	cmd := &cobra.Command{
		Use:   "set",
		Short: "Set or remove the quotas of a user, a client id or a user's client id",
		Long: `Set (--add key=value,...) and remove (--delete key,...) quotas of one entity:
a user (--user NAME or --user-default), a client id (--client-id NAME or
--client-default), or both for a user's client id. The keys are
producer_byte_rate, consumer_byte_rate, request_percentage and
controller_mutation_rate; values must be positive, byte rates whole numbers.
Removing a quota that is not set does nothing.

The broker checks the change as a whole and applies all of it or none; its
error (INVALID_REQUEST with Kafka's message) is reported as is.`,
		Example: `  strata quota set --user alice --add producer_byte_rate=1048576
  strata quota set --user alice --client-id billing --add consumer_byte_rate=2097152 --delete request_percentage
  strata quota set --user-default --client-default --add request_percentage=50
  strata quota set --client-id batch-loader --add controller_mutation_rate=5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := entity.components(cmd)
			if err != nil {
				return err
			}
			if len(e) == 0 {
				return fmt.Errorf("name an entity: --user, --user-default, --client-id or --client-default")
			}
			ops, err := quotaOps(add, del)
			if err != nil {
				return err
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: e, Ops: ops}})
			if err != nil {
				return opts.requestErr("alter client quotas", err)
			}
			if len(res) != 1 {
				return fmt.Errorf("alter client quotas: got %d results, want 1", len(res))
			}
			if res[0].Err != nil {
				return fmt.Errorf("alter quotas of %s: %w", describeQuotaEntity(e), withMessage(res[0].Err, res[0].ErrMessage))
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Completed updating quotas for %s.\n", describeQuotaEntity(e))
			return nil
		},
	}
	entity.register(cmd, "set quotas of")
	cmd.Flags().StringSliceVar(&add, "add", nil, "quotas to set, key=value (repeatable or comma-separated)")
	cmd.Flags().StringSliceVar(&del, "delete", nil, "quotas to remove, by key (repeatable or comma-separated)")
	return cmd
}

// quotaOps turns --add and --delete into AlterClientQuotas operations. A
// key both set and removed, or given twice, is an error.
func quotaOps(add, del []string) ([]kadm.AlterClientQuotaOp, error) {
	if len(add)+len(del) == 0 {
		return nil, fmt.Errorf("nothing to change: give --add key=value or --delete key")
	}
	seen := map[string]bool{}
	var ops []kadm.AlterClientQuotaOp
	for _, kv := range add {
		k, v, err := splitKeyValue(strings.TrimSpace(kv))
		if err != nil {
			return nil, fmt.Errorf("--add: %w", err)
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("--add %s: %q is not a number", k, v)
		}
		if seen[k] {
			return nil, fmt.Errorf("quota %s given twice", k)
		}
		seen[k] = true
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Value: f})
	}
	for _, k := range del {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("--delete: empty quota name")
		}
		if seen[k] {
			return nil, fmt.Errorf("quota %s given twice", k)
		}
		seen[k] = true
		ops = append(ops, kadm.AlterClientQuotaOp{Key: k, Remove: true})
	}
	return ops, nil
}

func newQuotaDescribeCommand(opts *clientOptions) *cobra.Command {
	var entity quotaEntityFlags
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "Show the quotas set on entities",
		Long: `Print the quotas set on each entity, one line per entity, as
kafka-configs.sh --describe does:

  Quota configs for user-principal 'alice', client-id 'billing' are consumer_byte_rate=2097152

Without flags every entity with quotas is listed. With --user/--user-default
and/or --client-id/--client-default only the entity made of exactly those
components is (kafka-configs.sh's strict match): --user alice shows alice's own
quotas, not those of alice's client ids. Nothing is printed when no entity
matches. This shows what is set, not which value applies to a connection:
for that, take the most specific entity in Kafka's order (see docs/security.md).`,
		Example: `  strata quota describe
  strata quota describe --user alice
  strata quota describe --user alice --client-id billing
  strata quota describe --user-default`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			e, err := entity.components(cmd)
			if err != nil {
				return err
			}
			var filter []kadm.DescribeClientQuotaComponent
			for _, c := range e {
				f := kadm.DescribeClientQuotaComponent{Type: c.Type, MatchName: c.Name, MatchType: 0}
				if c.Name == nil {
					f.MatchType = 1
				}
				filter = append(filter, f)
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			quotas, err := adm.DescribeClientQuotas(ctx, len(filter) > 0, filter)
			if err != nil {
				return opts.requestErr("describe client quotas", err)
			}
			writeQuotas(cmd.OutOrStdout(), quotas)
			return nil
		},
	}
	entity.register(cmd, "describe")
	return cmd
}

// writeQuotas prints one line per entity in kafka-configs.sh's form.
func writeQuotas(w io.Writer, quotas kadm.DescribedClientQuotas) {
	for _, q := range quotas {
		values := make([]string, len(q.Values))
		for i, v := range q.Values {
			values[i] = v.Key + "=" + strconv.FormatFloat(v.Value, 'f', -1, 64)
		}
		fmt.Fprintf(w, "Quota configs for %s are %s\n", describeQuotaEntity(q.Entity), strings.Join(values, ", "))
	}
}

// describeQuotaEntity names an entity as kafka-configs.sh does: "user-principal
// 'alice', client-id 'app'", "the default user-principal".
func describeQuotaEntity(e kadm.ClientQuotaEntity) string {
	parts := make([]string, 0, len(e))
	for _, c := range e {
		typ := c.Type
		if typ == "user" {
			typ = "user-principal"
		}
		if c.Name == nil {
			parts = append(parts, "the default "+typ)
		} else {
			parts = append(parts, fmt.Sprintf("%s '%s'", typ, *c.Name))
		}
	}
	return strings.Join(parts, ", ")
}

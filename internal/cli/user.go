package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/stratalog/strata/internal/auth"
)

func newUserCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Create, list and delete the SCRAM credentials of SASL users",
		Long: `Manage the SCRAM credentials SASL clients authenticate with, through Kafka's
DescribeUserScramCredentials and AlterUserScramCredentials APIs (as
kafka-configs.sh --entity-type users does). The password is salted here and
only the salted keys travel and are stored; SASL/PLAIN accepts the same
passwords.`,
		Example: `  strata user create alice --password s3cret --mechanism SCRAM-SHA-512
  strata user list
  strata user delete alice --mechanism SCRAM-SHA-512`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newUserCreateCommand(opts), newUserListCommand(opts), newUserDeleteCommand(opts))
	return cmd
}

// parseMechanism reads a --mechanism value.
func parseMechanism(name string) (kadm.ScramMechanism, error) {
	m, ok := auth.ParseScramMechanism(strings.ToUpper(name))
	if !ok {
		return 0, fmt.Errorf("unknown mechanism %q: use SCRAM-SHA-256 or SCRAM-SHA-512", name)
	}
	return kadm.ScramMechanism(m), nil
}

func newUserCreateCommand(opts *clientOptions) *cobra.Command {
	var password, mechanism string
	var iterations int32
	cmd := &cobra.Command{
		Use:   "create USER",
		Short: "Create a user's SCRAM credential, or replace its password",
		Long: `Create USER's SCRAM credential for one mechanism, or replace the password of
an existing one. --iterations is between 4096 and 16384, as Kafka requires.`,
		Example: `  strata user create alice --password s3cret --mechanism SCRAM-SHA-512`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := parseMechanism(mechanism)
			if err != nil {
				return err
			}
			if password == "" {
				return fmt.Errorf("--password is required")
			}
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: args[0], Mechanism: m, Iterations: iterations, Password: password}})
			if err == nil {
				err = res.Error()
			}
			if err != nil {
				return opts.requestErr("create user "+args[0], err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential set\n", args[0], m)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&password, "password", "", "the user's password (required)")
	f.StringVar(&mechanism, "mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512")
	f.Int32Var(&iterations, "iterations", 4096, "PBKDF2 iterations, 4096 to 16384")
	return cmd
}

func newUserListCommand(opts *clientOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the users with SCRAM credentials, with their mechanisms and iterations",
		Long: `List every user that has a SCRAM credential, one line per mechanism, sorted
by user, with the PBKDF2 iteration count of the credential.`,
		Example: `  strata user list`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			users, err := adm.DescribeUserSCRAMs(ctx)
			if err == nil {
				err = users.Error()
			}
			if err != nil {
				return opts.requestErr("list users", err)
			}
			tw := newTable(cmd.OutOrStdout())
			fmt.Fprintln(tw, "USER\tMECHANISM\tITERATIONS")
			for _, u := range users.Sorted() {
				for _, c := range u.CredInfos {
					fmt.Fprintf(tw, "%s\t%s\t%d\n", u.User, c.Mechanism, c.Iterations)
				}
			}
			return tw.Flush()
		},
	}
}

func newUserDeleteCommand(opts *clientOptions) *cobra.Command {
	var mechanism string
	cmd := &cobra.Command{
		Use:   "delete USER",
		Short: "Delete a user's SCRAM credentials (every mechanism's, or --mechanism's)",
		Long: `Delete USER's SCRAM credential for --mechanism, or for every mechanism it has
one for. Connections the user authenticated keep their session until it
ends (connections.max.reauth.ms); new ones fail.`,
		Example: `  strata user delete alice
  strata user delete alice --mechanism SCRAM-SHA-256`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			adm, ctx, done, err := opts.openAdmin(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			var mechs []kadm.ScramMechanism
			if mechanism != "" {
				m, err := parseMechanism(mechanism)
				if err != nil {
					return err
				}
				mechs = append(mechs, m)
			} else {
				users, err := adm.DescribeUserSCRAMs(ctx, args[0])
				if err == nil {
					err = users.Error()
				}
				if err != nil {
					return opts.requestErr("delete user "+args[0], err)
				}
				for _, c := range users[args[0]].CredInfos {
					mechs = append(mechs, c.Mechanism)
				}
			}
			// Kafka takes one alteration per user and request.
			for _, m := range mechs {
				res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: args[0], Mechanism: m}}, nil)
				if err == nil {
					err = res.Error()
				}
				if err != nil {
					return opts.requestErr("delete user "+args[0], err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s: %s credential deleted\n", args[0], m)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&mechanism, "mechanism", "", "delete only this mechanism's credential (default: every one)")
	return cmd
}

package cli

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestCommandTree checks the command tree and that every command documents
// itself.
func TestCommandTree(t *testing.T) {
	var paths []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() == "help" || c.Name() == "completion" || strings.Contains(c.CommandPath(), " completion ") {
			return
		}
		paths = append(paths, c.CommandPath())
		if c.Short == "" || c.Long == "" || c.Example == "" {
			t.Errorf("%s: got Short %q, Long %d bytes, Example %d bytes; want all set", c.CommandPath(), c.Short, len(c.Long), len(c.Example))
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand(noEnv, nil))
	want := "strata|strata acl|strata acl add|strata acl list|strata acl remove|strata bench|strata bench connect|strata bench consume|strata bench e2e|strata bench produce|" +
		"strata cluster|strata cluster decommission|strata cluster elect-leaders|strata cluster status|strata cluster voters|strata cluster voters add|strata cluster voters describe|strata cluster voters remove|strata consume|strata dev|strata dev certs|strata dev cluster|strata dev cluster restart|" +
		"strata group|strata group delete|strata group describe|strata group list|strata group reset-offsets|" +
		"strata partitions|strata partitions reassign|strata produce|strata producers|strata producers describe|strata quota|strata quota describe|strata quota set|strata serve|" +
		"strata topic|strata topic alter|strata topic create|strata topic delete|strata topic describe|strata topic list|" +
		"strata txn|strata txn abort|strata txn describe|strata txn find-hanging|strata txn list|" +
		"strata user|strata user create|strata user delete|strata user list"
	if got := strings.Join(paths, "|"); got != want {
		t.Errorf("got commands %s, want %s", got, want)
	}
}

func TestGroupCommands(t *testing.T) {
	tests := []struct {
		args       []string
		wantErr    string
		wantStdout string
	}{
		{args: []string{"topic", "nope"}, wantErr: `unknown command "nope" for "strata topic"`},
		{args: []string{"cluster", "nope"}, wantErr: `unknown command "nope" for "strata cluster"`},
		{args: []string{"dev", "nope"}, wantErr: `unknown command "nope" for "strata dev"`},
		{args: []string{"nope"}, wantErr: `unknown command "nope" for "strata"`},
		{args: []string{"topic"}, wantStdout: "Manage the topics"},
		{args: []string{"cluster"}, wantStdout: "Inspect the cluster"},
		{args: []string{"dev"}, wantStdout: "Tools for developing against Strata on one machine"},
		{args: []string{"--timeout", "0s", "topic", "list"}, wantErr: "--timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			stdout, _, err := execute(t, noEnv, nil, "", tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.HasPrefix(stdout, tt.wantStdout) {
				t.Fatalf("got %q, %v; want stdout starting %q", stdout, err, tt.wantStdout)
			}
		})
	}
}

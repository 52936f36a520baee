package cli

import (
	"strings"
	"testing"
)

// TestQuotaCommands sets, changes, removes and describes quotas of every
// kind of entity through the CLI against a real broker.
func TestQuotaCommands(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate=1048576,request_percentage=12.5"},
			"Completed updating quotas for user-principal 'alice'.\n"},
		{[]string{"quota", "set", "--user", "alice", "--client-id", "billing", "--add", "consumer_byte_rate=2097152"},
			"Completed updating quotas for user-principal 'alice', client-id 'billing'.\n"},
		{[]string{"quota", "set", "--user-default", "--add", "controller_mutation_rate=10"},
			"Completed updating quotas for the default user-principal.\n"},
		{[]string{"quota", "set", "--client-default", "--add", "producer_byte_rate=4096"},
			"Completed updating quotas for the default client-id.\n"},
		{[]string{"quota", "set", "--user-default", "--client-default", "--add", "request_percentage=50"},
			"Completed updating quotas for the default user-principal, the default client-id.\n"},
		{[]string{"quota", "set", "--client-id", "loader", "--add", "producer_byte_rate=1", "--add", "consumer_byte_rate=2"},
			"Completed updating quotas for client-id 'loader'.\n"},
		{[]string{"quota", "describe"}, "" +
			"Quota configs for client-id 'loader' are consumer_byte_rate=2, producer_byte_rate=1\n" +
			"Quota configs for the default client-id are producer_byte_rate=4096\n" +
			"Quota configs for user-principal 'alice' are producer_byte_rate=1048576, request_percentage=12.5\n" +
			"Quota configs for user-principal 'alice', client-id 'billing' are consumer_byte_rate=2097152\n" +
			"Quota configs for the default user-principal are controller_mutation_rate=10\n" +
			"Quota configs for the default user-principal, the default client-id are request_percentage=50\n"},
		// Strict, as kafka-configs.sh: alice alone, not alice's client ids.
		{[]string{"quota", "describe", "--user", "alice"},
			"Quota configs for user-principal 'alice' are producer_byte_rate=1048576, request_percentage=12.5\n"},
		{[]string{"quota", "describe", "--user", "alice", "--client-id", "billing"},
			"Quota configs for user-principal 'alice', client-id 'billing' are consumer_byte_rate=2097152\n"},
		{[]string{"quota", "describe", "--user-default"},
			"Quota configs for the default user-principal are controller_mutation_rate=10\n"},
		{[]string{"quota", "describe", "--client-default", "--user-default"},
			"Quota configs for the default user-principal, the default client-id are request_percentage=50\n"},
		{[]string{"quota", "describe", "--user", "nobody"}, ""},
		// Change one value and remove another in one step.
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate=2048", "--delete", "request_percentage"},
			"Completed updating quotas for user-principal 'alice'.\n"},
		{[]string{"quota", "describe", "--user", "alice"},
			"Quota configs for user-principal 'alice' are producer_byte_rate=2048\n"},
		// Removing the last quota removes the entity.
		{[]string{"quota", "set", "--client-id", "loader", "--delete", "consumer_byte_rate,producer_byte_rate"},
			"Completed updating quotas for client-id 'loader'.\n"},
		{[]string{"quota", "describe", "--client-id", "loader"}, ""},
	}
	for _, s := range steps {
		if got := mustRun(t, cli, "", s.args...); got != s.want {
			t.Fatalf("strata %s:\ngot  %q\nwant %q", strings.Join(s.args, " "), got, s.want)
		}
	}
}

// TestQuotaCommandErrors checks what the CLI refuses itself and the
// broker's errors, which the CLI reports with Kafka's message.
func TestQuotaCommandErrors(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"quota", "set", "--add", "producer_byte_rate=1"}, "name an entity"},
		{[]string{"quota", "set", "--user", "alice"}, "nothing to change"},
		{[]string{"quota", "set", "--user", "", "--add", "producer_byte_rate=1"}, "--user: the name may not be empty"},
		{[]string{"quota", "set", "--user", "alice", "--user-default", "--add", "producer_byte_rate=1"}, "none of the others can be"},
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate"}, "is not key=value"},
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate=fast"}, `"fast" is not a number`},
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate=1", "--delete", "producer_byte_rate"}, "given twice"},
		{[]string{"quota", "set", "--user", "alice", "--add", "no_such_quota=1"}, "INVALID_REQUEST"},
		{[]string{"quota", "set", "--user", "alice", "--add", "producer_byte_rate=1.5"}, "must be a Long value"},
		{[]string{"quota", "set", "--client-default", "--add", "request_percentage=-1"}, "must be a positive number"},
		{[]string{"quota", "describe", "--client-id", ""}, "--client-id: the name may not be empty"},
		{[]string{"quota", "nope"}, `unknown command "nope" for "strata quota"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, _, err := cli("", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if got := mustRun(t, cli, "", "quota", "describe"); got != "" {
		t.Fatalf("after refused changes: got %q, want no quotas", got)
	}
}

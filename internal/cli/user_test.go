package cli

import (
	"strings"
	"testing"
)

// TestUserCommands creates, lists and deletes SCRAM credentials.
func TestUserCommands(t *testing.T) {
	cli := cliAt(t, startBroker(t))
	mustRun(t, cli, "", "user", "create", "alice", "--password", "s3cret", "--mechanism", "SCRAM-SHA-512")
	mustRun(t, cli, "", "user", "create", "alice", "--password", "s3cret", "--mechanism", "scram-sha-256", "--iterations", "8192")
	mustRun(t, cli, "", "user", "create", "bob", "--password", "pw")
	out := mustRun(t, cli, "", "user", "list")
	for _, want := range []string{"alice  SCRAM-SHA-256  8192", "alice  SCRAM-SHA-512  4096", "bob    SCRAM-SHA-512  4096"} {
		if !strings.Contains(out, want) {
			t.Fatalf("list lacks %q:\n%s", want, out)
		}
	}
	mustRun(t, cli, "", "user", "delete", "alice", "--mechanism", "SCRAM-SHA-256")
	mustRun(t, cli, "", "user", "delete", "bob")
	if out = mustRun(t, cli, "", "user", "list"); strings.Contains(out, "bob") || strings.Contains(out, "SCRAM-SHA-256") {
		t.Fatalf("after deletes:\n%s", out)
	}
	if _, _, err := cli("", "user", "delete", "carol", "--mechanism", "SCRAM-SHA-256"); err == nil || !strings.Contains(err.Error(), "RESOURCE_NOT_FOUND") {
		t.Fatalf("deleting an unknown user: %v", err)
	}
	if _, _, err := cli("", "user", "create", "carol", "--password", "x", "--iterations", "100"); err == nil {
		t.Fatal("100 iterations accepted")
	}
}

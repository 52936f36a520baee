package cli

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// aclCount returns how many ACLs the cluster at addr holds.
func aclCount(t *testing.T, addr string) int {
	t.Helper()
	adm := kadm.NewClient(newTestClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Deny().DenyHosts().
		ResourcePatternType(kadm.ACLPatternAny).Operations(kadm.OpAny))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		n += len(r.Described)
	}
	return n
}

// TestACLCommands adds, lists and removes ACLs with strata acl against a
// broker with an authorizer, checking kafka-acls.sh's output and what the
// broker then holds.
func TestACLCommands(t *testing.T) {
	addr := startBrokerWith(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
		"super.users":           "User:ANONYMOUS",
	})
	cli := cliAt(t, addr)

	out := mustRun(t, cli, "", "acl", "add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "describe", "--topic", "orders")
	want := "Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n" +
		" \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)\n" +
		"\t(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW) \n\n"
	if out != want {
		t.Fatalf("acl add printed\n%q\nwant\n%q", out, want)
	}
	mustRun(t, cli, "", "acl", "add", "--allow-principal", "User:bob", "--producer", "--topic", "orders", "--transactional-id", "tx", "--idempotent")
	mustRun(t, cli, "", "acl", "add", "--allow-principal", "User:carol", "--consumer", "--topic", "orders", "--group", "billing")
	mustRun(t, cli, "", "acl", "add", "--deny-principal", "User:mallory", "--deny-host", "10.0.0.7", "--topic", "logs-", "--resource-pattern-type", "prefixed")
	// alice 2, bob 3 on the topic + 2 on tx + 1 on the cluster, carol 2
	// on the topic + 1 on the group, mallory 1.
	if n := aclCount(t, addr); n != 12 {
		t.Fatalf("the broker holds %d ACLs after the adds, want 12", n)
	}

	out = mustRun(t, cli, "", "acl", "list", "--topic", "orders")
	want = "Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n" +
		" \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW)\n" +
		"\t(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)\n" +
		"\t(principal=User:bob, host=*, operation=WRITE, permissionType=ALLOW)\n" +
		"\t(principal=User:bob, host=*, operation=CREATE, permissionType=ALLOW)\n" +
		"\t(principal=User:bob, host=*, operation=DESCRIBE, permissionType=ALLOW)\n" +
		"\t(principal=User:carol, host=*, operation=READ, permissionType=ALLOW)\n" +
		"\t(principal=User:carol, host=*, operation=DESCRIBE, permissionType=ALLOW) \n\n"
	if out != want {
		t.Fatalf("acl list --topic orders printed\n%s\nwant\n%s", out, want)
	}
	out = mustRun(t, cli, "", "acl", "list")
	for _, s := range []string{
		"`ResourcePattern(resourceType=CLUSTER, name=kafka-cluster, patternType=LITERAL)`: \n \t(principal=User:bob, host=*, operation=IDEMPOTENT_WRITE, permissionType=ALLOW) \n",
		"`ResourcePattern(resourceType=GROUP, name=billing, patternType=LITERAL)`: \n \t(principal=User:carol, host=*, operation=READ, permissionType=ALLOW) \n",
		"`ResourcePattern(resourceType=TRANSACTIONAL_ID, name=tx, patternType=LITERAL)`: \n \t(principal=User:bob, host=*, operation=WRITE, permissionType=ALLOW)\n\t(principal=User:bob, host=*, operation=DESCRIBE, permissionType=ALLOW) \n",
		"`ResourcePattern(resourceType=TOPIC, name=logs-, patternType=PREFIXED)`: \n \t(principal=User:mallory, host=10.0.0.7, operation=ALL, permissionType=DENY) \n",
	} {
		if !strings.Contains(out, s) {
			t.Errorf("acl list lacks %q:\n%s", s, out)
		}
	}
	if got := strings.Count(out, "Current ACLs for resource"); got != 5 {
		t.Errorf("acl list shows %d resources, want 5:\n%s", got, out)
	}
	// match: the ACLs that apply to a name, the prefixed one included.
	out = mustRun(t, cli, "", "acl", "list", "--topic", "logs-app", "--resource-pattern-type", "match")
	if !strings.Contains(out, "name=logs-, patternType=PREFIXED") || strings.Contains(out, "orders") {
		t.Errorf("acl list --resource-pattern-type match printed:\n%s", out)
	}
	out = mustRun(t, cli, "", "acl", "list", "--principal", "User:carol")
	if !strings.HasPrefix(out, "ACLs for principal `User:carol`\n") || strings.Contains(out, "User:bob") || strings.Count(out, "User:carol,") != 3 {
		t.Errorf("acl list --principal User:carol printed:\n%s", out)
	}

	out = mustRun(t, cli, "", "acl", "remove", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "orders")
	want = "Removed ACLs for resource `ResourcePattern(resourceType=TOPIC, name=orders, patternType=LITERAL)`: \n" +
		" \t(principal=User:alice, host=*, operation=READ, permissionType=ALLOW) \n\n"
	if out != want {
		t.Fatalf("acl remove printed\n%q\nwant\n%q", out, want)
	}
	out = mustRun(t, cli, "", "acl", "remove", "--principal", "User:bob", "--topic", "orders", "--transactional-id", "tx")
	if got := strings.Count(out, "User:bob"); got != 5 {
		t.Errorf("acl remove --principal User:bob removed %d ACLs, want 5:\n%s", got, out)
	}
	out = mustRun(t, cli, "", "acl", "remove", "--topic", "orders", "--force")
	if got := strings.Count(out, "principal="); got != 3 {
		t.Errorf("acl remove --topic orders removed %d ACLs, want 3 (alice's Describe, carol's two):\n%s", got, out)
	}
	if out := mustRun(t, cli, "", "acl", "remove", "--topic", "orders"); out != "No ACLs matched.\n" {
		t.Errorf("acl remove of nothing printed %q", out)
	}
	if n := aclCount(t, addr); n != 3 { // bob's cluster ACL, carol's group ACL, mallory's
		t.Fatalf("the broker holds %d ACLs after the removes, want 3", n)
	}

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "--operation", "Read", "--topic", "t"}, "--allow-principal, --deny-principal"},
		{[]string{"add", "--allow-principal", "User:a", "--topic", "t", "--resource-pattern-type", "match"}, "not valid when adding"},
		{[]string{"add", "--allow-principal", "User:a", "--operation", "Bogus", "--topic", "t"}, `--operation "Bogus"`},
		{[]string{"add", "--allow-principal", "User:a", "--operation", "IdempotentWrite", "--topic", "t"}, "TOPIC only supports operations"},
		{[]string{"add", "--allow-principal", "alice", "--topic", "t"}, "not of the form Type:name"},
		{[]string{"add", "--allow-principal", "User:a", "--consumer", "--topic", "t"}, "with --consumer you must specify a --topic and a --group"},
		{[]string{"add", "--allow-principal", "User:a", "--producer", "--group", "g"}, "with --producer you must specify a --topic"},
		{[]string{"add", "--allow-principal", "User:a"}, "at least one resource"},
		{[]string{"remove", "--principal", "User:a", "--allow-principal", "User:b", "--topic", "t"}, "cannot be combined"},
	} {
		_, _, err := cli("", append([]string{"acl"}, bad.args...)...)
		if err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("strata acl %s: got error %v, want one saying %q", strings.Join(bad.args, " "), err, bad.want)
		}
	}
}

// TestACLCommandsDenied checks that a principal without rights gets the
// broker's error from every acl command.
func TestACLCommandsDenied(t *testing.T) {
	addr := startBrokerWith(t, map[string]string{
		"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	})
	cli := cliAt(t, addr)
	for _, args := range [][]string{
		{"acl", "add", "--allow-principal", "User:a", "--topic", "t"},
		{"acl", "list"},
		{"acl", "remove", "--topic", "t"},
	} {
		_, _, err := cli("", args...)
		if err == nil || !strings.Contains(err.Error(), "CLUSTER_AUTHORIZATION_FAILED") {
			t.Errorf("strata %s without rights: got %v, want CLUSTER_AUTHORIZATION_FAILED", strings.Join(args, " "), err)
		}
	}
}

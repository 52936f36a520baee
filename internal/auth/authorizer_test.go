package auth

import (
	"fmt"
	"testing"
)

func allow(t ResourceType, name string, pt PatternType, principal, host string, op Operation) Binding {
	return Binding{ResourceType: t, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: PermissionAllow}
}

func deny(t ResourceType, name string, pt PatternType, principal, host string, op Operation) Binding {
	b := allow(t, name, pt, principal, host, op)
	b.Permission = PermissionDeny
	return b
}

func TestAuthorize(t *testing.T) {
	acls := []Binding{
		allow(ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead),
		allow(ResourceTopic, "orders", PatternLiteral, "User:bob", "10.0.0.1", OpWrite),
		allow(ResourceTopic, "logs-", PatternPrefixed, "User:carol", "*", OpAll),
		deny(ResourceTopic, "logs-secret", PatternLiteral, "User:carol", "*", OpRead),
		allow(ResourceTopic, "*", PatternLiteral, "User:dave", "*", OpDescribe),
		allow(ResourceTopic, "pub", PatternLiteral, "User:*", "*", OpRead),
		deny(ResourceTopic, "pub", PatternLiteral, "User:mallory", "*", OpAll),
		allow(ResourceGroup, "g", PatternPrefixed, "User:alice", "*", OpRead),
		allow(ResourceCluster, ClusterName, PatternLiteral, "User:broker", "*", OpClusterAction),
		allow(ResourceTopic, "cfg", PatternLiteral, "User:erin", "*", OpAlterConfigs),
		allow(ResourceTransactionalID, "tx", PatternLiteral, "User:alice", "*", OpWrite),
	}
	a := NewAuthorizer(AuthorizerConfig{SuperUsers: []string{"User:admin"}}, acls)
	cases := []struct {
		principal, host string
		op              Operation
		rt              ResourceType
		name            string
		want            bool
	}{
		{"User:alice", "1.2.3.4", OpRead, ResourceTopic, "orders", true},
		{"User:alice", "1.2.3.4", OpDescribe, ResourceTopic, "orders", true}, // implied by READ
		{"User:alice", "1.2.3.4", OpWrite, ResourceTopic, "orders", false},
		{"User:alice", "1.2.3.4", OpRead, ResourceTopic, "orders2", false}, // literal is not a prefix
		{"User:bob", "10.0.0.1", OpWrite, ResourceTopic, "orders", true},
		{"User:bob", "10.0.0.2", OpWrite, ResourceTopic, "orders", false}, // other host
		{"User:carol", "h", OpWrite, ResourceTopic, "logs-app", true},
		{"User:carol", "h", OpRead, ResourceTopic, "logs-secret", false}, // DENY wins over prefixed ALL
		{"User:carol", "h", OpWrite, ResourceTopic, "logs-secret", true},
		{"User:carol", "h", OpRead, ResourceTopic, "logs", false}, // shorter than the prefix
		{"User:carol", "h", OpRead, ResourceTopic, "xlogs-a", false},
		{"User:dave", "h", OpDescribe, ResourceTopic, "anything", true},
		{"User:dave", "h", OpRead, ResourceTopic, "anything", false},
		{"User:zoe", "h", OpRead, ResourceTopic, "pub", true}, // User:*
		{"User:mallory", "h", OpRead, ResourceTopic, "pub", false},
		{"User:alice", "h", OpRead, ResourceGroup, "group-1", true},
		{"User:alice", "h", OpDelete, ResourceGroup, "group-1", false},
		{"User:broker", "h", OpClusterAction, ResourceCluster, ClusterName, true},
		{"User:broker", "h", OpAlter, ResourceCluster, ClusterName, false},
		{"User:erin", "h", OpDescribeConfigs, ResourceTopic, "cfg", true}, // implied by ALTER_CONFIGS
		{"User:erin", "h", OpDescribe, ResourceTopic, "cfg", false},
		{"User:admin", "h", OpDelete, ResourceTopic, "orders", true}, // super user
		{"User:admin", "h", OpAlter, ResourceCluster, ClusterName, true},
		{"User:nobody", "h", OpRead, ResourceTopic, "unnamed", false}, // no ACL, default deny
		{"User:alice", "h", OpWrite, ResourceTransactionalID, "tx", true},
		{"User:alice", "h", OpDescribe, ResourceTransactionalID, "tx", true},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s/%d/%d/%s", c.principal, c.op, c.rt, c.name), func(t *testing.T) {
			if got := a.Authorize(c.principal, c.host, c.op, c.rt, c.name); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestAllowIfNoACL(t *testing.T) {
	acls := []Binding{allow(ResourceTopic, "owned", PatternLiteral, "User:alice", "*", OpRead)}
	a := NewAuthorizer(AuthorizerConfig{AllowIfNoACL: true}, acls)
	if !a.Authorize("User:bob", "h", OpWrite, ResourceTopic, "free") {
		t.Fatal("a resource no ACL names is denied with allow.everyone.if.no.acl.found")
	}
	if a.Authorize("User:bob", "h", OpRead, ResourceTopic, "owned") {
		t.Fatal("a resource with an ACL for someone else is allowed")
	}
}

func TestNilAuthorizerAllows(t *testing.T) {
	var a *Authorizer
	if !a.Authorize("User:x", "h", OpAlter, ResourceCluster, ClusterName) || !a.AuthorizeAny("User:x", "h", OpWrite, ResourceTopic) {
		t.Fatal("a nil authorizer denied")
	}
}

func TestAuthorizedOperations(t *testing.T) {
	a := NewAuthorizer(AuthorizerConfig{}, []Binding{
		allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpWrite),
		allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpAlterConfigs),
	})
	got := a.AuthorizedOperations("User:a", "h", ResourceTopic, "t")
	want := int32(1<<OpWrite | 1<<OpDescribe | 1<<OpAlterConfigs | 1<<OpDescribeConfigs)
	if got != want {
		t.Fatalf("got %b, want %b", got, want)
	}
}

func TestAuthorizeAny(t *testing.T) {
	cases := []struct {
		name string
		acls []Binding
		want bool
	}{
		{"no ACLs", nil, false},
		{"allow one", []Binding{allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpWrite)}, true},
		{"allow other op", []Binding{allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpRead)}, false},
		{"denied by wildcard", []Binding{
			allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpWrite),
			deny(ResourceTopic, "*", PatternLiteral, "User:a", "*", OpWrite)}, false},
		{"denied by prefix", []Binding{
			allow(ResourceTopic, "app-t", PatternPrefixed, "User:a", "*", OpWrite),
			deny(ResourceTopic, "app-", PatternPrefixed, "User:a", "*", OpAll)}, false},
		{"deny elsewhere", []Binding{
			allow(ResourceTopic, "app-t", PatternPrefixed, "User:a", "*", OpWrite),
			deny(ResourceTopic, "other", PatternLiteral, "User:a", "*", OpWrite)}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a := NewAuthorizer(AuthorizerConfig{}, c.acls)
			if got := a.AuthorizeAny("User:a", "h", OpWrite, ResourceTopic); got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestFilterMatches(t *testing.T) {
	lit := allow(ResourceTopic, "orders", PatternLiteral, "User:a", "*", OpRead)
	wild := allow(ResourceTopic, "*", PatternLiteral, "User:a", "*", OpRead)
	pre := allow(ResourceTopic, "ord", PatternPrefixed, "User:a", "*", OpRead)
	name := func(s string) *string { return &s }
	cases := []struct {
		name string
		f    Filter
		want [3]bool // lit, wild, pre
	}{
		{"any", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, true, true}},
		{"match orders", Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, true, true}},
		{"match other", Filter{ResourceType: ResourceTopic, ResourceName: name("x"), PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, true, false}},
		{"literal orders", Filter{ResourceType: ResourceTopic, ResourceName: name("orders"), PatternType: PatternLiteral, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, false, false}},
		{"prefixed", Filter{ResourceType: ResourceTopic, PatternType: PatternPrefixed, Operation: OpAny, Permission: PermissionAny}, [3]bool{false, false, true}},
		{"any name orders", Filter{ResourceType: ResourceAny, ResourceName: name("orders"), PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}, [3]bool{true, false, false}},
		{"deny only", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionDeny}, [3]bool{false, false, false}},
		{"other principal", Filter{ResourceType: ResourceAny, PatternType: PatternAny, Principal: name("User:b"), Operation: OpAny, Permission: PermissionAny}, [3]bool{false, false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := [3]bool{c.f.Matches(lit), c.f.Matches(wild), c.f.Matches(pre)}
			if got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestBindingCheck(t *testing.T) {
	good := allow(ResourceTopic, "t", PatternLiteral, "User:a", "*", OpRead)
	if err := good.Check(); err != nil {
		t.Fatalf("good binding: %v", err)
	}
	bad := []func(*Binding){
		func(b *Binding) { b.ResourceType = ResourceAny },
		func(b *Binding) { b.PatternType = PatternMatch },
		func(b *Binding) { b.Operation = OpAny },
		func(b *Binding) { b.Permission = PermissionAny },
		func(b *Binding) { b.Principal = "alice" },
		func(b *Binding) { b.Principal = "User:" },
		func(b *Binding) { b.Host = "" },
		func(b *Binding) { b.ResourceName = "" },
		func(b *Binding) { b.ResourceType = ResourceCluster },
	}
	for i, mod := range bad {
		b := good
		mod(&b)
		if b.Check() == nil {
			t.Errorf("case %d: %+v passed", i, b)
		}
	}
}

func BenchmarkAuthorize(b *testing.B) {
	var acls []Binding
	for i := range 1000 {
		acls = append(acls, allow(ResourceTopic, fmt.Sprintf("topic-%d", i), PatternLiteral, fmt.Sprintf("User:u%d", i%50), "*", OpWrite))
		acls = append(acls, allow(ResourceTopic, fmt.Sprintf("pre-%d-", i), PatternPrefixed, fmt.Sprintf("User:u%d", i%50), "*", OpRead))
	}
	a := NewAuthorizer(AuthorizerConfig{}, acls)
	b.ReportAllocs()
	for b.Loop() {
		a.Authorize("User:u7", "10.1.1.1", OpWrite, ResourceTopic, "topic-507")
	}
}

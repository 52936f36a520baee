package auth

import (
	"fmt"
	"slices"
	"strings"
)

// ResourceType is what an ACL guards, with Kafka's wire codes.
type ResourceType int8

// Kafka's resource types. Any is for filters only.
const (
	ResourceAny             ResourceType = 1
	ResourceTopic           ResourceType = 2
	ResourceGroup           ResourceType = 3
	ResourceCluster         ResourceType = 4
	ResourceTransactionalID ResourceType = 5
	ResourceDelegationToken ResourceType = 6
	ResourceUser            ResourceType = 7
)

// ClusterName is the name of the one CLUSTER resource, as Kafka names it.
const ClusterName = "kafka-cluster"

// PatternType says how an ACL's resource name matches, with Kafka's wire
// codes. Any and Match are for filters only.
type PatternType int8

// Kafka's pattern types.
const (
	PatternAny      PatternType = 1
	PatternMatch    PatternType = 2
	PatternLiteral  PatternType = 3
	PatternPrefixed PatternType = 4
)

// Operation is what a principal does to a resource, with Kafka's wire
// codes. Any is for filters only.
type Operation int8

// Kafka's operations.
const (
	OpAny             Operation = 1
	OpAll             Operation = 2
	OpRead            Operation = 3
	OpWrite           Operation = 4
	OpCreate          Operation = 5
	OpDelete          Operation = 6
	OpAlter           Operation = 7
	OpDescribe        Operation = 8
	OpClusterAction   Operation = 9
	OpDescribeConfigs Operation = 10
	OpAlterConfigs    Operation = 11
	OpIdempotentWrite Operation = 12
	OpCreateTokens    Operation = 13
	OpDescribeTokens  Operation = 14
)

// Permission is an ACL's verdict, with Kafka's wire codes. Any is for
// filters only.
type Permission int8

// Kafka's permission types.
const (
	PermissionAny   Permission = 1
	PermissionDeny  Permission = 2
	PermissionAllow Permission = 3
)

// WildcardName is the literal resource name that matches every resource of
// its type; WildcardPrincipal and WildcardHost match every user and host.
const (
	WildcardName      = "*"
	WildcardPrincipal = "User:*"
	WildcardHost      = "*"
)

// Binding is one ACL: Principal from Host may (Allow) or may not (Deny) do
// Operation on the resources of ResourceType that ResourceName names under
// PatternType (Kafka's AclBinding).
type Binding struct {
	ResourceType ResourceType
	ResourceName string
	PatternType  PatternType
	Principal    string
	Host         string
	Operation    Operation
	Permission   Permission
}

// Check returns an error if b is not a binding that may be stored: every
// field concrete (no Any, no Match), a principal of the form Type:name, a
// host, and a resource name, "kafka-cluster" for the cluster resource
// (Kafka's CreateAcls checks).
func (b Binding) Check() error {
	switch {
	case b.ResourceType < ResourceTopic || b.ResourceType > ResourceUser:
		return fmt.Errorf("invalid resource type %d", b.ResourceType)
	case b.PatternType != PatternLiteral && b.PatternType != PatternPrefixed:
		return fmt.Errorf("invalid pattern type %d", b.PatternType)
	case b.Operation < OpAll || b.Operation > OpDescribeTokens:
		return fmt.Errorf("invalid operation %d", b.Operation)
	case b.Permission != PermissionAllow && b.Permission != PermissionDeny:
		return fmt.Errorf("invalid permission type %d", b.Permission)
	case b.ResourceName == "":
		return fmt.Errorf("resource name must not be empty")
	case b.ResourceType == ResourceCluster && b.ResourceName != ClusterName:
		return fmt.Errorf("the only valid name for the CLUSTER resource is %s", ClusterName)
	case b.Host == "":
		return fmt.Errorf("host must not be empty")
	}
	if i := strings.IndexByte(b.Principal, ':'); i <= 0 || i == len(b.Principal)-1 {
		return fmt.Errorf("principal %q is not of the form Type:name", b.Principal)
	}
	return nil
}

// Filter selects bindings, as DescribeAcls and DeleteAcls do: Any (or an
// empty string) matches every value of a field; PatternMatch matches the
// bindings that apply to ResourceName (literal equal, the wildcard, or a
// prefix of it).
type Filter struct {
	ResourceType ResourceType
	ResourceName *string // nil: any
	PatternType  PatternType
	Principal    *string // nil: any
	Host         *string // nil: any
	Operation    Operation
	Permission   Permission
}

// CheckFilter returns an error if f cannot match anything sensible: an
// unknown code in one of its fields (Kafka answers INVALID_REQUEST).
func (f Filter) CheckFilter() error {
	switch {
	case f.ResourceType < ResourceAny || f.ResourceType > ResourceUser:
		return fmt.Errorf("invalid resource type %d", f.ResourceType)
	case f.PatternType < PatternAny || f.PatternType > PatternPrefixed:
		return fmt.Errorf("invalid pattern type %d", f.PatternType)
	case f.Operation < OpAny || f.Operation > OpDescribeTokens:
		return fmt.Errorf("invalid operation %d", f.Operation)
	case f.Permission < PermissionAny || f.Permission > PermissionAllow:
		return fmt.Errorf("invalid permission type %d", f.Permission)
	}
	return nil
}

// Matches reports whether f selects b.
func (f Filter) Matches(b Binding) bool {
	if f.ResourceType != ResourceAny && f.ResourceType != b.ResourceType ||
		f.Operation != OpAny && f.Operation != b.Operation ||
		f.Permission != PermissionAny && f.Permission != b.Permission ||
		f.Principal != nil && *f.Principal != b.Principal ||
		f.Host != nil && *f.Host != b.Host {
		return false
	}
	switch f.PatternType {
	case PatternAny:
		return f.ResourceName == nil || *f.ResourceName == b.ResourceName
	case PatternMatch:
		if f.ResourceName == nil {
			return true
		}
		name := *f.ResourceName
		if b.PatternType == PatternPrefixed {
			return strings.HasPrefix(name, b.ResourceName)
		}
		return b.ResourceName == name || b.ResourceName == WildcardName
	default:
		return f.PatternType == b.PatternType && (f.ResourceName == nil || *f.ResourceName == b.ResourceName)
	}
}

// implies reports whether an ALLOW of granted also allows op: ALL allows
// everything, and READ, WRITE, DELETE and ALTER each allow DESCRIBE, and
// ALTER_CONFIGS allows DESCRIBE_CONFIGS (Kafka's implied operations).
func implies(granted, op Operation) bool {
	switch {
	case granted == op || granted == OpAll:
		return true
	case op == OpDescribe:
		return granted == OpRead || granted == OpWrite || granted == OpDelete || granted == OpAlter
	case op == OpDescribeConfigs:
		return granted == OpAlterConfigs
	}
	return false
}

// resourceOps are the operations Kafka defines on each resource type, the
// ones authorized operations report.
var resourceOps = map[ResourceType][]Operation{
	ResourceTopic:           {OpRead, OpWrite, OpCreate, OpDescribe, OpDelete, OpAlter, OpDescribeConfigs, OpAlterConfigs},
	ResourceGroup:           {OpRead, OpDescribe, OpDelete},
	ResourceCluster:         {OpCreate, OpClusterAction, OpDescribeConfigs, OpAlterConfigs, OpIdempotentWrite, OpAlter, OpDescribe},
	ResourceTransactionalID: {OpDescribe, OpWrite},
	ResourceDelegationToken: {OpDescribe},
	ResourceUser:            {OpCreateTokens, OpDescribeTokens},
}

// Operations returns the operations Kafka defines on resources of type t:
// those an ACL on them may name besides ALL (kafka-acls.sh refuses
// others).
func Operations(t ResourceType) []Operation { return slices.Clone(resourceOps[t]) }

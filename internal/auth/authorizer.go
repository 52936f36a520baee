package auth

import (
	"slices"
	"strings"
)

// AuthorizerConfig configures an Authorizer.
type AuthorizerConfig struct {
	// SuperUsers may do everything, whatever the ACLs say (super.users).
	SuperUsers []string
	// AllowIfNoACL allows an operation on a resource no ACL names at all
	// (allow.everyone.if.no.acl.found).
	AllowIfNoACL bool
}

// ParseSuperUsers splits Kafka's super.users value: principals separated
// by semicolons.
func ParseSuperUsers(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// resourceKey names the resources a group of bindings guards.
type resourceKey struct {
	t    ResourceType
	name string
}

// Authorizer decides requests with Kafka's StandardAuthorizer rules over a
// fixed set of ACLs; a new set makes a new Authorizer. A nil *Authorizer is
// authorization turned off: it allows everything. An Authorizer is
// immutable and safe for concurrent use.
//
// A request is allowed when the principal is a super user, or when no DENY
// that matches it covers the operation and an ALLOW that matches it covers
// or implies the operation; a resource that no ACL names at all is allowed
// only with AllowIfNoACL. An ACL matches a resource by its literal name,
// the literal wildcard "*", or a prefix; a principal by name or "User:*";
// a host by address or "*".
type Authorizer struct {
	superUsers   map[string]bool
	allowIfNoACL bool
	literal      map[resourceKey][]Binding
	prefixed     map[resourceKey][]Binding
	// prefixLens are the lengths of the prefixed ACLs' names by resource
	// type, ascending, so a lookup tries only prefixes some ACL has.
	prefixLens map[ResourceType][]int
}

// NewAuthorizer returns an authorizer enforcing acls, which must each pass
// Binding.Check.
func NewAuthorizer(cfg AuthorizerConfig, acls []Binding) *Authorizer {
	a := &Authorizer{
		superUsers:   make(map[string]bool, len(cfg.SuperUsers)),
		allowIfNoACL: cfg.AllowIfNoACL,
		literal:      map[resourceKey][]Binding{},
		prefixed:     map[resourceKey][]Binding{},
		prefixLens:   map[ResourceType][]int{},
	}
	for _, u := range cfg.SuperUsers {
		a.superUsers[u] = true
	}
	for _, b := range acls {
		k := resourceKey{b.ResourceType, b.ResourceName}
		if b.PatternType == PatternPrefixed {
			a.prefixed[k] = append(a.prefixed[k], b)
			if lens := a.prefixLens[b.ResourceType]; !slices.Contains(lens, len(b.ResourceName)) {
				a.prefixLens[b.ResourceType] = append(lens, len(b.ResourceName))
			}
		} else {
			a.literal[k] = append(a.literal[k], b)
		}
	}
	for _, lens := range a.prefixLens {
		slices.Sort(lens)
	}
	return a
}

// Authorize reports whether principal, connected from host (an IP
// address), may do op on the resource of type t named name.
func (a *Authorizer) Authorize(principal, host string, op Operation, t ResourceType, name string) bool {
	if a == nil || a.superUsers[principal] {
		return true
	}
	found, allowed := false, false
	// scan looks at the ACLs of one pattern and reports false on a
	// matching DENY, which decides at once.
	scan := func(bs []Binding) bool {
		for _, b := range bs {
			found = true
			if !principalMatches(b.Principal, principal) || b.Host != WildcardHost && b.Host != host {
				continue
			}
			if b.Permission == PermissionDeny {
				if b.Operation == op || b.Operation == OpAll {
					return false
				}
				continue
			}
			allowed = allowed || implies(b.Operation, op)
		}
		return true
	}
	if !scan(a.literal[resourceKey{t, name}]) {
		return false
	}
	if name != WildcardName && !scan(a.literal[resourceKey{t, WildcardName}]) {
		return false
	}
	for _, n := range a.prefixLens[t] {
		if n > len(name) {
			break
		}
		if !scan(a.prefixed[resourceKey{t, name[:n]}]) {
			return false
		}
	}
	if !found {
		return a.allowIfNoACL
	}
	return allowed
}

// AuthorizedOperations returns the operations Kafka defines on resources
// of type t that principal from host may do on the one named name, as the
// bit field the protocol carries (bit i set: operation code i allowed).
func (a *Authorizer) AuthorizedOperations(principal, host string, t ResourceType, name string) int32 {
	var bits int32
	for _, op := range resourceOps[t] {
		if a.Authorize(principal, host, op, t, name) {
			bits |= 1 << op
		}
	}
	return bits
}

// AuthorizeAny reports whether principal from host may do op on some
// resource of type t (Kafka's authorizeByResourceType, which InitProducerId
// uses for an idempotent producer): an ALLOW ACL for it exists that no DENY
// for it covers, or no ACL names a resource of type t and AllowIfNoACL.
func (a *Authorizer) AuthorizeAny(principal, host string, op Operation, t ResourceType) bool {
	if a == nil || a.superUsers[principal] {
		return true
	}
	var allows, denies []Binding
	anyACL := false
	for _, m := range []map[resourceKey][]Binding{a.literal, a.prefixed} {
		for k, bs := range m {
			if k.t != t {
				continue
			}
			anyACL = true
			for _, b := range bs {
				if !principalMatches(b.Principal, principal) || b.Host != WildcardHost && b.Host != host ||
					b.Operation != op && b.Operation != OpAll {
					continue
				}
				if b.Permission == PermissionDeny {
					denies = append(denies, b)
				} else {
					allows = append(allows, b)
				}
			}
		}
	}
	if !anyACL {
		return a.allowIfNoACL
	}
	for _, allow := range allows {
		if !slices.ContainsFunc(denies, func(d Binding) bool { return covers(d, allow) }) {
			return true
		}
	}
	return false
}

// covers reports whether every resource the pattern of allow names is also
// named by the pattern of deny.
func covers(deny, allow Binding) bool {
	if deny.PatternType == PatternLiteral {
		return deny.ResourceName == WildcardName ||
			allow.PatternType == PatternLiteral && allow.ResourceName == deny.ResourceName
	}
	return strings.HasPrefix(allow.ResourceName, deny.ResourceName)
}

// principalMatches reports whether an ACL for aclPrincipal applies to
// principal: the same, or the user wildcard and a user.
func principalMatches(aclPrincipal, principal string) bool {
	return aclPrincipal == principal || aclPrincipal == WildcardPrincipal && strings.HasPrefix(principal, "User:")
}

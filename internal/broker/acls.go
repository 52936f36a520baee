package broker

// The ACL APIs: DescribeAcls (29) 1-3, CreateAcls (30) 1-3, DeleteAcls
// (31) 1-3, the versions Kafka 4.0 serves (KIP-896 removed v0).
//
// Behavior:
//   - Without an authorizer (authorizer.class.name unset) every answer is
//     SECURITY_DISABLED, as Kafka's.
//   - DescribeAcls needs DESCRIBE on the cluster, CreateAcls and DeleteAcls
//     ALTER; otherwise CLUSTER_AUTHORIZATION_FAILED.
//   - A filter with an unknown code, or a creation that is not a storable
//     binding (ANY or MATCH in it, an empty name, a CLUSTER resource not
//     named kafka-cluster, a principal not of the form Type:name, an empty
//     host), is INVALID_REQUEST for that entry alone.
//   - Filters match as Kafka's: ANY matches everything, a null name,
//     principal or host any value, MATCH every ACL that applies to the
//     name (literal, the "*" wildcard, or a prefix of it).
//   - Creations and deletions go through the metadata log in one record
//     per request; a binding already stored is not stored twice. DeleteAcls
//     answers each filter with the ACLs it removed.
//
// KIPs: KIP-140 (v0), KIP-290 (v1 prefixed patterns), KIP-482 (v2
// flexible), KIP-679/KIP-896 (v3, user resources; v0 removed).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() {
	register(29, 1, 3, (*Broker).handleDescribeACLs)
	register(30, 1, 3, (*Broker).handleCreateACLs)
	register(31, 1, 3, (*Broker).handleDeleteACLs)
}

// errSecurityDisabled is Kafka's answer to an ACL request without an
// authorizer.
var errSecurityDisabled = apiErrorf(kerr.SecurityDisabled, "No Authorizer is configured.")

// aclGate returns the error an ACL request answers before it is looked at:
// no authorizer, or no op on the cluster for its sender.
func (b *Broker) aclGate(req *Request, op auth.Operation) error {
	switch {
	case !b.authorizationOn():
		return errSecurityDisabled
	case !b.allowedCluster(req, op):
		return kerr.ClusterAuthorizationFailed
	}
	return nil
}

func (b *Broker) handleDescribeACLs(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeACLsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := auth.Filter{
		ResourceType: auth.ResourceType(r.ResourceType), ResourceName: r.ResourceName,
		PatternType: auth.PatternType(r.ResourcePatternType), Principal: r.Principal, Host: r.Host,
		Operation: auth.Operation(r.Operation), Permission: auth.Permission(r.PermissionType),
	}
	err := b.aclGate(req, auth.OpDescribe)
	if err == nil {
		if ferr := f.CheckFilter(); ferr != nil {
			err = apiErrorf(kerr.InvalidRequest, "%v", ferr)
		}
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
		return resp, nil
	}
	type pattern struct {
		t    auth.ResourceType
		name string
		pt   auth.PatternType
	}
	index := map[pattern]int{}
	for _, a := range b.store.Current().ACLs() {
		if !f.Matches(a.Binding) {
			continue
		}
		k := pattern{a.ResourceType, a.ResourceName, a.PatternType}
		i, ok := index[k]
		if !ok {
			res := kmsg.NewDescribeACLsResponseResource()
			res.ResourceType, res.ResourceName = kmsg.ACLResourceType(k.t), k.name
			res.ResourcePatternType = kmsg.ACLResourcePatternType(k.pt)
			resp.Resources = append(resp.Resources, res)
			i = len(resp.Resources) - 1
			index[k] = i
		}
		acl := kmsg.NewDescribeACLsResponseResourceACL()
		acl.Principal, acl.Host = a.Principal, a.Host
		acl.Operation, acl.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, acl)
	}
	return resp, nil
}

func (b *Broker) handleCreateACLs(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.CreateACLsRequest)
	resp := r.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(r.Creations))
	errs := make([]error, len(r.Creations))
	gate := b.aclGate(req, auth.OpAlter)
	var valid []auth.Binding
	var validAt []int
	for i, c := range r.Creations {
		resp.Results[i] = kmsg.NewCreateACLsResponseResult()
		if gate != nil {
			errs[i] = gate
			continue
		}
		bd := auth.Binding{
			ResourceType: auth.ResourceType(c.ResourceType), ResourceName: c.ResourceName,
			PatternType: auth.PatternType(c.ResourcePatternType), Principal: c.Principal, Host: c.Host,
			Operation: auth.Operation(c.Operation), Permission: auth.Permission(c.PermissionType),
		}
		if err := bd.Check(); err != nil {
			errs[i] = apiErrorf(kerr.InvalidRequest, "Invalid ACL creation: %v", err)
			continue
		}
		valid = append(valid, bd)
		validAt = append(validAt, i)
	}
	if len(valid) > 0 {
		if err := b.ctrl.CreateACLs(ctx, valid); err != nil {
			for _, i := range validAt {
				errs[i] = adminError(err)
			}
		}
	}
	for i, err := range errs {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = b.errorCode(err), errorMessage(err)
		}
	}
	return resp, nil
}

func (b *Broker) handleDeleteACLs(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DeleteACLsRequest)
	resp := r.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(r.Filters))
	errs := make([]error, len(r.Filters))
	gate := b.aclGate(req, auth.OpAlter)
	var filters []auth.Filter
	var filterAt []int
	for i, f := range r.Filters {
		resp.Results[i] = kmsg.NewDeleteACLsResponseResult()
		if gate != nil {
			errs[i] = gate
			continue
		}
		af := auth.Filter{
			ResourceType: auth.ResourceType(f.ResourceType), ResourceName: f.ResourceName,
			PatternType: auth.PatternType(f.ResourcePatternType), Principal: f.Principal, Host: f.Host,
			Operation: auth.Operation(f.Operation), Permission: auth.Permission(f.PermissionType),
		}
		if err := af.CheckFilter(); err != nil {
			errs[i] = apiErrorf(kerr.InvalidRequest, "Invalid ACL filter: %v", err)
			continue
		}
		filters = append(filters, af)
		filterAt = append(filterAt, i)
	}
	if len(filters) > 0 {
		matched, err := b.ctrl.DeleteACLs(ctx, filters)
		for j, i := range filterAt {
			if err != nil {
				errs[i] = adminError(err)
				continue
			}
			resp.Results[i].MatchingACLs = deletedACLs(matched[j])
		}
	}
	for i, err := range errs {
		if err != nil {
			resp.Results[i].ErrorCode, resp.Results[i].ErrorMessage = b.errorCode(err), errorMessage(err)
		}
	}
	return resp, nil
}

// deletedACLs lists removed ACLs as DeleteAcls answers them.
func deletedACLs(acls []metadata.ACL) []kmsg.DeleteACLsResponseResultMatchingACL {
	out := make([]kmsg.DeleteACLsResponseResultMatchingACL, 0, len(acls))
	for _, a := range acls {
		m := kmsg.NewDeleteACLsResponseResultMatchingACL()
		m.ResourceType, m.ResourceName = kmsg.ACLResourceType(a.ResourceType), a.ResourceName
		m.ResourcePatternType = kmsg.ACLResourcePatternType(a.PatternType)
		m.Principal, m.Host = a.Principal, a.Host
		m.Operation, m.PermissionType = kmsg.ACLOperation(a.Operation), kmsg.ACLPermissionType(a.Permission)
		out = append(out, m)
	}
	return out
}

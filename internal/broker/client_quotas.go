package broker

// DescribeClientQuotas (key 48) and AlterClientQuotas (key 49), versions
// 0-1 of both.
//
// Behavior (as Kafka's KRaft controller and ClientQuotasImage):
//   - Entities have the types user and client-id, each named or the
//     default (a null name); the quotas are producer_byte_rate and
//     consumer_byte_rate (whole bytes per second), request_percentage and
//     controller_mutation_rate. They are stored in the metadata log, so
//     every node enforces the same (see quota.go).
//   - DescribeClientQuotas: a component with an empty entity type, or one
//     type twice, is INVALID_REQUEST; a type other than user, client-id and
//     ip UNSUPPORTED_VERSION; match type 0 (exact) needs a match string, 1
//     (default) and 2 (any specified) must have none, any other is
//     INVALID_REQUEST; ip with user or client-id is INVALID_REQUEST. The
//     error is the whole response's, with no entries. An entity matches
//     when it has each exactly matched component with that name (null:
//     the default) and each "specified" type with any name; strict
//     requires it to have no other component. No components, not strict,
//     matches every entity.
//   - AlterClientQuotas: each entry gets its own result. An empty entity,
//     one type twice, an unknown type, an empty name, an unknown key, a
//     key twice, a byte rate that is not a whole number, or a value that is
//     not positive is INVALID_REQUEST with Kafka's message; an entity given
//     again is INVALID_REQUEST ("Ignoring duplicate entity"). Quotas by ip
//     (connection_creation_rate) are not supported: INVALID_REQUEST.
//     Removing a quota that is not set is a no-op; validate_only checks
//     and changes nothing.
//   - Under an authorizer, DescribeClientQuotas needs DESCRIBE_CONFIGS on
//     the cluster (else CLUSTER_AUTHORIZATION_FAILED for the whole
//     response) and AlterClientQuotas ALTER_CONFIGS (else every entry is
//     CLUSTER_AUTHORIZATION_FAILED), as Kafka's KafkaApis checks.
//
// KIPs: KIP-546 (the APIs), KIP-482 (flexible v1), KIP-599
// (controller_mutation_rate).

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

func init() {
	register(48, 0, 1, (*Broker).handleDescribeClientQuotas)
	register(49, 0, 1, (*Broker).handleAlterClientQuotas)
}

// The client quota keys, Kafka's QuotaConfigs.
const (
	quotaProduce  = "producer_byte_rate"
	quotaFetch    = "consumer_byte_rate"
	quotaRequest  = "request_percentage"
	quotaMutation = "controller_mutation_rate"
)

// quotaWholeNumber tells, for each key, whether Kafka types it LONG (the
// value must be a whole number) rather than DOUBLE.
var quotaWholeNumber = map[string]bool{quotaProduce: true, quotaFetch: true, quotaRequest: false, quotaMutation: false}

// Kafka's entity type names.
const (
	entityUser     = "user"
	entityClientID = "client-id"
	entityIP       = "ip"
)

func (b *Broker) handleDescribeClientQuotas(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if !b.allowedCluster(req, auth.OpDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	exact, specified, err := quotaFilter(r.Components)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
		return resp, nil
	}
	quotas := b.store.Current().ClientQuotas()
	entities := slices.SortedFunc(maps.Keys(quotas), func(x, y metadata.QuotaEntity) int {
		return cmp.Or(compareQuotaNames(x.User, y.User), compareQuotaNames(x.ClientID, y.ClientID))
	})
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	for _, e := range entities {
		if !quotaMatches(e, exact, specified, r.Strict) {
			continue
		}
		entry := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range entityComponents(e) {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.typ, c.name
			entry.Entity = append(entry.Entity, ent)
		}
		for _, k := range slices.Sorted(maps.Keys(quotas[e])) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, quotas[e][k]
			entry.Values = append(entry.Values, v)
		}
		resp.Entries = append(resp.Entries, entry)
	}
	return resp, nil
}

// compareQuotaNames orders defaults before names, names alphabetically.
func compareQuotaNames(x, y metadata.QuotaName) int {
	switch {
	case x == y:
		return 0
	case x.Kind != y.Kind:
		return int(x.Kind) - int(y.Kind)
	case x.Name < y.Name:
		return -1
	}
	return 1
}

// quotaFilter checks the components of a DescribeClientQuotas filter and
// returns the exactly matched names by type and the "any specified" types.
func quotaFilter(cs []kmsg.DescribeClientQuotasRequestComponent) (map[string]metadata.QuotaName, map[string]bool, error) {
	exact, specified := map[string]metadata.QuotaName{}, map[string]bool{}
	for _, c := range cs {
		_, dupExact := exact[c.EntityType]
		switch {
		case c.EntityType == "":
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Invalid empty entity type.")
		case dupExact || specified[c.EntityType]:
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Entity type %s cannot appear more than once in the filter.", c.EntityType)
		case c.EntityType != entityUser && c.EntityType != entityClientID && c.EntityType != entityIP:
			return nil, nil, apiErrorf(kerr.UnsupportedVersion, "Unsupported entity type %s", c.EntityType)
		}
		switch c.MatchType {
		case kmsg.QuotasMatchTypeExact:
			if c.Match == nil {
				return nil, nil, apiErrorf(kerr.InvalidRequest, "Request specified MATCH_TYPE_EXACT, but set match string to null.")
			}
			exact[c.EntityType] = metadata.Named(*c.Match)
		case kmsg.QuotasMatchTypeDefault:
			if c.Match != nil {
				return nil, nil, apiErrorf(kerr.InvalidRequest, "Request specified MATCH_TYPE_DEFAULT, but also specified a match string.")
			}
			exact[c.EntityType] = metadata.QuotaName{Kind: metadata.QuotaDefault}
		case kmsg.QuotasMatchTypeAny:
			if c.Match != nil {
				return nil, nil, apiErrorf(kerr.InvalidRequest, "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string.")
			}
			specified[c.EntityType] = true
		default:
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Unknown match type %d", int8(c.MatchType))
		}
	}
	_, ip := exact[entityIP]
	_, user := exact[entityUser]
	_, client := exact[entityClientID]
	if (ip || specified[entityIP]) && (user || client || specified[entityUser] || specified[entityClientID]) {
		return nil, nil, apiErrorf(kerr.InvalidRequest, "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component.")
	}
	return exact, specified, nil
}

// quotaMatches reports whether entity e passes a filter.
func quotaMatches(e metadata.QuotaEntity, exact map[string]metadata.QuotaName, specified map[string]bool, strict bool) bool {
	if len(exact)+len(specified) == 0 {
		return !strict
	}
	has := map[string]metadata.QuotaName{}
	for _, c := range entityComponents(e) {
		has[c.typ] = c.qn
	}
	for typ, name := range exact {
		if got, ok := has[typ]; !ok || got != name {
			return false
		}
	}
	for typ := range specified {
		if _, ok := has[typ]; !ok {
			return false
		}
	}
	return !strict || len(has) == len(exact)+len(specified)
}

// entityComponent is one component of an entity in Kafka's form.
type entityComponent struct {
	typ  string
	name *string // nil: the default
	qn   metadata.QuotaName
}

// entityComponents lists e's components: user, then client id.
func entityComponents(e metadata.QuotaEntity) []entityComponent {
	var out []entityComponent
	for _, c := range []struct {
		typ string
		qn  metadata.QuotaName
	}{{entityUser, e.User}, {entityClientID, e.ClientID}} {
		switch c.qn.Kind {
		case metadata.QuotaNamed:
			out = append(out, entityComponent{typ: c.typ, name: &c.qn.Name, qn: c.qn})
		case metadata.QuotaDefault:
			out = append(out, entityComponent{typ: c.typ, qn: c.qn})
		}
	}
	return out
}

func (b *Broker) handleAlterClientQuotas(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterClientQuotasRequest)
	resp := r.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	seen := map[metadata.QuotaEntity]bool{}
	allowed := b.allowedCluster(req, auth.OpAlterConfigs)
	for _, e := range r.Entries {
		out := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range e.Entity {
			oe := kmsg.NewAlterClientQuotasResponseEntryEntity()
			oe.Type, oe.Name = c.Type, c.Name
			out.Entity = append(out.Entity, oe)
		}
		if !allowed {
			out.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			resp.Entries = append(resp.Entries, out)
			continue
		}
		entity, err := quotaEntity(e.Entity)
		if err == nil && seen[entity] {
			err = apiErrorf(kerr.InvalidRequest, "Ignoring duplicate entity %s", describeEntity(e.Entity))
		}
		var set map[string]float64
		var del []string
		if err == nil {
			seen[entity] = true
			set, del, err = quotaOps(e.Ops, entity)
		}
		if err == nil {
			err = adminError(b.ctrl.AlterClientQuotas(ctx, entity, set, del, r.ValidateOnly))
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Entries = append(resp.Entries, out)
	}
	return resp, nil
}

// quotaEntity checks an AlterClientQuotas entity, with Kafka's messages.
func quotaEntity(cs []kmsg.AlterClientQuotasRequestEntryEntity) (metadata.QuotaEntity, error) {
	var e metadata.QuotaEntity
	if len(cs) == 0 {
		return e, apiErrorf(kerr.InvalidRequest, "Invalid empty client quota entity")
	}
	for _, c := range cs {
		var dst *metadata.QuotaName
		switch c.Type {
		case entityUser:
			dst = &e.User
		case entityClientID:
			dst = &e.ClientID
		case entityIP:
			return e, apiErrorf(kerr.InvalidRequest, "Client quotas by ip (connection_creation_rate) are not supported")
		default:
			return e, apiErrorf(kerr.InvalidRequest, "Unhandled client quota entity type: %s", c.Type)
		}
		if dst.Kind != metadata.QuotaAbsent {
			return e, apiErrorf(kerr.InvalidRequest, "Invalid empty client quota entity, duplicate entity entry %s", c.Type)
		}
		switch {
		case c.Name == nil:
			*dst = metadata.QuotaName{Kind: metadata.QuotaDefault}
		case *c.Name == "":
			return e, apiErrorf(kerr.InvalidRequest, "Empty %s not supported", c.Type)
		default:
			*dst = metadata.Named(*c.Name)
		}
	}
	return e, nil
}

// quotaOps checks an entry's operations and splits them into the values
// to set and the keys to remove.
func quotaOps(ops []kmsg.AlterClientQuotasRequestEntryOp, e metadata.QuotaEntity) (map[string]float64, []string, error) {
	set := map[string]float64{}
	var del []string
	seen := map[string]bool{}
	for _, op := range ops {
		if seen[op.Key] {
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Duplicate quota key %s not updating quota for this entity %v", op.Key, e)
		}
		seen[op.Key] = true
		if op.Remove {
			del = append(del, op.Key)
			continue
		}
		whole, ok := quotaWholeNumber[op.Key]
		switch {
		case !ok:
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Invalid configuration key %s", op.Key)
		case whole && math.Abs(math.Trunc(op.Value+1e-6)-op.Value) > 1e-6:
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Configuration %s must be a Long value", op.Key)
		case !(op.Value > 0) || math.IsInf(op.Value, 0):
			return nil, nil, apiErrorf(kerr.InvalidRequest, "Configuration %s must be a positive number, not %v", op.Key, op.Value)
		}
		set[op.Key] = op.Value
	}
	return set, del, nil
}

// describeEntity renders an entity as Kafka's ClientQuotaEntity does.
func describeEntity(cs []kmsg.AlterClientQuotasRequestEntryEntity) string {
	s := "ClientQuotaEntity(entries={"
	for i, c := range cs {
		if i > 0 {
			s += ", "
		}
		name := "null"
		if c.Name != nil {
			name = *c.Name
		}
		s += fmt.Sprintf("%s=%s", c.Type, name)
	}
	return s + "})"
}

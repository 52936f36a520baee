package broker

// AlterConfigs (key 33), versions 0-2, and IncrementalAlterConfigs (key 44),
// versions 0-1.
//
// Behavior (both, checked in Kafka's order):
//   - Every resource in the request gets a result, in request order. A
//     resource (type and name) given twice is INVALID_REQUEST for both
//     ("Each resource must appear at most once.").
//   - A config named twice in one resource is INVALID_REQUEST ("Error due to
//     duplicate config keys"); a null value is INVALID_REQUEST ("Null value
//     not supported for : a, b"), except for an incremental DELETE.
//   - TOPIC (2): AlterConfigs replaces all of the topic's overrides with the
//     given ones; IncrementalAlterConfigs applies SET, DELETE, APPEND and
//     SUBTRACT to them. APPEND and SUBTRACT work on list configs (such as
//     cleanup.policy) starting from the value in force, adding only values
//     not yet in the list; on other configs they are INVALID_CONFIG. The
//     resulting overrides are validated as a whole (unknown name or invalid
//     value: INVALID_CONFIG with Kafka's message; deleting a config that is
//     not set is a no-op) and written to the metadata log. An empty name is
//     INVALID_REQUEST, an illegal one INVALID_TOPIC_EXCEPTION, an unknown
//     topic UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4): the name must be empty (the cluster-wide dynamic
//     defaults) or this node's id (its own dynamic settings; INVALID_REQUEST
//     otherwise). AlterConfigs replaces the resource's dynamic settings,
//     IncrementalAlterConfigs applies its operations to them; the result is
//     written to the metadata log and every node applies it without a
//     restart, this node's own over the cluster's over the command line.
//     The dynamic settings are Kafka's (config.IsDynamic): the broker
//     defaults of topic configs (log.retention.ms, message.max.bytes,
//     min.insync.replicas, ...), the replication throttles, the log
//     cleaner's settings, the listener, TLS-store, sasl.enabled.mechanisms
//     and connection-limit settings, and some accepted without effect
//     (thread pools, Kerberos). Any other setting refuses the whole
//     resource with INVALID_REQUEST ("Cannot update these configs
//     dynamically: Set(...)"), as Kafka answers a setting that needs a
//     restart; so do a per-broker setting (listeners, ssl.*, sasl.*) in the
//     cluster-wide defaults, a keystore setting without its listener
//     prefix, and a change of log.cleaner.threads beyond half or double the
//     value in force, with Kafka's messages. A change of this node's own
//     settings is also checked by Config.CheckSettings (the listener rules
//     of Kafka's DynamicListenerConfig, TLS stores that must load): a
//     refusal is INVALID_REQUEST. A bad value or unknown name is
//     INVALID_CONFIG.
//   - BROKER_LOGGER (8), IncrementalAlterConfigs only: the name must be this
//     node's id; no logger is known, so SET and DELETE are INVALID_CONFIG
//     ("Logger x does not exist!") and APPEND and SUBTRACT INVALID_REQUEST.
//   - Any other resource type is INVALID_REQUEST ("Unknown resource type").
//   - Under an authorizer, ALTER_CONFIGS on the topic (else
//     TOPIC_AUTHORIZATION_FAILED) or, for BROKER and BROKER_LOGGER, on the
//     cluster (else CLUSTER_AUTHORIZATION_FAILED), checked after the
//     duplicate check and before any other.
//   - ValidateOnly runs every check and changes nothing.
//   - Changes of one resource racing each other (from any node) take
//     effect one after the other: the one overtaken is made again on the
//     other's result, so an APPEND is not lost to a concurrent one.
//
// KIPs: KIP-133 (AlterConfigs v0), KIP-339 (IncrementalAlterConfigs v0),
// KIP-482 (flexible versions: AlterConfigs v2, IncrementalAlterConfigs v1).

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
)

func init() {
	register(33, 0, 2, (*Broker).handleAlterConfigs)
	register(44, 0, 1, (*Broker).handleIncrementalAlterConfigs)
}

// alterResource is one resource of either request, in the incremental form:
// an AlterConfigs resource is a list of SETs that replace every override.
type alterResource struct {
	typ     kmsg.ConfigResourceType
	name    string
	ops     []kmsg.IncrementalAlterConfigsRequestResourceConfig
	replace bool
}

func (b *Broker) handleAlterConfigs(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.AlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.AlterConfigsResponse)
	res := make([]alterResource, len(r.Resources))
	for i, rr := range r.Resources {
		res[i] = alterResource{typ: rr.ResourceType, name: rr.ResourceName, replace: true}
		for _, c := range rr.Configs {
			op := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
			op.Name, op.Op, op.Value = c.Name, kmsg.IncrementalAlterConfigOpSet, c.Value
			res[i].ops = append(res[i].ops, op)
		}
	}
	for i, err := range b.alterConfigs(ctx, req, res, r.ValidateOnly) {
		out := kmsg.NewAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res[i].typ, res[i].name
		if err != nil {
			out.ErrorCode, out.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp, nil
}

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.IncrementalAlterConfigsRequest)
	resp := r.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	res := make([]alterResource, len(r.Resources))
	for i, rr := range r.Resources {
		res[i] = alterResource{typ: rr.ResourceType, name: rr.ResourceName, ops: rr.Configs}
	}
	for i, err := range b.alterConfigs(ctx, req, res, r.ValidateOnly) {
		out := kmsg.NewIncrementalAlterConfigsResponseResource()
		out.ResourceType, out.ResourceName = res[i].typ, res[i].name
		if err != nil {
			out.ErrorCode, out.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		resp.Resources = append(resp.Resources, out)
	}
	return resp, nil
}

// alterConfigs applies each resource's changes and returns one error (nil
// for success) per resource, in order.
func (b *Broker) alterConfigs(ctx context.Context, req *Request, res []alterResource, validateOnly bool) []error {
	type key struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	count := make(map[key]int, len(res))
	for _, r := range res {
		count[key{r.typ, r.name}]++
	}
	errs := make([]error, len(res))
	for i, r := range res {
		if count[key{r.typ, r.name}] > 1 {
			errs[i] = apiErrorf(kerr.InvalidRequest, "Each resource must appear at most once.")
			continue
		}
		if err := b.configResourceAllowed(req, auth.OpAlterConfigs, r.typ, r.name); err != nil {
			errs[i] = err
			continue
		}
		if err := checkConfigOps(r.ops); err != nil {
			errs[i] = err
			continue
		}
		switch r.typ {
		case kmsg.ConfigResourceTypeTopic:
			errs[i] = adminError(b.alterTopicConfigs(ctx, r, validateOnly))
		case kmsg.ConfigResourceTypeBroker:
			errs[i] = adminError(b.alterBrokerConfigs(ctx, r, validateOnly))
		case kmsg.ConfigResourceTypeBrokerLogger:
			if r.replace {
				errs[i] = apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", int8(r.typ))
			} else {
				errs[i] = b.alterLoggers(r)
			}
		default:
			errs[i] = apiErrorf(kerr.InvalidRequest, "Unknown resource type %d", int8(r.typ))
		}
	}
	return errs
}

// checkConfigOps refuses a config named twice and null values outside
// DELETE, as INVALID_REQUEST.
func checkConfigOps(ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) error {
	seen := make(map[string]bool, len(ops))
	var nulls []string
	for _, op := range ops {
		if seen[op.Name] {
			return apiErrorf(kerr.InvalidRequest, "Error due to duplicate config keys")
		}
		seen[op.Name] = true
		if op.Value == nil && op.Op != kmsg.IncrementalAlterConfigOpDelete {
			nulls = append(nulls, op.Name)
		}
	}
	if len(nulls) > 0 {
		return apiErrorf(kerr.InvalidRequest, "Null value not supported for : %s", strings.Join(nulls, ", "))
	}
	return nil
}

func (b *Broker) alterTopicConfigs(ctx context.Context, r alterResource, validateOnly bool) error {
	if r.name == "" {
		return apiErrorf(kerr.InvalidRequest, "Default topic resources are not allowed.")
	}
	if _, err := topicResource(b.store.Current(), r.name); err != nil {
		return err
	}
	return b.ctrl.AlterTopicConfigs(ctx, r.name, func(cur map[string]string) (map[string]string, error) {
		next, err := r.apply(cur, config.DescribeTopic(b.settings(), cur))
		if err != nil {
			return nil, err
		}
		check := make(map[string]*string, len(next))
		for k, v := range next {
			check[k] = &v
		}
		if err := config.ValidateTopicOverrides(check); err != nil {
			return nil, err
		}
		return next, nil
	}, validateOnly)
}

// apply returns the overrides r makes of cur (which it does not modify):
// its values alone when it replaces them, else cur with its operations
// applied (see applyConfigOps; inForce lists the values in force).
func (r alterResource) apply(cur map[string]string, inForce []config.Entry) (map[string]string, error) {
	if !r.replace {
		return applyConfigOps(cur, r.ops, inForce)
	}
	next := make(map[string]string, len(r.ops))
	for _, op := range r.ops {
		next[op.Name] = *op.Value
	}
	return next, nil
}

// applyConfigOps returns the overrides after applying ops to overrides
// (which it does not modify). inForce lists every config with its value in
// force, for APPEND and SUBTRACT on a config without an override; those two
// are INVALID_CONFIG on configs that are not lists, and an unknown operation
// is INVALID_REQUEST. List values are split on commas and trimmed; APPEND
// adds the values not yet present, SUBTRACT removes every occurrence.
func applyConfigOps(overrides map[string]string, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig, inForce []config.Entry) (map[string]string, error) {
	out := maps.Clone(overrides)
	if out == nil {
		out = make(map[string]string)
	}
	for _, op := range ops {
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			out[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(out, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			i := slices.IndexFunc(inForce, func(e config.Entry) bool { return e.Name == op.Name })
			if i < 0 || inForce[i].Type != kmsg.ConfigTypeList {
				return nil, apiErrorf(kerr.InvalidConfig, "Can't %s to key %s because its type is not LIST.", op.Op, op.Name)
			}
			current, ok := out[op.Name]
			if !ok && inForce[i].Value != nil {
				current = *inForce[i].Value
			}
			list := splitList(current)
			for _, v := range splitList(*op.Value) {
				if op.Op == kmsg.IncrementalAlterConfigOpAppend && !slices.Contains(list, v) {
					list = append(list, v)
				} else if op.Op == kmsg.IncrementalAlterConfigOpSubtract {
					list = slices.DeleteFunc(list, func(x string) bool { return x == v })
				}
			}
			out[op.Name] = strings.Join(list, ",")
		default:
			return nil, apiErrorf(kerr.InvalidRequest, "Unknown operation type %d", int8(op.Op))
		}
	}
	return out, nil
}

// splitList splits a list config value on commas, trimming each element and
// dropping empty ones.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// alterBrokerConfigs changes the dynamic settings of this node (its id as
// the name) or of the whole cluster (the empty name) through the metadata
// log: AlterConfigs replaces them all, IncrementalAlterConfigs applies its
// operations to them. config.CheckDynamic validates the result.
func (b *Broker) alterBrokerConfigs(ctx context.Context, r alterResource, validateOnly bool) error {
	id := metadata.ClusterDefault
	if r.name != "" {
		if err := checkNodeID(r.name, b.cfg.NodeID, ""); err != nil {
			return err
		}
		id = b.cfg.NodeID
	}
	return b.ctrl.AlterBrokerConfigs(ctx, id, func(cur map[string]string) (map[string]string, error) {
		next, err := r.apply(cur, config.DescribeBroker(b.settings()))
		if err != nil {
			return nil, err
		}
		out, err := config.CheckDynamic(b.settings(), r.name != "", next)
		if err == nil && r.name != "" {
			err = b.checkListenerSettings(out)
		}
		if err != nil {
			return nil, err
		}
		return out, nil
	}, validateOnly)
}

// alterLoggers answers BROKER_LOGGER changes: no logger is known by name.
func (b *Broker) alterLoggers(r alterResource) error {
	if err := checkNodeID(r.name, b.cfg.NodeID, ""); err != nil {
		return err
	}
	if len(r.ops) == 0 {
		return nil
	}
	switch op := r.ops[0]; op.Op {
	case kmsg.IncrementalAlterConfigOpSet, kmsg.IncrementalAlterConfigOpDelete:
		return apiErrorf(kerr.InvalidConfig, "Logger %s does not exist!", op.Name)
	default:
		return apiErrorf(kerr.InvalidRequest, "%s operation is not allowed for the BROKER_LOGGER resource", op.Op)
	}
}

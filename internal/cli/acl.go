package cli

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

// The ACL commands work as kafka-acls.sh does, through CreateAcls,
// DescribeAcls and DeleteAcls, with its options and its output.

// aclFlags are the options of the acl commands, named as kafka-acls.sh's.
type aclFlags struct {
	allowPrincipals, denyPrincipals []string
	allowHosts, denyHosts           []string
	operations                      []string
	topics, groups, txnIDs          []string
	cluster                         bool
	patternType                     string
	principals                      []string
	producer, consumer, idempotent  bool
	force                           bool
}

// aclResource is a resource pattern (Kafka's ResourcePattern, or a filter
// of them for list and remove).
type aclResource struct {
	typ     kmsg.ACLResourceType
	name    string
	pattern kmsg.ACLResourcePatternType
}

func (r aclResource) String() string {
	return fmt.Sprintf("ResourcePattern(resourceType=%s, name=%s, patternType=%s)", r.typ, r.name, r.pattern)
}

// aclEntry is who may or may not do what from where (Kafka's
// AccessControlEntry).
type aclEntry struct {
	principal, host string
	op              kmsg.ACLOperation
	perm            kmsg.ACLPermissionType
}

func (e aclEntry) String() string {
	return fmt.Sprintf("(principal=%s, host=%s, operation=%s, permissionType=%s)", e.principal, e.host, e.op, e.perm)
}

func compareResources(a, b aclResource) int {
	return cmp.Or(cmp.Compare(a.typ, b.typ), cmp.Compare(a.pattern, b.pattern), cmp.Compare(a.name, b.name))
}

func compareEntries(a, b aclEntry) int {
	return cmp.Or(cmp.Compare(a.principal, b.principal), cmp.Compare(a.host, b.host), cmp.Compare(a.op, b.op), cmp.Compare(a.perm, b.perm))
}

func newACLCommand(opts *clientOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "acl",
		Short: "Add, list and remove ACLs, as kafka-acls.sh does",
		Long: `Manage the cluster's ACLs through the Kafka admin APIs (CreateAcls,
DescribeAcls, DeleteAcls), with kafka-acls.sh's options and output.

An ACL allows or denies a principal (User:alice, or User:* for every user),
connecting from a host (an IP address, or * for any), an operation on a
resource: --topic, --group, --transactional-id (each repeatable) or
--cluster, named literally or, with --resource-pattern-type prefixed, by a
prefix. Operations are Kafka's: Read, Write, Create, Delete, Alter, Describe,
ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All.

The broker enforces ACLs once authorizer.class.name is set (docs/security.md).
Managing them needs ALTER (add, remove) or DESCRIBE (list) on the cluster,
or a super user.`,
		Example: `  strata acl add --allow-principal User:alice --operation Read --operation Describe --topic orders
  strata acl add --allow-principal User:alice --producer --topic orders --idempotent
  strata acl add --allow-principal User:bob --consumer --topic orders --group billing
  strata acl list --topic orders
  strata acl remove --allow-principal User:alice --operation Read --topic orders`,
		RunE: groupRunE,
	}
	cmd.AddCommand(newACLAddCommand(opts), newACLListCommand(opts), newACLRemoveCommand(opts))
	return cmd
}

// addResourceFlags adds the resource options shared by every acl command.
func addResourceFlags(fs *pflag.FlagSet, f *aclFlags) {
	fs.StringArrayVar(&f.topics, "topic", nil, "a topic (repeatable); * for every topic")
	fs.StringArrayVar(&f.groups, "group", nil, "a consumer group (repeatable); * for every group")
	fs.StringArrayVar(&f.txnIDs, "transactional-id", nil, "a transactional id (repeatable); * for every one")
	fs.BoolVar(&f.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fs.StringVar(&f.patternType, "resource-pattern-type", "literal", "how resource names match: literal or prefixed; list and remove also take any (every pattern) and match (every ACL that applies to the name)")
}

// addEntryFlags adds the options that make ACL entries (add and remove).
func addEntryFlags(fs *pflag.FlagSet, f *aclFlags) {
	fs.StringArrayVar(&f.allowPrincipals, "allow-principal", nil, "principal allowed, as Type:name, e.g. User:alice or User:* (repeatable)")
	fs.StringArrayVar(&f.denyPrincipals, "deny-principal", nil, "principal denied, as Type:name (repeatable)")
	fs.StringArrayVar(&f.allowHosts, "allow-host", nil, "host (IP address) the allowed principals may connect from (repeatable; default * with --allow-principal)")
	fs.StringArrayVar(&f.denyHosts, "deny-host", nil, "host (IP address) the denied principals are denied from (repeatable; default * with --deny-principal)")
	fs.StringArrayVar(&f.operations, "operation", nil, "operation: Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite or All (repeatable; default All)")
	fs.BoolVar(&f.producer, "producer", false, "the ACLs a producer needs: Write, Describe and Create on --topic, Write and Describe on --transactional-id")
	fs.BoolVar(&f.consumer, "consumer", false, "the ACLs a consumer needs: Read and Describe on --topic, Read on --group")
	fs.BoolVar(&f.idempotent, "idempotent", false, "with --producer: also IdempotentWrite on the cluster")
}

func newACLAddCommand(opts *clientOptions) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:   "add",
		Short: "Add ACLs",
		Long: `Add ACLs: for each resource given, each allowed principal from each allowed
host and each denied principal from each denied host, for each operation.
With --producer or --consumer the operations are those the role needs, as
kafka-acls.sh adds them. Adding an ACL that exists changes nothing.`,
		Example: `  strata acl add --allow-principal User:alice --operation Read --topic orders
  strata acl add --allow-principal User:alice --producer --topic orders --transactional-id tx --idempotent
  strata acl add --deny-principal User:mallory --deny-host 10.0.0.7 --operation All --topic orders
  strata acl add --allow-principal User:svc --operation All --topic logs- --resource-pattern-type prefixed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.checkPatternType(false); err != nil {
				return err
			}
			byResource, err := f.resourceACLs(true)
			if err != nil {
				return err
			}
			req := kmsg.NewPtrCreateACLsRequest()
			out := cmd.OutOrStdout()
			for _, r := range sortedKeys(byResource) {
				entries := byResource[r]
				printACLs(out, "Adding ACLs for resource", r, entries)
				for _, e := range entries {
					c := kmsg.NewCreateACLsRequestCreation()
					c.ResourceType, c.ResourceName, c.ResourcePatternType = r.typ, r.name, r.pattern
					c.Principal, c.Host, c.Operation, c.PermissionType = e.principal, e.host, e.op, e.perm
					req.Creations = append(req.Creations, c)
				}
			}
			cl, ctx, done, err := opts.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return opts.requestErr("create ACLs", err)
			}
			for i, r := range resp.Results {
				if err := resultErr(r.ErrorCode, r.ErrorMessage); err != nil {
					c := req.Creations[i]
					return fmt.Errorf("create ACL %v on %v: %w", aclEntry{c.Principal, c.Host, c.Operation, c.PermissionType},
						aclResource{c.ResourceType, c.ResourceName, c.ResourcePatternType}, err)
				}
			}
			return nil
		},
	}
	addResourceFlags(cmd.Flags(), f)
	addEntryFlags(cmd.Flags(), f)
	return cmd
}

func newACLListCommand(opts *clientOptions) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ACLs, by resource",
		Long: `List the ACLs of the resources given (literal names unless
--resource-pattern-type says otherwise; match lists every ACL that applies to
the name: literal, wildcard and prefixed), or every ACL when no resource is
given. --principal keeps only the ACLs of those principals, listed under a
heading per principal, as kafka-acls.sh does.`,
		Example: `  strata acl list
  strata acl list --topic orders --resource-pattern-type match
  strata acl list --principal User:alice`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.checkPatternType(true); err != nil {
				return err
			}
			filters, err := f.resources()
			if err != nil {
				return err
			}
			if len(filters) == 0 {
				filters = []aclResource{{typ: kmsg.ACLResourceTypeAny, pattern: kmsg.ACLResourcePatternTypeAny}}
			}
			cl, ctx, done, err := opts.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			found := map[aclResource][]aclEntry{}
			for _, r := range filters {
				if err := describeACLs(ctx, cl, r, found); err != nil {
					return opts.requestErr("describe ACLs", err)
				}
			}
			out := cmd.OutOrStdout()
			if len(f.principals) == 0 {
				for _, r := range sortedKeys(found) {
					printACLs(out, "Current ACLs for resource", r, found[r])
				}
				return nil
			}
			for _, p := range f.principals {
				fmt.Fprintf(out, "ACLs for principal `%s`\n", p)
				for _, r := range sortedKeys(found) {
					if mine := slices.DeleteFunc(slices.Clone(found[r]), func(e aclEntry) bool { return e.principal != p }); len(mine) > 0 {
						printACLs(out, "Current ACLs for resource", r, mine)
					}
				}
			}
			return nil
		},
	}
	addResourceFlags(cmd.Flags(), f)
	cmd.Flags().StringArrayVar(&f.principals, "principal", nil, "list only the ACLs of this principal, as Type:name (repeatable)")
	return cmd
}

func newACLRemoveCommand(opts *clientOptions) *cobra.Command {
	f := &aclFlags{}
	cmd := &cobra.Command{
		Use:     "remove",
		Aliases: []string{"rm"},
		Short:   "Remove ACLs and print those removed",
		Long: `Remove the ACLs of the resources given that match the entries made from
--allow-principal, --deny-principal, their hosts and --operation (default
All), as kafka-acls.sh --remove does; with --principal instead, every ACL of
those principals on the resources (any host, permission and, unless
--operation is given, operation); with neither, every ACL of the resources.

kafka-acls.sh asks before it removes unless --force; this command never asks
(it is meant for scripts as much as for people): it removes what matches and
prints each ACL it removed. --force is accepted for kafka-acls.sh's command
lines and changes nothing.`,
		Example: `  strata acl remove --allow-principal User:alice --operation Read --topic orders
  strata acl remove --principal User:alice --topic orders --group billing
  strata acl remove --topic orders --force`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.checkPatternType(true); err != nil {
				return err
			}
			if len(f.principals) > 0 && len(f.allowPrincipals)+len(f.denyPrincipals) > 0 {
				return fmt.Errorf("--principal cannot be combined with --allow-principal or --deny-principal")
			}
			byResource, err := f.resourceACLs(false)
			if err != nil {
				return err
			}
			req := kmsg.NewPtrDeleteACLsRequest()
			for _, r := range sortedKeys(byResource) {
				for _, e := range f.removeFilters(byResource[r]) {
					df := kmsg.NewDeleteACLsRequestFilter()
					df.ResourceType, df.ResourcePatternType = r.typ, r.pattern
					df.ResourceName = kmsg.StringPtr(r.name)
					df.Principal, df.Host, df.Operation, df.PermissionType = orAny(e.principal), orAny(e.host), e.op, e.perm
					req.Filters = append(req.Filters, df)
				}
			}
			cl, ctx, done, err := opts.openClient(cmd.Context())
			if err != nil {
				return err
			}
			defer done()
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return opts.requestErr("delete ACLs", err)
			}
			removed := map[aclResource][]aclEntry{}
			for _, fr := range resp.Results {
				if err := resultErr(fr.ErrorCode, fr.ErrorMessage); err != nil {
					return fmt.Errorf("delete ACLs: %w", err)
				}
				for _, m := range fr.MatchingACLs {
					if err := resultErr(m.ErrorCode, m.ErrorMessage); err != nil {
						return fmt.Errorf("delete ACLs: %w", err)
					}
					r := aclResource{m.ResourceType, m.ResourceName, m.ResourcePatternType}
					removed[r] = append(removed[r], aclEntry{m.Principal, m.Host, m.Operation, m.PermissionType})
				}
			}
			out := cmd.OutOrStdout()
			if len(removed) == 0 {
				fmt.Fprintln(out, "No ACLs matched.")
			}
			for _, r := range sortedKeys(removed) {
				printACLs(out, "Removed ACLs for resource", r, removed[r])
			}
			return nil
		},
	}
	addResourceFlags(cmd.Flags(), f)
	addEntryFlags(cmd.Flags(), f)
	cmd.Flags().StringArrayVar(&f.principals, "principal", nil, "remove the ACLs of this principal, as Type:name (repeatable)")
	cmd.Flags().BoolVar(&f.force, "force", false, "accepted for kafka-acls.sh's command lines: remove never asks")
	return cmd
}

// removeFilters returns the entry filters remove sends for a resource
// whose entries (from the principal options) are entries: those entries,
// one per --principal, or a filter of every entry.
func (f *aclFlags) removeFilters(entries []aclEntry) []aclEntry {
	if len(entries) > 0 {
		return entries
	}
	anyEntry := aclEntry{op: kmsg.ACLOperationAny, perm: kmsg.ACLPermissionTypeAny}
	if len(f.principals) == 0 {
		return []aclEntry{anyEntry}
	}
	ops := []kmsg.ACLOperation{kmsg.ACLOperationAny}
	if len(f.operations) > 0 {
		ops, _ = parseOperations(f.operations) // checked by resourceACLs
	}
	var out []aclEntry
	for _, p := range f.principals {
		for _, op := range ops {
			e := anyEntry
			e.principal, e.op = p, op
			out = append(out, e)
		}
	}
	return out
}

// orAny is a filter field: s, or nil (any) for "".
func orAny(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// describeACLs adds the ACLs the filter r matches to found.
func describeACLs(ctx context.Context, cl *kgo.Client, r aclResource, found map[aclResource][]aclEntry) error {
	req := kmsg.NewPtrDescribeACLsRequest()
	req.ResourceType, req.ResourcePatternType = r.typ, r.pattern
	if r.typ != kmsg.ACLResourceTypeAny {
		req.ResourceName = kmsg.StringPtr(r.name)
	}
	req.Operation, req.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	if err := resultErr(resp.ErrorCode, resp.ErrorMessage); err != nil {
		return err
	}
	for _, res := range resp.Resources {
		k := aclResource{res.ResourceType, res.ResourceName, res.ResourcePatternType}
		for _, a := range res.ACLs {
			e := aclEntry{a.Principal, a.Host, a.Operation, a.PermissionType}
			if !slices.Contains(found[k], e) {
				found[k] = append(found[k], e)
			}
		}
	}
	return nil
}

// resultErr is the error a result's code and message stand for, or nil.
func resultErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err == nil {
		return nil
	}
	if msg != nil && *msg != "" {
		return fmt.Errorf("%w: %s", err, *msg)
	}
	return err
}

// printACLs prints entries of r in kafka-acls.sh's form.
func printACLs(w io.Writer, heading string, r aclResource, entries []aclEntry) {
	entries = slices.SortedFunc(slices.Values(entries), compareEntries)
	lines := make([]string, len(entries))
	for i, e := range entries {
		lines[i] = "\t" + e.String()
	}
	fmt.Fprintf(w, "%s `%s`: \n %s \n\n", heading, r, strings.Join(lines, "\n"))
}

func sortedKeys(m map[aclResource][]aclEntry) []aclResource {
	return slices.SortedFunc(maps.Keys(m), compareResources)
}

// pattern returns the --resource-pattern-type.
func (f *aclFlags) pattern() (kmsg.ACLResourcePatternType, error) {
	p, err := kmsg.ParseACLResourcePatternType(f.patternType)
	if err != nil {
		return 0, fmt.Errorf("--resource-pattern-type %q: want literal, prefixed, match or any", f.patternType)
	}
	return p, nil
}

// checkPatternType refuses match and any where they are not filters.
func (f *aclFlags) checkPatternType(filter bool) error {
	p, err := f.pattern()
	if err != nil {
		return err
	}
	if !filter && p != kmsg.ACLResourcePatternTypeLiteral && p != kmsg.ACLResourcePatternTypePrefixed {
		return fmt.Errorf("a --resource-pattern-type of %q is not valid when adding ACLs: want literal or prefixed", f.patternType)
	}
	return nil
}

// resources returns the resources the options name, as kafka-acls.sh
// does: the cluster only under the literal pattern type (it has one
// name), and with --idempotent.
func (f *aclFlags) resources() ([]aclResource, error) {
	p, err := f.pattern()
	if err != nil {
		return nil, err
	}
	var out []aclResource
	for _, set := range []struct {
		typ   kmsg.ACLResourceType
		names []string
	}{{kmsg.ACLResourceTypeTopic, f.topics}, {kmsg.ACLResourceTypeGroup, f.groups}, {kmsg.ACLResourceTypeTransactionalId, f.txnIDs}} {
		for _, n := range set.names {
			if n = strings.TrimSpace(n); n == "" {
				return nil, fmt.Errorf("a %s name must not be empty", strings.ToLower(set.typ.String()))
			}
			out = append(out, aclResource{set.typ, n, p})
		}
	}
	if (f.cluster || f.idempotent) && p == kmsg.ACLResourcePatternTypeLiteral {
		out = append(out, aclResource{kmsg.ACLResourceTypeCluster, auth.ClusterName, p})
	}
	return out, nil
}

// resourceACLs returns the ACL entries the options make for each resource
// they name, as kafka-acls.sh makes them (see its --producer and
// --consumer). A resource with no entry means no principal was given.
func (f *aclFlags) resourceACLs(adding bool) (map[aclResource][]aclEntry, error) {
	if err := f.checkRoles(); err != nil {
		return nil, err
	}
	res, err := f.resources()
	if err != nil {
		return nil, err
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("you must provide at least one resource: --topic, --group, --transactional-id or --cluster")
	}
	for _, p := range slices.Concat(f.allowPrincipals, f.denyPrincipals, f.principals) {
		if i := strings.IndexByte(p, ':'); i <= 0 || i == len(p)-1 {
			return nil, fmt.Errorf("principal %q is not of the form Type:name (e.g. User:alice)", p)
		}
	}
	out := map[aclResource][]aclEntry{}
	if !f.producer && !f.consumer {
		ops := []kmsg.ACLOperation{kmsg.ACLOperationAll}
		if len(f.operations) > 0 {
			if ops, err = parseOperations(f.operations); err != nil {
				return nil, err
			}
		}
		for _, r := range res {
			out[r] = f.entries(ops)
		}
	}
	add := func(r aclResource, ops ...kmsg.ACLOperation) {
		for _, e := range f.entries(ops) {
			if !slices.Contains(out[r], e) {
				out[r] = append(out[r], e)
			}
		}
	}
	for _, r := range res {
		switch {
		case f.producer && r.typ == kmsg.ACLResourceTypeTopic:
			add(r, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe, kmsg.ACLOperationCreate)
		case f.producer && r.typ == kmsg.ACLResourceTypeTransactionalId:
			add(r, kmsg.ACLOperationWrite, kmsg.ACLOperationDescribe)
		case f.producer && f.idempotent && r.typ == kmsg.ACLResourceTypeCluster:
			add(r, kmsg.ACLOperationIdempotentWrite)
		}
		switch {
		case f.consumer && r.typ == kmsg.ACLResourceTypeTopic:
			add(r, kmsg.ACLOperationRead, kmsg.ACLOperationDescribe)
		case f.consumer && r.typ == kmsg.ACLResourceTypeGroup:
			add(r, kmsg.ACLOperationRead)
		}
	}
	for r, entries := range out {
		valid := auth.Operations(auth.ResourceType(r.typ))
		for _, e := range entries {
			if e.op != kmsg.ACLOperationAll && !slices.Contains(valid, auth.Operation(e.op)) {
				names := []string{"ALL"}
				for _, op := range valid {
					names = append(names, kmsg.ACLOperation(op).String())
				}
				return nil, fmt.Errorf("resource type %s only supports operations %s", r.typ, strings.Join(names, ", "))
			}
		}
	}
	if adding {
		for r, entries := range out {
			if len(entries) == 0 {
				return nil, fmt.Errorf("you must specify one of: --allow-principal, --deny-principal when trying to add ACLs (none for %v)", r)
			}
		}
	}
	return out, nil
}

// checkRoles checks the combinations kafka-acls.sh allows with --producer
// and --consumer.
func (f *aclFlags) checkRoles() error {
	roles := f.producer || f.consumer
	switch {
	case roles && (len(f.operations) > 0 || len(f.denyPrincipals) > 0 || len(f.denyHosts) > 0):
		return fmt.Errorf("--producer and --consumer cannot be combined with --operation, --deny-principal or --deny-host")
	case f.producer && len(f.topics) == 0:
		return fmt.Errorf("with --producer you must specify a --topic")
	case f.idempotent && !f.producer:
		return fmt.Errorf("--idempotent is only valid with --producer")
	case f.consumer && (len(f.topics) == 0 || len(f.groups) == 0 || !f.producer && (f.cluster || len(f.txnIDs) > 0)):
		return fmt.Errorf("with --consumer you must specify a --topic and a --group and no --cluster or --transactional-id option should be specified")
	}
	return nil
}

// entries makes the ACL entries of the principal and host options for
// ops: a host option left out is * for its principals.
func (f *aclFlags) entries(ops []kmsg.ACLOperation) []aclEntry {
	var out []aclEntry
	for _, side := range []struct {
		principals, hosts []string
		perm              kmsg.ACLPermissionType
	}{{f.allowPrincipals, f.allowHosts, kmsg.ACLPermissionTypeAllow}, {f.denyPrincipals, f.denyHosts, kmsg.ACLPermissionTypeDeny}} {
		hosts := side.hosts
		if len(hosts) == 0 {
			hosts = []string{auth.WildcardHost}
		}
		for _, p := range side.principals {
			for _, h := range hosts {
				for _, op := range ops {
					out = append(out, aclEntry{strings.TrimSpace(p), strings.TrimSpace(h), op, side.perm})
				}
			}
		}
	}
	return out
}

// parseOperations parses Kafka's operation names (Read, IdempotentWrite,
// IDEMPOTENT_WRITE, any case).
func parseOperations(names []string) ([]kmsg.ACLOperation, error) {
	var out []kmsg.ACLOperation
	for _, n := range names {
		op, err := kmsg.ParseACLOperation(n)
		if err != nil || op == kmsg.ACLOperationAny || op == kmsg.ACLOperationUnknown {
			return nil, fmt.Errorf("--operation %q: want one of Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, All", n)
		}
		if !slices.Contains(out, op) {
			out = append(out, op)
		}
	}
	return out, nil
}

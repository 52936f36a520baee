package broker

// Authorization: with authorizer.class.name set, every API checks what
// Kafka's KafkaApis checks before it acts, against the ACLs of the metadata
// image (auth.Authorizer, rebuilt whenever an ACL record is applied, so
// every node enforces the same set). Without it the authorizer is nil,
// which allows everything.
//
// Node-to-node requests (replica fetches, transaction markers, forwarded
// DescribeQuorum, transaction verification) reach the other node's Kafka
// listener as any client does; under an authorizer the principal they
// arrive as (User:ANONYMOUS over PLAINTEXT) needs CLUSTER_ACTION on the
// cluster, or to be a super user, as Kafka's inter-broker principal does.

import (
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/metadata"
)

// installAuthorizer sets the authorizer for img's ACLs, when authorization
// is on; old is the image before, nil at start.
func (b *Broker) installAuthorizer(old, img *metadata.Image) {
	s := b.cfg.Settings
	if !s.AuthorizerEnabled() || old != nil && img.SameACLs(old) {
		return
	}
	acls := img.ACLs()
	bindings := make([]auth.Binding, len(acls))
	for i, a := range acls {
		bindings[i] = a.Binding
	}
	b.authz.Store(auth.NewAuthorizer(auth.AuthorizerConfig{
		SuperUsers:   auth.ParseSuperUsers(s.SuperUsers()),
		AllowIfNoACL: s.AllowEveryoneIfNoACLFound(),
	}, bindings))
}

// requester returns who sent req: its principal and the IP address it
// came from.
func requester(req *Request) (principal, host string) {
	principal = AnonymousPrincipal
	if req.Conn == nil {
		return principal, ""
	}
	if req.Conn.Principal != "" {
		principal = req.Conn.Principal
	}
	if req.Conn.Remote != nil {
		host = req.Conn.Remote.String()
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
	}
	return principal, host
}

// allowed reports whether req's sender may do op on the resource of type
// t named name.
func (b *Broker) allowed(req *Request, op auth.Operation, t auth.ResourceType, name string) bool {
	a := b.authz.Load()
	if a == nil {
		return true
	}
	p, host := requester(req)
	ok := a.Authorize(p, host, op, t, name)
	if !ok {
		b.denials.denied(p, "host", host, "operation", kmsg.ACLOperation(op).String(),
			"resource_type", kmsg.ACLResourceType(t).String(), "resource", name, "api", kmsg.NameForKey(req.Key))
	}
	return ok
}

// allowedCluster reports whether req's sender may do op on the cluster.
func (b *Broker) allowedCluster(req *Request, op auth.Operation) bool {
	return b.allowed(req, op, auth.ResourceCluster, auth.ClusterName)
}

// topicsAllowed returns a check of op on topics for req's sender that
// decides each topic name once, for requests that name a topic in many
// places.
func (b *Broker) topicsAllowed(req *Request, op auth.Operation) func(topic string) bool {
	if b.authz.Load() == nil {
		return func(string) bool { return true }
	}
	seen := map[string]bool{}
	return func(topic string) bool {
		ok, done := seen[topic]
		if !done {
			ok = b.allowed(req, op, auth.ResourceTopic, topic)
			seen[topic] = ok
		}
		return ok
	}
}

// authorizedOperations returns the operations req's sender may do on the
// resource of type t named name, as the bit field Kafka's responses carry.
// With authorization off every operation of the type is allowed.
func (b *Broker) authorizedOperations(req *Request, t auth.ResourceType, name string) int32 {
	p, host := requester(req)
	return b.authz.Load().AuthorizedOperations(p, host, t, name)
}

// authorizationOn reports whether an authorizer is installed.
func (b *Broker) authorizationOn() bool { return b.authz.Load() != nil }

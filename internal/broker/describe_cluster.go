package broker

// DescribeCluster (key 60), versions 0-2.
//
// Behavior:
//   - Answers the cluster id, every unfenced broker (id, host, port, rack)
//     and, as the controller id, the node leading the metadata quorum (any
//     broker takes the admin requests a client sends to "the controller").
//   - EndpointType (v1+) must be 1 (brokers); 2 (controllers) is
//     MISMATCHED_ENDPOINT_TYPE, as a Kafka broker answers it, since Strata
//     has no separate controller listener.
//   - ClusterAuthorizedOperations is the "not requested" value unless the
//     client asks; then, as there is no authorizer yet, every operation Kafka
//     defines on the cluster resource.
//   - IncludeFencedBrokers (v2+) lists the fenced brokers too, with IsFenced.
//
// KIPs: KIP-700 (v0), KIP-919 (v1 EndpointType), KIP-1073 (v2 fenced brokers).

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(60, 0, 2, (*Broker).handleDescribeCluster) }

// Endpoint types of DescribeCluster v1+ (KIP-919).
const (
	endpointBrokers     = 1
	endpointControllers = 2
)

// Kafka's ACL operation codes (AclOperation) that apply to the cluster
// resource.
const (
	aclCreate          = 5
	aclAlter           = 7
	aclDescribe        = 8
	aclClusterAction   = 9
	aclDescribeConfigs = 10
	aclAlterConfigs    = 11
	aclIdempotentWrite = 12
)

// clusterOps is the authorized-operations bit field with every cluster
// operation allowed, Kafka's answer when no authorizer is configured.
const clusterOps = 1<<aclCreate | 1<<aclAlter | 1<<aclDescribe | 1<<aclClusterAction |
	1<<aclDescribeConfigs | 1<<aclAlterConfigs | 1<<aclIdempotentWrite

func (b *Broker) handleDescribeCluster(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeClusterRequest)
	resp := r.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = r.EndpointType
	resp.ClusterAuthorizedOperations = unauthorizedOps
	if req.Version >= 1 && r.EndpointType != endpointBrokers {
		resp.ErrorCode = kerr.MismatchedEndpointType.Code
		msg := fmt.Sprintf("the request was sent to a broker endpoint, but asked for endpoint type %d", r.EndpointType)
		if r.EndpointType == endpointControllers {
			msg = "the request was sent to a broker endpoint, but asked for the controllers; Strata has no separate controller endpoint"
		}
		resp.ErrorMessage = &msg
		return resp, nil
	}
	img := b.store.Current()
	resp.ClusterID = img.ClusterID
	resp.ControllerID = b.controllerID()
	for _, br := range img.Brokers() {
		if br.Fenced && !(req.Version >= 2 && r.IncludeFencedBrokers) {
			continue
		}
		host, port, ok := endpoint(br, b.listenerOf(req))
		if !ok {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port, rb.IsFenced = br.ID, host, port, br.Fenced
		if br.Rack != "" {
			rack := br.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	if r.IncludeClusterAuthorizedOperations {
		resp.ClusterAuthorizedOperations = clusterOps
	}
	return resp, nil
}

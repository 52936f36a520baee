package broker

// UnregisterBroker (key 64), version 0.
//
// Behavior:
//   - Removes the broker's registration through the metadata log:
//     BROKER_ID_NOT_REGISTERED for an id not registered. Unlike Kafka it
//     refuses (INVALID_REQUEST) a broker that still holds a replica, since
//     a partition's replicas are always registered brokers here: move them
//     first (strata cluster decommission does both).
//   - Under an authorizer, ALTER on the cluster (else
//     CLUSTER_AUTHORIZATION_FAILED), as Kafka's ControllerApis checks.
//   - A process of that id still running leads and replicates nothing
//     more; it registers anew if restarted. Once it has stopped, the
//     active controller also drops it from the metadata quorum's learners.
//
// KIPs: KIP-631 (v0).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
)

func init() { register(64, 0, 0, (*Broker).handleUnregisterBroker) }

func (b *Broker) handleUnregisterBroker(ctx context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.UnregisterBrokerRequest)
	resp := r.ResponseKind().(*kmsg.UnregisterBrokerResponse)
	if !b.allowedCluster(req, auth.OpAlter) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if err := b.ctrl.UnregisterBroker(ctx, r.BrokerID); err != nil {
		err = adminError(err)
		resp.ErrorCode, resp.ErrorMessage = b.errorCode(err), errorMessage(err)
		return resp, nil
	}
	b.waitLocal(ctx)
	return resp, nil
}

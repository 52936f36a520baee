package broker

// DescribeConfigs (key 32), versions 0-4.
//
// Behavior:
//   - Every resource in the request gets a result, in request order.
//   - TOPIC (2): every topic config with its value in force and its source
//     (topic override, explicit broker setting, or default). An illegal
//     topic name is INVALID_TOPIC_EXCEPTION, an unknown topic
//     UNKNOWN_TOPIC_OR_PARTITION.
//   - BROKER (4): the resource name must be this node's id (every setting
//     with its value in force and source: this broker's dynamic setting,
//     the cluster-wide dynamic default, the command line, or the default;
//     only dynamic settings are not read-only) or empty (the cluster-wide
//     dynamic defaults that are set). Another id, or a name that is not a
//     number, is INVALID_REQUEST with Kafka's message.
//   - BROKER_LOGGER (8): the name must be this node's id (else
//     INVALID_REQUEST); the answer lists no loggers, as Strata's loggers are
//     not configurable by name.
//   - Any other resource type is INVALID_REQUEST ("Unsupported resource
//     type").
//   - ConfigNames, when not null or empty, keeps only the named configs.
//   - Synonyms (v1+) only when IncludeSynonyms; documentation (v3+) only
//     when IncludeDocumentation. Sensitive values are null.
//   - v0 has no source; IsDefault is set for configs at their default.
//   - Under an authorizer, DESCRIBE_CONFIGS on the topic (else
//     TOPIC_AUTHORIZATION_FAILED) or, for BROKER and BROKER_LOGGER, on the
//     cluster (else CLUSTER_AUTHORIZATION_FAILED), checked before the
//     resource's existence; a denied resource lists no configs.
//
// KIPs: KIP-133 (v0), KIP-226 (v1 synonyms and sources), KIP-482 (v4
// flexible), KIP-569 (v3 documentation and types).

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/internal/auth"
	"github.com/stratalog/strata/internal/config"
	"github.com/stratalog/strata/internal/metadata"
)

func init() { register(32, 0, 4, (*Broker).handleDescribeConfigs) }

func (b *Broker) handleDescribeConfigs(_ context.Context, req *Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeConfigsRequest)
	resp := r.ResponseKind().(*kmsg.DescribeConfigsResponse)
	img := b.store.Current()
	for _, rr := range r.Resources {
		res := kmsg.NewDescribeConfigsResponseResource()
		res.ResourceType, res.ResourceName = rr.ResourceType, rr.ResourceName
		var entries []config.Entry
		err := b.configResourceAllowed(req, auth.OpDescribeConfigs, rr.ResourceType, rr.ResourceName)
		switch {
		case err != nil:
		case rr.ResourceType == kmsg.ConfigResourceTypeTopic:
			var t *metadata.Topic
			if t, err = topicResource(img, rr.ResourceName); err == nil {
				entries = config.DescribeTopic(b.settings(), t.Configs)
			}
		case rr.ResourceType == kmsg.ConfigResourceTypeBroker:
			if rr.ResourceName == "" {
				entries = config.DescribeClusterDefault(b.settings())
			} else if err = checkNodeID(rr.ResourceName, b.cfg.NodeID, " or empty string"); err == nil {
				entries = config.DescribeBroker(b.settings())
			}
		case rr.ResourceType == kmsg.ConfigResourceTypeBrokerLogger:
			if rr.ResourceName == "" {
				err = apiErrorf(kerr.InvalidRequest, "Broker id must not be empty")
			} else {
				err = checkNodeID(rr.ResourceName, b.cfg.NodeID, "")
			}
		default:
			err = apiErrorf(kerr.InvalidRequest, "Unsupported resource type: %s", rr.ResourceType)
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = b.errorCode(err), errorMessage(err)
		}
		res.Configs = describedConfigs(entries, rr.ConfigNames, r.IncludeSynonyms && req.Version >= 1,
			r.IncludeDocumentation && req.Version >= 3)
		resp.Resources = append(resp.Resources, res)
	}
	return resp, nil
}

// checkNodeID checks that a broker resource name is this node's id. The
// errors are INVALID_REQUEST with Kafka's texts; alsoAllowed is what else
// the message says the name may be (" or empty string" where empty is
// allowed).
func checkNodeID(name string, self int32, alsoAllowed string) error {
	id, err := strconv.ParseInt(name, 10, 32)
	if err != nil {
		return apiErrorf(kerr.InvalidRequest, "Broker id must be an integer, but it is: %s", name)
	}
	if int32(id) != self {
		return apiErrorf(kerr.InvalidRequest, "Unexpected broker id, expected %d%s, but received %s", self, alsoAllowed, name)
	}
	return nil
}

// describedConfigs converts config entries to the response's form, keeping
// only names (all when empty), with synonyms and documentation when asked.
// Sensitive values and synonym values are null.
func describedConfigs(entries []config.Entry, names []string, synonyms, docs bool) []kmsg.DescribeConfigsResponseResourceConfig {
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(entries))
	for _, e := range entries {
		if len(names) > 0 && !slices.Contains(names, e.Name) {
			continue
		}
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name, c.ReadOnly, c.IsSensitive = e.Name, e.ReadOnly, e.Sensitive
		c.Source, c.ConfigType = e.Source, e.Type
		c.IsDefault = e.Source == kmsg.ConfigSourceDefaultConfig
		if !e.Sensitive {
			c.Value = e.Value
		}
		if synonyms {
			c.ConfigSynonyms = make([]kmsg.DescribeConfigsResponseResourceConfigConfigSynonym, 0, len(e.Synonyms))
			for _, s := range e.Synonyms {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name, cs.Source = s.Name, s.Source
				if !e.Sensitive {
					cs.Value = s.Value
				}
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
		}
		if docs && e.Documentation != "" {
			doc := e.Documentation
			c.Documentation = &doc
		}
		out = append(out, c)
	}
	return out
}

// topicResource returns the topic a TOPIC config resource names:
// INVALID_TOPIC_EXCEPTION for an illegal name, UNKNOWN_TOPIC_OR_PARTITION
// for a topic img does not hold.
func topicResource(img *metadata.Image, name string) (*metadata.Topic, error) {
	if err := metadata.CheckTopicName(name); err != nil {
		return nil, err
	}
	t, ok := img.Topic(name)
	if !ok {
		return nil, apiErrorf(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", name)
	}
	return t, nil
}

// configResourceAllowed checks op on a config resource as Kafka does: on
// the topic for TOPIC (TOPIC_AUTHORIZATION_FAILED), on the cluster for
// BROKER and BROKER_LOGGER (CLUSTER_AUTHORIZATION_FAILED). Other types are
// left to the caller, which refuses them.
func (b *Broker) configResourceAllowed(req *Request, op auth.Operation, typ kmsg.ConfigResourceType, name string) error {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		if !b.allowed(req, op, auth.ResourceTopic, name) {
			return kerr.TopicAuthorizationFailed
		}
	case kmsg.ConfigResourceTypeBroker, kmsg.ConfigResourceTypeBrokerLogger:
		if !b.allowedCluster(req, op) {
			return kerr.ClusterAuthorizationFailed
		}
	}
	return nil
}

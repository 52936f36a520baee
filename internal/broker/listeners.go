package broker

import "github.com/stratalog/strata/internal/metadata"

// endpoint returns where a client that came in on listener reaches broker
// br: br's listener of that name. ok is false when br has none: Kafka
// leaves such a broker out of what it tells that client. A broker
// registered without named listeners serves every name at its address.
func endpoint(br metadata.Broker, listener string) (host string, port int32, ok bool) {
	if len(br.Listeners) == 0 {
		return br.Host, br.Port, true
	}
	for _, ep := range br.Listeners {
		if ep.Name == listener {
			return ep.Host, ep.Port, true
		}
	}
	return "", 0, false
}

// listenerOf is the listener req came in on; requests a node makes to
// itself carry no connection and take the inter-broker one's name, which
// a broker's registered Host and Port serve.
func (b *Broker) listenerOf(req *Request) string {
	if req.Conn == nil || req.Conn.Listener == "" {
		return b.cfg.InterBrokerListener
	}
	return req.Conn.Listener
}

package config

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// SecurityProtocols are Kafka's listener security protocols.
var SecurityProtocols = []string{"PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"}

// defaultProtocolMap is Kafka's listener.security.protocol.map default:
// each protocol's name is a listener name with that protocol.
const defaultProtocolMap = "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"

// Listener is one named Kafka listener of this node.
type Listener struct {
	// Name is the listener name, upper case (PLAINTEXT, EXTERNAL, ...).
	Name string
	// Bind is the host:port to listen on; an empty host means every
	// interface.
	Bind string
	// Advertised is the host:port clients are told, or "" for the
	// address Bind bound.
	Advertised string
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	SecurityProtocol string
}

// Listeners returns the node's listeners, in the order `listeners` lists
// them, and the name of the one other nodes connect to. listen and
// advertise are the --listen and --advertise flags, which make a single
// PLAINTEXT listener when `listeners` is unset. The checks are Kafka's: each
// name and port once, every name mapped to a protocol, every advertised
// name a listener, the inter-broker listener one of them.
func (b Broker) Listeners(listen, advertise string) ([]Listener, string, error) {
	raw := b.get("listeners").list
	if len(raw) == 0 {
		l := Listener{Name: "PLAINTEXT", Bind: listen, Advertised: advertise, SecurityProtocol: "PLAINTEXT"}
		if name := b.get("inter.broker.listener.name").s; name != "" && name != l.Name {
			return nil, "", &Error{Name: "inter.broker.listener.name", Msg: fmt.Sprintf("inter.broker.listener.name must be a listener name defined in listeners (%s is not)", name)}
		}
		return []Listener{l}, l.Name, nil
	}
	protocols, err := parseProtocolMap(b.get("listener.security.protocol.map").list)
	if err != nil {
		return nil, "", err
	}
	var ls []Listener
	index := map[string]int{}
	ports := map[string]string{}
	for _, entry := range raw {
		name, addr, err := parseListener("listeners", entry)
		if err != nil {
			return nil, "", err
		}
		if _, dup := index[name]; dup {
			return nil, "", &Error{Name: "listeners", Msg: "Each listener must have a different name, " + name + " is listed twice"}
		}
		_, port, _ := net.SplitHostPort(addr)
		if other, dup := ports[port]; dup && port != "0" {
			return nil, "", &Error{Name: "listeners", Msg: fmt.Sprintf("Each listener must have a different port, listeners %s and %s share port %s", other, name, port)}
		}
		ports[port] = name
		protocol, ok := protocols[name]
		if !ok {
			return nil, "", &Error{Name: "listener.security.protocol.map", Msg: "No security protocol defined for listener " + name}
		}
		index[name] = len(ls)
		ls = append(ls, Listener{Name: name, Bind: addr, SecurityProtocol: protocol})
	}
	for _, entry := range b.get("advertised.listeners").list {
		name, addr, err := parseListener("advertised.listeners", entry)
		if err != nil {
			return nil, "", err
		}
		i, ok := index[name]
		if !ok {
			return nil, "", &Error{Name: "advertised.listeners", Msg: "advertised.listeners listener names must be equal to or a subset of the ones defined in listeners; " + name + " is not"}
		}
		if host, _, _ := net.SplitHostPort(addr); host == "" || net.ParseIP(host).IsUnspecified() {
			return nil, "", &Error{Name: "advertised.listeners", Msg: "advertised.listeners cannot use the nonroutable meta-address " + host + "; use a routable IP address"}
		}
		ls[i].Advertised = addr
	}
	inter := b.get("inter.broker.listener.name").s
	if inter == "" {
		inter = defaultInterBroker(ls)
	}
	if _, ok := index[inter]; !ok {
		return nil, "", &Error{Name: "inter.broker.listener.name", Msg: fmt.Sprintf("inter.broker.listener.name must be a listener name defined in listeners (%s is not)", inter)}
	}
	return ls, inter, nil
}

// defaultInterBroker picks the listener other nodes connect to when
// inter.broker.listener.name is unset: Kafka's default
// (security.inter.broker.protocol PLAINTEXT) is the listener named
// PLAINTEXT; failing that, the first plaintext listener, then the first.
func defaultInterBroker(ls []Listener) string {
	for _, l := range ls {
		if l.Name == "PLAINTEXT" {
			return l.Name
		}
	}
	for _, l := range ls {
		if l.SecurityProtocol == "PLAINTEXT" {
			return l.Name
		}
	}
	return ls[0].Name
}

// parseListener parses NAME://host:port.
func parseListener(setting, entry string) (name, addr string, err error) {
	name, addr, ok := strings.Cut(strings.TrimSpace(entry), "://")
	bad := func(why string) error {
		return &Error{Name: setting, Msg: fmt.Sprintf("Unable to parse %s to a broker endpoint: %s", entry, why)}
	}
	if !ok || name == "" {
		return "", "", bad("want NAME://host:port")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", "", bad(err.Error())
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && setting == "advertised.listeners") {
		return "", "", bad("bad port " + port)
	}
	return strings.ToUpper(name), net.JoinHostPort(host, port), nil
}

// parseProtocolMap parses listener.security.protocol.map: NAME:PROTOCOL
// pairs.
func parseProtocolMap(entries []string) (map[string]string, error) {
	m := make(map[string]string, len(entries))
	for _, e := range entries {
		name, protocol, ok := strings.Cut(strings.TrimSpace(e), ":")
		protocol = strings.ToUpper(protocol)
		if !ok || name == "" || oneOf(SecurityProtocols...)(value{s: protocol}) != "" {
			return nil, &Error{Name: "listener.security.protocol.map", Msg: fmt.Sprintf("Invalid entry %q: want NAME:PROTOCOL with PROTOCOL one of %s", e, strings.Join(SecurityProtocols, ", "))}
		}
		m[strings.ToUpper(name)] = protocol
	}
	return m, nil
}

// listenerList checks the syntax of listeners and advertised.listeners.
func listenerList(setting string) func(value) string {
	return func(v value) string {
		for _, e := range v.list {
			if _, _, err := parseListener(setting, e); err != nil {
				return err.(*Error).Msg
			}
		}
		return ""
	}
}

// protocolMap checks the syntax of listener.security.protocol.map.
func protocolMap(v value) string {
	if _, err := parseProtocolMap(v.list); err != nil {
		return err.(*Error).Msg
	}
	return ""
}

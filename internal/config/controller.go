package config

import "strings"

// ControllerListener returns the name of the Raft controller listener (the
// first of controller.listener.names) and its security protocol: its
// listener.security.protocol.map entry, PLAINTEXT without one (so a map
// that does not name it keeps the Raft traffic as it was). SASL is not
// spoken between the members of the quorum: only PLAINTEXT and SSL are.
func (b Broker) ControllerListener() (name, protocol string, err error) {
	name = "CONTROLLER"
	if names := b.get("controller.listener.names").list; len(names) > 0 {
		name = strings.ToUpper(names[0])
	}
	protocols, err := parseProtocolMap(b.get("listener.security.protocol.map").list)
	if err != nil {
		return "", "", err
	}
	protocol, ok := protocols[name]
	if !ok {
		protocol = "PLAINTEXT"
	}
	if protocol != "PLAINTEXT" && protocol != "SSL" {
		return "", "", &Error{Name: "listener.security.protocol.map", Msg: "The controller listener " + name + " must be PLAINTEXT or SSL, not " + protocol + " (Strata's controller quorum does not use SASL)"}
	}
	return name, protocol, nil
}

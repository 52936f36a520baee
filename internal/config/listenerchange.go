package config

import (
	"maps"
	"strings"
)

// CheckListenerChange checks a dynamic change of this node's listener
// settings, from the settings in force cur to next, as Kafka's
// DynamicListenerConfig does before it stores one: the listeners must
// resolve, a listener that stays keeps its security protocol and its
// listener.name.<l>. settings other than the keystore and truststore, and
// the listener other nodes connect to stays as it is. listen and advertise
// are the --listen and --advertise flags (see Listeners). Every refusal is
// INVALID_REQUEST, as Kafka answers a dynamic change it cannot apply.
func CheckListenerChange(cur, next Broker, listen, advertise string) error {
	old, oldInter, err := cur.Listeners(listen, advertise)
	if err != nil {
		return dynamicErrorf("%s", err)
	}
	ls, inter, err := next.Listeners(listen, advertise)
	if err != nil {
		return dynamicErrorf("%s", err)
	}
	byName := make(map[string]Listener, len(old))
	for _, l := range old {
		byName[l.Name] = l
	}
	kept := false
	for _, l := range ls {
		o, ok := byName[l.Name]
		if !ok {
			continue
		}
		if o.SecurityProtocol != l.SecurityProtocol {
			return dynamicErrorf("Security protocol cannot be updated for existing listener %s", l.Name)
		}
		if !maps.Equal(fixedListenerSettings(cur, l.Name), fixedListenerSettings(next, l.Name)) {
			return dynamicErrorf("Configs cannot be updated dynamically for existing listener %s, restart broker or create a new listener for update", l.Name)
		}
		if l.Name == oldInter {
			kept = o.Bind == l.Bind && o.advertised() == l.advertised()
		}
	}
	switch {
	case !hasListener(ls, oldInter):
		return dynamicErrorf("Advertised listener must be specified for inter-broker listener %s", oldInter)
	case !kept || inter != oldInter:
		// Kafka under KRaft refuses every change of a registered
		// address; Strata changes all but the one the other nodes and
		// the controller quorum know this node by.
		return dynamicErrorf("The inter-broker listener %s cannot be changed dynamically: it is how the other nodes reach this one", oldInter)
	}
	return nil
}

// advertised is the address clients are told, as far as the settings say:
// the bound one when advertised.listeners does not name the listener.
func (l Listener) advertised() string {
	if l.Advertised != "" {
		return l.Advertised
	}
	return l.Bind
}

func hasListener(ls []Listener, name string) bool {
	for _, l := range ls {
		if l.Name == name {
			return true
		}
	}
	return false
}

// fixedListenerSettings returns listener's listener.name.<l>. settings in
// b that Kafka does not reconfigure on a running listener: all but the
// keystore and truststore.
func fixedListenerSettings(b Broker, listener string) map[string]string {
	prefix := listenerPrefix + strings.ToLower(listener) + "."
	m := map[string]string{}
	for k, v := range b.values {
		if setting, ok := strings.CutPrefix(k, prefix); ok && !listenerOnly[setting] {
			m[setting] = v
		}
	}
	return m
}

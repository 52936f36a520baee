package config

import "strings"

// listenerPrefix starts a per-listener override, as Kafka names them:
// listener.name.<lower-case listener name>.<setting>, e.g.
// listener.name.sasl_ssl.ssl.keystore.location.
const listenerPrefix = "listener.name."

// perListener reports whether setting may be overridden per listener: the
// TLS settings, as Kafka's channel builders read them with the listener's
// prefix first.
func perListener(setting string) bool { return strings.HasPrefix(setting, "ssl.") }

// brokerDef returns the definition of setting name, which may be a
// per-listener override of a setting that takes one.
func brokerDef(name string) (*Definition, bool) {
	if d, ok := brokerIndex[name]; ok {
		return d, true
	}
	if rest, ok := strings.CutPrefix(name, listenerPrefix); ok {
		listener, setting, ok := strings.Cut(rest, ".")
		if ok && listener != "" && listener == strings.ToLower(listener) {
			if d, ok := jaasDef(name, setting); ok {
				return d, true
			}
		}
	}
	_, setting, ok := splitListenerSetting(name)
	if !ok {
		return nil, false
	}
	d, ok := brokerIndex[setting]
	return d, ok
}

// splitListenerSetting splits a per-listener override,
// listener.name.<listener>.<setting>, of a setting that takes one; the
// listener comes back upper case, as listener names are.
func splitListenerSetting(name string) (listener, setting string, ok bool) {
	rest, ok := strings.CutPrefix(name, listenerPrefix)
	if !ok {
		return "", "", false
	}
	listener, setting, ok = strings.Cut(rest, ".")
	if !ok || listener == "" || listener != strings.ToLower(listener) || !perListener(setting) {
		return "", "", false
	}
	return strings.ToUpper(listener), setting, true
}

// ListenerValue returns setting name as listener sees it: its
// listener.name.<listener>. override when there is one, else the
// setting's value in force, as Value reports it.
func (b Broker) ListenerValue(listener, name string) (string, bool) {
	if v, ok := b.values[listenerPrefix+strings.ToLower(listener)+"."+name]; ok {
		return v, true
	}
	return b.Value(name)
}

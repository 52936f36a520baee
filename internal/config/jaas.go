package config

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// JAASLogin is the one login module entry of a sasl.jaas.config value, in
// the syntax of a JAAS configuration file entry, as Kafka reads it:
//
//	org.apache.kafka.common.security.scram.ScramLoginModule required username="broker" password="secret";
type JAASLogin struct {
	Module  string            // the login module's class name
	Flag    string            // required, requisite, sufficient or optional (lower case)
	Options map[string]string // key=value options, quotes and escapes removed
}

// JAAS login modules of the mechanisms a node authenticates to others with.
const (
	PlainLoginModule = "org.apache.kafka.common.security.plain.PlainLoginModule"
	ScramLoginModule = "org.apache.kafka.common.security.scram.ScramLoginModule"
)

// ParseJAAS parses a sasl.jaas.config value: exactly one login module entry
// ending with a semicolon, as Kafka's JaasConfig requires. Values are words
// or double-quoted strings with backslash escapes; // and /* */ comments
// are skipped. An error names the position, never a value (values hold
// passwords).
func ParseJAAS(s string) (JAASLogin, error) {
	p := jaasParser{s: s}
	var l JAASLogin
	var ok bool
	p.skip()
	if l.Module, ok = p.word(); !ok {
		return l, p.fail("want a login module class name")
	}
	p.skip()
	flag, _ := p.word()
	switch l.Flag = strings.ToLower(flag); l.Flag {
	case "required", "requisite", "sufficient", "optional":
	default:
		return l, p.fail("want a control flag (required, requisite, sufficient or optional) after the login module")
	}
	l.Options = map[string]string{}
	for {
		p.skip()
		if p.eat(';') {
			break
		}
		key, ok := p.word()
		if !ok {
			return l, p.fail("want an option name or the closing semicolon")
		}
		p.skip()
		if !p.eat('=') {
			return l, p.fail(fmt.Sprintf("want = after option %s", key))
		}
		p.skip()
		v, err := p.value()
		if err != nil {
			return l, p.fail(fmt.Sprintf("option %s: %v", key, err))
		}
		if _, dup := l.Options[key]; dup {
			return l, p.fail("option " + key + " given twice")
		}
		l.Options[key] = v
	}
	p.skip()
	if p.i < len(p.s) {
		return l, p.fail("a sasl.jaas.config value holds one login module; found more after the semicolon")
	}
	return l, nil
}

// Credentials returns the username and password options, which a login
// module for PLAIN or SCRAM that authenticates this node must have.
func (l JAASLogin) Credentials() (user, password string, err error) {
	user, password = l.Options["username"], l.Options["password"]
	if user == "" || password == "" {
		return "", "", errors.New("the login module needs username=\"...\" and password=\"...\" options")
	}
	return user, password, nil
}

type jaasParser struct {
	s string
	i int
}

func (p *jaasParser) fail(why string) error {
	return fmt.Errorf("sasl.jaas.config at byte %d: %s", p.i, why)
}

// skip skips white space and comments.
func (p *jaasParser) skip() {
	for p.i < len(p.s) {
		switch rest := p.s[p.i:]; {
		case rest[0] == ' ' || rest[0] == '\t' || rest[0] == '\n' || rest[0] == '\r':
			p.i++
		case strings.HasPrefix(rest, "//"):
			end := strings.IndexByte(rest, '\n')
			if end < 0 {
				end = len(rest)
			}
			p.i += end
		case strings.HasPrefix(rest, "/*"):
			end := strings.Index(rest[2:], "*/")
			if end < 0 {
				p.i = len(p.s)
				return
			}
			p.i += end + 4
		default:
			return
		}
	}
}

func (p *jaasParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// isWordByte reports whether c may be part of an unquoted word: the word
// characters of Kafka's tokenizer (letters, digits, '.', '-', '_', '$').
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '$' || c >= 0x80
}

func (p *jaasParser) word() (string, bool) {
	start := p.i
	for p.i < len(p.s) && isWordByte(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i], p.i > start
}

// value reads a word or a double-quoted string.
func (p *jaasParser) value() (string, error) {
	if !p.eat('"') {
		if w, ok := p.word(); ok {
			return w, nil
		}
		return "", errors.New("want a value: a word or a double-quoted string")
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch c {
		case '"':
			return b.String(), nil
		case '\\':
			if p.i == len(p.s) {
				return "", errors.New("unterminated quoted value")
			}
			e := p.s[p.i]
			p.i++
			switch e {
			case 'n':
				e = '\n'
			case 't':
				e = '\t'
			case 'r':
				e = '\r'
			}
			b.WriteByte(e)
		default:
			b.WriteByte(c)
		}
	}
	return "", errors.New("unterminated quoted value")
}

// jaasSetting ends a listener's JAAS setting for one mechanism:
// listener.name.<listener>.<mechanism, lower case>.sasl.jaas.config.
const jaasSetting = ".sasl.jaas.config"

// jaasDef returns the definition of name when its part after the listener
// prefix, setting, is <mechanism>.sasl.jaas.config: a password (it holds
// one), checked for syntax.
func jaasDef(name, setting string) (*Definition, bool) {
	mech, ok := strings.CutSuffix(setting, jaasSetting)
	if !ok || !slices.ContainsFunc(saslMechanisms, func(m string) bool { return strings.ToLower(m) == mech }) {
		return nil, false
	}
	return &Definition{Name: name, Type: kmsg.ConfigTypePassword, check: func(v value) string {
		if _, err := ParseJAAS(v.s); err != nil {
			return err.Error()
		}
		return ""
	}, Doc: "The JAAS login module entry giving this node's credentials for the mechanism on the listener."}, true
}

// InterBrokerSASL returns the mechanism and credentials this node
// authenticates to listener with (the inter-broker listener, when its
// protocol is SASL): sasl.mechanism.inter.broker.protocol and the username
// and password of listener.name.<listener>.<mechanism>.sasl.jaas.config,
// whose login module must be the mechanism's. Errors name the settings,
// never a value.
func (b Broker) InterBrokerSASL(listener string) (mechanism, user, password string, err error) {
	const mechSetting = "sasl.mechanism.inter.broker.protocol"
	mechanism = b.get(mechSetting).s
	if mechanism == "GSSAPI" { // Kafka's default
		return "", "", "", &Error{Name: mechSetting, Msg: fmt.Sprintf("%s must be set to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 when the inter-broker listener %s uses SASL (Strata has no GSSAPI)", mechSetting, listener)}
	}
	if !slices.Contains(b.SASLMechanisms(), mechanism) {
		return "", "", "", &Error{Name: mechSetting, Msg: mechSetting + " must be included in sasl.enabled.mechanisms when SASL is used for inter-broker communication"}
	}
	name := listenerPrefix + strings.ToLower(listener) + "." + strings.ToLower(mechanism) + jaasSetting
	raw, ok := b.values[name]
	if !ok {
		return "", "", "", &Error{Name: name, Msg: fmt.Sprintf("%s must be set: the inter-broker listener %s uses SASL mechanism %s", name, listener, mechanism)}
	}
	login, err := ParseJAAS(raw)
	if err != nil {
		return "", "", "", &Error{Name: name, Msg: name + ": " + err.Error()}
	}
	want := ScramLoginModule
	if mechanism == "PLAIN" {
		want = PlainLoginModule
	}
	if login.Module != want {
		return "", "", "", &Error{Name: name, Msg: fmt.Sprintf("%s: mechanism %s takes login module %s, not %s", name, mechanism, want, login.Module)}
	}
	if user, password, err = login.Credentials(); err != nil {
		return "", "", "", &Error{Name: name, Msg: name + ": " + err.Error()}
	}
	return mechanism, user, password, nil
}

package auth

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"strings"
	"time"
)

// plainMechanism is the server side of SASL/PLAIN (RFC 4616). A password
// is checked against the user's SCRAM credentials from the metadata log
// (any mechanism), else against the users of the sasl.plain.users
// setting.
type plainMechanism struct {
	lookup CredentialLookup
	users  map[string]string
}

// NewPlain returns the server side of PLAIN over lookup's credentials and
// users (user name to password; may be nil).
func NewPlain(lookup CredentialLookup, users map[string]string) Mechanism {
	return &plainMechanism{lookup: lookup, users: users}
}

func (p *plainMechanism) Name() string { return "PLAIN" }

func (p *plainMechanism) Start() Exchange { return &plainExchange{m: p} }

// errPlainCredentials is Kafka's answer to a wrong password or an unknown
// user alike.
const errPlainCredentials = plainError("Authentication failed: Invalid username or password")

// plainError is a PLAIN failure whose text is Kafka's.
type plainError string

func (e plainError) Error() string        { return string(e) }
func (e plainError) Is(target error) bool { return target == ErrAuthentication }

type plainExchange struct {
	m    *plainMechanism
	user string
	done bool
}

func (x *plainExchange) Step(msg []byte) ([]byte, bool, error) {
	if x.done {
		return nil, true, plainError("Authentication failed: PLAIN takes one message")
	}
	x.done = true
	authzid, user, password, err := ParsePlain(msg)
	if err != nil {
		return nil, true, err
	}
	if authzid != "" && authzid != user {
		return nil, true, plainError("Authentication failed: Client requested an authorization id that is different from username")
	}
	if !x.m.check(user, password) {
		return nil, true, errPlainCredentials
	}
	x.user = user
	return nil, true, nil
}

// check reports whether password is user's. Every SCRAM credential and
// the configured password are all checked, so the time taken does not
// tell which one, if any, exists.
func (p *plainMechanism) check(user, password string) bool {
	ok := false
	for _, m := range ScramMechanisms {
		if c, found := p.lookup(user, m); found && c.CheckPassword(m, password) {
			ok = true
		}
	}
	if want, found := p.users[user]; found && subtle.ConstantTimeCompare([]byte(want), []byte(password)) == 1 {
		ok = true
	}
	return ok
}

func (x *plainExchange) Principal() string { return "User:" + x.user }

func (x *plainExchange) Expiry() time.Time { return time.Time{} }

// ParsePlain splits a PLAIN message, authzid NUL authcid NUL passwd, with
// Kafka's checks and messages: exactly three fields, a user and a
// password.
func ParsePlain(msg []byte) (authzid, user, password string, err error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", "", "", plainError(fmt.Sprintf("Invalid SASL/PLAIN response: expected 3 tokens, got %d", len(parts)))
	}
	authzid, user, password = string(parts[0]), string(parts[1]), string(parts[2])
	switch {
	case user == "":
		return "", "", "", plainError("Authentication failed: username not specified")
	case password == "":
		return "", "", "", plainError("Authentication failed: password not specified")
	}
	return authzid, user, password, nil
}

// ParseUsers reads the sasl.plain.users setting: user:password pairs
// separated by commas.
func ParseUsers(list []string) (map[string]string, error) {
	users := make(map[string]string, len(list))
	for _, item := range list {
		user, password, ok := strings.Cut(item, ":")
		if !ok || user == "" || password == "" {
			return nil, errors.New("sasl.plain.users: each item must be user:password")
		}
		users[user] = password
	}
	return users, nil
}

package auth

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/xdg-go/scram"
)

// credentials is a CredentialLookup over a fixed set.
type credentials map[string]map[ScramMechanism]ScramCredential

func (c credentials) lookup(user string, m ScramMechanism) (ScramCredential, bool) {
	cred, ok := c[user][m]
	return cred, ok
}

func newCredential(t testing.TB, m ScramMechanism, password string, iterations int) ScramCredential {
	t.Helper()
	salt := []byte("0123456789abcdef")
	salted, err := SaltPassword(m, password, salt, iterations)
	if err != nil {
		t.Fatal(err)
	}
	return NewScramCredential(m, salt, salted, iterations)
}

// converse runs a SCRAM exchange between xdg-go/scram's client and mech.
func converse(t *testing.T, mech Mechanism, h scram.HashGeneratorFcn, user, password string) (Exchange, error) {
	t.Helper()
	client, err := h.NewClient(user, password, "")
	if err != nil {
		t.Fatal(err)
	}
	conv := client.NewConversation()
	x := mech.Start()
	msg, err := conv.Step("")
	if err != nil {
		t.Fatal(err)
	}
	for {
		reply, done, err := x.Step([]byte(msg))
		if err != nil {
			return x, err
		}
		if msg, err = conv.Step(string(reply)); err != nil {
			t.Fatalf("client rejects the server: %v", err)
		}
		if done {
			if !conv.Valid() {
				t.Fatal("client did not validate the server's signature")
			}
			return x, nil
		}
	}
}

func TestScram(t *testing.T) {
	creds := credentials{
		"alice": {ScramSHA256: newCredential(t, ScramSHA256, "s3cret", 4096), ScramSHA512: newCredential(t, ScramSHA512, "other", 8192)},
		"weak":  {ScramSHA256: newCredential(t, ScramSHA256, "pw", 1000)},
	}
	sha256 := NewScram(ScramSHA256, creds.lookup)
	sha512 := NewScram(ScramSHA512, creds.lookup)
	for _, tc := range []struct {
		name     string
		mech     Mechanism
		h        scram.HashGeneratorFcn
		user, pw string
		ok       bool
	}{
		{"sha256", sha256, scram.SHA256, "alice", "s3cret", true},
		{"sha512", sha512, scram.SHA512, "alice", "other", true},
		{"wrong password", sha256, scram.SHA256, "alice", "other", false},
		{"other mechanism's password", sha512, scram.SHA512, "alice", "s3cret", false},
		{"unknown user", sha256, scram.SHA256, "bob", "s3cret", false},
		{"too few iterations", sha256, scram.SHA256, "weak", "pw", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, err := converse(t, tc.mech, tc.h, tc.user, tc.pw)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				if got := x.Principal(); got != "User:"+tc.user {
					t.Fatalf("principal %q, want User:%s", got, tc.user)
				}
				return
			}
			want := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + tc.mech.Name()
			if err == nil || err.Error() != want || !errors.Is(err, ErrAuthentication) {
				t.Fatalf("got %v, want %q", err, want)
			}
		})
	}
}

func TestScramRefusesTokenAuth(t *testing.T) {
	creds := credentials{"alice": {ScramSHA256: newCredential(t, ScramSHA256, "s3cret", 4096)}}
	x := NewScram(ScramSHA256, creds.lookup).Start()
	_, done, err := x.Step([]byte("n,,n=alice,r=abcdefgh,tokenauth=true"))
	if !done || !errors.Is(err, ErrAuthentication) {
		t.Fatalf("tokenauth: done %v, err %v", done, err)
	}
}

func TestScramRefusesOtherAuthzID(t *testing.T) {
	creds := credentials{"alice": {ScramSHA256: newCredential(t, ScramSHA256, "s3cret", 4096)}}
	x := NewScram(ScramSHA256, creds.lookup).Start()
	if _, done, err := x.Step([]byte("n,a=bob,n=alice,r=abcdefgh")); !done || err == nil {
		t.Fatalf("authzid bob as alice: done %v, err %v", done, err)
	}
}

func TestPlain(t *testing.T) {
	creds := credentials{"alice": {ScramSHA512: newCredential(t, ScramSHA512, "s3cret", 4096)}}
	mech := NewPlain(creds.lookup, map[string]string{"carol": "pw"})
	for _, tc := range []struct {
		name string
		msg  string
		err  string
	}{
		{"scram credential", "\x00alice\x00s3cret", ""},
		{"configured user", "carol\x00carol\x00pw", ""},
		{"wrong password", "\x00alice\x00nope", "Authentication failed: Invalid username or password"},
		{"unknown user", "\x00bob\x00s3cret", "Authentication failed: Invalid username or password"},
		{"other authzid", "bob\x00alice\x00s3cret", "Authentication failed: Client requested an authorization id that is different from username"},
		{"no user", "\x00\x00s3cret", "Authentication failed: username not specified"},
		{"no password", "\x00alice\x00", "Authentication failed: password not specified"},
		{"two fields", "alice\x00s3cret", "Invalid SASL/PLAIN response: expected 3 tokens, got 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := mech.Start()
			reply, done, err := x.Step([]byte(tc.msg))
			if !done || len(reply) != 0 {
				t.Fatalf("done %v, reply %q", done, reply)
			}
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.err {
				t.Fatalf("got %v, want %q", err, tc.err)
			}
		})
	}
}

// FuzzScramClientMessages feeds arbitrary client messages to both steps
// of a SCRAM exchange. Invariant: no panic, and no garbage authenticates.
func FuzzScramClientMessages(f *testing.F) {
	f.Add([]byte("n,,n=alice,r=abcdefgh"), []byte("c=biws,r=abcdefgh,p=AAAA"))
	f.Add([]byte("n,,n=alice,r=x,tokenauth=true"), []byte(""))
	f.Add([]byte(""), []byte("c=,r=,p="))
	f.Add([]byte("p=tls-unique,a=alice,n==2C,r=\xff"), []byte("\x00,,,"))
	creds := credentials{"alice": {ScramSHA256: newCredential(f, ScramSHA256, "s3cret", 4096)}}
	mech := NewScram(ScramSHA256, creds.lookup)
	f.Fuzz(func(t *testing.T, first, final []byte) {
		x := mech.Start()
		if _, done, err := x.Step(first); done {
			if err == nil {
				t.Fatal("a one-step SCRAM exchange succeeded")
			}
			return
		}
		if _, _, err := x.Step(final); err == nil {
			t.Fatalf("forged proof authenticated: %q %q", first, final)
		}
	})
}

// FuzzPlainMessage feeds arbitrary PLAIN messages. Invariant: no panic;
// success only with alice's password.
func FuzzPlainMessage(f *testing.F) {
	f.Add([]byte("\x00alice\x00s3cret"))
	f.Add([]byte("\x00\x00"))
	f.Add([]byte("a\x00b\x00c\x00d"))
	creds := credentials{"alice": {ScramSHA256: newCredential(f, ScramSHA256, "s3cret", 4096)}}
	mech := NewPlain(creds.lookup, nil)
	f.Fuzz(func(t *testing.T, msg []byte) {
		_, done, err := mech.Start().Step(msg)
		if !done {
			t.Fatal("PLAIN takes one message")
		}
		if err == nil {
			if _, user, pw, perr := ParsePlain(msg); perr != nil || user != "alice" || pw != "s3cret" {
				t.Fatalf("%q authenticated", msg)
			}
		}
	})
}

// TestScramLibrdkafkaNonce: librdkafka's client-final message carries its
// client nonce before the server's whole nonce; Kafka, and so Strata,
// accepts a nonce that ends with the server's.
func TestScramLibrdkafkaNonce(t *testing.T) {
	cred := newCredential(t, ScramSHA512, "s3cret", 4096)
	creds := credentials{"alice": {ScramSHA512: cred}}
	x := NewScram(ScramSHA512, creds.lookup).Start()
	const cnonce = "fyko+d2lbbFgONRv9qkxdawL"
	s1, done, err := x.Step([]byte("n,,n=alice,r=" + cnonce))
	if err != nil || done {
		t.Fatalf("first step: done %v, err %v", done, err)
	}
	snonce := strings.TrimPrefix(strings.Split(string(s1), ",")[0], "r=")
	withoutProof := "c=biws,r=" + cnonce + snonce
	salted, err := SaltPassword(ScramSHA512, "s3cret", cred.Salt, cred.Iterations)
	if err != nil {
		t.Fatal(err)
	}
	h := ScramSHA512.hash()
	clientKey := hmacOf(h, salted, "Client Key")
	sig := hmacOf(h, cred.StoredKey, "n=alice,r="+cnonce+","+string(s1)+","+withoutProof)
	for i := range clientKey {
		clientKey[i] ^= sig[i]
	}
	reply, done, err := x.Step([]byte(withoutProof + ",p=" + base64.StdEncoding.EncodeToString(clientKey)))
	if err != nil || !done || !strings.HasPrefix(string(reply), "v=") {
		t.Fatalf("final step: reply %q, done %v, err %v", reply, done, err)
	}
}

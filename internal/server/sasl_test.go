package server_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/stratalog/strata/internal/cli"
)

const password = "s3cret-Pa55"

// logBuffer is a log destination tests read while the node writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// saslNode is a one-node cluster with a PLAINTEXT and a SASL_PLAINTEXT
// listener.
type saslNode struct {
	plain, sasl string
	log         *logBuffer
}

func startSASLNode(t *testing.T, settings map[string]string) *saslNode {
	t.Helper()
	s := map[string]string{
		"listeners":               "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
		"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN",
	}
	for k, v := range settings {
		s[k] = v
	}
	logs := &logBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	n, err := cli.StartNode(ctx, cli.ServeOptions{DataDir: t.TempDir(), Admin: "127.0.0.1:0", NodeID: 1, Settings: s},
		slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		if err := n.Wait(); err != nil {
			t.Errorf("node stopped with error: %v", err)
		}
		if strings.Contains(logs.String(), password) {
			t.Error("the password is in the node's log")
		}
	})
	return &saslNode{plain: n.Listeners["PLAINTEXT"].String(), sasl: n.Listeners["SASL_PLAINTEXT"].String(), log: logs}
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func client(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// createUser gives user SCRAM credentials for both mechanisms, through
// the PLAINTEXT listener.
func createUser(t *testing.T, n *saslNode, user string) {
	t.Helper()
	adm := kadm.NewClient(client(t, n.plain))
	res, err := adm.AlterUserSCRAMs(ctxFor(t), nil, []kadm.UpsertSCRAM{
		{User: user, Mechanism: kadm.ScramSha256, Iterations: 4096, Password: password},
	})
	if err == nil {
		err = res.Error()
	}
	if err == nil {
		res, err = adm.AlterUserSCRAMs(ctxFor(t), nil, []kadm.UpsertSCRAM{
			{User: user, Mechanism: kadm.ScramSha512, Iterations: 8192, Password: password},
		})
	}
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func mechanisms(user, pw string) map[string]sasl.Mechanism {
	return map[string]sasl.Mechanism{
		"SCRAM-SHA-256": scram.Auth{User: user, Pass: pw}.AsSha256Mechanism(),
		"SCRAM-SHA-512": scram.Auth{User: user, Pass: pw}.AsSha512Mechanism(),
		"PLAIN":         plain.Auth{User: user, Pass: pw}.AsMechanism(),
	}
}

// TestSASLProduceConsume produces and consumes over SASL_PLAINTEXT with
// each mechanism.
func TestSASLProduceConsume(t *testing.T) {
	n := startSASLNode(t, nil)
	createUser(t, n, "alice")
	for name, mech := range mechanisms("alice", password) {
		t.Run(name, func(t *testing.T) {
			topic := "sasl-" + strings.ToLower(name)
			producer := client(t, n.sasl, kgo.SASL(mech), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
			if err := producer.ProduceSync(ctxFor(t), &kgo.Record{Value: []byte("hello " + name)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			consumer := client(t, n.sasl, kgo.SASL(mech), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			fs := consumer.PollFetches(ctxFor(t))
			if err := fs.Err(); err != nil {
				t.Fatal(err)
			}
			if recs := fs.Records(); len(recs) != 1 || string(recs[0].Value) != "hello "+name {
				t.Fatalf("got %v, want one record %q", recs, "hello "+name)
			}
		})
	}
}

// TestSASLBadCredentials: a wrong password and an unknown user get the
// same SASL_AUTHENTICATION_FAILED, and the connection is closed after it.
func TestSASLBadCredentials(t *testing.T) {
	n := startSASLNode(t, nil)
	createUser(t, n, "alice")
	for name := range mechanisms("", "") {
		t.Run(name, func(t *testing.T) {
			var msgs []string
			for _, user := range []string{"alice", "mallory"} {
				cl := client(t, n.sasl, kgo.SASL(mechanisms(user, "wrong-password")[name]))
				err := cl.Ping(ctxFor(t))
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("%s: got %v, want SASL_AUTHENTICATION_FAILED", user, err)
				}
				msgs = append(msgs, strings.ReplaceAll(err.Error(), user, "USER"))
			}
			if msgs[0] != msgs[1] {
				t.Fatalf("wrong password %q and unknown user %q answered differently", msgs[0], msgs[1])
			}
		})
	}
	// By hand: the failure's message, then the connection closes.
	c := dial(t, n.sasl)
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, &kmsg.SASLHandshakeResponse{Version: 1})
	resp := &kmsg.SASLAuthenticateResponse{Version: 2}
	c.roundTrip(t, &kmsg.SASLAuthenticateRequest{Version: 2, SASLAuthBytes: []byte("\x00alice\x00nope")}, resp)
	if resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || resp.ErrorMessage == nil ||
		*resp.ErrorMessage != "Authentication failed: Invalid username or password" {
		t.Fatalf("got code %d message %v", resp.ErrorCode, resp.ErrorMessage)
	}
	c.wantClosed(t, &kmsg.MetadataRequest{Version: 12})
}

// TestSASLBeforeAuthentication: a request other than ApiVersions and the
// handshake closes the connection, and so does a frame above
// sasl.server.max.receive.size; an unknown mechanism is
// UNSUPPORTED_SASL_MECHANISM with the enabled ones.
func TestSASLBeforeAuthentication(t *testing.T) {
	n := startSASLNode(t, nil)
	c := dial(t, n.sasl)
	c.roundTrip(t, &kmsg.ApiVersionsRequest{Version: 3, ClientSoftwareName: "t", ClientSoftwareVersion: "1"}, &kmsg.ApiVersionsResponse{Version: 3})
	c.wantClosed(t, &kmsg.MetadataRequest{Version: 12})

	c = dial(t, n.sasl)
	frame := binary.BigEndian.AppendUint32(nil, 524288+1)
	if _, err := c.conn.Write(append(frame, make([]byte, 64)...)); err != nil {
		t.Fatal(err)
	}
	c.wantEOF(t)
	if !strings.Contains(n.log.String(), "sasl.server.max.receive.size") {
		t.Fatal("the oversized frame was not logged")
	}

	c = dial(t, n.sasl)
	hs := &kmsg.SASLHandshakeResponse{Version: 1}
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "GSSAPI"}, hs)
	if hs.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(hs.SupportedMechanisms, ",") != "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN" {
		t.Fatalf("got %+v", hs)
	}
	c.wantEOF(t)

	// The PLAINTEXT listener answers the handshake ILLEGAL_SASL_STATE.
	c = dial(t, n.plain)
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, hs)
	if hs.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("PLAINTEXT handshake: got code %d, want ILLEGAL_SASL_STATE", hs.ErrorCode)
	}
}

// TestSASLHandshakeV0 authenticates with SaslHandshake v0 and bare PLAIN
// tokens, as older clients do.
func TestSASLHandshakeV0(t *testing.T) {
	n := startSASLNode(t, map[string]string{"sasl.plain.users": "carol:" + password})
	c := dial(t, n.sasl)
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 0, Mechanism: "PLAIN"}, &kmsg.SASLHandshakeResponse{})
	tok := []byte("\x00carol\x00" + password)
	if _, err := c.conn.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...)); err != nil {
		t.Fatal(err)
	}
	if reply := c.readFrame(t); len(reply) != 0 {
		t.Fatalf("PLAIN reply %q, want empty", reply)
	}
	c.roundTrip(t, &kmsg.MetadataRequest{Version: 12}, &kmsg.MetadataResponse{Version: 12})
}

// TestSASLReauthentication: with a short connections.max.reauth.ms a
// producer re-authenticates and goes on; a connection that does not is
// closed at its first request after the session.
func TestSASLReauthentication(t *testing.T) {
	n := startSASLNode(t, map[string]string{"connections.max.reauth.ms": "1500"})
	createUser(t, n, "alice")
	producer := client(t, n.sasl, kgo.SASL(scram.Auth{User: "alice", Pass: password}.AsSha512Mechanism()),
		kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation())
	deadline := time.Now().Add(30 * time.Second)
	for sent := 0; strings.Count(n.log.String(), "SASL authenticated") < 4; sent++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d authentications after %d records", strings.Count(n.log.String(), "SASL authenticated"), sent)
		}
		if err := producer.ProduceSync(ctxFor(t), &kgo.Record{Value: []byte("r")}).FirstErr(); err != nil {
			t.Fatalf("record %d: %v", sent, err)
		}
	}
	if strings.Contains(n.log.String(), "expired") {
		t.Fatal("a re-authenticating client's connection expired")
	}

	c := dial(t, n.sasl)
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, &kmsg.SASLHandshakeResponse{Version: 1})
	auth := &kmsg.SASLAuthenticateResponse{Version: 1}
	c.roundTrip(t, &kmsg.SASLAuthenticateRequest{Version: 1, SASLAuthBytes: []byte("\x00alice\x00" + password)}, auth)
	if auth.ErrorCode != 0 || auth.SessionLifetimeMillis <= 0 || auth.SessionLifetimeMillis > 1500 {
		t.Fatalf("got code %d, session lifetime %d ms, want 0 and (0, 1500]", auth.ErrorCode, auth.SessionLifetimeMillis)
	}
	c.roundTrip(t, &kmsg.MetadataRequest{Version: 12}, &kmsg.MetadataResponse{Version: 12})
	<-time.After(time.Duration(auth.SessionLifetimeMillis+50) * time.Millisecond) // the session's end
	c.wantClosed(t, &kmsg.MetadataRequest{Version: 12})
}

// TestScramCredentialsAdmin round-trips DescribeUserScramCredentials and
// AlterUserScramCredentials with kadm, and their errors.
func TestScramCredentialsAdmin(t *testing.T) {
	n := startSASLNode(t, nil)
	createUser(t, n, "alice")
	adm := kadm.NewClient(client(t, n.plain))
	ctx := ctxFor(t)
	d, err := adm.DescribeUserSCRAMs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := d["alice"]
	if got.Err != nil || len(got.CredInfos) != 2 || got.CredInfos[0] != (kadm.CredInfo{Mechanism: kadm.ScramSha256, Iterations: 4096}) ||
		got.CredInfos[1] != (kadm.CredInfo{Mechanism: kadm.ScramSha512, Iterations: 8192}) {
		t.Fatalf("described %+v", d)
	}
	d, err = adm.DescribeUserSCRAMs(ctx, "nobody")
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(d["nobody"].Err, kerr.ResourceNotFound) {
		t.Fatalf("unknown user: %+v", d)
	}
	// kadm refuses bad iterations itself: the errors go by hand.
	req := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	req.Deletions = []kmsg.AlterUserSCRAMCredentialsRequestDeletion{{Name: "bob", Mechanism: 1}, {Name: "frank", Mechanism: 3}}
	salted := make([]byte, 32)
	for _, u := range []struct {
		user       string
		mech       int8
		iterations int32
	}{{"carol", 1, 100}, {"dave", 1, 4096}, {"dave", 2, 4096}, {"erin", 1, 20000}, {"", 1, 4096}} {
		req.Upsertions = append(req.Upsertions, kmsg.AlterUserSCRAMCredentialsRequestUpsertion{
			Name: u.user, Mechanism: u.mech, Iterations: u.iterations, Salt: []byte("salt"), SaltedPassword: salted})
	}
	resp, err := req.RequestWith(ctx, client(t, n.plain))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*kerr.Error{"bob": kerr.ResourceNotFound, "frank": kerr.UnsupportedSaslMechanism, "carol": kerr.UnacceptableCredential,
		"dave": kerr.DuplicateResource, "erin": kerr.UnacceptableCredential, "": kerr.UnacceptableCredential}
	for _, r := range resp.Results {
		if r.ErrorCode != want[r.User].Code {
			t.Errorf("%q: got code %d (%v), want %v", r.User, r.ErrorCode, r.ErrorMessage, want[r.User])
		}
		delete(want, r.User)
	}
	if len(want) != 0 {
		t.Errorf("no result for %v", want)
	}
	res, err := adm.AlterUserSCRAMs(ctx, []kadm.DeleteSCRAM{{User: "alice", Mechanism: kadm.ScramSha256}}, nil)
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	d, err = adm.DescribeUserSCRAMs(ctx, "alice")
	if err != nil || len(d["alice"].CredInfos) != 1 || d["alice"].CredInfos[0].Mechanism != kadm.ScramSha512 {
		t.Fatalf("after deleting SCRAM-SHA-256: %+v, %v", d, err)
	}
	// The deleted credential no longer authenticates; the other does.
	if err := client(t, n.sasl, kgo.SASL(mechanisms("alice", password)["SCRAM-SHA-256"])).Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("deleted credential: got %v", err)
	}
	if err := client(t, n.sasl, kgo.SASL(mechanisms("alice", password)["SCRAM-SHA-512"])).Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

// rawConn speaks the protocol by hand, for what clients never send.
type rawConn struct {
	conn net.Conn
	corr int32
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{conn: c}
}

func (c *rawConn) send(t *testing.T, req kmsg.Request) {
	t.Helper()
	c.corr++
	frame := kmsg.NewRequestFormatter(kmsg.FormatterClientID("sasl-test")).AppendRequest(nil, req, c.corr)
	if _, err := c.conn.Write(frame); err != nil {
		t.Fatal(err)
	}
}

func (c *rawConn) readFrame(t *testing.T) []byte {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(c.conn, size[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c.conn, b); err != nil {
		t.Fatal(err)
	}
	return b
}

func (c *rawConn) roundTrip(t *testing.T, req kmsg.Request, resp kmsg.Response) {
	t.Helper()
	c.send(t, req)
	b := c.readFrame(t)[4:] // the correlation id
	if req.IsFlexible() && req.Key() != 18 {
		b = b[1:] // the header's empty tagged fields
	}
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
}

// wantClosed sends req and expects the connection closed without an
// answer.
func (c *rawConn) wantClosed(t *testing.T, req kmsg.Request) {
	t.Helper()
	c.send(t, req)
	c.wantEOF(t)
}

func (c *rawConn) wantEOF(t *testing.T) {
	t.Helper()
	var b [1]byte
	if n, err := c.conn.Read(b[:]); err == nil || n != 0 {
		t.Fatalf("got %d bytes, %v; want the connection closed", n, err)
	}
}

// TestSASLFailedAuthDelay checks connection.failed.authentication.delay.ms:
// a failed authentication is answered no sooner than the delay.
func TestSASLFailedAuthDelay(t *testing.T) {
	const delay = 300 * time.Millisecond
	n := startSASLNode(t, map[string]string{"connection.failed.authentication.delay.ms": "300"})
	c := dial(t, n.sasl)
	c.roundTrip(t, &kmsg.SASLHandshakeRequest{Version: 1, Mechanism: "PLAIN"}, &kmsg.SASLHandshakeResponse{Version: 1})
	start := time.Now()
	resp := &kmsg.SASLAuthenticateResponse{Version: 2}
	c.roundTrip(t, &kmsg.SASLAuthenticateRequest{Version: 2, SASLAuthBytes: []byte("\x00alice\x00nope")}, resp)
	if took := time.Since(start); resp.ErrorCode != kerr.SaslAuthenticationFailed.Code || took < delay {
		t.Fatalf("got code %d after %v, want SASL_AUTHENTICATION_FAILED after at least %v", resp.ErrorCode, took, delay)
	}
	c.wantClosed(t, &kmsg.MetadataRequest{Version: 12})
}

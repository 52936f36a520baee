package e2e

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// apiVersionsFrame is a valid ApiVersions v0 request.
var apiVersionsFrame = frameOf(18, 0, nil)

// dial connects to addr, closed at test end.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// answers reports whether c answers an ApiVersions request within wait.
func answers(t *testing.T, c net.Conn, wait time.Duration) bool {
	t.Helper()
	c.SetDeadline(time.Now().Add(wait))
	if _, err := c.Write(apiVersionsFrame); err != nil {
		return false
	}
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return false
	}
	_, err := io.ReadFull(c, make([]byte, binary.BigEndian.Uint32(size[:])))
	return err == nil
}

// closedByBroker waits, up to wait, for the broker to close c.
func closedByBroker(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := c.Read(make([]byte, 1))
	ne, timeout := err.(net.Error)
	return err != nil && !(timeout && ne.Timeout())
}

// TestConnectionsPerIP checks that a connection beyond
// max.connections.per.ip is closed at once while the others serve, and
// that the override for an address wins.
func TestConnectionsPerIP(t *testing.T) {
	n := startNode(t, "", map[string]string{"max.connections.per.ip": "1"})
	first := dial(t, n.addr)
	if !answers(t, first, 10*time.Second) {
		t.Fatal("first connection not served")
	}
	if extra := dial(t, n.addr); !closedByBroker(extra, 10*time.Second) {
		t.Fatal("second connection from the address not closed")
	}
	if !answers(t, first, 10*time.Second) {
		t.Fatal("first connection stopped serving")
	}

	o := startNode(t, "", map[string]string{"max.connections.per.ip": "0", "max.connections.per.ip.overrides": "127.0.0.1:2"})
	a, b := dial(t, o.addr), dial(t, o.addr)
	if !answers(t, a, 10*time.Second) || !answers(t, b, 10*time.Second) {
		t.Fatal("connections within the override not served")
	}
	if !closedByBroker(dial(t, o.addr), 10*time.Second) {
		t.Fatal("connection beyond the override not closed")
	}
}

// TestMaxConnections checks that beyond max.connections the broker serves
// nothing more until a connection closes, and then serves the waiting one.
func TestMaxConnections(t *testing.T) {
	n := startNode(t, "", map[string]string{"max.connections": "2"})
	a, b := dial(t, n.addr), dial(t, n.addr)
	if !answers(t, a, 10*time.Second) || !answers(t, b, 10*time.Second) {
		t.Fatal("connections within the limit not served")
	}
	extra := dial(t, n.addr)
	// Its request waits unread: there is no event to wait for, so give
	// the broker a moment in which it must not answer.
	if answers(t, extra, 300*time.Millisecond) {
		t.Fatal("a connection beyond max.connections was served")
	}
	a.Close()
	// The request was written; read its answer now that a slot is free.
	extra.SetDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(extra, size[:]); err != nil {
		t.Fatalf("waiting connection not served after a slot freed: %v", err)
	}
}

// TestIdleConnectionClosed checks connections.max.idle.ms: a silent
// connection and one that sent half a frame are both closed.
func TestIdleConnectionClosed(t *testing.T) {
	n := startNode(t, "", map[string]string{"connections.max.idle.ms": "200"})
	idle := dial(t, n.addr)
	half := dial(t, n.addr)
	if _, err := half.Write(apiVersionsFrame[:len(apiVersionsFrame)/2]); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]net.Conn{"idle": idle, "half a frame": half} {
		if !closedByBroker(c, 10*time.Second) {
			t.Fatalf("%s connection not closed", name)
		}
	}
	// A busy connection stays.
	busy := dial(t, n.addr)
	for range 5 {
		if !answers(t, busy, 10*time.Second) {
			t.Fatal("busy connection closed")
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the node's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestBadInputLogBounded sends 22,000 garbage frames, each on its own
// connection, and checks that the log holds a bounded number of warnings
// plus a summary that counts the rest by remote address.
func TestBadInputLogBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 22,000 connections")
	}
	var log syncBuffer
	n := startNodeLogging(t, "", nil, &log)
	const frames, workers = 22000, 8
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < frames; i += workers {
				c, err := net.Dial("tcp", n.addr)
				if err != nil {
					t.Error(err)
					return
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				c.Write(frameOf(9999, 0, nil)) // unknown api key
				io.Copy(io.Discard, c)         // until the broker closes it
				c.(*net.TCPConn).SetLinger(0)
				c.Close()
			}
		}()
	}
	wg.Wait()
	// The node's listener still serves.
	if !answers(t, dial(t, n.addr), 10*time.Second) {
		t.Fatal("broker stopped serving")
	}
	// The summary comes at the end of the interval.
	eventually(t, 30*time.Second, "the summary line", func() bool {
		return strings.Contains(log.String(), "further warnings suppressed")
	})
	out := log.String()
	lines := strings.Count(out, "level=WARN")
	t.Logf("%d warning lines, %d bytes of log for %d bad frames", lines, len(out), frames)
	if lines > 50 || len(out) > 64<<10 {
		t.Fatalf("%d warning lines (%d bytes), want a bounded few", lines, len(out))
	}
	if !strings.Contains(out, "by_remote=\"127.0.0.1=") {
		t.Fatalf("summary does not count by remote address:\n%s", out)
	}
}

// Package server accepts Kafka protocol connections. Each connection gets a
// goroutine pair: a reader that reads size-prefixed frames and serves them in
// order through a wire.Dispatcher, and a writer that writes the responses in
// the same order. A connection is closed, with one log line, on a frame above
// the size limit, a malformed request, or an unknown API or version.
package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stratalog/strata/internal/broker"
	"github.com/stratalog/strata/internal/tlsconfig"
	"github.com/stratalog/strata/internal/wire"
)

// Config configures a Server.
type Config struct {
	// Listen is the TCP address to listen on, as host:port.
	Listen string
	// Name is the listener's name (PLAINTEXT when empty), which requests
	// carry in ConnInfo.Listener.
	Name string
	// SecurityProtocol is the listener's: PLAINTEXT (when empty), SSL,
	// SASL_PLAINTEXT or SASL_SSL.
	SecurityProtocol string
	// TLS holds an SSL or SASL_SSL listener's certificates (nil for
	// PLAINTEXT and SASL_PLAINTEXT).
	TLS *tlsconfig.Store
	// MaxRequestBytes is socket.request.max.bytes: the largest frame accepted.
	MaxRequestBytes int32
	Logger          *slog.Logger
	Metrics         *Metrics // may be nil
	// Limits are the node's connection limits, shared by its listeners;
	// nil: none.
	Limits *ConnLimits
	// BadInput rate-limits the warnings about bad input, shared by the
	// node's listeners; nil: the server makes its own.
	BadInput *BadInputLog
	// SASL, when set, makes connections authenticate first (sasl.go).
	SASL *SASL
}

// Server serves Kafka protocol connections.
type Server struct {
	cfg       Config
	tlsConfig *tls.Config // nil without TLS
	dispatch  *wire.Dispatcher
	ln        net.Listener
	nextID    atomic.Uint64
	limits    *ConnLimits
	// badInput rate-limits the warnings about bad input (see BadInputLog).
	badInput *BadInputLog

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// New returns a server that serves requests through d (which may be set
// later with SetDispatcher, before Run). It does not listen yet.
func New(cfg Config, d *wire.Dispatcher) *Server {
	if cfg.Name == "" {
		cfg.Name = "PLAINTEXT"
	}
	if cfg.SecurityProtocol == "" {
		cfg.SecurityProtocol = "PLAINTEXT"
	}
	s := &Server{cfg: cfg, dispatch: d, conns: make(map[net.Conn]struct{}), limits: cfg.Limits, badInput: cfg.BadInput}
	if s.limits == nil {
		// No limits: a per-IP maximum of 0 would refuse every connection.
		s.limits = NewConnLimits(Limits{MaxPerIP: math.MaxInt})
	}
	if s.badInput == nil {
		s.badInput = NewBadInputLog(cfg.Logger)
	}
	if cfg.TLS != nil {
		s.tlsConfig = cfg.TLS.ServerConfig()
	}
	return s
}

// SetDispatcher sets the dispatcher; the listener address may be needed to
// build it (the advertised address defaults to it).
func (s *Server) SetDispatcher(d *wire.Dispatcher) { s.dispatch = d }

// Close closes the listener of a server that will not Run.
func (s *Server) Close() error {
	if s.ln == nil {
		return nil
	}
	return s.ln.Close()
}

// Listen binds the listening socket, so Addr is known before Run.
func (s *Server) Listen() error {
	if err := checkTLS(s.cfg); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address; valid after Listen.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Run accepts connections until ctx is done, then closes the listener and
// every connection and returns once all connection goroutines have exited.
func (s *Server) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.badInput.Flush()
	for {
		if !s.limits.waitSlot(ctx) {
			wg.Wait()
			return nil
		}
		c, err := s.ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				wg.Wait()
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.ln.Close()
			wg.Wait()
			return fmt.Errorf("accept: %w", err)
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		ip := hostOf(c.RemoteAddr())
		if limit, ok := s.limits.acquire(ip); !ok {
			s.badInput.Warn(s.cfg.Logger, c.RemoteAddr(), "rejected connection: the address already has the maximum of connections",
				"remote", c.RemoteAddr().String(), "max.connections.per.ip", limit)
			c.Close()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer s.limits.release(ip)
			s.serveConn(ctx, c)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// serveConn runs one connection's reader in this goroutine and its writer in
// another. Requests are served in order, as Kafka does: a producer's
// sequence numbers depend on it. Kafka serves one at a time; here a
// Produce whose answer waits for its records to be committed (a pending
// frame) lets the next Produce be appended meanwhile, and the writer
// answers them in order as their commits come. Any other request waits
// until the pending ones are answered.
func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	info := &broker.ConnInfo{ID: s.nextID.Add(1), Remote: c.RemoteAddr(),
		Listener: s.cfg.Name, Principal: broker.AnonymousPrincipal}
	logger := s.cfg.Logger.With("conn", info.ID, "remote", info.Remote.String())
	m := s.cfg.Metrics
	m.connOpened()
	defer m.connClosed()
	if s.tlsConfig != nil {
		tc, err := s.startTLS(ctx, c, info, logger)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("closing connection", "err", err)
			}
			c.Close()
			return
		}
		c = tc
	}

	responses := make(chan wire.Frame, 16)
	writerDone := make(chan struct{})
	sent := make(chan struct{}, 1)
	// pending counts the pending frames (acks=all produces waiting for
	// their commit) not yet completed by the writer.
	var pending sync.WaitGroup
	// queued counts the frames handed to the writer and not yet written.
	// At zero the writer has flushed and does not touch w, and the reader
	// writes an answer ready at once itself: handing it over would wake
	// the writer for every fetch.
	var queued atomic.Int32
	w := bufio.NewWriterSize(c, 64<<10)
	// Once the reader stops (the client closed, or the connection is
	// closed for cause) nobody reads the answers: the writer stops
	// waiting for commits.
	writerCtx, stopWaits := context.WithCancel(ctx)
	go func() {
		defer close(writerDone)
		s.writeLoop(writerCtx, c, w, responses, &queued, sent, &pending, logger)
	}()
	defer func() {
		stopWaits()
		close(responses)
		<-writerDone
		c.Close()
	}()

	var sasl *saslConn
	if s.cfg.SASL != nil {
		sasl = newSASLConn(s.cfg.SASL, info, logger, s.badInput)
	}
	send := func(f wire.Frame) bool {
		if !f.Pending() && f.Throttle == 0 && queued.Load() == 0 {
			if err := s.writeResponse(ctx, w, c, f, nil, sent, &pending, logger); err != nil {
				logger.Debug("write failed", "err", err)
				return false
			}
			return true
		}
		if f.Pending() {
			pending.Add(1)
		}
		queued.Add(1)
		select {
		case responses <- f:
			return true
		case <-writerDone:
			releaseFrame(f, &pending)
			return false
		}
	}
	r := bufio.NewReaderSize(c, 64<<10)
	var sizeBuf [4]byte
	for {
		// The whole next request must arrive within the idle limit.
		s.limits.idleDeadline(c, false)
		if _, err := io.ReadFull(r, sizeBuf[:]); err != nil {
			return // closed by the client, idle, or shut down
		}
		size, limit, limitName := int32(binary.BigEndian.Uint32(sizeBuf[:])), s.cfg.MaxRequestBytes, "socket.request.max.bytes"
		if sasl != nil && sasl.state != authenticated {
			limit, limitName = s.cfg.SASL.MaxReceiveSize, "sasl.server.max.receive.size"
		}
		if size < 0 || size > limit {
			s.badInput.Warn(logger, info.Remote, "closing connection: request frame size out of bounds",
				"size", size, limitName, limit)
			return
		}
		frame, pooled := newFrame(r, int(size))
		if _, err := io.ReadFull(r, frame); err != nil {
			return
		}
		m.read(len(frame) + 4)
		if sasl != nil {
			out, handled, err := sasl.handle(frame, time.Now())
			if errors.Is(err, errAuthFailed) && !wait(ctx, s.cfg.SASL.FailedAuthDelay) {
				return
			}
			if out != nil && !send(wire.Frame{Bytes: out}) {
				return
			}
			switch {
			case errors.Is(err, errAuthFailed):
				return
			case err != nil:
				s.badInput.Warn(logger, info.Remote, "closing connection", "listener", info.Listener, "err", err)
				return
			case handled:
				continue
			}
		}
		// Produce requests are served while earlier ones wait for their
		// commit; any other request waits until they are answered, as
		// Kafka serves a connection's requests one at a time.
		if len(frame) < 2 || binary.BigEndian.Uint16(frame) != produceKey {
			pending.Wait()
		}
		resp, err := s.dispatch.Serve(ctx, info, frame, nil)
		if pooled != nil {
			produceFrames.Put(pooled)
		}
		if err != nil {
			if ctx.Err() == nil {
				s.badInput.Warn(logger, info.Remote, "closing connection", "err", err)
			}
			return
		}
		if resp.Bytes == nil && !resp.Pending() {
			// No response (acks=0); a throttled one mutes the
			// connection from now.
			if resp.Throttle > 0 && !wait(ctx, resp.Throttle) {
				return
			}
			continue
		}
		throttle, delay := resp.Throttle, resp.DelayResponse
		if throttle > 0 && delay && !wait(ctx, throttle) {
			resp.Release()
			return
		}
		if !send(resp) {
			return
		}
		if throttle > 0 && !delay && !muteAfter(ctx, throttle, sent, writerDone) {
			return
		}
	}
}

// produceFrames recycles the frames of Produce requests, which come at the
// rate data does: the broker keeps nothing of a produce request once
// it has been served (its batches are in the log, or copied when
// recompressed). Other requests may leave slices of their frame in the
// group coordinator's state, so only Produce frames are recycled.
var produceFrames sync.Pool // of *[]byte

const (
	recycleMin = 64 << 10 // smallest pooled frame: small requests share its size
	recycleMax = 16 << 20
)

// newFrame returns a buffer for a request frame of size bytes, a recycled
// one (also returned as pooled, to be put back after Serve) for a Produce
// request. Small ones too: a producer that does not linger sends many,
// and allocating them was a fifth of the broker's allocations.
func newFrame(r *bufio.Reader, size int) (frame []byte, pooled *[]byte) {
	if size > recycleMax {
		return make([]byte, size), nil
	}
	if key, err := r.Peek(2); err != nil || binary.BigEndian.Uint16(key) != 0 {
		return make([]byte, size), nil
	}
	pooled, _ = produceFrames.Get().(*[]byte)
	if pooled == nil || cap(*pooled) < size {
		b := make([]byte, size, max(size, recycleMin))
		pooled = &b
	}
	return (*pooled)[:size], pooled
}

// writeLoop writes responses in order, flushing when no more are queued,
// and counts each off queued once written; a pending response is waited
// for in its turn.
func (s *Server) writeLoop(ctx context.Context, c net.Conn, w *bufio.Writer, responses <-chan wire.Frame, queued *atomic.Int32,
	sent chan<- struct{}, pending *sync.WaitGroup, logger *slog.Logger) {
	for resp := range responses {
		if err := s.writeResponse(ctx, w, c, resp, responses, sent, pending, logger); err != nil {
			logger.Debug("write failed", "err", err)
			c.Close()
			drain(responses, pending)
			return
		}
		queued.Add(-1)
	}
}

// writeResponse writes one response through w, flushing when more holds
// nothing (nil: nothing ever) or the response mutes the connection. A
// pending response is completed first, after what w holds is flushed so
// that earlier answers do not wait with it. resp is released whatever
// happens.
func (s *Server) writeResponse(ctx context.Context, w *bufio.Writer, c net.Conn, resp wire.Frame, more <-chan wire.Frame,
	sent chan<- struct{}, pending *sync.WaitGroup, logger *slog.Logger) error {
	if resp.Pending() {
		if err := w.Flush(); err != nil {
			releaseFrame(resp, pending)
			return err
		}
		done, err := resp.Complete(ctx)
		pending.Done()
		if err != nil {
			logger.Warn("closing connection", "err", err)
			return err
		}
		resp = done
	}
	n := resp.Len()
	muted := resp.Throttle > 0 && !resp.DelayResponse
	s.limits.idleDeadline(c, true)
	if err := resp.WriteTo(w, c); err != nil {
		return err
	}
	s.cfg.Metrics.wrote(n)
	if len(more) == 0 || muted {
		if err := w.Flush(); err != nil {
			return err
		}
	}
	if muted {
		signalSent(sent)
	}
	return nil
}

// drain releases the responses that will not be written.
func drain(ch <-chan wire.Frame, pending *sync.WaitGroup) {
	for f := range ch {
		releaseFrame(f, pending)
	}
}

// releaseFrame releases a response that will not be written, counting a
// pending one as completed.
func releaseFrame(f wire.Frame, pending *sync.WaitGroup) {
	wasPending := f.Pending()
	f.Release()
	if wasPending {
		pending.Done()
	}
}

// produceKey is the Produce API's key: the one request a connection serves
// while earlier ones wait.
const produceKey = 0

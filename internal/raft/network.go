package raft

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The network protocol between the members of the group (docs/format/
// metadata-log.md, section 4). Every frame is
//
//	length uint32 | type byte | payload (length-1 bytes)
//
// big-endian. A connection opens with a hello from the dialer and the
// acceptor's reply; after that either side may send raft and application
// frames on it. Each node dials the voters it knows the address of and sends
// to them on that connection; a node it has no address for (a learner)
// is sent to on the connection that node dialed.
const (
	frameHello      byte = 1
	frameHelloReply byte = 2
	frameRaft       byte = 3
	frameApp        byte = 4

	protocolVersion = 1
	// maxFrame bounds a frame: a metadata snapshot travels in one.
	maxFrame = 128 << 20
	// peerQueue is how many frames wait for one peer before new ones are
	// dropped (raft retries, heartbeats come again).
	peerQueue = 1024
	// writeBatch is how many queued frames one write may carry.
	writeBatch = 256

	dialTimeout  = time.Second
	helloTimeout = 5 * time.Second
	maxBackoff   = time.Second
)

// NetworkConfig configures a Network.
type NetworkConfig struct {
	ID uint64
	// Incarnation identifies this process: a hello from another process
	// with the same id, while this one's connection is live, is refused.
	Incarnation [16]byte
	// Listen is the host:port to accept members on; "" for none (a
	// broker-only node only dials the voters).
	Listen string
	// Voters maps every voter's id to the address to dial it at; the ids
	// must be the same on every member.
	Voters map[uint64]string
	// ClusterID returns the cluster id this node's metadata holds, "" if
	// none yet: members of different clusters refuse each other.
	ClusterID func() string
	// OnMessage receives the application messages (SendApp) of other
	// members; it must not block for long.
	OnMessage func(from uint64, data []byte)
	// Faults, when set, decides the fate of every message sent: tests use
	// it to drop, delay, duplicate and partition.
	Faults Faults
	// LiveWindow is how recently a connection must have carried a frame
	// for its node to count as live when another process claims its id.
	LiveWindow time.Duration
	// TLS, when set, secures every connection between members.
	TLS    *TLS
	Logger *slog.Logger
}

// TLS is the TLS of the members' connections (a controller listener whose
// security protocol is SSL): the listener accepts with Server (mutual TLS
// when it requires client certificates) and members dial with Client(addr).
type TLS struct {
	Server *tls.Config
	Client func(addr string) *tls.Config
}

// Faults decides the fate of one message from one member to another.
type Faults interface {
	Message(from, to uint64) (drop bool, delay time.Duration, duplicate bool)
}

// Network is a Transport over TCP between the members of the group.
type Network struct {
	cfg    NetworkConfig
	logger *slog.Logger
	ln     net.Listener
	voters []uint64 // sorted voter ids, as every hello carries them; guarded by mu
	node   atomic.Pointer[Node]
	ctx    context.Context // Run's; nil before
	wg     sync.WaitGroup

	mu    sync.Mutex
	peers map[uint64]*peer
	conns map[net.Conn]struct{}
	done  bool
	// refusals are the reasons already logged, so a refusal repeated every
	// retry is logged once.
	refusals map[string]bool
}

// peer is one other member: its outgoing queue and the connections to it.
type peer struct {
	id   uint64
	addr string // "" when it is only reached on the connection it dialed
	q    chan outFrame

	mu          sync.Mutex
	out         *memberConn // the connection this node dialed
	in          *memberConn // the latest connection it dialed to this node
	inIncarnate [16]byte
	backoff     time.Duration
	retryAt     time.Time
	unreachable time.Time // when it was last reported unreachable
}

type outFrame struct {
	typ  byte
	msg  *pb.Message // frameRaft
	data []byte      // frameApp
}

// memberConn is one connection to a member.
type memberConn struct {
	c        net.Conn
	w        *bufio.Writer
	lastRecv atomic.Int64 // unix nanoseconds of the last frame read
}

// NewNetwork returns a network for cfg; Listen opens its listener and Run
// serves it.
func NewNetwork(cfg NetworkConfig) *Network {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ClusterID == nil {
		cfg.ClusterID = func() string { return "" }
	}
	if cfg.LiveWindow <= 0 {
		cfg.LiveWindow = 3 * time.Second
	}
	n := &Network{cfg: cfg, logger: cfg.Logger, peers: map[uint64]*peer{}, conns: map[net.Conn]struct{}{}, refusals: map[string]bool{}}
	n.voters = slices.Sorted(maps.Keys(cfg.Voters))
	for id, addr := range cfg.Voters {
		if id != cfg.ID {
			n.peers[id] = newPeer(id, addr)
		}
	}
	return n
}

func newPeer(id uint64, addr string) *peer {
	return &peer{id: id, addr: addr, q: make(chan outFrame, peerQueue)}
}

// SetVoters takes the quorum's voters of the log, at start and after a
// membership change (an added or removed voter, KIP-853): the hellos of new
// connections carry them and are checked against them.
func (n *Network) SetVoters(ids []uint64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.voters = slices.Sorted(slices.Values(ids))
}

// SetAddress gives the address of member id as the metadata log recorded
// it (a voter added while the cluster runs, which no voters list names), so
// this node dials it too. An address from the voters list is kept.
func (n *Network) SetAddress(id uint64, addr string) {
	if _, listed := n.cfg.Voters[id]; listed || id == n.cfg.ID {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done {
		return
	}
	p := n.peers[id]
	if p == nil {
		p = newPeer(id, addr)
		n.peers[id] = p
		if n.ctx != nil {
			n.startWriter(p)
		}
		return
	}
	p.mu.Lock()
	p.addr = addr
	p.mu.Unlock()
}

func (n *Network) currentVoters() []uint64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.voters
}

// Listen opens the listener, if the config names one.
func (n *Network) Listen() error {
	if n.cfg.Listen == "" {
		return nil
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		return fmt.Errorf("controller listener: %w", err)
	}
	if n.cfg.TLS != nil {
		ln = tls.NewListener(ln, n.cfg.TLS.Server)
	}
	n.ln = ln
	return nil
}

// Addr is the listener's address, nil without one.
func (n *Network) Addr() net.Addr {
	if n.ln == nil {
		return nil
	}
	return n.ln.Addr()
}

// Run serves the network for node until ctx ends, then closes every
// connection and returns once its goroutines have.
func (n *Network) Run(ctx context.Context, node *Node) error {
	n.mu.Lock()
	n.ctx = ctx
	n.node.Store(node)
	for _, p := range n.peers {
		n.startWriter(p)
	}
	n.mu.Unlock()
	if n.ln != nil {
		n.wg.Go(func() { n.accept(ctx) })
	}
	<-ctx.Done()
	n.mu.Lock()
	n.done = true
	if n.ln != nil {
		n.ln.Close()
	}
	for c := range n.conns {
		c.Close()
	}
	n.mu.Unlock()
	n.wg.Wait()
	return nil
}

// startWriter starts p's writer. Caller holds n.mu, after Run began.
func (n *Network) startWriter(p *peer) {
	ctx := n.ctx
	n.wg.Go(func() { n.write(ctx, p) })
}

// Send queues raft messages for their members (the Transport interface).
func (n *Network) Send(msgs []*pb.Message) {
	for _, m := range msgs {
		n.enqueue(m.GetTo(), outFrame{typ: frameRaft, msg: m})
	}
}

// SendApp queues an application message for member to; a message to this
// node itself is handed to OnMessage at once. Delivery is best effort.
func (n *Network) SendApp(to uint64, data []byte) {
	if to == n.cfg.ID {
		if n.cfg.OnMessage != nil {
			n.cfg.OnMessage(to, data)
		}
		return
	}
	n.enqueue(to, outFrame{typ: frameApp, data: data})
}

func (n *Network) enqueue(to uint64, f outFrame) {
	if n.cfg.Faults != nil {
		drop, delay, dup := n.cfg.Faults.Message(n.cfg.ID, to)
		if drop {
			return
		}
		if dup {
			n.push(to, f)
		}
		if delay > 0 {
			time.AfterFunc(delay, func() { n.push(to, f) })
			return
		}
	}
	n.push(to, f)
}

func (n *Network) push(to uint64, f outFrame) {
	n.mu.Lock()
	p := n.peers[to]
	n.mu.Unlock()
	if p == nil {
		n.failed(to, f) // a learner that has not connected yet
		return
	}
	select {
	case p.q <- f:
	default:
		n.failed(to, f)
	}
}

// failed tells raft that a frame to member to was not sent.
func (n *Network) failed(to uint64, f outFrame) {
	node := n.node.Load()
	if node == nil || f.typ != frameRaft {
		return
	}
	if f.msg.GetType() == pb.MsgSnap {
		node.ReportSnapshot(to, true)
	}
	n.mu.Lock()
	p := n.peers[to]
	report := p == nil
	if p != nil && time.Since(p.unreachable) > 100*time.Millisecond {
		p.unreachable, report = time.Now(), true
	}
	n.mu.Unlock()
	if report {
		node.ReportUnreachable(to)
	}
}

// write sends p's queued frames, a batch per write, until ctx ends.
func (n *Network) write(ctx context.Context, p *peer) {
	batch := make([]outFrame, 0, writeBatch)
	var buf []byte
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-p.q:
			batch = append(batch[:0], f)
		}
	drain:
		for len(batch) < writeBatch {
			select {
			case f := <-p.q:
				batch = append(batch, f)
			default:
				break drain
			}
		}
		mc := n.connTo(ctx, p)
		if mc == nil {
			for _, f := range batch {
				n.failed(p.id, f)
			}
			continue
		}
		var err error
		for _, f := range batch {
			if buf, err = appendOutFrame(buf[:0], f); err != nil {
				n.logger.Error("encode raft message", "to", p.id, "err", err)
				continue
			}
			if _, err = mc.w.Write(buf); err != nil {
				break
			}
		}
		if err == nil {
			err = mc.w.Flush()
		}
		if err != nil {
			n.logger.Debug("send to member failed", "to", p.id, "err", err)
			n.drop(p, mc)
			for _, f := range batch {
				n.failed(p.id, f)
			}
			continue
		}
		if node := n.node.Load(); node != nil {
			for _, f := range batch {
				if f.typ == frameRaft && f.msg.GetType() == pb.MsgSnap {
					node.ReportSnapshot(p.id, false)
				}
			}
		}
	}
}

func appendOutFrame(b []byte, f outFrame) ([]byte, error) {
	b = append(b, 0, 0, 0, 0, f.typ)
	switch f.typ {
	case frameRaft:
		var err error
		if b, err = (proto.MarshalOptions{}).MarshalAppend(b, f.msg); err != nil {
			return nil, err
		}
	default:
		b = append(b, f.data...)
	}
	if len(b)-4 > maxFrame {
		return nil, fmt.Errorf("frame of %d bytes exceeds %d", len(b)-4, maxFrame)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b, nil
}

// connTo returns the connection to send to p on: the one this node dialed
// (dialing it if needed and not backing off), or for a member without an
// address the one it dialed here. nil when there is none.
func (n *Network) connTo(ctx context.Context, p *peer) *memberConn {
	p.mu.Lock()
	addr := p.addr
	if addr == "" {
		mc := p.in
		p.mu.Unlock()
		return mc
	}
	if p.out != nil || time.Now().Before(p.retryAt) {
		mc := p.out
		p.mu.Unlock()
		return mc
	}
	p.mu.Unlock()
	mc, err := n.dial(ctx, p, addr)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		p.backoff = min(max(2*p.backoff, 50*time.Millisecond), maxBackoff)
		p.retryAt = time.Now().Add(p.backoff)
		n.logger.Debug("cannot reach controller voter", "node", p.id, "addr", addr, "err", err)
		return nil
	}
	p.backoff, p.out = 0, mc
	return mc
}

// dial connects to p at addr and exchanges hellos.
func (n *Network) dial(ctx context.Context, p *peer, addr string) (*memberConn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if n.cfg.TLS != nil {
		c = tls.Client(c, n.cfg.TLS.Client(addr))
	}
	if !n.track(c) {
		c.Close()
		return nil, net.ErrClosed
	}
	mc := &memberConn{c: c, w: bufio.NewWriterSize(c, 64<<10)}
	_ = c.SetDeadline(time.Now().Add(helloTimeout))
	hello := appendHello(nil, helloMsg{from: n.cfg.ID, to: p.id, incarnation: n.cfg.Incarnation, clusterID: n.cfg.ClusterID(), voters: n.currentVoters()})
	r := bufio.NewReaderSize(c, 64<<10)
	var typ byte
	var payload []byte
	_, err = c.Write(hello) // with TLS, after the handshake
	if err == nil {
		typ, payload, err = readFrame(r, nil)
	}
	if err == nil && typ != frameHelloReply {
		err = fmt.Errorf("expected a hello reply, got frame type %d", typ)
	}
	if tlsRefused(err) {
		// With TLS 1.3 the voter's refusal of this node's certificate
		// comes only at the first read.
		n.refused(fmt.Sprintf("controller voter %d at %s: TLS handshake failed: %v", p.id, addr, err))
	}
	var reply helloReply
	if err == nil {
		reply, err = decodeHelloReply(payload)
	}
	if err == nil && reply.refusal != "" {
		n.refused(fmt.Sprintf("controller voter %d at %s refused this node: %s", p.id, addr, reply.refusal))
		err = errors.New(reply.refusal)
	}
	if err == nil {
		if mine := n.cfg.ClusterID(); mine != "" && reply.clusterID != "" && mine != reply.clusterID {
			n.refused(fmt.Sprintf("controller voter %d at %s is in cluster %s, this node's data directory belongs to cluster %s", p.id, addr, reply.clusterID, mine))
			err = errors.New("cluster id mismatch")
		}
	}
	if err != nil {
		n.untrack(c)
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	mc.lastRecv.Store(time.Now().UnixNano())
	n.wg.Go(func() {
		n.read(ctx, p.id, mc, r)
		n.drop(p, mc)
	})
	return mc, nil
}

// tlsRefused reports whether err is a failed TLS handshake: a certificate
// this node does not trust, an alert from the peer (which refused this
// node's certificate), or a peer that does not speak TLS.
func tlsRefused(err error) bool {
	var verify *tls.CertificateVerificationError
	var header tls.RecordHeaderError
	var op *net.OpError
	return errors.As(err, &verify) || errors.As(err, &header) || errors.As(err, &op) && op.Op == "remote error"
}

// refused logs a refusal once.
func (n *Network) refused(msg string) {
	n.mu.Lock()
	seen := n.refusals[msg]
	n.refusals[msg] = true
	n.mu.Unlock()
	if !seen {
		n.logger.Error(msg)
	}
}

// drop closes mc and forgets it as p's connection.
func (n *Network) drop(p *peer, mc *memberConn) {
	p.mu.Lock()
	if p.out == mc {
		p.out = nil
	}
	if p.in == mc {
		p.in = nil
	}
	p.mu.Unlock()
	n.untrack(mc.c)
}

func (n *Network) track(c net.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.done {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Network) untrack(c net.Conn) {
	c.Close()
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

func (n *Network) accept(ctx context.Context) {
	for {
		c, err := n.ln.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				n.logger.Error("controller listener stopped", "err", err)
			}
			return
		}
		if !n.track(c) {
			c.Close()
			return
		}
		n.wg.Go(func() { n.serve(ctx, c) })
	}
}

// serve checks an accepted connection's hello, then reads its frames.
func (n *Network) serve(ctx context.Context, c net.Conn) {
	defer n.untrack(c)
	_ = c.SetDeadline(time.Now().Add(helloTimeout))
	if tc, ok := c.(*tls.Conn); ok {
		if err := tc.HandshakeContext(ctx); err != nil {
			// Once per reason and host: a member with a bad certificate
			// retries every second.
			host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
			n.refused(fmt.Sprintf("controller listener: refused a connection from %s: TLS handshake failed: %v", host, err))
			return
		}
	}
	r := bufio.NewReaderSize(c, 64<<10)
	typ, payload, err := readFrame(r, nil)
	if err == nil && typ != frameHello {
		err = fmt.Errorf("expected a hello, got frame type %d", typ)
	}
	var h helloMsg
	if err == nil {
		h, err = decodeHello(payload)
	}
	if err != nil {
		n.logger.Warn("controller connection closed: bad hello", "remote", c.RemoteAddr().String(), "err", err)
		return
	}
	mc := &memberConn{c: c, w: bufio.NewWriterSize(c, 64<<10)}
	p, refusal := n.admit(h, mc)
	reply := appendHelloReply(nil, helloReply{refusal: refusal, clusterID: n.cfg.ClusterID()})
	if _, err := c.Write(reply); err != nil || refusal != "" {
		if refusal != "" {
			n.refused(fmt.Sprintf("refused node %d from %s: %s", h.from, c.RemoteAddr(), refusal))
		}
		return
	}
	_ = c.SetDeadline(time.Time{})
	mc.lastRecv.Store(time.Now().UnixNano())
	n.read(ctx, h.from, mc, r)
	n.drop(p, mc)
}

// admit checks a hello against this node and the connections it has, and
// registers the connection as the sender's. It returns the reason for a
// refusal, or "".
func (n *Network) admit(h helloMsg, mc *memberConn) (*peer, string) {
	switch {
	case h.to != n.cfg.ID:
		return nil, fmt.Sprintf("it dialed node %d but reached node %d: check the addresses in the controller voters list", h.to, n.cfg.ID)
	case h.from == n.cfg.ID:
		return nil, fmt.Sprintf("it has this node's id %d: two nodes have the same id", h.from)
	case !slices.Equal(h.voters, n.currentVoters()) && (forming(h.from, h.clusterID, h.voters) || forming(n.cfg.ID, n.cfg.ClusterID(), n.currentVoters())):
		return nil, fmt.Sprintf("INCONSISTENT_VOTER_SET: it has the controller voters %v, this node has %v; the voters that form a new quorum must all be given the same list", h.voters, n.currentVoters())
	}
	if mine := n.cfg.ClusterID(); mine != "" && h.clusterID != "" && mine != h.clusterID {
		return nil, fmt.Sprintf("INCONSISTENT_CLUSTER_ID: its data directory belongs to cluster %s, this node is in cluster %s", h.clusterID, mine)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[h.from]
	if p == nil {
		p = newPeer(h.from, "")
		n.peers[h.from] = p
		if n.ctx != nil {
			n.startWriter(p)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if old := p.in; old != nil && p.inIncarnate != h.incarnation &&
		time.Since(time.Unix(0, old.lastRecv.Load())) < n.cfg.LiveWindow {
		return nil, fmt.Sprintf("DUPLICATE_BROKER_REGISTRATION: node id %d is in use by a live process that connected from %s", h.from, old.c.RemoteAddr())
	}
	if old := p.in; old != nil {
		old.c.Close()
	}
	p.in, p.inIncarnate = mc, h.incarnation
	return p, ""
}

// forming reports whether node id, with cluster id clusterID and voters,
// may still be forming a new quorum from its voters list: it is one of
// them and has not yet learned a cluster id. Two such voters with different
// lists would form two quorums, so they refuse each other. Once a node has
// a cluster's log, its voters may differ from another's for a while (one
// missed a voter change, KIP-853); raft brings the lagging one up to date.
func forming(id uint64, clusterID string, voters []uint64) bool {
	return clusterID == "" && slices.Contains(voters, id)
}

// read delivers the frames of one connection until it fails or ctx ends.
func (n *Network) read(ctx context.Context, from uint64, mc *memberConn, r *bufio.Reader) {
	var buf []byte
	for {
		typ, payload, err := readFrame(r, buf)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				n.logger.Debug("controller connection closed", "node", from, "err", err)
			}
			return
		}
		buf = payload[:0]
		mc.lastRecv.Store(time.Now().UnixNano())
		switch typ {
		case frameRaft:
			m := &pb.Message{}
			if err := proto.Unmarshal(payload, m); err != nil {
				n.logger.Warn("controller connection closed: bad raft message", "node", from, "err", err)
				return
			}
			if m.GetFrom() != from {
				n.logger.Warn("controller connection closed: raft message from another node", "node", from, "claims", m.GetFrom())
				return
			}
			if node := n.node.Load(); node != nil {
				if err := node.Step(ctx, m); err != nil {
					return
				}
			}
		case frameApp:
			if n.cfg.OnMessage != nil {
				n.cfg.OnMessage(from, slices.Clone(payload))
			}
		default:
			n.logger.Warn("controller connection closed: unknown frame type", "node", from, "type", typ)
			return
		}
	}
}

// readFrame reads one frame into buf (grown as needed) and returns its type
// and payload.
func readFrame(r *bufio.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size < 1 || size > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes", size)
	}
	if cap(buf) < int(size-1) {
		buf = make([]byte, size-1)
	}
	buf = buf[:size-1]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return hdr[4], buf, nil
}

// helloMsg opens a connection: who dials, whom it means to reach, and what
// must agree between them.
type helloMsg struct {
	from, to    uint64
	incarnation [16]byte
	clusterID   string
	voters      []uint64
}

type helloReply struct {
	refusal   string // "" when accepted
	clusterID string
}

var errBadHello = errors.New("malformed hello")

func appendHello(b []byte, h helloMsg) []byte {
	b = append(b, 0, 0, 0, 0, frameHello)
	b = binary.AppendUvarint(b, protocolVersion)
	b = binary.AppendUvarint(b, h.from)
	b = binary.AppendUvarint(b, h.to)
	b = append(b, h.incarnation[:]...)
	b = appendString(b, h.clusterID)
	b = binary.AppendUvarint(b, uint64(len(h.voters)))
	for _, v := range h.voters {
		b = binary.AppendUvarint(b, v)
	}
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func decodeHello(b []byte) (helloMsg, error) {
	d := helloDecoder{b: b}
	var h helloMsg
	if v := d.uvarint(); v != protocolVersion && d.err == nil {
		return h, fmt.Errorf("%w: protocol version %d, this node speaks %d", errBadHello, v, protocolVersion)
	}
	h.from, h.to = d.uvarint(), d.uvarint()
	copy(h.incarnation[:], d.take(16))
	h.clusterID = d.string()
	count := d.uvarint()
	if count > uint64(len(d.b)) {
		return h, errBadHello
	}
	for range count {
		h.voters = append(h.voters, d.uvarint())
	}
	if d.err != nil || len(d.b) != 0 || !slices.IsSorted(h.voters) {
		return helloMsg{}, errBadHello
	}
	return h, nil
}

func appendHelloReply(b []byte, r helloReply) []byte {
	b = append(b, 0, 0, 0, 0, frameHelloReply)
	b = appendString(b, r.refusal)
	b = appendString(b, r.clusterID)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func decodeHelloReply(b []byte) (helloReply, error) {
	d := helloDecoder{b: b}
	r := helloReply{refusal: d.string(), clusterID: d.string()}
	if d.err != nil || len(d.b) != 0 {
		return helloReply{}, errBadHello
	}
	return r, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// helloDecoder reads hello fields with a sticky error.
type helloDecoder struct {
	b   []byte
	err error
}

func (d *helloDecoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = errBadHello, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *helloDecoder) take(n int) []byte {
	if len(d.b) < n {
		d.err, d.b = errBadHello, nil
		return make([]byte, n)
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}

func (d *helloDecoder) string() string {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err, d.b = errBadHello, nil
		return ""
	}
	return string(d.take(int(n)))
}

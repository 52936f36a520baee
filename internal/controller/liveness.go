package controller

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"
)

// Heartbeat is what every node tells every controller voter each
// broker.heartbeat.interval.ms. All voters keep them, not only the active
// controller, so that a newly elected controller knows at once how long
// ago each broker, the previous controller's among them, was last heard.
type Heartbeat struct {
	NodeID      int32
	Incarnation [16]byte
	// Epoch is the broker epoch of the node's registration, -1 until it
	// has one.
	Epoch int64
	// Applied is the metadata log index the node has applied.
	Applied uint64
	// WantShutdown asks the controller to move the node's leaderships
	// away and fence it, as Kafka's BrokerHeartbeat field of that name
	// does: the node is stopping.
	WantShutdown bool
}

// heartbeatSize is the encoded size of a Heartbeat without flags; a flags
// byte follows only when a flag is set, so nodes of a release that knows
// no flags understand every heartbeat of a node that is not stopping.
const heartbeatSize = 4 + 16 + 8 + 8

// flagWantShutdown is the flags byte's bit for WantShutdown.
const flagWantShutdown = 1

// errBadHeartbeat reports bytes that are not an encoded Heartbeat.
var errBadHeartbeat = errors.New("malformed heartbeat")

// AppendBinary appends the heartbeat's encoding (fixed width, big-endian).
func (h Heartbeat) AppendBinary(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(h.NodeID))
	b = append(b, h.Incarnation[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Epoch))
	b = binary.BigEndian.AppendUint64(b, h.Applied)
	if h.WantShutdown {
		b = append(b, flagWantShutdown)
	}
	return b
}

// DecodeHeartbeat decodes what AppendBinary wrote.
func DecodeHeartbeat(b []byte) (Heartbeat, error) {
	switch {
	case len(b) == heartbeatSize+1 && b[heartbeatSize] == flagWantShutdown:
	case len(b) != heartbeatSize:
		return Heartbeat{}, errBadHeartbeat
	}
	var h Heartbeat
	h.NodeID = int32(binary.BigEndian.Uint32(b))
	copy(h.Incarnation[:], b[4:20])
	h.Epoch = int64(binary.BigEndian.Uint64(b[20:]))
	h.Applied = binary.BigEndian.Uint64(b[28:])
	h.WantShutdown = len(b) > heartbeatSize
	if h.NodeID < 0 || h.Epoch < -1 {
		return Heartbeat{}, errBadHeartbeat
	}
	return h, nil
}

// Liveness holds the latest heartbeat of every node and when it came. It is
// safe for concurrent use.
type Liveness struct {
	now  func() time.Time
	mu   sync.Mutex
	seen map[int32]seen
	// news is signalled when a heartbeat says something the controller may
	// act on at once: a new process, a new broker epoch, or a wish to stop.
	news chan struct{}
}

type seen struct {
	hb Heartbeat
	at time.Time
}

// NewLiveness returns an empty tracker reading time from now (nil:
// time.Now).
func NewLiveness(now func() time.Time) *Liveness {
	if now == nil {
		now = time.Now
	}
	return &Liveness{now: now, seen: map[int32]seen{}, news: make(chan struct{}, 1)}
}

// Record notes a heartbeat received now.
func (l *Liveness) Record(hb Heartbeat) {
	l.mu.Lock()
	prev, ok := l.seen[hb.NodeID]
	l.seen[hb.NodeID] = seen{hb: hb, at: l.now()}
	l.mu.Unlock()
	if !ok || prev.hb.Incarnation != hb.Incarnation || prev.hb.Epoch != hb.Epoch || prev.hb.WantShutdown != hb.WantShutdown {
		select {
		case l.news <- struct{}{}:
		default:
		}
	}
}

// last returns the latest heartbeat of node id and when it came.
func (l *Liveness) last(id int32) (seen, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.seen[id]
	return s, ok
}

// heard returns the node ids heard from since the time given.
func (l *Liveness) heard(since time.Time) []int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []int32
	for id, s := range l.seen {
		if !s.at.Before(since) {
			ids = append(ids, id)
		}
	}
	return ids
}

package server

import (
	"context"
	"net"
	"sync"
	"time"
)

// Limits are the connection limits, Kafka's settings.
type Limits struct {
	// MaxConnections is max.connections: beyond it the listener accepts
	// nothing until a connection closes, as Kafka's acceptor waits.
	MaxConnections int
	// MaxPerIP is max.connections.per.ip, PerIPOverrides its overrides by
	// IP address or host name: a connection beyond them is closed at once.
	MaxPerIP       int
	PerIPOverrides map[string]int
	// Idle is connections.max.idle.ms: a connection that sends nothing
	// for that long is closed, and so is one that takes longer to send a
	// whole request (half a frame and silence cannot hold a connection
	// slot) or to take a response. Zero: no limit.
	Idle time.Duration
}

// ConnLimits counts open connections against Limits; a node's listeners
// share one. SetCounts changes the counts' limits at runtime.
type ConnLimits struct {
	idle time.Duration

	mu        sync.Mutex
	max       int
	perIP     int
	overrides map[string]int // by IP, names resolved when set
	total     int
	byIP      map[string]int
	freed     chan struct{} // signalled when a connection closes
}

// NewConnLimits returns the counts of a node with limits lim.
func NewConnLimits(lim Limits) *ConnLimits {
	l := &ConnLimits{idle: lim.Idle, byIP: map[string]int{}, freed: make(chan struct{}, 1)}
	l.SetCounts(lim)
	return l
}

// SetCounts sets max.connections, max.connections.per.ip and its overrides
// to lim's (Idle is not dynamic, as in Kafka). Connections already open
// stay, as Kafka keeps them; the new limits apply to those accepted next,
// and an accept waiting for a slot looks again.
func (l *ConnLimits) SetCounts(lim Limits) {
	overrides := map[string]int{}
	for host, n := range lim.PerIPOverrides {
		if ip := net.ParseIP(host); ip != nil {
			overrides[ip.String()] = n
			continue
		}
		addrs, _ := net.LookupHost(host)
		for _, a := range addrs {
			overrides[a] = n
		}
	}
	l.mu.Lock()
	l.max, l.perIP, l.overrides = lim.MaxConnections, lim.MaxPerIP, overrides
	l.mu.Unlock()
	l.signalFreed()
}

// waitSlot blocks while max.connections connections are open; it returns
// false when ctx ends first.
func (l *ConnLimits) waitSlot(ctx context.Context) bool {
	for {
		l.mu.Lock()
		full := l.max > 0 && l.total >= l.max
		l.mu.Unlock()
		if !full {
			return true
		}
		select {
		case <-l.freed:
		case <-ctx.Done():
			return false
		}
	}
}

// acquire counts a connection from ip, or reports false (and counts
// nothing) when ip already has its maximum.
func (l *ConnLimits) acquire(ip string) (limit int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit = l.perIP
	if n, ok := l.overrides[ip]; ok {
		limit = n
	}
	if limit > 0 && l.byIP[ip] >= limit || limit == 0 {
		return limit, false
	}
	l.byIP[ip]++
	l.total++
	return limit, true
}

// release uncounts a connection from ip.
func (l *ConnLimits) release(ip string) {
	l.mu.Lock()
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
	l.total--
	l.mu.Unlock()
	l.signalFreed()
}

// signalFreed wakes an accept waiting for a slot.
func (l *ConnLimits) signalFreed() {
	select {
	case l.freed <- struct{}{}:
	default:
	}
}

// setDeadline sets d, relative to now, as c's read or write deadline when
// the idle limit is on.
func (l *ConnLimits) idleDeadline(c net.Conn, write bool) {
	if l.idle <= 0 {
		return
	}
	t := time.Now().Add(l.idle)
	if write {
		c.SetWriteDeadline(t)
	} else {
		c.SetReadDeadline(t)
	}
}

package controller

import "time"

// LastHeard returns when the latest heartbeat of node id came, and false if
// none has since this process started.
func (l *Liveness) LastHeard(id int32) (time.Time, bool) {
	s, ok := l.last(id)
	return s.at, ok
}

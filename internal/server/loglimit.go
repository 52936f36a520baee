package server

import (
	"log/slog"
	"net"
	"time"

	"github.com/stratalog/strata/internal/ratelog"
)

// Bad-input warnings: this many in full per interval, the rest summed up
// by remote host.
const (
	badInputInterval = 10 * time.Second
	badInputBurst    = 10
)

// BadInputLog rate-limits the warnings about bad input from the network
// (malformed or oversized requests, refused connections, failed
// authentications), so a flood of bad connections cannot fill the disk.
// A node's listeners share one.
type BadInputLog struct{ l *ratelog.Limiter }

// NewBadInputLog returns the limiter, its summaries logged to logger.
func NewBadInputLog(logger *slog.Logger) *BadInputLog {
	return &BadInputLog{ratelog.New(ratelog.Config{Logger: logger, Level: slog.LevelWarn,
		Interval: badInputInterval, Burst: badInputBurst,
		Summary: "bad input: further warnings suppressed", KeyName: "remote"})}
}

// Warn logs msg with args to logger (a connection's), or counts it for
// remote's host once the interval's burst is spent.
func (b *BadInputLog) Warn(logger *slog.Logger, remote net.Addr, msg string, args ...any) {
	b.l.Log(logger, hostOf(remote), msg, args...)
}

// Flush logs the summary of the warnings suppressed so far, if any.
func (b *BadInputLog) Flush() { b.l.Flush() }

// hostOf is the IP of a TCP address, or the address's string.
func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	if a == nil {
		return ""
	}
	return a.String()
}

package bench

import (
	"context"
	"fmt"
	"io"
	"time"
)

// ConnectConfig configures Connect.
type ConnectConfig struct {
	// NewClient makes a client with the connection's security settings
	// (TLS, SASL) and one seed broker.
	NewClient ClientFunc
	Count     int // connections to set up, one after another, > 0
	// Progress receives a progress line every second; nil for none.
	Progress io.Writer
}

// Connect measures connection setup: Count times, one after another, a
// new client connects to its seed broker (TCP, the TLS handshake,
// ApiVersions, the SASL exchange) and asks it for metadata. A
// connection's latency is from the client's creation to that answer; the
// summary has one record per connection. Connect stops at the first
// failure.
func Connect(ctx context.Context, cfg ConnectConfig) (Summary, error) {
	if cfg.Count <= 0 {
		return Summary{}, fmt.Errorf("%w: count must be positive, got %d", ErrConfig, cfg.Count)
	}
	stats := NewStats()
	start := time.Now()
	defer StartProgress(cfg.Progress, "connect", stats, start, progressInterval)()
	for i := range cfg.Count {
		t := time.Now()
		cl, err := cfg.NewClient()
		if err != nil {
			return Summary{}, err
		}
		err = cl.Ping(ctx)
		d := time.Since(t)
		cl.Close()
		if err != nil {
			return Summary{}, fmt.Errorf("connection %d: %w", i+1, err)
		}
		stats.AddLatency(0, d)
	}
	return NewSummary("connect", "", stats.Snapshot(), time.Since(start)), nil
}

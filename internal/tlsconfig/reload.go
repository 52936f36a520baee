package tlsconfig

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// pemSource is a keystore or truststore: inline PEM, fixed, or a file read
// again at each use (each TLS handshake) and parsed again when its bytes
// changed, so a new connection sees a renewed file without a timer. Reading
// a few kilobytes costs little beside a handshake, and unlike a
// modification time it cannot miss a change.
type pemSource[T any] struct {
	what   string // "keystore" or "truststore", for messages
	path   string // "" for inline PEM
	parse  func([]byte) (T, error)
	logger *slog.Logger

	mu   sync.Mutex
	last []byte // the file's bytes last read, parsed or not
	val  T      // parsed from the last bytes that parsed
}

// newPEMSource loads the source once: a store that cannot be read or
// parsed at start is an error, later failures keep the last good one.
func newPEMSource[T any](what, path string, inline []byte, parse func([]byte) (T, error), logger *slog.Logger) (*pemSource[T], error) {
	s := &pemSource[T]{what: what, path: path, parse: parse, logger: logger}
	data := inline
	if path != "" {
		var err error
		if data, err = os.ReadFile(path); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	v, err := parse(data)
	if err != nil {
		if path == "" {
			return nil, fmt.Errorf("inline %s: %w", what, err)
		}
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	s.val, s.last = v, data
	return s, nil
}

// get returns the current value, reloading the file if it changed.
func (s *pemSource[T]) get() T {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.path == "" {
		return s.val
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		if s.last != nil {
			s.logger.Warn("cannot read "+s.what+"; keeping the one loaded", "path", s.path, "err", err)
			s.last = nil
		}
		return s.val
	}
	if bytes.Equal(data, s.last) {
		return s.val
	}
	s.last = data
	v, err := s.parse(data)
	if err != nil {
		// A file being rewritten in place may be read half done: the
		// next change tries again.
		s.logger.Warn("cannot load changed "+s.what+"; keeping the one loaded", "path", s.path, "err", err)
		return s.val
	}
	s.val = v
	s.logger.Info("reloaded "+s.what, "path", s.path)
	return v
}

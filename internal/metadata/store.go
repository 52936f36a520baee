package metadata

import (
	"sync"
	"sync/atomic"
)

// Store holds the current image and applies the metadata log to it. Current
// may be called from any goroutine; the apply methods are meant for the one
// goroutine that applies the log, and are serialized.
type Store struct {
	cur  atomic.Pointer[Image]
	mu   sync.Mutex // serializes applies and guards subs
	subs []func(old, new *Image)
}

// NewStore returns a store holding the empty image.
func NewStore() *Store {
	s := &Store{}
	s.cur.Store((&Image{}).clone())
	return s
}

// Current returns the current image. It never returns nil.
func (s *Store) Current() *Image { return s.cur.Load() }

// Subscribe registers fn to be called after every change of the current
// image, with the image before and after. Callbacks run synchronously on the
// applying goroutine, in registration order, after Current already returns
// new; they must not call the store's apply methods.
func (s *Store) Subscribe(fn func(old, new *Image)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs = append(s.subs, fn)
}

// Apply applies rec at index to the current image. If the image rejects the
// record, Apply returns the error of Image.Apply and the current image stays
// as it was except that AppliedIndex advances to index (a rejected record is
// still consumed from the log); subscribers are called with that image too,
// so those who wait until an index is applied see it.
func (s *Store) Apply(index uint64, rec Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cur.Load()
	next, err := old.Apply(index, rec)
	if err != nil {
		if index > old.AppliedIndex {
			skipped := old.clone()
			skipped.AppliedIndex = index
			s.set(old, skipped)
		}
		return err
	}
	s.set(old, next)
	return nil
}

// ApplyEncoded applies data, which is either an encoded record (applied as
// Apply does) or an encoded snapshot (the image is replaced by it, with
// AppliedIndex set to index, the snapshot's log index). It returns the
// decoding error for bad data and changes nothing then.
func (s *Store) ApplyEncoded(index uint64, data []byte) error {
	if len(data) >= 2 && kind(data[1]) == kindSnapshot {
		img, err := DecodeSnapshot(data)
		if err != nil {
			return err
		}
		img.AppliedIndex = index
		s.mu.Lock()
		defer s.mu.Unlock()
		s.set(s.cur.Load(), img)
		return nil
	}
	rec, err := DecodeRecord(data)
	if err != nil {
		return err
	}
	return s.Apply(index, rec)
}

// set installs next and notifies subscribers; s.mu is held.
func (s *Store) set(old, next *Image) {
	s.cur.Store(next)
	for _, fn := range s.subs {
		fn(old, next)
	}
}

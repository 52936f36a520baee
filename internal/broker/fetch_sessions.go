package broker

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Fetch session epochs (KIP-227).
const (
	initialSessionEpoch = 0  // start a new session with this full fetch
	finalSessionEpoch   = -1 // a full fetch outside any session; closes the given one
)

// sessionPartition is what a session remembers of one partition: the
// client's position, and what it was last told, so that an incremental
// response can leave out partitions where nothing changed.
type sessionPartition struct {
	topicID        [16]byte
	fetchOffset    int64
	maxBytes       int32
	leaderEpoch    int32
	sentHW         int64
	sentLogStart   int64
	sentErrorCode  int16
	everSentAnswer bool
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next request must carry
	// parts keeps the client's order: Kafka serves partitions in request
	// order, and later ones may be left out when the response is full.
	order []topicPartition
	parts map[topicPartition]*sessionPartition
	inUse bool
}

// fetchSessions is the broker's cache of incremental fetch sessions.
type fetchSessions struct {
	mu     sync.Mutex
	max    int
	nextID int32
	m      map[int32]*fetchSession
	lru    []int32 // session ids, least recently used first
}

func newFetchSessions(max int) *fetchSessions {
	return &fetchSessions{max: max, m: make(map[int32]*fetchSession)}
}

// acquire resolves a request's session fields. It returns the session to
// use (nil for a sessionless full fetch) and whether the request is a full
// fetch; or an error code for an unknown session or wrong epoch. The
// session is held until release.
func (fs *fetchSessions) acquire(id, epoch int32) (*fetchSession, bool, *kerr.Error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch epoch {
	case finalSessionEpoch:
		if id != 0 {
			fs.removeLocked(id)
		}
		return nil, true, nil
	case initialSessionEpoch:
		if id != 0 {
			fs.removeLocked(id)
		}
		if len(fs.m) >= fs.max && !fs.evictLocked() {
			return nil, true, nil // cache full: serve without a session
		}
		s := &fetchSession{id: fs.newIDLocked(), epoch: 0, parts: make(map[topicPartition]*sessionPartition), inUse: true}
		fs.m[s.id] = s
		fs.touchLocked(s.id)
		return s, true, nil
	}
	s, ok := fs.m[id]
	if !ok {
		return nil, false, kerr.FetchSessionIDNotFound
	}
	if s.epoch != epoch || s.inUse {
		return nil, false, kerr.InvalidFetchSessionEpoch
	}
	s.inUse = true
	fs.touchLocked(id)
	return s, false, nil
}

// release ends a request's use of its session and moves it to its next epoch.
func (fs *fetchSessions) release(s *fetchSession) {
	if s == nil {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s.inUse = false
	s.epoch++
	if s.epoch < 0 {
		s.epoch = 1
	}
}

// drop forgets s, which its request still holds until release.
func (fs *fetchSessions) drop(s *fetchSession) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.removeLocked(s.id)
}

func (fs *fetchSessions) newIDLocked() int32 {
	for {
		fs.nextID++
		if fs.nextID <= 0 {
			fs.nextID = 1
		}
		if _, used := fs.m[fs.nextID]; !used {
			return fs.nextID
		}
	}
}

func (fs *fetchSessions) touchLocked(id int32) {
	for i, x := range fs.lru {
		if x == id {
			fs.lru = append(fs.lru[:i], fs.lru[i+1:]...)
			break
		}
	}
	fs.lru = append(fs.lru, id)
}

func (fs *fetchSessions) removeLocked(id int32) {
	delete(fs.m, id)
	for i, x := range fs.lru {
		if x == id {
			fs.lru = append(fs.lru[:i], fs.lru[i+1:]...)
			return
		}
	}
}

// evictLocked drops the least recently used session not in use.
func (fs *fetchSessions) evictLocked() bool {
	for _, id := range fs.lru {
		if !fs.m[id].inUse {
			fs.removeLocked(id)
			return true
		}
	}
	return false
}

// update applies a request's partitions and forgotten topics to the session.
// names resolves topic ids (v13+) to names; unresolvable ids are skipped and
// answered UNKNOWN_TOPIC_ID by the caller.
func (s *fetchSession) update(r *kmsg.FetchRequest, name func(t *kmsg.FetchRequestTopic) (string, bool)) {
	for i := range r.Topics {
		rt := &r.Topics[i]
		n, ok := name(rt)
		if !ok {
			continue
		}
		for _, rp := range rt.Partitions {
			tp := topicPartition{Topic: n, Index: rp.Partition}
			sp, exists := s.parts[tp]
			if !exists {
				sp = &sessionPartition{sentHW: -1, sentLogStart: -1}
				s.parts[tp] = sp
				s.order = append(s.order, tp)
			}
			sp.topicID = rt.TopicID
			sp.fetchOffset, sp.maxBytes, sp.leaderEpoch = rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch
		}
	}
	for _, ft := range r.ForgottenTopics {
		n := ""
		if ft.Topic != "" {
			n = ft.Topic
		} else {
			fake := kmsg.FetchRequestTopic{TopicID: ft.TopicID}
			n, _ = name(&fake)
		}
		for _, p := range ft.Partitions {
			tp := topicPartition{Topic: n, Index: p}
			if _, ok := s.parts[tp]; ok {
				delete(s.parts, tp)
				for i, x := range s.order {
					if x == tp {
						s.order = append(s.order[:i], s.order[i+1:]...)
						break
					}
				}
			}
		}
	}
}

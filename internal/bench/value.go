package bench

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"time"
)

// StampSize is the number of bytes at the start of a value that Stamp
// writes: the send time as Unix nanoseconds, big-endian.
const StampSize = 8

// ErrShortValue is returned by StampTime for a value shorter than StampSize.
var ErrShortValue = errors.New("value too short for a send time stamp")

// Stamp writes t into the first StampSize bytes of value. value must be at
// least StampSize long.
func Stamp(value []byte, t time.Time) {
	binary.BigEndian.PutUint64(value, uint64(t.UnixNano()))
}

// StampTime returns the time Stamp wrote into value, or ErrShortValue.
func StampTime(value []byte) (time.Time, error) {
	if len(value) < StampSize {
		return time.Time{}, ErrShortValue
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(value))), nil
}

// compressibleText is the repeated text of a compressible value.
const compressibleText = "strata bench compressible payload: the quick brown fox jumps over the lazy dog. "

// Values makes record values of one size. Like Kafka's perf tool it makes
// payloads once, up front, so that making a record costs the load
// generator neither random numbers nor an allocation; but it makes many:
// random values are drawn in turn from a pool of distinct ones large
// enough that no value repeats within a record batch (a batch is at most
// ~1 MB), so no codec can shrink them. A Values is not safe for concurrent
// use.
type Values struct {
	pool [][]byte
	next int
}

// Pool bounds: at most poolBytes of values, and at most poolMax of them.
const (
	poolBytes = 16 << 20
	poolMax   = 1 << 17
)

// NewValues returns a maker of values of size bytes: a fixed text
// repeated when compressible, otherwise random bytes from a ChaCha8 stream
// seeded with seed.
func NewValues(size int, compressible bool, seed uint64) *Values {
	if compressible {
		v := make([]byte, size)
		for i := 0; i < size; i += len(compressibleText) {
			copy(v[i:], compressibleText)
		}
		return &Values{pool: [][]byte{v}}
	}
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	rng := rand.NewChaCha8(s)
	n := min(max(poolBytes/max(size, 1), 1), poolMax)
	all := make([]byte, n*size)
	_, _ = rng.Read(all) // ChaCha8.Read never fails
	v := &Values{pool: make([][]byte, n)}
	for i := range v.pool {
		v.pool[i] = all[i*size : (i+1)*size : (i+1)*size]
	}
	return v
}

// Next returns the next value. It is shared with later calls: the caller
// must not modify it (stamp a copy).
func (v *Values) Next() []byte {
	b := v.pool[v.next]
	v.next = (v.next + 1) % len(v.pool)
	return b
}

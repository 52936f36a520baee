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

// Values makes record values of one size. It is not safe for concurrent
// use; give each producer its own.
type Values struct {
	size     int
	template []byte // the compressible value; nil for random values
	rng      *rand.ChaCha8
}

// NewValues returns a maker of values of size bytes. Compressible values
// are a fixed text repeated; otherwise every value is fresh random bytes
// from a ChaCha8 stream seeded with seed, which no codec can shrink.
func NewValues(size int, compressible bool, seed uint64) *Values {
	v := &Values{size: size}
	if compressible {
		v.template = make([]byte, size)
		for i := 0; i < size; i += len(compressibleText) {
			copy(v.template[i:], compressibleText)
		}
		return v
	}
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	v.rng = rand.NewChaCha8(s)
	return v
}

// Next returns a new value. The caller owns it: the Values keeps no
// reference, so it may be stamped and handed to a client.
func (v *Values) Next() []byte {
	b := make([]byte, v.size)
	if v.template != nil {
		copy(b, v.template)
		return b
	}
	_, _ = v.rng.Read(b) // ChaCha8.Read never fails
	return b
}

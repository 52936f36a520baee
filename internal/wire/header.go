// Package wire turns request frames into kmsg requests and responses back into
// frames: request header parsing, the API version table and ApiVersions. It
// knows nothing of what a request means; a Handler (the broker) does.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// ErrMalformed is returned for a frame whose header cannot be parsed. The
// connection that sent it is closed.
var ErrMalformed = errors.New("malformed request")

// Header is a request header (versions 0 to 2).
type Header struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string // nil when the client sent a null client id
}

// parseHeader reads the header fields every request version shares: api key,
// api version, correlation id and the (never compact) nullable client id. It
// returns the rest of the frame, still holding the tagged fields of flexible
// header versions. A frame too short for its declared fields is ErrMalformed.
func parseHeader(frame []byte) (Header, []byte, error) {
	if len(frame) < 10 {
		return Header{}, nil, fmt.Errorf("%w: header needs 10 bytes, frame has %d", ErrMalformed, len(frame))
	}
	h := Header{
		APIKey:        int16(binary.BigEndian.Uint16(frame[0:])),
		APIVersion:    int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	n := int(int16(binary.BigEndian.Uint16(frame[8:])))
	rest := frame[10:]
	if n >= 0 {
		if n > len(rest) {
			return h, nil, fmt.Errorf("%w: client id length %d exceeds frame", ErrMalformed, n)
		}
		if !utf8.Valid(rest[:n]) {
			return h, nil, fmt.Errorf("%w: client id is not UTF-8", ErrMalformed)
		}
		s := string(rest[:n])
		h.ClientID = &s
		rest = rest[n:]
	}
	return h, rest, nil
}

// skipTags skips a tagged-field section (KIP-482): an unsigned varint count,
// then for each field an unsigned varint tag, an unsigned varint size and the
// bytes. Header tags carry nothing Strata uses.
func skipTags(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 {
		return nil, fmt.Errorf("%w: bad tagged field count", ErrMalformed)
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, fmt.Errorf("%w: bad tag", ErrMalformed)
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, fmt.Errorf("%w: bad tagged field size", ErrMalformed)
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// appendResponseHeader appends the response header: the correlation id, then
// an empty tagged-field section for flexible versions.
func appendResponseHeader(dst []byte, correlationID int32, flexible bool) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexible {
		dst = append(dst, 0)
	}
	return dst
}

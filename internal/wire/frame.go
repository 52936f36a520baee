package wire

import (
	"bufio"
	"io"

	"github.com/stratalog/strata/internal/commitlog"
)

// Frame is an encoded response frame: Bytes, size prefix included, with
// each splice's record set inserted at its position. Only Fetch responses
// have splices; they let big record sets go from the segment files to the
// socket without passing through memory.
type Frame struct {
	Bytes   []byte
	Splices []Splice // by ascending At
}

// Splice is a record set that goes into a frame before byte At of Bytes.
type Splice struct {
	At      int
	Records commitlog.Slice
}

// Len is the frame's size on the wire.
func (f *Frame) Len() int {
	n := len(f.Bytes)
	for i := range f.Splices {
		n += int(f.Splices[i].Records.Len())
	}
	return n
}

// Release lets go of the record sets; call it for a frame that will not be
// written (WriteTo releases them itself).
func (f *Frame) Release() {
	for i := range f.Splices {
		f.Splices[i].Records.Release()
	}
}

// WriteTo writes the frame: its bytes through bw, and each record set,
// after flushing bw, straight to w (with sendfile when w is a socket). bw
// must write to w. The record sets are released whatever happens.
func (f *Frame) WriteTo(bw *bufio.Writer, w io.Writer) error {
	defer f.Release()
	last := 0
	for i := range f.Splices {
		s := &f.Splices[i]
		if _, err := bw.Write(f.Bytes[last:s.At]); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if _, err := s.Records.WriteTo(w); err != nil {
			return err
		}
		last = s.At
	}
	_, err := bw.Write(f.Bytes[last:])
	return err
}

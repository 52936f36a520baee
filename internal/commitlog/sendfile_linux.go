package commitlog

import (
	"io"
	"syscall"
)

// sendfile copies n bytes of src from position pos to dst inside the
// kernel with sendfile(2). handled is false, with nothing written, when
// dst is not a socket or src is not an operating system file.
func sendfile(dst io.Writer, src File, pos, n int64) (written int64, handled bool, err error) {
	dc, ok := dst.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	sc, ok := src.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	out, err := dc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	in, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var serr error
	cerr := in.Control(func(infd uintptr) {
		werr := out.Write(func(outfd uintptr) bool {
			for n > 0 {
				// The kernel advances pos; a socket that is full answers
				// EAGAIN and the poller waits for it to drain.
				w, e := syscall.Sendfile(int(outfd), int(infd), &pos, int(min(n, 1<<30)))
				if w > 0 {
					written += int64(w)
					n -= int64(w)
				}
				switch {
				case e == syscall.EAGAIN:
					return false
				case e == syscall.EINTR:
				case e != nil:
					serr = e
					return true
				case w == 0:
					serr = io.ErrUnexpectedEOF // the file is shorter than the slice
					return true
				}
			}
			return true
		})
		if serr == nil {
			serr = werr
		}
	})
	if serr == nil {
		serr = cerr
	}
	return written, true, serr
}

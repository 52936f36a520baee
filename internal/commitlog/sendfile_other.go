//go:build !linux

package commitlog

import "io"

// sendfile is Linux only; elsewhere slices are copied through a buffer.
func sendfile(io.Writer, File, int64, int64) (int64, bool, error) { return 0, false, nil }

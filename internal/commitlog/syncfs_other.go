//go:build !linux

package commitlog

import "errors"

// SyncFS implements FS: syncfs(2) is Linux only, and sync(2) elsewhere does
// not report write-back errors, so callers fsync file by file instead.
func (OSFS) SyncFS(string) error { return errors.ErrUnsupported }

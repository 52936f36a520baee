package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/stratalog/strata/internal/txn"
)

// A state snapshot, partition.state, holds what the partition derives from
// its batch headers as of one offset: the idempotent-producer state and the
// leader epoch entries. Opening the partition loads it (or, when it is
// missing or unusable, the one before it, partition.state.prev) and reads
// only the headers after it; without one it reads every header in the log,
// which for 10 GiB with a cold page cache took seconds (the page readahead
// read the whole log).
//
// Layout, big-endian:
//
//	version   uint16 (0)
//	crc       uint32, CRC-32C of everything after it
//	offset    int64, the log end offset the snapshot describes
//	count     uint32, then count times: epoch int32, startOffset int64
//	producers the rest: txn.ProducerState's binary form
//
// Snapshots are written without fsync. The log's records below a snapshot's
// offset are a prefix of what it was taken from, unless a crash lost the
// tail: Open ignores a snapshot above the log end offset, and removes it
// before anything new is appended at that offset. One that does not parse
// (torn by a crash) is skipped for the one before or for the full read.
const (
	stateFile       = "partition.state"
	prevStateFile   = "partition.state.prev"
	stateVersion    = 1 // 1 added the transaction state; 0 is read as unusable
	stateHeaderSize = 2 + 4 + 8 + 4
	epochEntrySize  = 4 + 8
)

// A snapshot is due at a clean stop when the batches written since the
// last one span closeStateBytes, and on a Tick when they span
// tickStateBytes, which bounds the read after a crash without a file per
// partition and second. Variables for the tests.
var (
	closeStateBytes int64 = 1 << 20
	tickStateBytes  int64 = 256 << 20
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)

	// errBadState reports a state snapshot that does not parse.
	errBadState = errors.New("malformed state snapshot")
)

// partState is a decoded state snapshot.
type partState struct {
	offset    int64
	epochs    []epochEntry
	producers *txn.ProducerState
}

// encodeState returns the snapshot of epochs and producers at offset.
func encodeState(offset int64, epochs []epochEntry, producers *txn.ProducerState) []byte {
	b := make([]byte, stateHeaderSize, stateHeaderSize+len(epochs)*epochEntrySize+64)
	binary.BigEndian.PutUint16(b, stateVersion)
	binary.BigEndian.PutUint64(b[6:], uint64(offset))
	binary.BigEndian.PutUint32(b[14:], uint32(len(epochs)))
	for _, e := range epochs {
		b = binary.BigEndian.AppendUint32(b, uint32(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.startOffset))
	}
	b = producers.AppendBinary(b)
	binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
	return b
}

// decodeState reads a snapshot encodeState wrote. Errors wrap errBadState.
func decodeState(b []byte) (partState, error) {
	bad := func(format string, args ...any) (partState, error) {
		return partState{}, fmt.Errorf("%w: %s", errBadState, fmt.Sprintf(format, args...))
	}
	if len(b) < stateHeaderSize {
		return bad("%d bytes", len(b))
	}
	if v := binary.BigEndian.Uint16(b); v != stateVersion {
		return bad("version %d", v)
	}
	if crc := crc32.Checksum(b[6:], castagnoli); crc != binary.BigEndian.Uint32(b[2:]) {
		return bad("checksum %08x, stored %08x", crc, binary.BigEndian.Uint32(b[2:]))
	}
	st := partState{offset: int64(binary.BigEndian.Uint64(b[6:]))}
	count := binary.BigEndian.Uint32(b[14:])
	b = b[stateHeaderSize:]
	if uint64(count)*epochEntrySize > uint64(len(b)) {
		return bad("%d epoch entries in %d bytes", count, len(b))
	}
	st.epochs = make([]epochEntry, count)
	for i := range st.epochs {
		e := epochEntry{int32(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint64(b[4:]))}
		if e.epoch < 0 || e.startOffset < 0 || e.startOffset >= st.offset ||
			i > 0 && (e.epoch <= st.epochs[i-1].epoch || e.startOffset <= st.epochs[i-1].startOffset) {
			return bad("epoch entry %d %+v out of order or range", i, e)
		}
		st.epochs[i] = e
		b = b[epochEntrySize:]
	}
	producers, err := txn.DecodeProducerState(b)
	if err != nil {
		return bad("%v", err)
	}
	st.producers = producers
	return st, nil
}

// loadState returns the newest usable state snapshot in dir at or below
// end. Snapshots above end describe records a crash lost: they are removed,
// durably, before the log can grow past them again.
func loadState(dir string, end int64, logger *slog.Logger) (st partState, found bool, err error) {
	stale := false
	for _, name := range []string{stateFile, prevStateFile} {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err == nil {
			st, err = decodeState(b)
		}
		if err != nil {
			logger.Warn("state snapshot unusable, using the one before or the log", "file", path, "err", err)
			continue
		}
		if st.offset <= end {
			found = true
			break
		}
		logger.Info("removing a state snapshot past the recovered log end", "file", path, "offset", st.offset, "log_end", end)
		if err := os.Remove(path); err != nil {
			return partState{}, false, err
		}
		stale = true
	}
	if stale {
		if err := syncDir(dir); err != nil {
			return partState{}, false, err
		}
	}
	if !found {
		return partState{}, false, nil
	}
	return st, true, nil
}

// saveState writes a state snapshot at the log end offset if one is due:
// the batches appended (or read at open) since the last span minBytes. The
// snapshot it replaces becomes partition.state.prev.
func (p *Partition) saveState(minBytes int64) error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.mu.Lock()
	if p.sinceState == 0 || p.sinceState < minBytes {
		p.mu.Unlock()
		return nil
	}
	data, since := encodeState(p.log.EndOffset(), p.epochs.entries, p.producers), p.sinceState
	p.sinceState = 0
	p.mu.Unlock()
	// Restore adds again only the aborted transactions after the
	// snapshot: those below it must be durable before it is.
	err := p.log.SyncAbortedTxns()
	if err == nil {
		err = replaceState(p.dir, data)
	}
	if err != nil {
		p.mu.Lock()
		p.sinceState += since
		p.mu.Unlock()
		return fmt.Errorf("save state snapshot: %w", err)
	}
	return nil
}

// replaceState writes data as dir's partition.state, unsynced, keeping the
// one it replaces as partition.state.prev: a later sync of the file system
// makes it durable, and a crash before it may leave the new file missing,
// empty or torn, and the previous one in place.
func replaceState(dir string, data []byte) error {
	tmp, cur := filepath.Join(dir, stateFile+".tmp"), filepath.Join(dir, stateFile)
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(cur, filepath.Join(dir, prevStateFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return os.Rename(tmp, cur)
}

// syncDir fsyncs the directory dir.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

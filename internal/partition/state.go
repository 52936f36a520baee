package partition

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stratalog/strata/internal/txn"
)

// A state snapshot, <offset>.state with the offset in 20 digits, holds what
// the partition derives from its batch headers as of that offset: the
// idempotent-producer state and the leader epoch entries. Opening the
// partition loads the newest usable one and reads only the headers after
// it; without one it reads every header in the log, which for 10 GiB with
// a cold page cache took seconds (the page readahead read the whole log).
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
// (torn by a crash) is skipped for an older one or for the full read.
const (
	stateSuffix     = ".state"
	stateVersion    = 0
	stateHeaderSize = 2 + 4 + 8 + 4
	epochEntrySize  = 4 + 8
	// statesKept is how many snapshots stay on disk: the newest, and the
	// one before in case a crash tears the newest.
	statesKept = 2
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

func stateName(offset int64) string { return fmt.Sprintf("%020d%s", offset, stateSuffix) }

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

// listStates returns the offsets of the state snapshots in dir, ascending.
func listStates(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), stateSuffix)
		if !ok || len(name) != 20 {
			continue
		}
		if off, err := strconv.ParseInt(name, 10, 64); err == nil && off >= 0 {
			offs = append(offs, off)
		}
	}
	slices.Sort(offs)
	return offs, nil
}

// loadState returns the newest snapshot in dir at or below end, and the
// offsets of the snapshots left in dir. Snapshots above end describe
// records a crash lost: they are removed, durably, before the log can grow
// past them again.
func loadState(dir string, end int64, logger *slog.Logger) (st partState, found bool, kept []int64, err error) {
	offs, err := listStates(dir)
	if err != nil {
		return partState{}, false, nil, err
	}
	stale := 0
	for len(offs) > 0 && offs[len(offs)-1] > end {
		if err := os.Remove(filepath.Join(dir, stateName(offs[len(offs)-1]))); err != nil {
			return partState{}, false, nil, err
		}
		offs = offs[:len(offs)-1]
		stale++
	}
	if stale > 0 {
		logger.Info("removed state snapshots past the recovered log end", "dir", dir, "count", stale, "log_end", end)
		if err := syncDir(dir); err != nil {
			return partState{}, false, nil, err
		}
	}
	for i := len(offs) - 1; i >= 0; i-- {
		b, err := os.ReadFile(filepath.Join(dir, stateName(offs[i])))
		if err == nil {
			st, err = decodeState(b)
		}
		if err == nil && st.offset != offs[i] {
			err = fmt.Errorf("%w: holds offset %d", errBadState, st.offset)
		}
		if err != nil {
			logger.Warn("state snapshot unusable, using an older one or the log", "dir", dir, "offset", offs[i], "err", err)
			continue
		}
		return st, true, offs, nil
	}
	return partState{}, false, offs, nil
}

// saveState writes a state snapshot at the log end offset if one is due:
// the headers appended (or read at open) since the last one span minBytes.
// Older snapshots beyond statesKept are removed.
func (p *Partition) saveState(minBytes int64) error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.mu.Lock()
	if p.sinceState == 0 || p.sinceState < minBytes {
		p.mu.Unlock()
		return nil
	}
	offset, since := p.log.EndOffset(), p.sinceState
	data := encodeState(offset, p.epochs.entries, p.producers)
	p.sinceState = 0
	p.mu.Unlock()
	dir := p.dir
	if err := writeFileAtomic(filepath.Join(dir, stateName(offset)), data); err != nil {
		p.mu.Lock()
		p.sinceState += since
		p.mu.Unlock()
		return fmt.Errorf("save state snapshot: %w", err)
	}
	if len(p.states) == 0 || p.states[len(p.states)-1] != offset {
		p.states = append(p.states, offset)
	}
	var errs []error
	for len(p.states) > statesKept {
		if err := os.Remove(filepath.Join(dir, stateName(p.states[0]))); err != nil && !os.IsNotExist(err) {
			errs = append(errs, err)
		}
		p.states = p.states[1:]
	}
	return errors.Join(errs...)
}

// writeFileAtomic replaces path with data, unsynced: a later sync of the
// file system makes the file durable, and a crash before it may leave it
// missing, empty or torn, never a mix of old and new.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
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
	return os.Rename(tmp, path)
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

package raft

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	pb "go.etcd.io/raft/v3/raftpb"
)

// Files in the raft directory and the framing of their records. Every WAL
// record and the snapshot file are one frame:
//
//	length uint32 LE | crc32c(body) uint32 LE | body (length bytes)
//
// A WAL body is a type byte (walEntry or walHardState) and the encoded
// message. See docs/format/metadata-log.md.
const (
	walName      = "wal"          // the write-ahead log, appended to
	walTmpName   = "wal.tmp"      // a compacted WAL being written, renamed over walName
	snapName     = "snapshot"     // the latest snapshot, one frame
	snapTmpName  = "snapshot.tmp" // a snapshot being written, renamed over snapName
	frameHeader  = 8              // length and checksum
	walEntry     = byte(1)        // body: an encoded raftpb.Entry
	walHardState = byte(2)        // body: an encoded raftpb.HardState
	maxFrameBody = 256 << 20      // larger lengths are corrupt, not records
	fileMode     = fs.FileMode(0o644)
)

// ErrCorrupt means a WAL or snapshot file holds bytes that are not what this
// package wrote and that are not a torn tail: a bad record followed by good
// ones, a good checksum over an unreadable body, or a gap in entry indexes.
var ErrCorrupt = errors.New("corrupt raft storage")

var crcTable = crc32.MakeTable(crc32.Castagnoli)

func appendFrame(b, body []byte) []byte {
	b = binary.LittleEndian.AppendUint32(b, uint32(len(body)))
	b = binary.LittleEndian.AppendUint32(b, crc32.Checksum(body, crcTable))
	return append(b, body...)
}

// frameAt returns the body of the frame at the start of b and its total
// length, or ok false if b does not start with a complete frame whose
// checksum matches.
func frameAt(b []byte) (body []byte, n int, ok bool) {
	if len(b) < frameHeader {
		return nil, 0, false
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 || size > maxFrameBody || uint64(size) > uint64(len(b)-frameHeader) {
		return nil, 0, false // no record is empty; zeros are a torn tail
	}
	body = b[frameHeader : frameHeader+int(size)]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[4:]) {
		return nil, 0, false
	}
	return body, frameHeader + int(size), true
}

// splitFrames splits b into frame bodies. It returns the bodies of the valid
// prefix and its length. A bad frame is a torn tail (valid < len(b), nil
// error) unless a valid frame follows it, which is ErrCorrupt.
func splitFrames(b []byte) (bodies [][]byte, valid int, err error) {
	for valid < len(b) {
		body, n, ok := frameAt(b[valid:])
		if !ok {
			if next, end := badFrameEnd(b[valid:]); end {
				if _, _, ok := frameAt(b[valid+next:]); ok {
					return nil, 0, fmt.Errorf("%w: bad record at offset %d is followed by a good one", ErrCorrupt, valid)
				}
			}
			return bodies, valid, nil
		}
		bodies = append(bodies, body)
		valid += n
	}
	return bodies, valid, nil
}

// badFrameEnd returns where the frame after a bad one would start, if the bad
// frame's length field is plausible.
func badFrameEnd(b []byte) (int, bool) {
	if len(b) < frameHeader {
		return 0, false
	}
	size := binary.LittleEndian.Uint32(b)
	if size == 0 || size > maxFrameBody || uint64(size) >= uint64(len(b)-frameHeader) {
		return 0, false
	}
	return frameHeader + int(size), true
}

// walContents is what a WAL file holds after replay.
type walContents struct {
	entries []*pb.Entry   // contiguous indexes; later records replace earlier ones from their index on
	hs      *pb.HardState // the last hard state; nil if none
	torn    int64         // bytes truncated from the tail
}

// readWAL replays the WAL in dir, truncating a torn tail (and syncing the
// file) so appends continue after the last good record. A missing file is an
// empty WAL.
func readWAL(dir string) (walContents, error) {
	path := filepath.Join(dir, walName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return walContents{}, nil
	}
	if err != nil {
		return walContents{}, fmt.Errorf("read wal: %w", err)
	}
	c, valid, err := parseWAL(b)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if valid < len(b) {
		if err := truncateFile(path, int64(valid)); err != nil {
			return c, err
		}
	}
	return c, nil
}

// parseWAL replays the WAL bytes b. It returns the contents of the valid
// prefix and its length; c.torn counts the bytes after it.
func parseWAL(b []byte) (c walContents, valid int, err error) {
	bodies, valid, err := splitFrames(b)
	if err != nil {
		return c, 0, err
	}
	for i, body := range bodies {
		if err := c.add(body); err != nil {
			return c, 0, fmt.Errorf("record %d: %w", i, err)
		}
	}
	c.torn = int64(len(b) - valid)
	return c, valid, nil
}

func (c *walContents) add(body []byte) error {
	if len(body) == 0 {
		return fmt.Errorf("%w: empty record", ErrCorrupt)
	}
	switch body[0] {
	case walHardState:
		hs, err := decodeHardState(body[1:])
		if err != nil {
			return err
		}
		c.hs = hs
	case walEntry:
		e, err := decodeEntry(body[1:])
		if err != nil {
			return err
		}
		if n := len(c.entries); n > 0 {
			first := c.entries[0].GetIndex()
			switch idx := e.GetIndex(); {
			case idx < first:
				c.entries = c.entries[:0]
			case idx <= first+uint64(n)-1:
				c.entries = c.entries[:idx-first]
			case idx > first+uint64(n):
				return fmt.Errorf("%w: entry %d follows entry %d", ErrCorrupt, idx, first+uint64(n)-1)
			}
		}
		c.entries = append(c.entries, e)
	default:
		return fmt.Errorf("%w: unknown record type %d", ErrCorrupt, body[0])
	}
	return nil
}

func truncateFile(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY, fileMode)
	if err != nil {
		return fmt.Errorf("open for truncation: %w", err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		return fmt.Errorf("truncate %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", path, err)
	}
	return nil
}

// wal appends records to the WAL file.
type wal struct {
	dir string
	f   *os.File
	buf []byte
}

func openWAL(dir string) (*wal, error) {
	f, err := os.OpenFile(filepath.Join(dir, walName), os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return nil, fmt.Errorf("open wal: %w", err)
	}
	return &wal{dir: dir, f: f}, nil
}

// encodeRecords appends the frames of ents and then hs (if not nil) to b.
func encodeRecords(b []byte, ents []*pb.Entry, hs *pb.HardState) []byte {
	var body []byte
	for _, e := range ents {
		body = appendEntry(append(body[:0], walEntry), e)
		b = appendFrame(b, body)
	}
	if hs != nil {
		b = appendFrame(b, appendHardState([]byte{walHardState}, hs))
	}
	return b
}

// append writes ents and hs (nil: unchanged) in one write, and fsyncs if
// sync is set. Entries come before the hard state so a torn write never
// keeps a commit index without the entries it covers.
func (w *wal) append(ents []*pb.Entry, hs *pb.HardState, sync bool) error {
	w.buf = encodeRecords(w.buf[:0], ents, hs)
	if len(w.buf) == 0 {
		return nil
	}
	if _, err := w.f.Write(w.buf); err != nil {
		return fmt.Errorf("append to wal: %w", err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync wal: %w", err)
		}
	}
	return nil
}

// rewrite replaces the WAL by one holding only hs and ents (the entries after
// the latest snapshot), atomically: a crash leaves the old or the new file.
func (w *wal) rewrite(ents []*pb.Entry, hs *pb.HardState) error {
	if err := writeFileAtomic(w.dir, walTmpName, walName, encodeRecords(nil, ents, hs)); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(w.dir, walName), os.O_WRONLY|os.O_APPEND, fileMode)
	if err != nil {
		return fmt.Errorf("reopen wal: %w", err)
	}
	old := w.f
	w.f = f
	if err := old.Close(); err != nil {
		return fmt.Errorf("close old wal: %w", err)
	}
	return nil
}

func (w *wal) close() error { return w.f.Close() }

// writeFileAtomic writes data to tmp, syncs it, renames it to name and syncs
// the directory.
func writeFileAtomic(dir, tmp, name string, data []byte) error {
	tmpPath := filepath.Join(dir, tmp)
	f, err := os.OpenFile(tmpPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, fileMode)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmpPath, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory: %w", err)
	}
	return nil
}

// saveSnapshot writes s as the snapshot file, replacing the previous one.
func saveSnapshot(dir string, s *pb.Snapshot) error {
	return writeFileAtomic(dir, snapTmpName, snapName, appendFrame(nil, appendSnapshot(nil, s)))
}

// loadSnapshot reads the snapshot file; it returns nil, nil if there is none.
// The file is replaced atomically, so any damage is ErrCorrupt.
func loadSnapshot(dir string) (*pb.Snapshot, error) {
	b, err := os.ReadFile(filepath.Join(dir, snapName))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read snapshot: %w", err)
	}
	body, n, ok := frameAt(b)
	if !ok || n != len(b) {
		return nil, fmt.Errorf("%w: snapshot file damaged", ErrCorrupt)
	}
	return decodeSnapshot(body)
}

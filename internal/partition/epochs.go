package partition

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// epochFile is the leader epoch cache, in Kafka's text checkpoint format:
// a version line (0), a count line, then one "epoch startOffset" line per
// entry.
const epochFile = "leader-epoch-checkpoint"

type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochCache maps each leader epoch to the first offset written in it.
// Invariant: entries are strictly increasing in both epoch and start offset.
// Callers serialize access (the partition's append lock or open).
//
// A new entry reaches the checkpoint file with the partition's next Tick,
// not on the append path (one fsynced file per partition and epoch made the
// first produce to 10,000 partitions take seconds), and unsynced: an entry
// lost in a crash, or a checkpoint torn by one, is learned again from the
// batches at open, as every batch carries its leader epoch.
type epochCache struct {
	path    string
	entries []epochEntry
	dirty   bool // entries not yet in the file
}

// errBadEpochFile reports a leader epoch checkpoint that does not parse,
// such as one torn by a crash before the file system was synced.
var errBadEpochFile = errors.New("malformed leader epoch checkpoint")

// openEpochCache loads the checkpoint in dir, if there is one. It returns
// an error wrapping errBadEpochFile when the file does not parse.
func openEpochCache(dir string) (*epochCache, error) {
	c := &epochCache{path: filepath.Join(dir, epochFile)}
	data, err := os.ReadFile(c.path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", epochFile, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "0" || lines[1] != strconv.Itoa(len(lines)-2) {
		return nil, fmt.Errorf("%w: bad version or count line", errBadEpochFile)
	}
	for i, line := range lines[2:] {
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %d: want 2 fields, got %d", errBadEpochFile, i+3, len(f))
		}
		e, err1 := strconv.ParseInt(f[0], 10, 32)
		o, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: line %d: bad entry %q", errBadEpochFile, i+3, line)
		}
		c.entries = append(c.entries, epochEntry{int32(e), o})
	}
	return c, nil
}

// assign records that epoch starts at offset, if it is a new epoch.
func (c *epochCache) assign(epoch int32, offset int64) {
	if n := len(c.entries); epoch < 0 || n > 0 && c.entries[n-1].epoch >= epoch {
		return
	}
	c.entries = append(c.entries, epochEntry{epoch, offset})
	c.dirty = true
}

// snapshot returns the checkpoint's contents when entries changed since
// the last one, and marks them saved; the caller writes them with
// writeFileAtomic outside the partition's lock, and calls unsaved if that
// fails.
func (c *epochCache) snapshot() ([]byte, bool) {
	if !c.dirty {
		return nil, false
	}
	c.dirty = false
	return c.encode(), true
}

func (c *epochCache) unsaved() { c.dirty = true }

// truncateFrom drops entries that start at or after endOffset (the log was
// truncated by recovery).
func (c *epochCache) truncateFrom(endOffset int64) {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= endOffset {
		n--
	}
	if n != len(c.entries) {
		c.entries = c.entries[:n]
		c.dirty = true
	}
}

// endOffsetFor returns the largest epoch not above epoch and the offset at
// which the epoch after it starts, or logEnd when it is the latest. With no
// such epoch it returns -1, -1 (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET).
func (c *epochCache) endOffsetFor(epoch int32, logEnd int64) (int32, int64) {
	for i := len(c.entries) - 1; i >= 0; i-- {
		if c.entries[i].epoch <= epoch {
			if i == len(c.entries)-1 {
				return c.entries[i].epoch, logEnd
			}
			return c.entries[i].epoch, c.entries[i+1].startOffset
		}
	}
	return -1, -1
}

func (c *epochCache) encode() []byte {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "0\n%d\n", len(c.entries))
	for _, e := range c.entries {
		fmt.Fprintf(&buf, "%d %d\n", e.epoch, e.startOffset)
	}
	return buf.Bytes()
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content. Without sync nothing is fsynced: a later sync of
// the file system makes the file durable, and a crash before it may leave
// the file empty or torn.
func writeFileAtomic(path string, data []byte, sync bool) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if sync {
		if err := f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	return syncDir(filepath.Dir(path))
}

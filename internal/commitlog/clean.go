package commitlog

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/stratalog/strata/internal/recordbatch"
)

// CleanStats reports one Clean call.
type CleanStats struct {
	Due               bool  // the log was due for cleaning and a pass ran
	SegmentsCleaned   int   // segments replaced by cleaned ones
	BytesBefore       int64 // bytes of the replaced segments
	BytesAfter        int64 // bytes of the segments that replaced them
	RecordsRemoved    int64 // records dropped: superseded ones, expired tombstones and aborted ones
	TombstonesRemoved int64 // of those, tombstones dropped because their delete horizon had passed
	AbortedRemoved    int64 // of those, records of aborted transactions
	MarkersRemoved    int64 // transaction markers dropped (or emptied) because their delete horizon had passed
}

// CleanOptions are the settings of one cleaning pass that are the
// cleaner's rather than the log's (Kafka's log.cleaner.* broker settings);
// the zero value is the defaults, unthrottled.
type CleanOptions struct {
	// DedupeBufferBytes caps the memory of the pass's key map: once it is
	// passed, the pass maps no further segment (<= 0: 128 MiB).
	DedupeBufferBytes int64
	// IOBufferBytes is how much the pass reads from a segment at a time,
	// and how much it buffers before writing a cleaned one (<= 0: 1 MiB).
	IOBufferBytes int64
	// Throttle, when set, is told of every byte the pass reads and writes,
	// and may hold the pass up.
	Throttle Throttle
	// Producers are the producers the partition remembers, by id. A batch
	// the pass would drop is kept without its records (header only) when
	// it is its producer's last (ProducerLast), as Kafka's cleaner keeps
	// it, so that a partition rebuilding its state from the log still
	// knows the producer's last sequence and epoch.
	Producers map[int64]ProducerLast
}

// Throttle limits the I/O of cleaning passes.
type Throttle interface {
	// Wait takes n bytes read or written and returns when the pass may go
	// on, or with ctx's error.
	Wait(ctx context.Context, n int64) error
}

const (
	defaultDedupeBufferBytes = 128 << 20
	defaultCleanIOBytes      = 1 << 20
)

func (o CleanOptions) normalized() CleanOptions {
	if o.DedupeBufferBytes <= 0 {
		o.DedupeBufferBytes = defaultDedupeBufferBytes
	}
	if o.IOBufferBytes <= 0 {
		o.IOBufferBytes = defaultCleanIOBytes
	}
	return o
}

// errCleanRace stops a pass whose segments changed under it (retention,
// truncation); the next pass plans again.
var errCleanRace = errors.New("segments changed during cleaning")

// mapEntryOverhead approximates the memory of one key map entry beyond
// the key bytes: the map slot, the string header and the offset.
const mapEntryOverhead = 48

// cleanPlan is the cleanable part of a log: the non-active segments from
// the first up to (excluding) the first dirty segment holding a record
// younger than MinCompactionLagMs.
type cleanPlan struct {
	cfg        Config
	segs       []*segment // cleanable segments, oldest first
	sizes      []int64    // their sizes when planned
	ends       []int64    // ends[i] is the base offset of the segment after segs[i]
	firstDirty int64      // offsets below were compacted by an earlier pass
	acquired   bool       // a reference is held on each of segs
	horizonDue int64      // Log.horizonDue
	// aborted are the aborted-transaction index entries of segs and those
	// of later segments for transactions that began in segs; abortedLens
	// is how many each of segs had.
	aborted     []AbortedTxn
	abortedLens []int

	cleanBytes, dirtyBytes int64
}

// planClean computes the plan at time now (ms), taking a reference on each
// cleanable segment when acquire is set. ok is false for a closed log.
//
// A segment is dirty when it may hold offsets at or above the first dirty
// offset, clean otherwise; the first dirty offset is the cleaner
// checkpoint, reset to the log start offset when outside [StartOffset,
// EndOffset].
func (l *Log) planClean(now int64, acquire bool, limit int64) (p cleanPlan, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return p, false
	}
	p.cfg, p.acquired, p.horizonDue = l.cfg, acquire, l.horizonDue
	p.firstDirty = l.firstDirty
	if p.firstDirty < l.start || p.firstDirty > l.leo {
		p.firstDirty = l.start
	}
	lag := p.cfg.MinCompactionLagMs
	for i := range len(l.segs) - 1 {
		s, end := l.segs[i], l.segs[i+1].base
		if end > limit {
			break
		}
		dirty := end > p.firstDirty
		if dirty && lag > 0 && s.maxTS > now-lag {
			break
		}
		size := s.size.Load()
		if dirty {
			p.dirtyBytes += size
		} else {
			p.cleanBytes += size
		}
		if acquire {
			s.acquire()
		}
		p.segs = append(p.segs, s)
		p.sizes = append(p.sizes, size)
		p.ends = append(p.ends, end)
		p.aborted = append(p.aborted, s.aborted...)
		p.abortedLens = append(p.abortedLens, len(s.aborted))
	}
	if len(p.segs) == 0 {
		return p, true
	}
	// A transaction with records in the plan may end in a later segment.
	for _, s := range l.segs[len(p.segs):] {
		for _, e := range s.aborted {
			if e.FirstOffset < p.ends[len(p.ends)-1] {
				p.aborted = append(p.aborted, e)
			}
		}
	}
	return p, true
}

func (p *cleanPlan) release() {
	if p.acquired {
		for _, s := range p.segs {
			s.release()
		}
	}
}

func (p *cleanPlan) ratio() float64 {
	if total := p.cleanBytes + p.dirtyBytes; total > 0 {
		return float64(p.dirtyBytes) / float64(total)
	}
	return 0
}

// CleanableRatio is the log's dirty ratio, as Kafka's cleaner computes it:
// the bytes of the cleanable segments at or above the first dirty offset
// over the bytes of all cleanable segments; 0 when there are none and for
// a log without Compact. It does no I/O.
func (l *Log) CleanableRatio() float64 {
	p, _ := l.planClean(l.nowMs(), false, math.MaxInt64)
	if !p.cfg.Compact {
		return 0
	}
	return p.ratio()
}

// Clean runs one compaction pass over the log if it is compacted (Compact)
// and due: it has dirty cleanable bytes and its CleanableRatio is at least
// MinCleanableDirtyRatio, or a cleanable dirty segment's first batch is
// more than MaxCompactionLagMs old, or the delete horizon of a tombstone
// the last pass kept has passed (unknown after Open: the first Clean of a
// log with cleanable segments runs a pass). Otherwise it returns
// CleanStats{} and nil.
//
// A pass builds a map from key to latest offset over the records of the
// dirty cleanable segments (whole segments, stopping once the map passes
// opts.DedupeBufferBytes), then rewrites every cleanable segment up to the
// last mapped one, merging neighbours while the result fits SegmentBytes
// and the 32-bit relative index, keeping per key only the record with the
// latest offset, every record without a key, and tombstones until the
// delete horizon set when they were first cleaned (DeleteRetentionMs
// later) has passed; see recordbatch.Rewrite for how a batch is
// rewritten. Records of aborted transactions (by the aborted-transaction
// index) are removed and never count as a key's latest. A transaction
// marker stays while a batch of its transaction does; once none is left
// it gets a delete horizon, and a pass after the horizon removes it. A
// batch left without records is dropped unless it is its producer's last
// (opts.Producers), which keeps its header. The index entries of aborted
// transactions whose markers stay are carried into the cleaned segments.
// Offsets never change. A segment in which nothing changes is left alone. Each rewritten group of segments is swapped in as
// docs/format/segments.md describes, so that a crash at any point loses
// nothing; readers of a replaced segment keep reading it. At the end the
// first dirty offset (the base of the first segment not cleaned) is
// persisted.
//
// The pass reads and writes opts.IOBufferBytes at a time, and tells
// opts.Throttle of every batch it reads and every write it makes.
//
// Appends, reads and retention proceed during a pass; if retention or
// Truncate changes a segment the pass is cleaning, the pass stops early
// without error. Clean returns ctx.Err() when ctx is done, an error
// wrapping ErrCorruption for unreadable batches, and, when a swap fails
// half-way, the error after failing the log (ErrClosed from then on;
// Open completes the swap). Concurrent calls run one after the other.
func (l *Log) Clean(ctx context.Context, opts CleanOptions) (CleanStats, error) {
	return l.CleanBelow(ctx, math.MaxInt64, opts)
}

// CleanBelow is Clean with only the segments wholly below limit cleanable:
// a replicated partition cleans no further than its high watermark, since a
// record above it may yet be truncated, and with it the later value of a key
// whose earlier value the cleaner would have removed; and no further than
// its last stable offset, since an open transaction may yet be aborted.
func (l *Log) CleanBelow(ctx context.Context, limit int64, opts CleanOptions) (CleanStats, error) {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	now := l.nowMs()
	p, ok := l.planClean(now, true, limit)
	if !ok {
		return CleanStats{}, ErrClosed
	}
	defer p.release()
	if !p.cfg.Compact || len(p.segs) == 0 {
		return CleanStats{}, nil
	}
	due := p.dirtyBytes > 0 && p.ratio() >= p.cfg.MinCleanableDirtyRatio ||
		p.cleanBytes+p.dirtyBytes > 0 && now >= p.horizonDue
	if !due && p.dirtyBytes > 0 {
		var err error
		if due, err = p.pastMaxLag(now); err != nil {
			return CleanStats{}, err
		}
	}
	if !due {
		return CleanStats{}, nil
	}
	c := newCleaner(l, &p, opts, now)
	c.stats.Due = true
	cut, err := c.buildMap(ctx)
	if err != nil {
		return c.stats, err
	}
	for _, g := range p.groups(cut) {
		if err := c.cleanGroup(ctx, g[0], g[1]); err != nil {
			if errors.Is(err, errCleanRace) {
				return c.stats, nil
			}
			return c.stats, err
		}
	}
	return c.stats, l.advanceFirstDirty(p.ends[cut-1], c.nextHorizon)
}

// pastMaxLag reports whether a dirty cleanable segment's first batch has a
// MaxTimestamp more than MaxCompactionLagMs before now.
func (p *cleanPlan) pastMaxLag(now int64) (bool, error) {
	if p.cfg.MaxCompactionLagMs == math.MaxInt64 {
		return false, nil
	}
	var b [recordbatch.HeaderSize]byte
	for i, s := range p.segs {
		if p.ends[i] <= p.firstDirty || p.sizes[i] < recordbatch.HeaderSize {
			continue
		}
		if _, err := s.log.ReadAt(b[:], 0); err != nil {
			return false, fmt.Errorf("read first batch of %s: %w", s.name(), err)
		}
		h, err := recordbatch.ReadHeader(b[:])
		if err != nil {
			return false, fmt.Errorf("read first batch of %s: %w: %w", s.name(), ErrCorruption, err)
		}
		if h.MaxTimestamp >= 0 && h.MaxTimestamp < now-p.cfg.MaxCompactionLagMs {
			return true, nil
		}
	}
	return false, nil
}

// groups splits the first n planned segments into runs [lo, hi) that are
// merged into one segment each: as Kafka groups them, while the run's
// sizes add up to at most SegmentBytes, its offset range fits the 32-bit
// relative offsets of an index, and its index entries fit SegmentIndexBytes.
func (p *cleanPlan) groups(n int) [][2]int {
	var out [][2]int
	interval := int64(p.cfg.IndexIntervalBytes)
	for lo := 0; lo < n; {
		hi, size := lo+1, p.sizes[lo]
		for hi < n {
			next := size + p.sizes[hi]
			if next > p.cfg.SegmentBytes || p.ends[hi]-1-p.segs[lo].base > maxRelative ||
				(next/interval+2)*timeEntrySize > p.cfg.SegmentIndexBytes {
				break
			}
			size = next
			hi++
		}
		out = append(out, [2]int{lo, hi})
		lo = hi
	}
	return out
}

// advanceFirstDirty records the end of a pass: the earliest delete
// horizon of a tombstone it kept, and off persisted as the cleaner
// checkpoint unless the log was truncated below it meanwhile.
func (l *Log) advanceFirstDirty(off, horizonDue int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if err := l.writable(); err != nil {
		return err
	}
	l.mu.Lock()
	l.horizonDue = horizonDue
	l.mu.Unlock()
	if off > l.leo || off == l.firstDirty {
		return nil
	}
	if err := writeCheckpoint(l.fsys, l.dir, cleanerCheckpointFile, off); err != nil {
		return err
	}
	l.mu.Lock()
	l.firstDirty = off
	l.mu.Unlock()
	return nil
}

// satAdd is a + b for b >= 0, saturating at math.MaxInt64.
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// keyMap maps each key of the dirty records to its latest offset. Keys are
// kept exactly (no digests, so no collisions); memory is bounded by
// stopping at a segment boundary once bytes passes DedupeBufferBytes.
type keyMap struct {
	index   map[string]int32 // key -> position in offsets
	offsets []int64
	bytes   int64
}

func (m *keyMap) put(key []byte, off int64) {
	if i, ok := m.index[string(key)]; ok {
		m.offsets[i] = off
		return
	}
	m.index[string(key)] = int32(len(m.offsets))
	m.offsets = append(m.offsets, off)
	m.bytes += int64(len(key)) + mapEntryOverhead
}

// latest returns the latest dirty offset of key.
func (m *keyMap) latest(key []byte) (int64, bool) {
	i, ok := m.index[string(key)]
	if !ok {
		return 0, false
	}
	return m.offsets[i], true
}

// cleaner is one pass's state.
type cleaner struct {
	l       *Log
	p       *cleanPlan
	opts    CleanOptions // normalized
	now     int64
	horizon int64 // delete horizon given to batches whose tombstones are first cleaned
	// nextHorizon is the earliest delete horizon of a batch the pass
	// kept tombstones in: when the next pass is due regardless of dirt.
	nextHorizon int64
	keys        keyMap
	txns        *cleanTxns
	stats       CleanStats
	buf         []byte // scanner buffer
	scratch     []byte // decompression buffer
	out         []byte // cleaned batches not yet written
}

func newCleaner(l *Log, p *cleanPlan, opts CleanOptions, now int64) *cleaner {
	return &cleaner{l: l, p: p, opts: opts.normalized(), now: now, horizon: satAdd(now, p.cfg.DeleteRetentionMs), nextHorizon: math.MaxInt64,
		txns: newCleanTxns(p.aborted, opts.Producers)}
}

// buildMap maps the dirty records of the planned segments and returns how
// many planned segments the pass cleans: all of them, or up to the last
// segment mapped before the map passed its memory cap.
func (c *cleaner) buildMap(ctx context.Context) (int, error) {
	c.keys = keyMap{index: map[string]int32{}}
	p := c.p
	mapped := false
	for i, s := range p.segs {
		if p.ends[i] <= p.firstDirty {
			continue
		}
		if mapped && c.keys.bytes >= c.opts.DedupeBufferBytes {
			return i, nil
		}
		err := c.scan(ctx, s, p.sizes[i], func(b []byte, h recordbatch.Header) error {
			if h.Control() || h.LastOffset() < p.firstDirty || c.txns.isAborted(h) {
				return nil
			}
			return recordbatch.Iterate(b, &c.scratch, func(r *recordbatch.Record) error {
				if off := h.BaseOffset + int64(r.OffsetDelta); r.Key != nil && off >= p.firstDirty {
					c.keys.put(r.Key, off)
				}
				return nil
			})
		})
		if err != nil {
			return 0, err
		}
		mapped = true
	}
	return len(p.segs), nil
}

// scan calls fn with each batch of s's log in [0, size), in order, reading
// IOBufferBytes at a time. The batch bytes are valid only during the call.
// It stops at fn's first error, and when ctx is done.
func (c *cleaner) scan(ctx context.Context, s *segment, size int64, fn func(b []byte, h recordbatch.Header) error) error {
	sc := scanner{f: s.log, end: size, buf: c.buf[:0], chunk: c.opts.IOBufferBytes}
	defer func() { c.buf = sc.buf }()
	for pos := int64(0); pos < size; {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := sc.batch(pos)
		if err == nil {
			var h recordbatch.Header
			if h, err = recordbatch.ReadHeader(b); err == nil {
				if err = c.throttle(ctx, h.Size()); err == nil {
					err = fn(b, h)
				}
				if err == nil {
					pos += h.Size()
					continue
				}
			}
		}
		if errors.Is(err, errIO) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errCleanWrite) {
			return fmt.Errorf("clean %s at %d: %w", s.name(), pos, err)
		}
		return fmt.Errorf("clean %s at %d: %w: %w", s.name(), pos, ErrCorruption, err)
	}
	return nil
}

// throttle tells the throttle, if any, of n bytes read or written.
func (c *cleaner) throttle(ctx context.Context, n int64) error {
	if c.opts.Throttle == nil {
		return nil
	}
	return c.opts.Throttle.Wait(ctx, n)
}

// write writes the cleaned batches buffered in c.out at off, once the
// throttle allows.
func (c *cleaner) write(ctx context.Context, w *cleanedFiles, off int64) error {
	if err := c.throttle(ctx, int64(len(c.out))); err != nil {
		return err
	}
	return w.write(c.out, off)
}

// errCleanWrite marks failures writing cleaned files, so that scan does
// not report them as corruption.
var errCleanWrite = errors.New("write cleaned segment")

// cleanGroup rewrites planned segments [lo, hi) into one cleaned segment
// and swaps it in, unless nothing changed (a single segment whose batches
// all stay as they are).
func (c *cleaner) cleanGroup(ctx context.Context, lo, hi int) error {
	l, p := c.l, c.p
	base := p.segs[lo].base
	w, err := createCleaned(l.fsys, l.dir, base)
	if err != nil {
		return err
	}
	committed := false // the cleaned files became .swap files
	defer func() {
		if !committed {
			w.discard(l.logger)
		}
	}()
	st := segState{next: base, maxTS: -1, maxTSOff: -1}
	interval := int64(p.cfg.IndexIntervalBytes)
	g := groupStats{changed: hi-lo > 1}
	var written int64
	c.out = c.out[:0]
	for k := lo; k < hi; k++ {
		err := c.scan(ctx, p.segs[k], p.sizes[k], func(b []byte, h recordbatch.Header) error {
			start := len(c.out)
			var err error
			if h.Control() {
				err = c.cleanMarker(b, h, &g)
			} else {
				err = c.cleanData(b, h, &g)
			}
			if err != nil {
				return err
			}
			if len(c.out) > start {
				nh, _ := recordbatch.ReadHeader(c.out[start:])
				st.observe(nh, written+int64(start), base, interval, true)
			}
			if int64(len(c.out)) >= c.opts.IOBufferBytes {
				if err := c.write(ctx, w, written); err != nil {
					return err
				}
				written += int64(len(c.out))
				c.out = c.out[:0]
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	// An abort marker of the group that goes takes its index entry along.
	oldEntries := 0
	for _, n := range p.abortedLens[lo:hi] {
		oldEntries += n
	}
	if !g.changed && len(g.aborted) == oldEntries {
		return nil
	}
	if err := c.write(ctx, w, written); err != nil {
		return err
	}
	st.tix = maybeAppendTimeEntry(st.tix, st.maxTS, st.maxTSOff-base)
	if err := w.finish(st.idx, st.tix, g.aborted); err != nil {
		return err
	}
	before := int64(0)
	for _, size := range p.sizes[lo:hi] {
		before += size
	}
	committed, err = l.swapIn(p.segs[lo:hi], p.sizes[lo:hi], p.abortedLens[lo:hi], p.ends[hi-1], base, st, g.aborted)
	if err != nil {
		return err
	}
	c.stats.SegmentsCleaned += hi - lo
	c.stats.BytesBefore += before
	c.stats.BytesAfter += st.end
	c.stats.RecordsRemoved += g.removed
	c.stats.TombstonesRemoved += g.tombstones
	c.stats.AbortedRemoved += g.abortedRecords
	c.stats.MarkersRemoved += g.markers
	return nil
}

// groupStats is what cleaning one group did.
type groupStats struct {
	changed                                      bool
	removed, tombstones, abortedRecords, markers int64
	aborted                                      []AbortedTxn // the index entries kept, in marker order
}

// cleanData appends to c.out what stays of data batch b (header h): none
// of its records if it is aborted, else the latest record of each key,
// records without a key, and tombstones before their delete horizon; an
// emptied batch stays as a header if it is its producer's last.
func (c *cleaner) cleanData(b []byte, h recordbatch.Header, g *groupStats) error {
	start := len(c.out)
	aborted := c.txns.readData(h)
	if h.NumRecords == 0 { // an earlier pass emptied it
		if c.txns.lastOfProducer(h) {
			c.out = append(c.out, b...)
		} else {
			g.changed = true
		}
		return nil
	}
	var res recordbatch.RewriteResult
	var err error
	c.out, res, err = recordbatch.Rewrite(c.out, b, c.horizon, &c.scratch, func(r *recordbatch.Record) bool {
		switch {
		case aborted:
			return false
		case r.Key == nil:
			return true
		}
		if latest, ok := c.keys.latest(r.Key); ok && h.BaseOffset+int64(r.OffsetDelta) < latest {
			return false
		}
		if r.Value == nil && h.HasDeleteHorizon() && c.now >= h.BaseTimestamp {
			g.tombstones++
			return false
		}
		return true
	})
	if err != nil {
		return err
	}
	g.removed += int64(res.Removed)
	if aborted {
		g.abortedRecords += int64(res.Removed)
	}
	g.changed = g.changed || res.Changed
	if res.KeptTombstones > 0 {
		nh, _ := recordbatch.ReadHeader(c.out[start:])
		c.nextHorizon = min(c.nextHorizon, nh.BaseTimestamp)
	}
	if res.Kept == 0 && res.Changed && c.txns.lastOfProducer(h) {
		c.out = recordbatch.AppendEmpty(c.out, h)
	}
	return nil
}

// cleanMarker appends to c.out what stays of control batch b (header h).
// A marker whose transaction still has batches stays as it is (with its
// index entry, for an abort); once none has, it first gets a delete
// horizon, and a pass after the horizon removes it (keeping its header if
// it is its producer's last), as Kafka's cleaner does.
func (c *cleaner) cleanMarker(b []byte, h recordbatch.Header, g *groupStats) error {
	if _, err := recordbatch.Check(b); err != nil {
		return err
	}
	removable, entry := c.txns.readMarker(b, h)
	if entry != nil {
		g.aborted = append(g.aborted, *entry)
	}
	last := c.txns.lastOfProducer(h)
	switch {
	case !removable || h.NumRecords == 0 && last:
		c.out = append(c.out, b...)
	case h.NumRecords == 0:
		g.changed = true
	case !h.HasDeleteHorizon():
		var err error
		if c.out, err = recordbatch.WithDeleteHorizon(c.out, b, c.horizon, &c.scratch); err != nil {
			return err
		}
		c.nextHorizon = min(c.nextHorizon, c.horizon)
		g.changed = true
	case c.now < h.BaseTimestamp:
		c.out = append(c.out, b...)
		c.nextHorizon = min(c.nextHorizon, h.BaseTimestamp)
	default:
		g.changed = true
		g.markers++
		if last {
			c.out = recordbatch.AppendEmpty(c.out, h)
		}
	}
	return nil
}

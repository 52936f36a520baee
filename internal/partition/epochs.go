package partition

type epochEntry struct {
	epoch       int32
	startOffset int64
}

// epochCache maps each leader epoch to the first offset written in it.
// Invariant: entries are strictly increasing in both epoch and start offset.
// Callers serialize access (the partition's append lock or open).
//
// It has no file of its own (Kafka keeps a leader-epoch-checkpoint per
// partition): every batch carries its leader epoch, so open learns the
// entries from the newest state snapshot and the batches after it. Writing
// a checkpoint per partition at its first append in an epoch was most of
// the kernel time of the first produce to 10,000 partitions.
type epochCache struct {
	entries []epochEntry
}

// assign records that epoch starts at offset, if it is a new epoch.
func (c *epochCache) assign(epoch int32, offset int64) {
	if n := len(c.entries); epoch < 0 || n > 0 && c.entries[n-1].epoch >= epoch {
		return
	}
	c.entries = append(c.entries, epochEntry{epoch, offset})
}

// truncateFrom drops entries that start at or after endOffset (the log was
// truncated by recovery).
func (c *epochCache) truncateFrom(endOffset int64) {
	n := len(c.entries)
	for n > 0 && c.entries[n-1].startOffset >= endOffset {
		n--
	}
	c.entries = c.entries[:n]
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

// last returns the latest epoch in the cache, -1 when it is empty.
func (c *epochCache) last() int32 {
	if len(c.entries) == 0 {
		return -1
	}
	return c.entries[len(c.entries)-1].epoch
}

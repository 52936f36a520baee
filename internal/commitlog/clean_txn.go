package commitlog

import (
	"sort"

	"github.com/stratalog/strata/internal/recordbatch"
)

// ProducerLast is what the partition remembers of a producer's latest
// batches, which a cleaning pass keeps in the log (see
// CleanOptions.Producers).
type ProducerLast struct {
	// LastDataOffset is the last offset of the producer's latest data
	// batch in its current epoch, -1 when the epoch has none (a marker
	// or an epoch bump came after it).
	LastDataOffset int64
	Epoch          int16
}

// cleanTxns follows transactions through one cleaning pass, as Kafka's
// CleanedTransactionMetadata does: which data batches belong to aborted
// transactions (the pass removes their records), and which markers may go
// because no batch of their transaction is left.
type cleanTxns struct {
	// aborted holds per producer the aborted transactions of the planned
	// segments, by first offset; a producer's transactions never overlap.
	aborted map[int64][]*abortedRange
	// open are the producers whose transactional data batches that are
	// not aborted were read since their last marker.
	open      map[int64]bool
	producers map[int64]ProducerLast
}

// abortedRange is one aborted transaction and whether the cleaning scan
// read a batch of it.
type abortedRange struct {
	AbortedTxn
	seen bool
}

func newCleanTxns(es []AbortedTxn, producers map[int64]ProducerLast) *cleanTxns {
	t := &cleanTxns{aborted: map[int64][]*abortedRange{}, open: map[int64]bool{}, producers: producers}
	for _, e := range es {
		t.aborted[e.ProducerID] = append(t.aborted[e.ProducerID], &abortedRange{AbortedTxn: e})
	}
	for _, rs := range t.aborted {
		sort.Slice(rs, func(i, j int) bool { return rs[i].FirstOffset < rs[j].FirstOffset })
	}
	return t
}

// lookup returns the aborted transaction of producer pid holding offset
// off, or nil.
func (t *cleanTxns) lookup(pid, off int64) *abortedRange {
	rs := t.aborted[pid]
	i := sort.Search(len(rs), func(i int) bool { return rs[i].FirstOffset > off }) - 1
	if i < 0 || rs[i].LastOffset < off {
		return nil
	}
	return rs[i]
}

// isAborted reports whether data batch h belongs to an aborted transaction.
func (t *cleanTxns) isAborted(h recordbatch.Header) bool {
	return h.Transactional() && h.ProducerID >= 0 && t.lookup(h.ProducerID, h.BaseOffset) != nil
}

// readData records data batch h, read by the cleaning scan in offset
// order, and reports whether it is aborted.
func (t *cleanTxns) readData(h recordbatch.Header) bool {
	if !h.Transactional() || h.ProducerID < 0 {
		return false
	}
	if r := t.lookup(h.ProducerID, h.BaseOffset); r != nil {
		r.seen = true
		return true
	}
	t.open[h.ProducerID] = true
	return false
}

// readMarker records control batch b (header h), read by the cleaning
// scan in offset order. It reports whether the marker may be removed (no
// batch of its transaction was read: an earlier pass removed them all),
// and for an abort marker that stays, its index entry, which stays too.
// A control batch without records was emptied by an earlier pass; one
// that is not a transaction marker stays.
func (t *cleanTxns) readMarker(b []byte, h recordbatch.Header) (removable bool, keep *AbortedTxn) {
	if h.NumRecords == 0 {
		return true, nil
	}
	m, err := recordbatch.ReadEndTxnMarker(b)
	if err != nil {
		return false, nil
	}
	if m.Commit {
		open := t.open[h.ProducerID]
		delete(t.open, h.ProducerID)
		return !open, nil
	}
	if r := t.lookup(h.ProducerID, h.BaseOffset); r != nil && r.seen && r.LastOffset == h.BaseOffset {
		return false, &r.AbortedTxn
	}
	return true, nil
}

// lastOfProducer reports whether batch h holds its producer's last
// sequence (its latest data batch) or, for a producer whose epoch has no
// data batch, is a marker of that epoch: Kafka keeps such a batch, emptied
// if need be, so that the producer's state survives in the log.
func (t *cleanTxns) lastOfProducer(h recordbatch.Header) bool {
	p, ok := t.producers[h.ProducerID]
	switch {
	case !ok || h.ProducerID < 0:
		return false
	case p.LastDataOffset >= 0:
		return h.LastOffset() == p.LastDataOffset
	}
	return h.Control() && h.ProducerEpoch == p.Epoch
}

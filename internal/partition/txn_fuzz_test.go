package partition

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
)

// FuzzRecoverTxn appends transactional and idempotent batches of three
// producers and COMMIT and ABORT markers, 2 bytes of input per operation,
// then restarts the partition as after kill -9 (no state snapshot written;
// with the first byte odd, the aborted-transaction index files are lost
// too).
//
// Invariants:
//   - nothing panics; every append a producer may make succeeds, and an
//     idempotent batch inside the producer's transaction is
//     INVALID_TXN_STATE;
//   - the last stable offset is the first offset of the oldest open
//     transaction, or the log end when none is open;
//   - the aborted-transaction index holds exactly the ABORT markers, each
//     from the first offset of the transaction it ends (the marker's own
//     offset if none was open) to the marker, in marker order;
//   - the restart rebuilds the same last stable offset and index.
func FuzzRecoverTxn(f *testing.F) {
	f.Add([]byte{})
	// producer 1 commits, producer 2 aborts, producer 3 stays open
	f.Add([]byte{0, 0, 4, 1, 0, 2, 2, 0, 3, 1, 1, 2})
	f.Add([]byte{1, 0, 4, 0, 3, 0, 0, 1, 4, 1, 3, 1, 9, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		const maxOps = 40
		if len(data) > 2*maxOps {
			data = data[:2*maxOps]
		}
		dir := t.TempDir()
		p := openPart(t, dir, Options{})
		type producer struct {
			seq  int32
			open int64 // first offset of its open transaction, -1 for none
		}
		producers := map[int64]*producer{1: {open: -1}, 2: {open: -1}, 3: {open: -1}}
		var want []commitlog.AbortedTxn
		for i := 0; i+2 <= len(data); i += 2 {
			op, pid := data[i]%5, int64(data[i+1]%3+1)
			pr := producers[pid]
			switch op {
			case 0, 1, 2: // a batch of 1-3 records: transactional unless op 2
				n := int(data[i]>>3)%3 + 1
				recs := make([]recordbatch.Record, n)
				for j := range recs {
					recs[j] = recordbatch.Record{OffsetDelta: int32(j), Value: []byte{byte(j)}}
				}
				b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: 1000, ProducerID: pid, BaseSequence: pr.seq, Transactional: op != 2}, recs)
				if err != nil {
					t.Fatal(err)
				}
				h, _ := recordbatch.ReadHeader(b)
				res, err := p.Append(b, h, -1)
				if op == 2 && pr.open >= 0 {
					if !errors.Is(err, kerr.InvalidTxnState) {
						t.Fatalf("op %d: idempotent batch in a transaction: got %v, want INVALID_TXN_STATE", i/2, err)
					}
					continue
				}
				if err != nil {
					t.Fatalf("op %d: append of producer %d at sequence %d: %v", i/2, pid, pr.seq, err)
				}
				pr.seq += int32(n)
				if op != 2 && pr.open < 0 {
					pr.open = res.BaseOffset
				}
			case 3, 4: // a COMMIT or an ABORT marker
				res, err := p.WriteTxnMarker(pid, 0, 1, op == 3, 5000)
				if err != nil {
					t.Fatalf("op %d: marker of producer %d: %v", i/2, pid, err)
				}
				if op == 4 {
					// An ABORT with no transaction open covers only
					// itself, as Kafka's appendEndTxnMarker does.
					first := res.LastOffset
					if pr.open >= 0 {
						first = pr.open
					}
					want = append(want, commitlog.AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: res.LastOffset})
				}
				pr.open = -1
			}
		}
		end := p.log.EndOffset()
		lso := end
		for _, pr := range producers {
			if pr.open >= 0 {
				lso = min(lso, pr.open)
			}
		}
		got := p.log.AbortedTxns(0, math.MaxInt64)
		if hw := p.HighWatermark(); hw != end || p.LastStableOffset() != lso {
			t.Fatalf("got high watermark %d, last stable offset %d; want %d and %d", hw, p.LastStableOffset(), end, lso)
		}
		if !slices.EqualFunc(got, want, func(a, b commitlog.AbortedTxn) bool {
			return a.ProducerID == b.ProducerID && a.FirstOffset == b.FirstOffset && a.LastOffset == b.LastOffset
		}) {
			t.Fatalf("aborted transactions: got %+v, want %+v", got, want)
		}

		// kill -9: nothing more written, files closed as they are.
		p.stop()
		p.log.Close()
		if len(data) > 0 && data[0]%2 == 1 {
			idx, err := filepath.Glob(filepath.Join(dir, "*.txnindex"))
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range idx {
				if err := os.Remove(name); err != nil {
					t.Fatal(err)
				}
			}
		}
		p = openPart(t, dir, Options{})
		defer p.Close()
		if p.LastStableOffset() != lso {
			t.Fatalf("after the restart: got last stable offset %d, want %d", p.LastStableOffset(), lso)
		}
		if again := p.log.AbortedTxns(0, math.MaxInt64); !slices.Equal(again, got) {
			t.Fatalf("after the restart: aborted transactions %+v, want %+v", again, got)
		}
	})
}

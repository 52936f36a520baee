package partition

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
	"github.com/stratalog/strata/internal/txn"
)

// idemBatch is a batch of n records of size bytes each from producer pid,
// epoch 0, starting at sequence seq.
func idemBatch(t *testing.T, pid int64, seq int32, n, size int) ([]byte, recordbatch.Header) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Value: bytes.Repeat([]byte{'v'}, size)}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{BaseTimestamp: 1000, ProducerID: pid, BaseSequence: seq}, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ReadHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, h
}

// produce appends the batch of idemBatch and returns the result.
func produce(t *testing.T, p *Partition, pid int64, seq int32, n, size int) AppendResult {
	t.Helper()
	b, h := idemBatch(t, pid, seq, n, size)
	res, err := p.Append(b, h, -1)
	if err != nil {
		t.Fatalf("append producer %d sequence %d: %v", pid, seq, err)
	}
	return res
}

// openPart opens a partition in dir and makes it the sole replica's
// leader at epoch 0.
func openPart(t *testing.T, dir string, opts Options) *Partition {
	t.Helper()
	return openLeader(t, dir, 0, 0, commitlog.DefaultConfig(), opts)
}

// openLeader opens partition index in dir as broker 1 and makes it the
// leader of a partition with no other replica at leader epoch epoch.
func openLeader(t *testing.T, dir string, index, epoch int32, cfg commitlog.Config, opts Options) *Partition {
	t.Helper()
	opts.Self = 1
	p, err := Open(dir, "t", index, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	p.BecomeLeader(soleLeader(epoch), time.Now())
	return p
}

// soleLeader is the state of a partition whose only replica, broker 1,
// leads it at epoch.
func soleLeader(epoch int32) LeaderAndISR {
	return LeaderAndISR{Leader: 1, LeaderEpoch: epoch, Replicas: []int32{1}, ISR: []int32{1}}
}

// stateFiles returns the offsets of the state snapshots in dir, the
// previous one first.
func stateFiles(t *testing.T, dir string) []int64 {
	t.Helper()
	var offs []int64
	for _, name := range []string{prevStateFile, stateFile} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		st, err := decodeState(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		offs = append(offs, st.offset)
	}
	return offs
}

// TestStateSnapshotKeepsDeletedProducers: a producer whose only batch
// DeleteRecords removed is still known after a clean restart, as before it
// (Kafka keeps such producers until they expire). Only the state snapshot
// the clean stop wrote can tell: the log no longer holds the batch.
func TestStateSnapshotKeepsDeletedProducers(t *testing.T) {
	dir := t.TempDir()
	p := openPart(t, dir, Options{})
	produce(t, p, 7, 0, 2, 10)                   // offsets 0-1
	produce(t, p, 8, 0, 2, int(closeStateBytes)) // offsets 2-3, enough to make the stop snapshot
	if _, err := p.DeleteRecordsBefore(2); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := stateFiles(t, dir); !slices.Equal(got, []int64{4}) {
		t.Fatalf("state snapshots after the stop: %v, want [4]", got)
	}

	p = openPart(t, dir, Options{Clean: true})
	b, h := idemBatch(t, 7, 0, 2, 10)
	res, err := p.Append(b, h, -1)
	if err != nil || !res.Duplicate || res.BaseOffset != 0 {
		t.Fatalf("retry of the deleted batch after restart: %+v, %v; want the duplicate at offset 0", res, err)
	}
	if got := produce(t, p, 8, 2, 1, 10); got.Duplicate || got.BaseOffset != 4 {
		t.Fatalf("producer 8's next batch: %+v, want appended at 4", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Too little was appended since the snapshot at 4 to write another.
	if got := stateFiles(t, dir); !slices.Equal(got, []int64{4}) {
		t.Fatalf("state snapshots after the second stop: %v, want [4]", got)
	}
}

// TestStateSnapshotAboveLogEnd: a crash that loses the log's tail leaves a
// snapshot describing records that are gone. Open must not use it, must
// remove it, and the state must match the recovered log, also after new
// records take the lost offsets.
func TestStateSnapshotAboveLogEnd(t *testing.T) {
	dir := t.TempDir()
	p := openPart(t, dir, Options{})
	produce(t, p, 7, 0, 1, 10)
	lostAt := p.LogEndOffset()
	logFile := filepath.Join(dir, "00000000000000000000.log")
	fi, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, p, 7, 1, 1, int(closeStateBytes)) // sequence 1 at offset 1: lost below
	if err := p.saveState(0); err != nil {
		t.Fatal(err)
	}
	p.log.Close()
	// The crash: the second batch never reached the disk; no clean stop.
	if err := os.Truncate(logFile, fi.Size()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"00000000000000000000.index", "00000000000000000000.timeindex", "recovery-point"} {
		os.Remove(filepath.Join(dir, name))
	}
	if got := stateFiles(t, dir); !slices.Equal(got, []int64{2}) {
		t.Fatalf("state snapshots before the reopen: %v, want [2]", got)
	}

	p = openPart(t, dir, Options{})
	if end := p.LogEndOffset(); end != lostAt {
		t.Fatalf("recovered log end %d, want %d", end, lostAt)
	}
	if got := stateFiles(t, dir); len(got) != 0 {
		t.Fatalf("state snapshots after the reopen: %v, want none", got)
	}
	// Producer 7's sequence 1 is not in the log: it must be appended, not
	// answered as a duplicate of the lost batch.
	if got := produce(t, p, 7, 1, 3, int(closeStateBytes/2)); got.Duplicate || got.BaseOffset != 1 {
		t.Fatalf("sequence 1 after the crash: %+v, want appended at 1", got)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openPart(t, dir, Options{Clean: true})
	defer p.Close()
	b, h := idemBatch(t, 7, 1, 3, int(closeStateBytes/2))
	if res, err := p.Append(b, h, -1); err != nil || !res.Duplicate || res.BaseOffset != 1 {
		t.Fatalf("retry of sequences 1-3 after the clean restart: %+v, %v; want the duplicate at 1", res, err)
	}
	if got := stateFiles(t, dir); !slices.Equal(got, []int64{4}) {
		t.Fatalf("state snapshots: %v, want [4]", got)
	}
}

// TestTornStateSnapshot: a snapshot that does not parse is skipped for the
// one before it; with none usable the state comes from the log alone.
// Producer 7's batch is deleted, so whether its retry is a duplicate tells
// which snapshot, if any, the state came from.
func TestTornStateSnapshot(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		p := openPart(t, dir, Options{})
		produce(t, p, 7, 0, 2, 10)
		if _, err := p.DeleteRecordsBefore(2); err != nil {
			t.Fatal(err)
		}
		if err := p.saveState(0); err != nil { // at 2
			t.Fatal(err)
		}
		produce(t, p, 8, 0, 1, 10)
		if err := p.saveState(0); err != nil { // at 3
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if got := stateFiles(t, dir); !slices.Equal(got, []int64{2, 3}) {
			t.Fatalf("state snapshots: %v, want [2 3]", got)
		}
		return dir
	}
	tear := func(t *testing.T, dir, name string) {
		path := filepath.Join(dir, name)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b[:len(b)-3], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		torn []string
		dup  bool
	}{
		{"newest torn", []string{stateFile}, true},
		{"both torn", []string{stateFile, prevStateFile}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := setup(t)
			for _, name := range tt.torn {
				tear(t, dir, name)
			}
			p := openPart(t, dir, Options{Clean: true})
			defer p.Close()
			if got := produce(t, p, 8, 1, 1, 10); got.Duplicate || got.BaseOffset != 3 {
				t.Fatalf("producer 8's next batch: %+v, want appended at 3", got)
			}
			b, h := idemBatch(t, 7, 0, 2, 10)
			res, err := p.Append(b, h, -1)
			if err != nil || res.Duplicate != tt.dup {
				t.Fatalf("retry of the deleted batch: %+v, %v; want duplicate %v", res, err, tt.dup)
			}
		})
	}
}

// TestTickStateSnapshot: Tick writes a snapshot once tickStateBytes were
// appended since the last, and keeps the one before.
func TestTickStateSnapshot(t *testing.T) {
	defer func(n int64) { tickStateBytes = n }(tickStateBytes)
	tickStateBytes = 64 << 10
	dir := t.TempDir()
	p := openPart(t, dir, Options{})
	defer p.Close()
	var want []int64
	for i := range int32(4) {
		if err := p.Tick(); err != nil {
			t.Fatal(err)
		}
		if got := stateFiles(t, dir); !slices.Equal(got, want) {
			t.Fatalf("round %d: state snapshots %v, want %v", i, got, want)
		}
		produce(t, p, 7, 2*i, 1, int(tickStateBytes/2))
		produce(t, p, 7, 2*i+1, 1, int(tickStateBytes/2))
		want = append(want, p.LogEndOffset())
		want = want[max(0, len(want)-2):]
	}
}

// FuzzDecodeState: any input decodes without panicking; errors wrap
// errBadState; what decodes re-encodes to the same bytes. Inputs whose first
// byte is odd get a valid checksum, so that the fuzzer gets past it.
func FuzzDecodeState(f *testing.F) {
	ps := txn.NewProducerState()
	ps.Update(recordbatch.Header{ProducerID: 3, LastOffsetDelta: 4}, 1000)
	f.Add(encodeState(9, []epochEntry{{1, 0}, {4, 5}}, ps))
	f.Add(encodeState(0, nil, txn.NewProducerState()))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= stateHeaderSize && b[0]%2 == 1 {
			b[0] = 0
			binary.BigEndian.PutUint32(b[2:], crc32.Checksum(b[6:], castagnoli))
		}
		st, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, errBadState) {
				t.Fatalf("error %v does not wrap errBadState", err)
			}
			return
		}
		if got := encodeState(st.offset, st.epochs, st.producers); !bytes.Equal(got, b) {
			t.Fatalf("%x decodes to a state that encodes as %x", b, got)
		}
	})
}

// TestExpireProducers: a producer idle for the expiration time is
// forgotten, so its retry is appended again and its next batch may start
// anywhere; one seen since is kept.
func TestExpireProducers(t *testing.T) {
	p := openPart(t, t.TempDir(), Options{})
	defer p.Close()
	produce(t, p, 7, 0, 2, 10) // max timestamp 1000
	produce(t, p, 8, 0, 1, 10)
	b, h := idemBatch(t, 8, 1, 1, 10)
	h.MaxTimestamp = 5000
	if _, err := p.Append(b, h, -1); err != nil {
		t.Fatal(err)
	}
	if n := p.ExpireProducers(1000+999, 1000); n != 0 {
		t.Fatalf("expired %d producers 999 ms after producer 7's batch, want none", n)
	}
	if n := p.ExpireProducers(1001+1000, 1000); n != 1 {
		t.Fatalf("expired %d producers 1000 ms after producer 7's batch, want 1", n)
	}
	if got := produce(t, p, 7, 0, 2, 10); got.Duplicate || got.BaseOffset != 4 {
		t.Fatalf("retry of producer 7's batch after expiry: %+v, want appended at 4", got)
	}
	b, h = idemBatch(t, 8, 9, 1, 10)
	if _, err := p.Append(b, h, -1); err == nil {
		t.Fatal("producer 8 (not expired) accepted a sequence gap")
	}
}

package partition

import (
	"testing"
	"time"

	"github.com/stratalog/strata/internal/commitlog"
	"github.com/stratalog/strata/internal/recordbatch"
)

// appendOne appends a batch of n records to p.
func appendOne(t *testing.T, p *Partition, n int) {
	t.Helper()
	recs := make([]recordbatch.Record, n)
	for i := range recs {
		recs[i] = recordbatch.Record{OffsetDelta: int32(i), Value: []byte("v")}
	}
	b, err := recordbatch.Build(recordbatch.BuildOptions{ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}, recs)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.ReadHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Append(b, h, -1); err != nil {
		t.Fatal(err)
	}
}

type epochAnswer struct {
	ask, epoch int32
	end        int64
}

func checkEpochs(t *testing.T, p *Partition, want []epochAnswer) {
	t.Helper()
	for _, tt := range want {
		if e, end := p.EndOffsetForEpoch(tt.ask); e != tt.epoch || end != tt.end {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tt.ask, e, end, tt.epoch, tt.end)
		}
	}
}

// TestEpochsRelearned: the leader epochs are learned again from the batches
// when the partition opens, after a clean close and after a crash.
func TestEpochsRelearned(t *testing.T) {
	dir := t.TempDir()
	cfg := commitlog.DefaultConfig()
	p := openLeader(t, dir, 0, 3, cfg, Options{})
	appendOne(t, p, 5)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Epoch 4 starts at offset 5; the process dies after the append.
	p = openLeader(t, dir, 0, 4, cfg, Options{Clean: true})
	checkEpochs(t, p, []epochAnswer{{3, 3, 5}, {4, 3, 5}})
	appendOne(t, p, 2)
	if err := p.log.Sync(); err != nil {
		t.Fatal(err)
	}
	p.log.Close()

	p = openLeader(t, dir, 0, 4, cfg, Options{})
	defer p.Close()
	checkEpochs(t, p, []epochAnswer{{3, 3, 5}, {4, 4, 7}, {2, -1, -1}})
}

// TestEpochsFromStateSnapshot: epochs whose batches DeleteRecords removed
// are still answered after a restart, from the state snapshot.
func TestEpochsFromStateSnapshot(t *testing.T) {
	dir := t.TempDir()
	p := openLeader(t, dir, 0, 3, commitlog.DefaultConfig(), Options{})
	appendOne(t, p, 2)
	p.BecomeLeader(soleLeader(4), time.Now()) // a new leader epoch from offset 2
	produce(t, p, 7, 0, 2, int(closeStateBytes))
	if _, err := p.DeleteRecordsBefore(4); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	p = openLeader(t, dir, 0, 4, commitlog.DefaultConfig(), Options{Clean: true})
	defer p.Close()
	checkEpochs(t, p, []epochAnswer{{3, 3, 2}, {4, 4, 4}, {9, 4, 4}})
}

// TestCloseAll: partitions closed together keep their records and leader
// epochs, and are closed.
func TestCloseAll(t *testing.T) {
	cfg := commitlog.DefaultConfig()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	parts := make([]*Partition, len(dirs))
	for i, dir := range dirs {
		p := openLeader(t, dir, int32(i), int32(i+1), cfg, Options{})
		appendOne(t, p, i+2)
		parts[i] = p
	}
	if err := CloseAll(parts); err != nil {
		t.Fatalf("close all: %v", err)
	}
	for i, dir := range dirs {
		if err := parts[i].Close(); err == nil {
			t.Errorf("partition %d: Close after CloseAll succeeded, want an error: it was closed", i)
		}
		p, err := Open(dir, "t", int32(i), cfg, Options{Clean: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.log.EndOffset(), int64(i+2); got != want {
			t.Errorf("partition %d: end offset %d after reopening, want %d", i, got, want)
		}
		checkEpochs(t, p, []epochAnswer{{int32(i + 1), int32(i + 1), int64(i + 2)}})
		p.Close()
	}
}

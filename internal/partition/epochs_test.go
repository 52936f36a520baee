package partition

import (
	"os"
	"path/filepath"
	"testing"

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

// TestEpochCacheSavedByTickAndRelearned: a new leader epoch reaches the
// checkpoint file with the next Tick, not the append; and an epoch whose
// entry never reached the file (a crash) is learned again from the batches
// when the partition opens.
func TestEpochCacheSavedByTickAndRelearned(t *testing.T) {
	dir := t.TempDir()
	cfg := commitlog.DefaultConfig()
	p, err := Open(dir, "t", 0, cfg, Options{LeaderEpoch: 3})
	if err != nil {
		t.Fatal(err)
	}
	appendOne(t, p, 5)
	if _, err := os.Stat(filepath.Join(dir, epochFile)); !os.IsNotExist(err) {
		t.Fatalf("checkpoint written by the append (stat: %v), want it left to Tick", err)
	}
	if err := p.Tick(); err != nil {
		t.Fatal(err)
	}
	c, err := openEpochCache(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.entries) != 1 || c.entries[0] != (epochEntry{3, 0}) {
		t.Fatalf("checkpoint after Tick holds %v, want [{3 0}]", c.entries)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}

	// Epoch 4 starts at offset 5; the process dies before any Tick.
	p, err = Open(dir, "t", 0, cfg, Options{LeaderEpoch: 4})
	if err != nil {
		t.Fatal(err)
	}
	appendOne(t, p, 2)
	if err := p.log.Sync(); err != nil {
		t.Fatal(err)
	}
	p.log.Close() // the log survives; the epoch cache was never saved

	p, err = Open(dir, "t", 0, cfg, Options{LeaderEpoch: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for _, tt := range []struct {
		ask, epoch int32
		end        int64
	}{{3, 3, 5}, {4, 4, 7}, {2, -1, -1}} {
		if e, end := p.EndOffsetForEpoch(tt.ask); e != tt.epoch || end != tt.end {
			t.Errorf("EndOffsetForEpoch(%d) = %d, %d; want %d, %d", tt.ask, e, end, tt.epoch, tt.end)
		}
	}
}

// TestTornEpochCheckpointRelearned: a checkpoint that does not parse (a
// crash before the file system sync that CloseAll relies on) does not stop
// the partition from opening: the epochs are learned from the batches.
func TestTornEpochCheckpointRelearned(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"empty", ""},
		{"count larger than entries", "0\n2\n3 0\n"},
		{"torn entry", "0\n1\n3"},
		{"bad version", "7\n1\n3 0\n"},
		{"garbage", "\x00\x00\x00\x00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := Open(dir, "t", 0, commitlog.DefaultConfig(), Options{LeaderEpoch: 3})
			if err != nil {
				t.Fatal(err)
			}
			appendOne(t, p, 5)
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, epochFile), []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err = Open(dir, "t", 0, commitlog.DefaultConfig(), Options{LeaderEpoch: 3})
			if err != nil {
				t.Fatalf("open with a checkpoint holding %q: %v", tt.content, err)
			}
			defer p.Close()
			if e, end := p.EndOffsetForEpoch(3); e != 3 || end != 5 {
				t.Errorf("EndOffsetForEpoch(3) = %d, %d; want 3, 5", e, end)
			}
		})
	}
}

// TestCloseAll: partitions closed together keep their records and leader
// epoch checkpoints, and are closed.
func TestCloseAll(t *testing.T) {
	cfg := commitlog.DefaultConfig()
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	parts := make([]*Partition, len(dirs))
	for i, dir := range dirs {
		p, err := Open(dir, "t", int32(i), cfg, Options{LeaderEpoch: int32(i + 1)})
		if err != nil {
			t.Fatal(err)
		}
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
		c, err := openEpochCache(dir)
		if err != nil {
			t.Fatalf("partition %d: %v", i, err)
		}
		if want := (epochEntry{int32(i + 1), 0}); len(c.entries) != 1 || c.entries[0] != want {
			t.Errorf("partition %d: checkpoint holds %v, want [%v]", i, c.entries, want)
		}
		p, err := Open(dir, "t", int32(i), cfg, Options{Clean: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := p.log.EndOffset(), int64(i+2); got != want {
			t.Errorf("partition %d: end offset %d after reopening, want %d", i, got, want)
		}
		p.Close()
	}
}

package commitlog

import (
	"math"
	"testing"
)

func BenchmarkAppend(b *testing.B) {
	for _, flush := range []struct {
		name string
		n    int64
	}{{"noflush", math.MaxInt64}, {"flush1", 1}} {
		b.Run("16KiB/"+flush.name, func(b *testing.B) {
			cfg := testConfig()
			cfg.SegmentBytes = 1 << 30
			cfg.FlushMessages = flush.n
			tl := openTest(b, chrootFS{root: b.TempDir()}, cfg, Options{})
			batch := batchOf(b, 16, 1000, 1000)
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := tl.Append(batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	cfg := testConfig()
	tl := openTest(b, chrootFS{root: b.TempDir()}, cfg, Options{})
	batch := batchOf(b, 16, 1000, 1000)
	for range 1000 {
		if _, err := tl.Append(batch); err != nil {
			b.Fatal(err)
		}
	}
	end := tl.EndOffset()
	b.SetBytes(1 << 20)
	b.ReportAllocs()
	i := int64(0)
	for b.Loop() {
		res, err := tl.Read(i%(end-1000), 1<<20, end)
		if err != nil || len(res.Data) == 0 {
			b.Fatal(err)
		}
		i += 997
	}
}

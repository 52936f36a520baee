package commitlog

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stratalog/strata/internal/recordbatch"
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

// BenchmarkClean cleans a 64 MiB log of 8 MiB segments in which 4096 keys
// were each written about 16 times, in batches of 16 records of 1 KiB.
func BenchmarkClean(b *testing.B) {
	const logBytes = 64 << 20
	for _, codec := range []recordbatch.Codec{recordbatch.CodecNone, recordbatch.CodecLZ4} {
		b.Run(codec.String(), func(b *testing.B) {
			cfg := testConfig()
			cfg.Compact = true
			cfg.SegmentBytes = 8 << 20
			cfg.IndexIntervalBytes = 4096
			value := bytes.Repeat([]byte("v"), 1000)
			rng := rand.New(rand.NewPCG(1, 1))
			b.SetBytes(logBytes)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				tl := openTest(b, chrootFS{root: b.TempDir()}, cfg, Options{})
				kvs := make([]kv, 16)
				for tl.Size() < logBytes {
					for j := range kvs {
						kvs[j] = kv{key: fmt.Appendf(nil, "key-%04d", rng.IntN(4096)), value: value}
					}
					if _, err := tl.Append(keyedBatch(b, 1000, codec, kvs...)); err != nil {
						b.Fatal(err)
					}
				}
				forceRoll(b, tl.Log)
				b.StartTimer()
				st, err := tl.Clean(context.Background(), CleanOptions{})
				if err != nil || !st.Due {
					b.Fatalf("clean: %+v, %v", st, err)
				}
				b.StopTimer()
				b.ReportMetric(float64(st.BytesAfter)/float64(st.BytesBefore), "after/before")
				if err := tl.Close(); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
